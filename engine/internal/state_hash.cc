// The state hash: XXH3-128 over a canonical serialisation, in creation order, so it depends on
// the logical state only (not on the hash seed, table sizes or map layouts).
#include "engine/internal/state.h"

#define XXH_INLINE_ALL
#include "xxhash.h"

namespace ledger::engine::internal {

namespace {

class Hasher {
 public:
  Hasher() { XXH3_128bits_reset(&state_); }
  template <typename T>
  void Add(const T& value) {
    static_assert(std::has_unique_object_representations_v<T> || std::is_trivially_copyable_v<T>);
    XXH3_128bits_update(&state_, &value, sizeof(value));
  }
  StateHash Finish() {
    const XXH128_hash_t hash = XXH3_128bits_digest(&state_);
    return {hash.low64, hash.high64};
  }

 private:
  XXH3_state_t state_;
};

}  // namespace

StateHash State::ComputeStateHash() const {
  Hasher hasher;
  hasher.Add(last_timestamp_ns_);
  // The change feed's counter (implied by the counts, but the cursor is part of the contract);
  // not the retained changes: which are retained depends on the capacity, a setting.
  hasher.Add(change_sequence_next());
  hasher.Add(static_cast<uint64_t>(ledgers_.size()));
  for (const Ledger& ledger : ledgers_) hasher.Add(ledger);
  // Refs depend on the shard count, so references are hashed as the timestamps they name.
  const std::vector<uint32_t> accounts = AccountsInOrder();
  hasher.Add(static_cast<uint64_t>(accounts.size()));
  for (uint32_t slot : accounts) {
    // The public record (all four balances, no internal bits), not the storage layout.
    hasher.Add(ToAccount(slot));
    const auto& balance_history = shard_of(slot).balance_history;
    auto history = balance_history.find(slot);
    const uint64_t snapshot_count = history == balance_history.end() ? 0 : history->second.size();
    hasher.Add(snapshot_count);
    for (uint64_t i = 0; i < snapshot_count; ++i) hasher.Add(history->second[i]);
  }
  const std::vector<uint32_t> transfers = TransfersInOrder();
  hasher.Add(static_cast<uint64_t>(transfers.size()));
  for (uint32_t slot : transfers) {
    const Transfer& record = this->transfer(slot);
    hasher.Add(record);
    if ((record.flags & transfer_flags::kPending) != 0) {
      const PendingState& state = pending(slot);
      hasher.Add(state.status);
      hasher.Add(state.expires_at_ns);
      hasher.Add(state.resolver_slot == kNoSlot ? 0 : transfer(state.resolver_slot).timestamp_ns);
    }
    const auto& reversals = shard_of(slot).reversals;
    if (auto reversal = reversals.find(slot); reversal != reversals.end()) {
      hasher.Add(reversal->second.reversed);
      for (uint32_t reversal_slot : reversal->second.reversal_slots) {
        hasher.Add(transfer(reversal_slot).timestamp_ns);
      }
    }
  }
  hasher.Add(failures_.size());
  for (uint64_t i = 0; i < failures_.size(); ++i) {
    hasher.Add(failures_[i].id);
    hasher.Add(failures_[i].code);
  }
  return hasher.Finish();
}

}  // namespace ledger::engine::internal
