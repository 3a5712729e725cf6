// The reference model's transfers: validation, idempotency, references, balances, then the
// commit (docs/data-model.md, one `if` per row of its precedence tables).
#include <algorithm>

#include "tests/engine/reference_model.h"
#include "tests/engine/reference_model_internal.h"

namespace ledger::testing {
namespace {

using model_internal::AddChecked;
using model_internal::FlooredDifference;
using model_internal::Has;
using model_internal::SubtractExpected;
using model_internal::SumOverflows;

using TransferResult = CreateTransferResult;

constexpr u128 kNsPerS = 1'000'000'000;
constexpr u128 kTimestampMaxNs = INT64_MAX;  // the largest timestamp the ledger stores

}  // namespace

// ---------------------------------------------------------------------------------------------
// Transfers: validation, idempotency, references, balances, then the commit.

CreateTransferResult ReferenceModel::CreateTransfer(const Transfer& event, uint64_t timestamp_ns) {
  if (Has(event.flags, transfer_flags::kImported)) return TransferResult::kImportedEventNotExpected;
  TransferResult result = ValidateTransfer(event);
  if (result != TransferResult::kOk) return result;
  result = CompareWithExisting(event);
  if (result != TransferResult::kOk) return result;
  return ApplyNew(event, timestamp_ns);
}

CreateTransferResult ReferenceModel::ApplyNew(const Transfer& event, uint64_t timestamp_ns) {
  Plan plan;
  TransferResult result = CheckReferences(event, timestamp_ns, &plan);
  if (result != TransferResult::kOk) return result;
  result = CheckBalances(event, &plan);
  if (result != TransferResult::kOk) return result;
  Commit(event, timestamp_ns, plan);
  return TransferResult::kOk;
}

CreateTransferResult ReferenceModel::CreateImportedTransfer(const Transfer& event,
                                                            uint64_t batch_timestamp_ns) {
  if (!Has(event.flags, transfer_flags::kImported)) return TransferResult::kImportedEventExpected;
  const uint64_t timestamp_ns = event.timestamp_ns;
  if (timestamp_ns == 0 || timestamp_ns >= batch_timestamp_ns ||
      timestamp_ns >= kTimestampLimitNs) {
    return TransferResult::kImportedEventTimestampOutOfRange;
  }
  TransferResult result = ValidateTransfer(event);
  if (result != TransferResult::kOk) return result;
  result = CompareWithExisting(event);
  if (result != TransferResult::kOk) return result;
  if (timestamp_ns <= state_.last_timestamp_ns) {
    return TransferResult::kImportedEventTimestampMustNotRegress;
  }
  // Booked, a recorded failure too; a failing chain restores the state from before it.
  state_.last_timestamp_ns = timestamp_ns;
  return ApplyNew(event, timestamp_ns);
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
  // An imported event's timestamp was checked by CreateImportedTransfer.
  if (!Has(flags, kImported) && event.timestamp_ns != 0) {
    return TransferResult::kTimestampMustBeZero;
  }
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
  if (reversal && (flags & ~(kLinked | kImported)) != 0) {
    return TransferResult::kReversalMustBePlain;
  }
  if (event.timeout_s != 0 && !pending) {
    return TransferResult::kTimeoutReservedForPendingTransfer;
  }
  if (event.timeout_s != 0 && Has(flags, kImported)) {
    return TransferResult::kImportedEventTimeoutMustBeZero;
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
  if (event.value_time_ns > kTimestampMaxNs) return TransferResult::kValueTimeOutOfRange;
  return TransferResult::kOk;
}

CreateTransferResult ReferenceModel::CompareWithExisting(const Transfer& event) const {
  using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
  auto existing = state_.transfers.find(event.id.Get());
  if (existing != state_.transfers.end()) {
    return CompareFields(event, existing->second, /*failed=*/false);
  }
  auto failure = state_.failures.find(event.id.Get());
  if (failure == state_.failures.end()) return TransferResult::kOk;
  // A retry of a failed id: never a success.
  const TransferResult result = CompareFields(event, failure->second.event, /*failed=*/true);
  return result == TransferResult::kExists ? TransferResult::kIdAlreadyFailed : result;
}

CreateTransferResult ReferenceModel::CompareFields(const Transfer& event, const Transfer& stored,
                                                   bool failed) const {
  using namespace transfer_flags;  // NOLINT: a table of flags reads better unqualified.
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
  // A failed event's amount is as given, so a retry must give it again exactly.
  const bool amount_matches = failed ? event.amount == stored.amount : AmountMatches(event, stored);
  if (!amount_matches) return TransferResult::kExistsWithDifferentAmount;
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
  if (Has(event.flags, transfer_flags::kPending) && expires_at_ns > kTimestampMaxNs) {
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
    reservation.resolved_by = id;
  }
  if (Has(event.flags, kVoidPending)) {
    Reservation& reservation = state_.reservations.at(event.pending_id.Get());
    reservation.status = PendingStatus::kVoided;
    reservation.resolved_by = id;
    Reopen(*plan.reservation);
  }
  if (!event.reverses_id.IsZero()) state_.reversals[event.reverses_id.Get()].push_back(id);
  Snapshot(state_.accounts.at(plan.debit_id), timestamp_ns);
  Snapshot(state_.accounts.at(plan.credit_id), timestamp_ns);
  ChangeKind kind = ChangeKind::kSinglePhase;
  if (Has(event.flags, kPending)) kind = ChangeKind::kPending;
  if (Has(event.flags, kPostPending)) kind = ChangeKind::kPosted;
  if (Has(event.flags, kVoidPending)) kind = ChangeKind::kVoided;
  RecordChange(kind, event.id, timestamp_ns, plan.debit_id, plan.credit_id);
}

u128 ReferenceModel::ReversedAmount(u128 id) const {
  auto found = state_.reversals.find(id);
  if (found == state_.reversals.end()) return 0;
  u128 sum = 0;
  for (u128 reversal_id : found->second) sum += state_.transfers.at(reversal_id).amount.Get();
  return sum;
}

}  // namespace ledger::testing
