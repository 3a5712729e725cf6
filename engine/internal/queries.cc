// Read-only queries over the state.
#include <algorithm>
#include <limits>

#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {

uint64_t EffectiveMax(uint64_t timestamp_max_ns) {
  return timestamp_max_ns == 0 ? std::numeric_limits<uint64_t>::max() : timestamp_max_ns;
}

size_t EffectiveLimit(uint32_t limit, size_t out_size) {
  return limit == 0 ? out_size : std::min<size_t>(limit, out_size);
}

}  // namespace

std::optional<Ledger> State::LookupLedger(uint32_t ledger_id) const {
  auto it = ledger_index_.find(ledger_id);
  if (it == ledger_index_.end()) return std::nullopt;
  return ledgers_[it->second];
}

std::optional<Account> State::LookupAccount(AccountId id) const {
  const uint32_t slot = FindAccount(id);
  if (slot == kNoSlot) return std::nullopt;
  return ToAccount(slot);
}

std::optional<Transfer> State::LookupTransfer(TransferId id) const {
  const uint32_t slot = FindTransfer(id);
  if (slot == kNoSlot) return std::nullopt;
  return transfers_[slot];
}

PendingStatus State::GetPendingStatus(TransferId id) const {
  const uint32_t slot = FindTransfer(id);
  if (slot == kNoSlot || (transfers_[slot].flags & transfer_flags::kPending) == 0) {
    return PendingStatus::kNone;
  }
  return pending_.at(slot).status;
}

Amount State::GetPostedAmount(TransferId pending_id) const {
  const uint32_t slot = FindTransfer(pending_id);
  if (slot == kNoSlot || (transfers_[slot].flags & transfer_flags::kPending) == 0) return {};
  const PendingState& pending = pending_.at(slot);
  if (pending.status != PendingStatus::kPosted) return {};
  return transfers_[pending.resolver_slot].amount;
}

Amount State::GetReversedAmount(TransferId id) const {
  const uint32_t slot = FindTransfer(id);
  if (slot == kNoSlot) return {};
  auto it = reversals_.find(slot);
  return it == reversals_.end() ? Amount{} : it->second.reversed;
}

size_t State::GetReversals(TransferId id, std::span<TransferId> out) const {
  const uint32_t slot = FindTransfer(id);
  if (slot == kNoSlot) return 0;
  auto it = reversals_.find(slot);
  if (it == reversals_.end()) return 0;
  const size_t count = std::min(out.size(), it->second.reversal_slots.size());
  for (size_t i = 0; i < count; ++i) out[i] = transfers_[it->second.reversal_slots[i]].id;
  return count;
}

size_t State::GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const {
  const uint32_t slot = FindAccount(filter.account_id);
  const bool debits = (filter.flags & filter_flags::kDebits) != 0;
  const bool credits = (filter.flags & filter_flags::kCredits) != 0;
  const uint64_t timestamp_max_ns = EffectiveMax(filter.timestamp_max_ns);
  if (slot == kNoSlot || (!debits && !credits) || filter.timestamp_min_ns > timestamp_max_ns) {
    return 0;
  }
  // The list holds slots in booking order, so a time range is two binary searches.
  const std::span<const uint32_t> list = history_.List(accounts_[slot]);
  auto first =
      std::lower_bound(list.begin(), list.end(), filter.timestamp_min_ns,
                       [&](uint32_t s, uint64_t t) { return transfers_[s].timestamp_ns < t; });
  auto last = std::upper_bound(first, list.end(), timestamp_max_ns, [&](uint64_t t, uint32_t s) {
    return t < transfers_[s].timestamp_ns;
  });
  const size_t limit = EffectiveLimit(filter.limit, out.size());
  size_t count = 0;
  auto take = [&](uint32_t transfer_slot) {
    const Transfer& transfer = transfers_[transfer_slot];
    const bool is_debit = transfer.debit_account_id == filter.account_id;
    if ((is_debit ? debits : credits) && (filter.code == 0 || filter.code == transfer.code)) {
      out[count++] = transfer;
    }
  };
  if ((filter.flags & filter_flags::kReversed) == 0) {
    for (auto it = first; it != last && count < limit; ++it) take(*it);
  } else {
    for (auto it = last; it != first && count < limit;) take(*--it);
  }
  return count;
}

