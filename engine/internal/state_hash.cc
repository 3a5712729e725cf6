// The state hash: XXH3-128 over a canonical serialisation, in creation order, so it depends on
// the logical state only (not on the hash seed, table sizes, map layouts or the cold boundary).
//
// What is hashed: the last timestamp, the change counter, the ledgers and accounts (with their
// balances), and three chains in log order: every stored transfer, every recorded failure and
// every expiry. Everything else (reservation states, reversal sums, histories, balance
// snapshots) follows from those facts. Chains, not one stream, so that what leaves memory
// (cold.cc) is folded in once, in order, and the hash goes on from there.
#include <array>
#include <cstring>

#include "base/hash.h"
#include "engine/internal/state.h"

namespace ledger::engine::internal {

class Hasher {
 public:
  template <typename T>
  void Add(const T& value) {
    static_assert(std::has_unique_object_representations_v<T> || std::is_trivially_copyable_v<T>);
    hasher_.UpdateValue(value);
  }
  StateHash Finish() {
    const base::Hash128 hash = hasher_.Digest();
    return {hash.low, hash.high};
  }

 private:
  base::Hasher128 hasher_;
};

namespace {

// The previous digest and the fact's bytes (facts have no padding), hashed as one.
template <typename Fact>
base::Hash128 Chain(const base::Hash128& digest, const Fact& fact) {
  static_assert(std::has_unique_object_representations_v<Fact>);
  std::array<std::byte, sizeof(digest) + sizeof(Fact)> link;
  std::memcpy(link.data(), &digest, sizeof(digest));
  std::memcpy(link.data() + sizeof(digest), &fact, sizeof(Fact));
  return base::HashBytes128(link);
}

struct ExpiryFields {
  TransferId id;
  uint64_t timestamp_ns;
};

}  // namespace

base::Hash128 State::ChainTransfer(const base::Hash128& digest, const Transfer& record) {
  return Chain(digest, record);
}
base::Hash128 State::ChainFailure(const base::Hash128& digest, const FailureRecord& failure) {
  return Chain(digest, failure);  // its reserved bytes are zero
}
base::Hash128 State::ChainExpiry(const base::Hash128& digest, const TransferId& id,
                                 uint64_t timestamp_ns) {
  return Chain(digest, ExpiryFields{id, timestamp_ns});
}

// An account's public record: all four balances, no internal bits, not the storage layout.
void State::HashAccount(Hasher& hasher, Ref ref) const { hasher.Add(ToAccount(ref)); }

StateHash State::ComputeStateHash() const {
  Hasher hasher;
  hasher.Add(last_timestamp_ns_);
  // The change feed's counter (implied by the counts, but the cursor is part of the contract);
  // not the retained changes: which are retained depends on the capacity, a setting.
  hasher.Add(change_sequence_next());
  hasher.Add(static_cast<uint64_t>(ledgers_.size()));
  for (const Ledger& ledger : ledgers_) hasher.Add(ledger);
  const std::vector<Ref> accounts = AccountsInOrder();
  hasher.Add(static_cast<uint64_t>(accounts.size()));
  for (Ref ref : accounts) HashAccount(hasher, ref);
  ColdDigest digest = cold_digest_;
  for (Ref ref : TransfersInOrder())
    digest.transfers = ChainTransfer(digest.transfers, transfer(ref));
  for (uint64_t i = failures_.begin_position(); i < failures_.end_position(); ++i) {
    digest.failures = ChainFailure(digest.failures, failures_.at(i));
  }
  for (uint64_t i = expiries_->begin_position(); i < expiries_->end_position(); ++i) {
    digest.expiries =
        ChainExpiry(digest.expiries, expiries_->at(i).id, expiries_->at(i).timestamp_ns);
  }
  hasher.Add(transfer_count());
  hasher.Add(digest.transfers);
  hasher.Add(digest.failures);
  hasher.Add(digest.expiries);
  return hasher.Finish();
}

StateHash State::ComputeShardStateHash(uint32_t shard) const {
  const Shard& tables = *shards_[shard];
  Hasher hasher;
  hasher.Add(static_cast<uint64_t>(tables.accounts.size()));
  for (uint64_t slot = 0; slot < tables.accounts.size(); ++slot) {
    HashAccount(hasher, MakeRef(shard, slot));
  }
  // Only what is in memory: a shard's part of what left is not kept (a snapshot restores onto
  // any shard count), so these compare engines with the same shard count, log and boundary.
  ColdDigest digest;
  for (uint64_t i = tables.transfers.begin_position(); i < tables.transfers.end_position(); ++i) {
    digest.transfers = ChainTransfer(digest.transfers, tables.transfers.at(i));
  }
  // The recorded failures whose ids this shard indexes and the expiries of its reservations,
  // in log order.
  for (uint64_t i = failures_.begin_position(); i < failures_.end_position(); ++i) {
    if (HomeOf(failures_.at(i).event.id) != shard) continue;
    digest.failures = ChainFailure(digest.failures, failures_.at(i));
  }
  for (uint64_t i = expiries_->begin_position(); i < expiries_->end_position(); ++i) {
    if (expiries_->at(i).shard != shard) continue;
    digest.expiries =
        ChainExpiry(digest.expiries, expiries_->at(i).id, expiries_->at(i).timestamp_ns);
  }
  hasher.Add(tables.transfers.size());
  hasher.Add(digest.transfers);
  hasher.Add(digest.failures);
  hasher.Add(digest.expiries);
  return hasher.Finish();
}

}  // namespace ledger::engine::internal
