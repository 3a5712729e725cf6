#include "tests/engine/reference_model.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "base/assert.h"

namespace ledger::testing {
namespace {

using LedgerResult = CreateLedgerResult;
using AccountResult = CreateAccountResult;
using TransferResult = CreateTransferResult;

constexpr u128 kNsPerS = 1'000'000'000;
constexpr u128 kU64Max = UINT64_MAX;

bool Has(uint16_t flags, uint16_t flag) { return (flags & flag) != 0; }

// a += b unless that overflows; says whether it fit.
bool AddChecked(Amount* a, u128 b) {
  const u128 sum = a->Get() + b;
  if (sum < b) return false;
  *a = Amount::From(sum);
  return true;
}

// a -= b where the model's own invariants say b <= a.
void SubtractExpected(Amount* a, u128 b) {
  LEDGER_ASSERT(b <= a->Get());  // the model itself is wrong if this fails
  *a = Amount::From(a->Get() - b);
}

// x - y - z floored at 0, without ever wrapping.
u128 FlooredDifference(u128 x, u128 y, u128 z) {
  if (y > x) return 0;
  if (z > x - y) return 0;
  return x - y - z;
}

bool SumOverflows(Amount a, Amount b) { return a.Get() + b.Get() < b.Get(); }

bool AssetCodeValid(const char (&code)[kAssetCodeSizeBytes]) {
  size_t length = 0;
  while (length < kAssetCodeSizeBytes && code[length] != '\0') ++length;
  if (length == 0) return false;
  for (size_t i = 0; i < length; ++i) {
    const char c = code[i];
    const bool valid =
        (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!valid) return false;
  }
  for (size_t i = length; i < kAssetCodeSizeBytes; ++i) {
    if (code[i] != '\0') return false;
  }
  return true;
}

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

}  // namespace

// ---------------------------------------------------------------------------------------------
// Batches, chains and expiry.

template <typename Result, typename Event, typename Apply, typename Record>
std::vector<Result> ReferenceModel::RunChains(std::span<const Event> events, uint64_t timestamp_ns,
                                              uint16_t linked_flag, Apply apply, Record record) {
  const size_t count = events.size();
  std::vector<Result> results(count, Result::kOk);
  size_t start = 0;
  while (start < count) {
    size_t end = start;  // the chain is [start, end]: linked events, then an unlinked one
    while (end < count && Has(events[end].flags, linked_flag)) ++end;
    if (end == count) {  // the batch ends inside the chain: it is open, nothing runs
      for (size_t i = start; i < count; ++i) results[i] = Result::kLinkedEventFailed;
      results[count - 1] = Result::kLinkedEventChainOpen;
      break;
    }
    // A lone event needs no copy: every check runs before anything changes, so a failing
    // event has changed nothing.
    std::optional<State> before_chain;
    if (end > start) before_chain = state_;
    for (size_t i = start; i <= end; ++i) {
      const Result result = apply(events[i], timestamp_ns + 1 + i);
      results[i] = result;
      if (result == Result::kOk || result == Result::kExists) continue;
      if (before_chain.has_value()) state_ = *std::move(before_chain);
      for (size_t j = start; j <= end; ++j) {
        if (j != i) results[j] = Result::kLinkedEventFailed;
      }
      record(events[i], result);
      break;
    }
    start = end + 1;
  }
  return results;
}

void ReferenceModel::BeginBatch(uint64_t timestamp_ns) {
  LEDGER_ASSERT(timestamp_ns > state_.last_timestamp_ns, timestamp_ns, state_.last_timestamp_ns);
  ExpireReservations(timestamp_ns);
  state_.last_timestamp_ns = timestamp_ns;
}

void ReferenceModel::ExpireReservations(uint64_t timestamp_ns) {
  std::vector<std::tuple<uint64_t, uint64_t, u128>> due;  // expiry, booking, id
  for (const auto& [id, reservation] : state_.reservations) {
    if (reservation.status != PendingStatus::kPending) continue;
    if (reservation.expires_at_ns == 0 || reservation.expires_at_ns > timestamp_ns) continue;
    due.emplace_back(reservation.expires_at_ns, state_.transfers.at(id).timestamp_ns, id);
  }
  std::sort(due.begin(), due.end());
  std::set<u128> touched;  // accounts whose balances the expiries changed
  for (const auto& [expires_at_ns, booked_ns, id] : due) {
    const Transfer& reservation = state_.transfers.at(id);
    Release(reservation);
    state_.reservations.at(id).status = PendingStatus::kExpired;
    touched.insert(reservation.debit_account_id.Get());
    touched.insert(reservation.credit_account_id.Get());
  }
  // One history entry per account for all of the batch's expiries, so that entry timestamps
  // stay unique per account.
  for (u128 account_id : touched) Snapshot(state_.accounts.at(account_id), timestamp_ns);
}

void ReferenceModel::Release(const Transfer& reservation) {
  Account& debit = state_.accounts.at(reservation.debit_account_id.Get());
  Account& credit = state_.accounts.at(reservation.credit_account_id.Get());
  SubtractExpected(&debit.debits_pending, reservation.amount.Get());
  SubtractExpected(&credit.credits_pending, reservation.amount.Get());
  Reopen(reservation);
}

void ReferenceModel::Snapshot(const Account& account, uint64_t timestamp_ns) {
  if (!Has(account.flags, account_flags::kHistory)) return;
  state_.history[account.id.Get()].push_back(
      AccountBalance{account.debits_pending, account.debits_posted, account.credits_pending,
                     account.credits_posted, timestamp_ns, 0});
}

void ReferenceModel::Close(u128 account_id, u128 reservation_id) {
  state_.accounts.at(account_id).flags |= account_flags::kClosed;
  state_.closed_by[account_id] = reservation_id;
}

void ReferenceModel::Reopen(const Transfer& reservation) {
  const u128 id = reservation.id.Get();
  for (const auto& [flag, account_id] :
       {std::pair{transfer_flags::kClosingDebit, reservation.debit_account_id.Get()},
        std::pair{transfer_flags::kClosingCredit, reservation.credit_account_id.Get()}}) {
    if (!Has(reservation.flags, flag)) continue;
    auto closer = state_.closed_by.find(account_id);
    if (closer == state_.closed_by.end() || closer->second != id) continue;
    state_.closed_by.erase(closer);
    state_.accounts.at(account_id).flags &= static_cast<uint16_t>(~account_flags::kClosed);
  }
}

std::vector<CreateLedgerResult> ReferenceModel::CreateLedgers(std::span<const Ledger> events,
                                                              uint64_t timestamp_ns) {
  BeginBatch(timestamp_ns);
  std::vector<CreateLedgerResult> results;
  for (size_t i = 0; i < events.size(); ++i) {
    results.push_back(CreateLedger(events[i], timestamp_ns + 1 + i));
  }
  state_.last_timestamp_ns = timestamp_ns + events.size();
  return results;
}

std::vector<CreateAccountResult> ReferenceModel::CreateAccounts(std::span<const Account> events,
                                                                uint64_t timestamp_ns) {
  BeginBatch(timestamp_ns);
  auto results = RunChains<AccountResult>(
      events, timestamp_ns, account_flags::kLinked,
      [this](const Account& event, uint64_t booked_ns) { return CreateAccount(event, booked_ns); },
      [](const Account&, AccountResult) {});
  state_.last_timestamp_ns = timestamp_ns + events.size();
  return results;
}

std::vector<CreateTransferResult> ReferenceModel::CreateTransfers(std::span<const Transfer> events,
                                                                  uint64_t timestamp_ns) {
  BeginBatch(timestamp_ns);
  auto results = RunChains<TransferResult>(
      events, timestamp_ns, transfer_flags::kLinked,
      [this](const Transfer& event, uint64_t booked_ns) {
        return CreateTransfer(event, booked_ns);
      },
      [this](const Transfer& event, TransferResult result) {
        if (IsRecordedFailure(result)) state_.failures[event.id.Get()] = result;
      });
  state_.last_timestamp_ns = timestamp_ns + events.size();
  return results;
}

// ---------------------------------------------------------------------------------------------
// Ledgers and accounts.

CreateLedgerResult ReferenceModel::CreateLedger(const Ledger& event, uint64_t timestamp_ns) {
  if (event.timestamp_ns != 0) return LedgerResult::kTimestampMustBeZero;
  if (event.reserved[0] != 0 || event.reserved[1] != 0 || event.reserved[2] != 0) {
    return LedgerResult::kReservedField;
  }
  if (event.id == 0) return LedgerResult::kIdMustNotBeZero;
  if (event.scale > kScaleMax) return LedgerResult::kScaleTooLarge;
  if (!AssetCodeValid(event.asset_code)) return LedgerResult::kAssetCodeInvalid;
  auto existing = state_.ledgers.find(event.id);
  if (existing != state_.ledgers.end()) {
    const Ledger& stored = existing->second;
    if (stored.scale != event.scale) return LedgerResult::kExistsWithDifferentScale;
    if (std::memcmp(stored.asset_code, event.asset_code, kAssetCodeSizeBytes) != 0) {
      return LedgerResult::kExistsWithDifferentAssetCode;
    }
    return LedgerResult::kExists;
  }
  Ledger stored = event;
  stored.timestamp_ns = timestamp_ns;
  state_.ledgers[event.id] = stored;
  return LedgerResult::kOk;
}

CreateAccountResult ReferenceModel::ValidateAccount(const Account& event) {
  using namespace account_flags;  // NOLINT: a table of flags reads better unqualified.
  if (event.timestamp_ns != 0) return AccountResult::kTimestampMustBeZero;
  if (event.reserved != 0) return AccountResult::kReservedField;
  if ((event.flags & ~kAll) != 0) return AccountResult::kReservedFlag;
  if (event.id.IsZero()) return AccountResult::kIdMustNotBeZero;
  if (event.id.IsMax()) return AccountResult::kIdMustNotBeIntMax;
  if (Has(event.flags, kDebitsMustNotExceedCredits) &&
      Has(event.flags, kCreditsMustNotExceedDebits)) {
    return AccountResult::kFlagsAreMutuallyExclusive;
  }
  if (Has(event.flags, kClosed)) return AccountResult::kClosedFlagMustNotBeSet;
  if (!event.debits_pending.IsZero()) return AccountResult::kDebitsPendingMustBeZero;
  if (!event.debits_posted.IsZero()) return AccountResult::kDebitsPostedMustBeZero;
  if (!event.credits_pending.IsZero()) return AccountResult::kCreditsPendingMustBeZero;
  if (!event.credits_posted.IsZero()) return AccountResult::kCreditsPostedMustBeZero;
  if (event.ledger == 0) return AccountResult::kLedgerMustNotBeZero;
  if (event.code == 0) return AccountResult::kCodeMustNotBeZero;
  return AccountResult::kOk;
}

CreateAccountResult ReferenceModel::CreateAccount(const Account& event, uint64_t timestamp_ns) {
  const AccountResult invalid = ValidateAccount(event);
  if (invalid != AccountResult::kOk) return invalid;
  auto existing = state_.accounts.find(event.id.Get());
  if (existing != state_.accounts.end()) {
    const Account& stored = existing->second;
    constexpr uint16_t kState = account_flags::kLinked | account_flags::kClosed;
    if ((stored.flags & ~kState) != (event.flags & ~kState)) {
      return AccountResult::kExistsWithDifferentFlags;
    }
    if (stored.user_data_128 != event.user_data_128) {
      return AccountResult::kExistsWithDifferentUserData128;
    }
    if (stored.user_data_64 != event.user_data_64) {
      return AccountResult::kExistsWithDifferentUserData64;
    }
    if (stored.user_data_32 != event.user_data_32) {
      return AccountResult::kExistsWithDifferentUserData32;
    }
    if (stored.ledger != event.ledger) return AccountResult::kExistsWithDifferentLedger;
    if (stored.code != event.code) return AccountResult::kExistsWithDifferentCode;
    return AccountResult::kExists;
  }
  if (!state_.ledgers.contains(event.ledger)) return AccountResult::kLedgerNotFound;
  Account stored = event;
  stored.flags &= static_cast<uint16_t>(~account_flags::kLinked);
  stored.timestamp_ns = timestamp_ns;
  state_.accounts[event.id.Get()] = stored;
  return AccountResult::kOk;
}

// ---------------------------------------------------------------------------------------------
// Transfers: validation, idempotency, references, balances, then the commit.

CreateTransferResult ReferenceModel::CreateTransfer(const Transfer& event, uint64_t timestamp_ns) {
  TransferResult result = ValidateTransfer(event);
  if (result != TransferResult::kOk) return result;
  result = CompareWithExisting(event);
  if (result != TransferResult::kOk) return result;
  Plan plan;
  result = CheckReferences(event, timestamp_ns, &plan);
  if (result != TransferResult::kOk) return result;
  result = CheckBalances(event, &plan);
  if (result != TransferResult::kOk) return result;
  Commit(event, timestamp_ns, plan);
  return TransferResult::kOk;
}

CreateTransferResult ReferenceModel::ValidateTransfer(const Transfer& event) {
  using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
  const uint16_t flags = event.flags;
  const bool pending = Has(flags, kPending);
  const bool post = Has(flags, kPostPending);
  const bool void_pending = Has(flags, kVoidPending);
  const bool settles = post || void_pending;
  const bool balancing = Has(flags, kBalancingDebit | kBalancingCredit);
  const bool closing = Has(flags, kClosingDebit | kClosingCredit);
  const bool reversal = !event.reverses_id.IsZero();
  const int kind_count = int{pending} + int{post} + int{void_pending};
  if (event.timestamp_ns != 0) return TransferResult::kTimestampMustBeZero;
  if ((flags & ~kAll) != 0) return TransferResult::kReservedFlag;
  if (event.id.IsZero()) return TransferResult::kIdMustNotBeZero;
  if (event.id.IsMax()) return TransferResult::kIdMustNotBeIntMax;
  if (kind_count > 1 || (settles && (balancing || closing))) {
    return TransferResult::kFlagsAreMutuallyExclusive;
  }
  if (!settles && !event.pending_id.IsZero()) return TransferResult::kPendingIdMustBeZero;
  if (settles && event.pending_id.IsZero()) return TransferResult::kPendingIdMustNotBeZero;
  if (settles && event.pending_id.IsMax()) return TransferResult::kPendingIdMustNotBeIntMax;
  if (settles && event.pending_id == event.id) return TransferResult::kPendingIdMustBeDifferent;
  if (reversal && event.reverses_id.IsMax()) return TransferResult::kReversesIdMustNotBeIntMax;
  if (reversal && event.reverses_id == event.id) {
    return TransferResult::kReversesIdMustBeDifferent;
  }
  if (reversal && (flags & ~kLinked) != 0) return TransferResult::kReversalMustBePlain;
  if (event.timeout_s != 0 && !pending) {
    return TransferResult::kTimeoutReservedForPendingTransfer;
  }
  if (closing && !pending) return TransferResult::kClosingTransferMustBePending;
  const AccountId debit = event.debit_account_id;
  const AccountId credit = event.credit_account_id;
  if (!settles && debit.IsZero()) return TransferResult::kDebitAccountIdMustNotBeZero;
  if (debit.IsMax()) return TransferResult::kDebitAccountIdMustNotBeIntMax;
  if (!settles && credit.IsZero()) return TransferResult::kCreditAccountIdMustNotBeZero;
  if (credit.IsMax()) return TransferResult::kCreditAccountIdMustNotBeIntMax;
  if (!debit.IsZero() && !credit.IsZero() && debit == credit) {
    return TransferResult::kAccountsMustBeDifferent;
  }
  if (!settles && event.ledger == 0) return TransferResult::kLedgerMustNotBeZero;
  if (!settles && event.code == 0) return TransferResult::kCodeMustNotBeZero;
  if (event.amount.IsZero() && !void_pending) return TransferResult::kAmountMustNotBeZero;
  return TransferResult::kOk;
}

CreateTransferResult ReferenceModel::CompareWithExisting(const Transfer& event) const {
  using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
  auto existing = state_.transfers.find(event.id.Get());
  if (existing == state_.transfers.end()) {
    auto failure = state_.failures.find(event.id.Get());
    return failure == state_.failures.end() ? TransferResult::kOk : failure->second;
  }
  const Transfer& stored = existing->second;
  const bool settles = Has(event.flags, kPostPending | kVoidPending);
  if ((event.flags & ~kLinked) != stored.flags) return TransferResult::kExistsWithDifferentFlags;
  if (event.pending_id != stored.pending_id) return TransferResult::kExistsWithDifferentPendingId;
  if (event.reverses_id != stored.reverses_id) {
    return TransferResult::kExistsWithDifferentReversesId;
  }
  if (event.timeout_s != stored.timeout_s) return TransferResult::kExistsWithDifferentTimeout;
  if ((!settles || !event.debit_account_id.IsZero()) &&
      event.debit_account_id != stored.debit_account_id) {
    return TransferResult::kExistsWithDifferentDebitAccountId;
  }
  if ((!settles || !event.credit_account_id.IsZero()) &&
      event.credit_account_id != stored.credit_account_id) {
    return TransferResult::kExistsWithDifferentCreditAccountId;
  }
  if (!AmountMatches(event, stored)) return TransferResult::kExistsWithDifferentAmount;
  if (event.user_data_128 != stored.user_data_128) {
    return TransferResult::kExistsWithDifferentUserData128;
  }
  if (event.user_data_64 != stored.user_data_64) {
    return TransferResult::kExistsWithDifferentUserData64;
  }
  if (event.user_data_32 != stored.user_data_32) {
    return TransferResult::kExistsWithDifferentUserData32;
  }
  if ((!settles || event.ledger != 0) && event.ledger != stored.ledger) {
    return TransferResult::kExistsWithDifferentLedger;
  }
  if ((!settles || event.code != 0) && event.code != stored.code) {
    return TransferResult::kExistsWithDifferentCode;
  }
  if (event.value_time_ns != stored.value_time_ns) {
    return TransferResult::kExistsWithDifferentValueTime;
  }
  return TransferResult::kExists;
}

// Called once the flags are known to match, so `stored` is of the same kind as `event`.
bool ReferenceModel::AmountMatches(const Transfer& event, const Transfer& stored) const {
  using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
  if (Has(event.flags, kPostPending) && event.amount.IsMax()) {
    return stored.amount == state_.transfers.at(stored.pending_id.Get()).amount;
  }
  if (Has(event.flags, kVoidPending) && event.amount.IsZero()) return true;
  if (Has(event.flags, kBalancingDebit | kBalancingCredit)) return event.amount >= stored.amount;
  return event.amount == stored.amount;
}

CreateTransferResult ReferenceModel::CheckReferences(const Transfer& event, uint64_t timestamp_ns,
                                                     Plan* plan) const {
  const bool settles =
      Has(event.flags, transfer_flags::kPostPending | transfer_flags::kVoidPending);
  auto debit = state_.accounts.find(event.debit_account_id.Get());
  auto credit = state_.accounts.find(event.credit_account_id.Get());
  const bool debit_found = debit != state_.accounts.end();
  const bool credit_found = credit != state_.accounts.end();
  if (!settles && !debit_found) return TransferResult::kDebitAccountNotFound;
  if (!settles && !credit_found) return TransferResult::kCreditAccountNotFound;
  if (!settles && debit->second.ledger != credit->second.ledger) {
    return TransferResult::kAccountsMustHaveTheSameLedger;
  }
  if (!settles && event.ledger != debit->second.ledger) {
    return TransferResult::kTransferMustHaveTheSameLedgerAsAccounts;
  }
  plan->debit_id = event.debit_account_id.Get();
  plan->credit_id = event.credit_account_id.Get();
  if (settles) {
    const TransferResult result = CheckReservation(event, plan);
    if (result != TransferResult::kOk) return result;
    plan->debit_id = plan->reservation->debit_account_id.Get();
    plan->credit_id = plan->reservation->credit_account_id.Get();
  }
  if (!event.reverses_id.IsZero()) {
    const TransferResult result = CheckReversal(event);
    if (result != TransferResult::kOk) return result;
  }
  return CheckClosedAndTimeout(event, timestamp_ns, *plan);
}

CreateTransferResult ReferenceModel::CheckReservation(const Transfer& event, Plan* plan) const {
  const bool post = Has(event.flags, transfer_flags::kPostPending);
  const bool void_pending = Has(event.flags, transfer_flags::kVoidPending);
  auto found = state_.transfers.find(event.pending_id.Get());
  if (found == state_.transfers.end()) return TransferResult::kPendingTransferNotFound;
  const Transfer& reservation = found->second;
  if (!Has(reservation.flags, transfer_flags::kPending)) {
    return TransferResult::kPendingTransferNotPending;
  }
  if (!event.debit_account_id.IsZero() && event.debit_account_id != reservation.debit_account_id) {
    return TransferResult::kPendingTransferHasDifferentDebitAccountId;
  }
  if (!event.credit_account_id.IsZero() &&
      event.credit_account_id != reservation.credit_account_id) {
    return TransferResult::kPendingTransferHasDifferentCreditAccountId;
  }
  if (event.ledger != 0 && event.ledger != reservation.ledger) {
    return TransferResult::kPendingTransferHasDifferentLedger;
  }
  if (event.code != 0 && event.code != reservation.code) {
    return TransferResult::kPendingTransferHasDifferentCode;
  }
  if (post && !event.amount.IsMax() && event.amount > reservation.amount) {
    return TransferResult::kExceedsPendingTransferAmount;
  }
  if (void_pending && !event.amount.IsZero() && event.amount != reservation.amount) {
    return TransferResult::kPendingTransferHasDifferentAmount;
  }
  const PendingStatus status = state_.reservations.at(event.pending_id.Get()).status;
  if (status == PendingStatus::kPosted) return TransferResult::kPendingTransferAlreadyPosted;
  if (status == PendingStatus::kVoided) return TransferResult::kPendingTransferAlreadyVoided;
  if (status == PendingStatus::kExpired) return TransferResult::kPendingTransferExpired;
  plan->reservation = &reservation;
  plan->reserved = reservation.amount.Get();
  return TransferResult::kOk;
}

CreateTransferResult ReferenceModel::CheckReversal(const Transfer& event) const {
  auto found = state_.transfers.find(event.reverses_id.Get());
  if (found == state_.transfers.end()) return TransferResult::kReversedTransferNotFound;
  const Transfer& original = found->second;
  if (Has(original.flags, transfer_flags::kPending | transfer_flags::kVoidPending)) {
    return TransferResult::kReversedTransferNotPosted;
  }
  if (event.debit_account_id != original.credit_account_id ||
      event.credit_account_id != original.debit_account_id) {
    return TransferResult::kReversalMustSwapAccounts;
  }
  Amount reversed = Amount::From(ReversedAmount(original.id.Get()));
  if (!AddChecked(&reversed, event.amount.Get()) || reversed > original.amount) {
    return TransferResult::kExceedsReversibleAmount;
  }
  return TransferResult::kOk;
}

CreateTransferResult ReferenceModel::CheckClosedAndTimeout(const Transfer& event,
                                                           uint64_t timestamp_ns,
                                                           const Plan& plan) const {
  const bool post = Has(event.flags, transfer_flags::kPostPending);
  const bool void_pending = Has(event.flags, transfer_flags::kVoidPending);
  const u128 pending_id = event.pending_id.Get();
  auto closed_by_other = [&](u128 account_id) {
    if (!Has(state_.accounts.at(account_id).flags, account_flags::kClosed)) return false;
    return !(post && state_.closed_by.at(account_id) == pending_id);
  };
  if (!void_pending && closed_by_other(plan.debit_id)) {
    return TransferResult::kDebitAccountAlreadyClosed;
  }
  if (!void_pending && closed_by_other(plan.credit_id)) {
    return TransferResult::kCreditAccountAlreadyClosed;
  }
  const u128 expires_at_ns = u128{timestamp_ns} + u128{event.timeout_s} * kNsPerS;
  if (Has(event.flags, transfer_flags::kPending) && expires_at_ns > kU64Max) {
    return TransferResult::kOverflowsTimeout;
  }
  return TransferResult::kOk;
}

CreateTransferResult ReferenceModel::CheckBalances(const Transfer& event, Plan* plan) const {
  using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
  const bool pending = Has(event.flags, kPending);
  const bool post = Has(event.flags, kPostPending);
  const bool void_pending = Has(event.flags, kVoidPending);
  Account debit = state_.accounts.at(plan->debit_id);
  Account credit = state_.accounts.at(plan->credit_id);
  u128 amount = event.amount.Get();
  if (post && event.amount.IsMax()) amount = plan->reserved;
  if (void_pending) amount = plan->reserved;
  if (Has(event.flags, kBalancingDebit)) {
    amount =
        std::min(amount, FlooredDifference(debit.credits_posted.Get(), debit.debits_posted.Get(),
                                           debit.debits_pending.Get()));
  }
  if (Has(event.flags, kBalancingCredit)) {
    amount =
        std::min(amount, FlooredDifference(credit.debits_posted.Get(), credit.credits_posted.Get(),
                                           credit.credits_pending.Get()));
  }
  plan->amount = amount;
  if (post || void_pending) {
    SubtractExpected(&debit.debits_pending, plan->reserved);
    SubtractExpected(&credit.credits_pending, plan->reserved);
  }
  const bool posts = !pending && !void_pending;  // plain, balancing, reversal or post
  if (pending && !AddChecked(&debit.debits_pending, amount)) {
    return TransferResult::kOverflowsDebitsPending;
  }
  if (pending && !AddChecked(&credit.credits_pending, amount)) {
    return TransferResult::kOverflowsCreditsPending;
  }
  if (posts && !AddChecked(&debit.debits_posted, amount)) {
    return TransferResult::kOverflowsDebitsPosted;
  }
  if (posts && !AddChecked(&credit.credits_posted, amount)) {
    return TransferResult::kOverflowsCreditsPosted;
  }
  if (SumOverflows(debit.debits_pending, debit.debits_posted)) {
    return TransferResult::kOverflowsDebits;
  }
  if (SumOverflows(credit.credits_pending, credit.credits_posted)) {
    return TransferResult::kOverflowsCredits;
  }
  if (Has(debit.flags, account_flags::kDebitsMustNotExceedCredits) &&
      debit.debits_pending.Get() + debit.debits_posted.Get() > debit.credits_posted.Get()) {
    return TransferResult::kExceedsCredits;
  }
  if (Has(credit.flags, account_flags::kCreditsMustNotExceedDebits) &&
      credit.credits_pending.Get() + credit.credits_posted.Get() > credit.debits_posted.Get()) {
    return TransferResult::kExceedsDebits;
  }
  plan->debit_after = debit;
  plan->credit_after = credit;
  return TransferResult::kOk;
}

void ReferenceModel::Commit(const Transfer& event, uint64_t timestamp_ns, const Plan& plan) {
  using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
  const u128 id = event.id.Get();
  Transfer stored = event;
  stored.flags &= static_cast<uint16_t>(~kLinked);
  stored.timestamp_ns = timestamp_ns;
  stored.amount = Amount::From(plan.amount);
  if (plan.reservation != nullptr) {  // post/void: inherit what the reservation says
    stored.debit_account_id = plan.reservation->debit_account_id;
    stored.credit_account_id = plan.reservation->credit_account_id;
    stored.ledger = plan.reservation->ledger;
    stored.code = plan.reservation->code;
  }
  state_.transfers[id] = stored;
  state_.transfer_log.push_back(stored);  // records never change once stored
  state_.accounts.at(plan.debit_id) = plan.debit_after;
  state_.accounts.at(plan.credit_id) = plan.credit_after;
  if (Has(event.flags, kPending)) {
    Reservation& reservation = state_.reservations[id];
    if (event.timeout_s != 0) {
      reservation.expires_at_ns =
          static_cast<uint64_t>(u128{timestamp_ns} + u128{event.timeout_s} * kNsPerS);
    }
    if (Has(event.flags, kClosingDebit)) Close(plan.debit_id, id);
    if (Has(event.flags, kClosingCredit)) Close(plan.credit_id, id);
  }
  if (Has(event.flags, kPostPending)) {
    Reservation& reservation = state_.reservations.at(event.pending_id.Get());
    reservation.status = PendingStatus::kPosted;
    reservation.posted_amount = plan.amount;
  }
  if (Has(event.flags, kVoidPending)) {
    state_.reservations.at(event.pending_id.Get()).status = PendingStatus::kVoided;
    Reopen(*plan.reservation);
  }
  if (!event.reverses_id.IsZero()) state_.reversals[event.reverses_id.Get()].push_back(id);
  Snapshot(state_.accounts.at(plan.debit_id), timestamp_ns);
  Snapshot(state_.accounts.at(plan.credit_id), timestamp_ns);
}

u128 ReferenceModel::ReversedAmount(u128 id) const {
  auto found = state_.reversals.find(id);
  if (found == state_.reversals.end()) return 0;
  u128 sum = 0;
  for (u128 reversal_id : found->second) sum += state_.transfers.at(reversal_id).amount.Get();
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Queries.

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
    return filter.code == 0 || transfer.code == filter.code;
  });
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

