// The reference model's queries: lookups, account transfers and balances, trial balances,
// counts.
#include <algorithm>
#include <optional>

#include "tests/engine/reference_model.h"
#include "tests/engine/reference_model_internal.h"

namespace ledger::testing {
namespace {

using model_internal::Has;

// The records of `matches` (oldest first) in the filter's time range that `keep` accepts, in
// the filter's order, cut to its limit and to out_size_max.
template <typename Record, typename Keep>
std::vector<Record> Page(const std::vector<Record>& matches, const AccountFilter& filter,
                         size_t out_size_max, Keep keep) {
  std::vector<Record> page;
  for (const Record& record : matches) {
    if (filter.timestamp_min_ns != 0 && record.timestamp_ns < filter.timestamp_min_ns) continue;
    if (filter.timestamp_max_ns != 0 && record.timestamp_ns > filter.timestamp_max_ns) continue;
    if (!keep(record)) continue;
    page.push_back(record);
  }
  if ((filter.flags & filter_flags::kReversed) != 0) std::reverse(page.begin(), page.end());
  size_t count_max = out_size_max;
  if (filter.limit != 0) count_max = std::min<size_t>(count_max, filter.limit);
  if (page.size() > count_max) page.resize(count_max);
  return page;
}

// The records (in booking order) that a ledger-wide query selects, in its order and limit.
template <typename Record>
std::vector<Record> QueryPage(const std::vector<Record>& records, const QueryFilter& filter,
                              size_t out_size_max) {
  std::vector<Record> page;
  for (const Record& record : records) {
    if (record.timestamp_ns < filter.timestamp_min_ns) continue;
    if (filter.timestamp_max_ns != 0 && record.timestamp_ns > filter.timestamp_max_ns) continue;
    if (!filter.user_data_128.IsZero() && record.user_data_128 != filter.user_data_128) continue;
    if (filter.user_data_64 != 0 && record.user_data_64 != filter.user_data_64) continue;
    if (filter.user_data_32 != 0 && record.user_data_32 != filter.user_data_32) continue;
    if (filter.ledger != 0 && record.ledger != filter.ledger) continue;
    if (filter.code != 0 && record.code != filter.code) continue;
    page.push_back(record);
  }
  if (filter.reversed) std::reverse(page.begin(), page.end());
  size_t count_max = out_size_max;
  if (filter.limit != 0) count_max = std::min<size_t>(count_max, filter.limit);
  if (page.size() > count_max) page.resize(count_max);
  return page;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Queries.

std::vector<Account> ReferenceModel::QueryAccounts(const QueryFilter& filter,
                                                   size_t out_size_max) const {
  std::vector<Account> accounts;
  for (const auto& [id, account] : state_.accounts) accounts.push_back(account);
  std::sort(accounts.begin(), accounts.end(),
            [](const Account& a, const Account& b) { return a.timestamp_ns < b.timestamp_ns; });
  return QueryPage(accounts, filter, out_size_max);
}

std::vector<Transfer> ReferenceModel::QueryTransfers(const QueryFilter& filter,
                                                     size_t out_size_max) const {
  return QueryPage(state_.transfer_log, filter, out_size_max);
}

uint64_t ReferenceModel::change_sequence_oldest() const {
  const uint64_t next = change_sequence_next();
  return next - std::min(next, change_feed_capacity_);
}

std::vector<Change> ReferenceModel::GetChanges(uint64_t from_sequence, size_t out_size_max) const {
  std::vector<Change> page;
  if (from_sequence < change_sequence_oldest()) return page;
  for (uint64_t sequence = from_sequence;
       sequence < change_sequence_next() && page.size() < out_size_max; ++sequence) {
    page.push_back(state_.changes[sequence]);
  }
  return page;
}

std::optional<Ledger> ReferenceModel::LookupLedger(uint32_t ledger_id) const {
  auto found = state_.ledgers.find(ledger_id);
  if (found == state_.ledgers.end()) return std::nullopt;
  return found->second;
}

std::optional<Account> ReferenceModel::LookupAccount(AccountId id) const {
  auto found = state_.accounts.find(id.Get());
  if (found == state_.accounts.end()) return std::nullopt;
  return found->second;
}

std::optional<Transfer> ReferenceModel::LookupTransfer(TransferId id) const {
  auto found = state_.transfers.find(id.Get());
  if (found == state_.transfers.end()) return std::nullopt;
  return found->second;
}

std::optional<FailedTransfer> ReferenceModel::LookupFailedTransfer(TransferId id) const {
  auto found = state_.failures.find(id.Get());
  if (found == state_.failures.end()) return std::nullopt;
  return found->second;
}

PendingStatus ReferenceModel::GetPendingStatus(TransferId id) const {
  auto found = state_.reservations.find(id.Get());
  return found == state_.reservations.end() ? PendingStatus::kNone : found->second.status;
}

Amount ReferenceModel::GetPostedAmount(TransferId pending_id) const {
  auto found = state_.reservations.find(pending_id.Get());
  if (found == state_.reservations.end()) return Amount{};
  if (found->second.status != PendingStatus::kPosted) return Amount{};
  return Amount::From(found->second.posted_amount);
}

std::optional<TransferStatus> ReferenceModel::GetTransferStatus(TransferId id) const {
  auto transfer = state_.transfers.find(id.Get());
  if (transfer == state_.transfers.end()) return std::nullopt;
  TransferStatus status;
  if (auto held = state_.reservations.find(id.Get()); held != state_.reservations.end()) {
    const Reservation& reservation = held->second;
    status.pending_status = reservation.status;
    status.expires_at_ns = reservation.expires_at_ns;
    status.posted_amount = Amount::From(reservation.posted_amount);
    if (reservation.status != PendingStatus::kPending) {
      status.released_amount =
          Amount::From(transfer->second.amount.Get() - reservation.posted_amount);
    }
    status.resolved_by = TransferId::From(reservation.resolved_by);
  }
  status.reversed_amount = GetReversedAmount(id);
  status.reversal_count = static_cast<uint32_t>(GetReversals(id).size());
  return status;
}

Amount ReferenceModel::GetReversedAmount(TransferId id) const {
  return Amount::From(ReversedAmount(id.Get()));
}

std::vector<TransferId> ReferenceModel::GetReversals(TransferId id) const {
  std::vector<TransferId> ids;
  auto found = state_.reversals.find(id.Get());
  if (found == state_.reversals.end()) return ids;
  for (u128 reversal_id : found->second) ids.push_back(TransferId::From(reversal_id));
  return ids;
}

std::vector<Transfer> ReferenceModel::GetAccountTransfers(const AccountFilter& filter,
                                                          size_t out_size_max) const {
  std::vector<Transfer> involved;  // the account's transfers, on either side
  for (const Transfer& transfer : state_.transfer_log) {
    if (transfer.debit_account_id == filter.account_id ||
        transfer.credit_account_id == filter.account_id) {
      involved.push_back(transfer);
    }
  }
  return Page(involved, filter, out_size_max, [&filter](const Transfer& transfer) {
    const bool debit_side = (filter.flags & filter_flags::kDebits) != 0 &&
                            transfer.debit_account_id == filter.account_id;
    const bool credit_side = (filter.flags & filter_flags::kCredits) != 0 &&
                             transfer.credit_account_id == filter.account_id;
    if (!debit_side && !credit_side) return false;
    const uint64_t value_time_ns =
        transfer.value_time_ns != 0 ? transfer.value_time_ns : transfer.timestamp_ns;
    if (value_time_ns < filter.value_time_min_ns) return false;
    if (filter.value_time_max_ns != 0 && value_time_ns > filter.value_time_max_ns) return false;
    return filter.code == 0 || transfer.code == filter.code;
  });
}

std::optional<PostedAtValueTime> ReferenceModel::GetPostedAtValueTime(
    AccountId id, uint64_t value_time_ns) const {
  if (!state_.accounts.contains(id.Get())) return std::nullopt;
  PostedAtValueTime posted;
  for (const Transfer& transfer : state_.transfer_log) {
    const bool debit = transfer.debit_account_id == id;
    if (!debit && transfer.credit_account_id != id) continue;
    if (Has(transfer.flags, transfer_flags::kPending) ||
        Has(transfer.flags, transfer_flags::kVoidPending)) {
      continue;
    }
    const uint64_t when =
        transfer.value_time_ns != 0 ? transfer.value_time_ns : transfer.timestamp_ns;
    if (when > value_time_ns) continue;
    Amount& side = debit ? posted.debits_posted : posted.credits_posted;
    side = Amount::From(side.Get() + transfer.amount.Get());
    ++posted.transfer_count;
  }
  return posted;
}

std::vector<AccountBalance> ReferenceModel::GetAccountBalances(const AccountFilter& filter,
                                                               size_t out_size_max) const {
  auto found = state_.history.find(filter.account_id.Get());
  if (found == state_.history.end()) return {};
  return Page(found->second, filter, out_size_max, [](const AccountBalance&) { return true; });
}

std::optional<AccountBalance> ReferenceModel::GetBalanceAsOf(AccountId id,
                                                             uint64_t timestamp_ns) const {
  auto account = state_.accounts.find(id.Get());
  if (account == state_.accounts.end()) return std::nullopt;
  if (!Has(account->second.flags, account_flags::kHistory)) return std::nullopt;
  if (timestamp_ns < account->second.timestamp_ns) return std::nullopt;
  AccountBalance balance{};
  balance.timestamp_ns = account->second.timestamp_ns;
  auto history = state_.history.find(id.Get());
  if (history == state_.history.end()) return balance;
  for (const AccountBalance& snapshot : history->second) {
    if (snapshot.timestamp_ns <= timestamp_ns) balance = snapshot;
  }
  return balance;
}

TrialBalance ReferenceModel::GetTrialBalance(uint32_t ledger_id) const {
  TrialBalance trial_balance;
  trial_balance.ledger = ledger_id;
  for (const auto& [id, account] : state_.accounts) {
    if (account.ledger != ledger_id) continue;
    ++trial_balance.account_count;
    trial_balance.debits_pending.Add(account.debits_pending);
    trial_balance.debits_posted.Add(account.debits_posted);
    trial_balance.credits_pending.Add(account.credits_pending);
    trial_balance.credits_posted.Add(account.credits_posted);
  }
  return trial_balance;
}

ReferenceModel::Counts ReferenceModel::GetCounts() const {
  Counts counts;
  counts.ledger_count = state_.ledgers.size();
  counts.account_count = state_.accounts.size();
  counts.transfer_count = state_.transfers.size();
  counts.failed_transfer_count = state_.failures.size();
  for (const auto& [id, reservation] : state_.reservations) {
    if (reservation.status == PendingStatus::kPending) ++counts.pending_count;
    if (reservation.status == PendingStatus::kExpired) ++counts.expired_count;
  }
  return counts;
}

}  // namespace ledger::testing
