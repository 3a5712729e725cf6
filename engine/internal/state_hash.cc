// The state hash: XXH3-128 over a canonical serialisation, in creation order, so it depends on
// the logical state only (not on the hash seed, table sizes or map layouts).
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

// An account's public record and balance snapshots.
void State::HashAccount(Hasher& hasher, Ref ref) const {
  // The public record (all four balances, no internal bits), not the storage layout.
  hasher.Add(ToAccount(ref));
  const auto& balance_history = shard_of(ref).balance_history;
  auto history = balance_history.find(ref);
  const uint64_t snapshot_count = history == balance_history.end() ? 0 : history->second.size();
  hasher.Add(snapshot_count);
  for (uint64_t i = 0; i < snapshot_count; ++i) hasher.Add(history->second[i]);
}

// A transfer's record, its reservation state and its reversals. Refs depend on the shard
// count, so references are hashed as the timestamps they name.
void State::HashTransfer(Hasher& hasher, Ref ref) const {
  const Transfer& record = this->transfer(ref);
  hasher.Add(record);
  if ((record.flags & transfer_flags::kPending) != 0) {
    const PendingState& state = pending(ref);
    hasher.Add(state.status);
    hasher.Add(state.expires_at_ns);
    hasher.Add(state.resolver_ref == kNoRef ? 0 : transfer(state.resolver_ref).timestamp_ns);
  }
  if (const ReversalState* reversals = FindReversals(ref)) {
    hasher.Add(reversals->reversed);
    for (Ref reversal_ref : reversals->reversal_refs) {
      hasher.Add(transfer(reversal_ref).timestamp_ns);
    }
  }
}

// A recorded failure: the failed event (as booked) and its code.
void State::HashFailure(Hasher& hasher, const FailureRecord& failure) {
  hasher.Add(failure.event);
  hasher.Add(failure.code);
}

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
  const std::vector<Ref> transfers = TransfersInOrder();
  hasher.Add(static_cast<uint64_t>(transfers.size()));
  for (Ref ref : transfers) HashTransfer(hasher, ref);
  hasher.Add(failures_.size());
  for (uint64_t i = 0; i < failures_.size(); ++i) HashFailure(hasher, failures_[i]);
  return hasher.Finish();
}

StateHash State::ComputeShardStateHash(uint32_t shard) const {
  const Shard& tables = *shards_[shard];
  Hasher hasher;
  hasher.Add(static_cast<uint64_t>(tables.accounts.size()));
  for (uint64_t slot = 0; slot < tables.accounts.size(); ++slot) {
    HashAccount(hasher, MakeRef(shard, slot));
  }
  hasher.Add(static_cast<uint64_t>(tables.transfers.size()));
  for (uint64_t position = tables.transfers.begin_position();
       position < tables.transfers.end_position(); ++position) {
    HashTransfer(hasher, MakeRef(shard, tables.transfers.slot_of(position)));
  }
  // The recorded failures whose ids this shard indexes, in log order.
  for (uint64_t i = 0; i < failures_.size(); ++i) {
    if (HomeOf(failures_[i].event.id) != shard) continue;
    HashFailure(hasher, failures_[i]);
  }
  return hasher.Finish();
}

}  // namespace ledger::engine::internal