size_t State::GetAccountBalances(const AccountFilter& filter, std::span<AccountBalance> out) const {
  const uint32_t slot = FindAccount(filter.account_id);
  const uint64_t timestamp_max_ns = EffectiveMax(filter.timestamp_max_ns);
  if (slot == kNoSlot || filter.timestamp_min_ns > timestamp_max_ns) return 0;
  auto history = balance_history_.find(slot);
  if (history == balance_history_.end()) return 0;
  const std::vector<AccountBalance>& snapshots = history->second;
  auto first =
      std::lower_bound(snapshots.begin(), snapshots.end(), filter.timestamp_min_ns,
                       [](const AccountBalance& b, uint64_t t) { return b.timestamp_ns < t; });
  auto last =
      std::upper_bound(first, snapshots.end(), timestamp_max_ns,
                       [](uint64_t t, const AccountBalance& b) { return t < b.timestamp_ns; });
  const size_t limit = EffectiveLimit(filter.limit, out.size());
  size_t count = 0;
  if ((filter.flags & filter_flags::kReversed) == 0) {
    for (auto it = first; it != last && count < limit; ++it) out[count++] = *it;
  } else {
    for (auto it = last; it != first && count < limit;) out[count++] = *--it;
  }
  return count;
}

std::optional<AccountBalance> State::GetBalanceAsOf(AccountId id, uint64_t timestamp_ns) const {
  const uint32_t slot = FindAccount(id);
  if (slot == kNoSlot) return std::nullopt;
  const AccountRecord& account = accounts_[slot];
  if ((account.flags & account_flags::kHistory) == 0 || timestamp_ns < account.timestamp_ns) {
    return std::nullopt;
  }
  auto history = balance_history_.find(slot);
  if (history != balance_history_.end()) {
    const std::vector<AccountBalance>& snapshots = history->second;
    auto after =
        std::upper_bound(snapshots.begin(), snapshots.end(), timestamp_ns,
                         [](uint64_t t, const AccountBalance& b) { return t < b.timestamp_ns; });
    if (after != snapshots.begin()) return *(after - 1);
  }
  return AccountBalance{{}, {}, {}, {}, account.timestamp_ns, 0};
}

TrialBalance State::GetTrialBalance(uint32_t ledger_id) const {
  TrialBalance trial;
  trial.ledger = ledger_id;
  for (uint64_t slot = 0; slot < accounts_.size(); ++slot) {
    if (accounts_[slot].ledger != ledger_id) continue;
    const Balances balances = GetBalances(static_cast<uint32_t>(slot));
    ++trial.account_count;
    trial.debits_pending.Add(balances.debits_pending);
    trial.debits_posted.Add(balances.debits_posted);
    trial.credits_pending.Add(balances.credits_pending);
    trial.credits_posted.Add(balances.credits_posted);
  }
  return trial;
}

EngineStats State::GetStats() const {
  EngineStats stats;
  stats.ledger_count = ledgers_.size();
  stats.account_count = accounts_.size();
  stats.transfer_count = transfers_.size();
  stats.pending_count = pending_count_;
  stats.failed_transfer_count = failures_.size();
  stats.expired_count = expired_count_;
  stats.account_record_bytes = accounts_.used_bytes();
  stats.account_index_bytes = account_index_.bytes();
  stats.transfer_record_bytes = transfers_.used_bytes();
  stats.transfer_index_bytes = transfer_index_.bytes();
  stats.history_bytes = history_.bytes();
  // flat_hash_map: one control byte plus the slot per bucket.
  stats.pending_bytes =
      pending_.capacity() * (sizeof(std::pair<uint32_t, PendingState>) + 1) +
      pending_balances_.capacity() * (sizeof(std::pair<uint32_t, PendingBalances>) + 1) +
      expiry_queue_.size() * sizeof(ExpiryEntry);
  uint64_t snapshot_bytes = 0;
  for (const auto& [slot, snapshots] : balance_history_) {
    snapshot_bytes += snapshots.capacity() * sizeof(AccountBalance);
  }
  stats.other_bytes = failures_.used_bytes() + snapshot_bytes +
                      reversals_.capacity() * (sizeof(std::pair<uint32_t, ReversalState>) + 1) +
                      ledgers_.capacity() * sizeof(Ledger);
  stats.change_feed_bytes = changes_.capacity() * sizeof(Change);
  return stats;
}

}  // namespace ledger::engine::internal