// ---------------------------------------------------------------------------------------------
// Descriptions for failure messages.

std::string U128ToString(u128 value) {
  if (value == kU128Max) return "MAX";
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return digits;
}

namespace {

template <typename Tag>
std::string Str(Value128<Tag> value) {
  return U128ToString(value.Get());
}

std::string Hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

std::string DebugString(const Ledger& ledger) {
  return "Ledger{id=" + std::to_string(ledger.id) + " scale=" + std::to_string(ledger.scale) +
         " reserved=" + std::to_string(ledger.reserved[0]) + "," +
         std::to_string(ledger.reserved[1]) + "," + std::to_string(ledger.reserved[2]) +
         " asset_code=\"" + std::string(ledger.asset_code, kAssetCodeSizeBytes) +
         "\" ts=" + std::to_string(ledger.timestamp_ns) + "}";
}

std::string DebugString(const Account& account) {
  return "Account{id=" + Str(account.id) + " dp=" + Str(account.debits_pending) +
         " dpo=" + Str(account.debits_posted) + " cp=" + Str(account.credits_pending) +
         " cpo=" + Str(account.credits_posted) + " ud128=" + Str(account.user_data_128) +
         " ud64=" + std::to_string(account.user_data_64) +
         " ud32=" + std::to_string(account.user_data_32) +
         " reserved=" + std::to_string(account.reserved) +
         " ledger=" + std::to_string(account.ledger) + " code=" + std::to_string(account.code) +
         " flags=" + Hex(account.flags) + " ts=" + std::to_string(account.timestamp_ns) + "}";
}

std::string DebugString(const Transfer& transfer) {
  return "Transfer{id=" + Str(transfer.id) + " dr=" + Str(transfer.debit_account_id) +
         " cr=" + Str(transfer.credit_account_id) + " amount=" + Str(transfer.amount) +
         " pending_id=" + Str(transfer.pending_id) + " reverses_id=" + Str(transfer.reverses_id) +
         " ud128=" + Str(transfer.user_data_128) +
         " ud64=" + std::to_string(transfer.user_data_64) +
         " value_time=" + std::to_string(transfer.value_time_ns) +
         " ts=" + std::to_string(transfer.timestamp_ns) +
         " ud32=" + std::to_string(transfer.user_data_32) +
         " timeout_s=" + std::to_string(transfer.timeout_s) +
         " ledger=" + std::to_string(transfer.ledger) + " code=" + std::to_string(transfer.code) +
         " flags=" + Hex(transfer.flags) + "}";
}

std::string DebugString(const AccountBalance& balance) {
  return "AccountBalance{dp=" + Str(balance.debits_pending) + " dpo=" + Str(balance.debits_posted) +
         " cp=" + Str(balance.credits_pending) + " cpo=" + Str(balance.credits_posted) +
         " ts=" + std::to_string(balance.timestamp_ns) +
         " reserved=" + std::to_string(balance.reserved) + "}";
}

std::string DebugString(const TrialBalance& trial_balance) {
  auto wide = [](const WideSum& sum) {
    return std::to_string(sum.carries) + ":" + U128ToString(sum.low.Get());
  };
  return "TrialBalance{ledger=" + std::to_string(trial_balance.ledger) +
         " accounts=" + std::to_string(trial_balance.account_count) +
         " dp=" + wide(trial_balance.debits_pending) + " dpo=" + wide(trial_balance.debits_posted) +
         " cp=" + wide(trial_balance.credits_pending) +
         " cpo=" + wide(trial_balance.credits_posted) + "}";
}

std::string DebugString(const AccountFilter& filter) {
  return "AccountFilter{account=" + Str(filter.account_id) +
         " min=" + std::to_string(filter.timestamp_min_ns) +
         " max=" + std::to_string(filter.timestamp_max_ns) +
         " code=" + std::to_string(filter.code) + " flags=" + Hex(filter.flags) +
         " limit=" + std::to_string(filter.limit) + "}";
}

namespace {

template <size_t kCount, typename Result>
const char* NameOf(const char* const (&names)[kCount], Result result) {
  const size_t index = static_cast<size_t>(result);
  return index < kCount ? names[index] : "(out of range)";
}

}  // namespace

const char* ResultName(CreateLedgerResult result) {
  // clang-format off
  static constexpr const char* kNames[] = {
      "ok", "timestamp_must_be_zero", "reserved_field", "id_must_not_be_zero", "scale_too_large",
      "asset_code_invalid", "exists_with_different_scale", "exists_with_different_asset_code",
      "exists",
  };
  // clang-format on
  return NameOf(kNames, result);
}

const char* ResultName(CreateAccountResult result) {
  // clang-format off
  static constexpr const char* kNames[] = {
      "ok", "linked_event_failed", "linked_event_chain_open", "timestamp_must_be_zero",
      "reserved_field", "reserved_flag", "id_must_not_be_zero", "id_must_not_be_int_max",
      "flags_are_mutually_exclusive", "closed_flag_must_not_be_set", "debits_pending_must_be_zero",
      "debits_posted_must_be_zero", "credits_pending_must_be_zero", "credits_posted_must_be_zero",
      "ledger_must_not_be_zero", "code_must_not_be_zero", "exists_with_different_flags",
      "exists_with_different_user_data_128", "exists_with_different_user_data_64",
      "exists_with_different_user_data_32", "exists_with_different_ledger",
      "exists_with_different_code", "exists", "ledger_not_found",
  };
  // clang-format on
  return NameOf(kNames, result);
}

const char* ResultName(CreateTransferResult result) {
  // clang-format off
  static constexpr const char* kNames[] = {
      "ok", "linked_event_failed", "linked_event_chain_open", "timestamp_must_be_zero",
      "reserved_flag", "id_must_not_be_zero", "id_must_not_be_int_max",
      "flags_are_mutually_exclusive", "pending_id_must_be_zero", "pending_id_must_not_be_zero",
      "pending_id_must_not_be_int_max", "pending_id_must_be_different",
      "reverses_id_must_not_be_int_max", "reverses_id_must_be_different", "reversal_must_be_plain",
      "timeout_reserved_for_pending_transfer", "closing_transfer_must_be_pending",
      "debit_account_id_must_not_be_zero", "debit_account_id_must_not_be_int_max",
      "credit_account_id_must_not_be_zero", "credit_account_id_must_not_be_int_max",
      "accounts_must_be_different", "ledger_must_not_be_zero", "code_must_not_be_zero",
      "amount_must_not_be_zero", "exists_with_different_flags", "exists_with_different_pending_id",
      "exists_with_different_reverses_id", "exists_with_different_timeout",
      "exists_with_different_debit_account_id", "exists_with_different_credit_account_id",
      "exists_with_different_amount", "exists_with_different_user_data_128",
      "exists_with_different_user_data_64", "exists_with_different_user_data_32",
      "exists_with_different_ledger", "exists_with_different_code",
      "exists_with_different_value_time", "exists", "debit_account_not_found",
      "credit_account_not_found", "accounts_must_have_the_same_ledger",
      "transfer_must_have_the_same_ledger_as_accounts", "pending_transfer_not_found",
      "pending_transfer_not_pending", "pending_transfer_has_different_debit_account_id",
      "pending_transfer_has_different_credit_account_id", "pending_transfer_has_different_ledger",
      "pending_transfer_has_different_code", "exceeds_pending_transfer_amount",
      "pending_transfer_has_different_amount", "pending_transfer_already_posted",
      "pending_transfer_already_voided", "pending_transfer_expired", "reversed_transfer_not_found",
      "reversed_transfer_not_posted", "reversal_must_swap_accounts", "exceeds_reversible_amount",
      "debit_account_already_closed", "credit_account_already_closed", "overflows_timeout",
      "overflows_debits_pending", "overflows_credits_pending", "overflows_debits_posted",
      "overflows_credits_posted", "overflows_debits", "overflows_credits", "exceeds_credits",
      "exceeds_debits",
  };
  // clang-format on
  static_assert(std::size(kNames) == kCreateTransferResultCount);
  return NameOf(kNames, result);
}

}  // namespace ledger::testing
