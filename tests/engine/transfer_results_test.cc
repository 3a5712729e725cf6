// One test (at least) per CreateTransferResult code, part two: idempotency, references and
// balances. Each sets up the state, submits the event, and checks the code and that nothing
// changed (accounts, trial balances, reservations, reversal sums, the record under the id).
// Idempotency failures are not recorded. State-dependent failures are recorded with the event:
// after the cause is fixed, the same event gets id_already_failed (and a changed one the precise
// exists_with_different_*), and the id keeps its first code. ok, the chain codes and the
// validation of the event's own fields: transfer_validation_results_test.cc.
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

// `event` gets the recorded `code` now and (after the caller fixed the cause) again on retry.
::testing::AssertionResult RejectedAndRecorded(Harness& h, const TransferSpec& event, R code) {
  const uint64_t failed_before = h.engine().GetStats().failed_transfer_count;
  ::testing::AssertionResult rejected = TransferRejected(h, event, code);
  if (!rejected) return rejected;
  if (h.engine().GetStats().failed_transfer_count != failed_before + 1) {
    return ::testing::AssertionFailure() << "failed_transfer_count did not grow by one";
  }
  if (h.LookupTransfer(event.id).has_value()) {
    return ::testing::AssertionFailure() << "a record was stored";
  }
  return ::testing::AssertionSuccess();
}

// A later event `retry` with the id of a recorded failure gets `code` (id_already_failed when
// identical), changes nothing and records nothing; the id still holds its first code.
::testing::AssertionResult RetryOfFailedGets(Harness& h, const TransferSpec& retry, R code,
                                             R recorded) {
  const uint64_t failed_before = h.engine().GetStats().failed_transfer_count;
  const std::optional<FailedTransfer> before =
      h.engine().LookupFailedTransfer(TransferId::From(retry.id));
  ::testing::AssertionResult rejected = TransferRejected(h, retry, code);
  if (!rejected) return rejected;
  const std::optional<FailedTransfer> after =
      h.engine().LookupFailedTransfer(TransferId::From(retry.id));
  if (!before.has_value() || before->code != recorded || !after.has_value() || *after != *before) {
    return ::testing::AssertionFailure() << "the failure recorded under the id is not the first";
  }
  if (h.engine().GetStats().failed_transfer_count != failed_before) {
    return ::testing::AssertionFailure() << "a retry recorded a failure";
  }
  return ::testing::AssertionSuccess();
}

constexpr uint16_t kPostFlag = tf::kPostPending;
constexpr uint16_t kVoidFlag = tf::kVoidPending;

// ---------------------------------------------------------------------------------------------
// Idempotency: the id names a stored transfer. Nothing changes; the stored record stays.

// The stored transfer the exists_with_different_* tests retry against.
TransferSpec Stored() {
  return {.id = 10,
          .debit = kA,
          .credit = kB,
          .amount = 100,
          .user_data_128 = U128(1, 2),
          .user_data_64 = 3,
          .value_time_ns = 42,
          .user_data_32 = 4,
          .code = 9};
}

// Stores Stored(), then applies `change` to a copy and checks the retry gets `code`.
template <typename Change>
::testing::AssertionResult RetryOfStoredGets(Change change, R code) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(Stored());
  TransferSpec retry = Stored();
  change(retry);
  return TransferRejected(h, retry, code);
}

TEST(CreateTransfer, ExistsWithDifferentFlagsWhenRetriedWithOtherFlags) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.flags = tf::kPending; },
                                R::kExistsWithDifferentFlags));
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.flags = tf::kBalancingCredit; },
                                R::kExistsWithDifferentFlags));
}

TEST(CreateTransfer, ExistsWithDifferentPendingIdWhenPostRetriedForOtherReservation) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 201, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer(
      {.id = 10, .amount = 50, .pending_id = 200, .ledger = 0, .code = 0, .flags = kPostFlag});
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 50, .pending_id = 201, .ledger = 0, .code = 0, .flags = kPostFlag},
      R::kExistsWithDifferentPendingId));
  EXPECT_EQ(h.StatusOf(201), PendingStatus::kPending);
}

TEST(CreateTransfer, ExistsWithDifferentReversesIdWhenRetriedAsOtherReversal) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100});
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .debit = kB, .credit = kA, .amount = 5},
                               R::kExistsWithDifferentReversesId));
  EXPECT_EQ(h.ReversedAmountOf(100), Amt(5));
}

TEST(CreateTransfer, ExistsWithDifferentTimeoutWhenPendingRetriedWithOtherTimeout) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kPending});
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .timeout_s = 60, .flags = tf::kPending},
      R::kExistsWithDifferentTimeout));
}

TEST(CreateTransfer, ExistsWithDifferentDebitAccountIdWhenRetriedWithOtherDebit) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.debit = kC; },
                                R::kExistsWithDifferentDebitAccountId));
}

TEST(CreateTransfer, ExistsWithDifferentCreditAccountIdWhenRetriedWithOtherCredit) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.credit = kC; },
                                R::kExistsWithDifferentCreditAccountId));
}

TEST(CreateTransfer, ExistsWithDifferentAmountWhenRetriedWithOtherAmount) {
  EXPECT_TRUE(
      RetryOfStoredGets([](TransferSpec& t) { t.amount = 99; }, R::kExistsWithDifferentAmount));
  EXPECT_TRUE(
      RetryOfStoredGets([](TransferSpec& t) { t.amount = 101; }, R::kExistsWithDifferentAmount));
}

TEST(CreateTransfer, ExistsWithDifferentUserData128WhenRetriedWithOtherUserData128) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.user_data_128 = U128(1, 3); },
                                R::kExistsWithDifferentUserData128));
}

TEST(CreateTransfer, ExistsWithDifferentUserData64WhenRetriedWithOtherUserData64) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.user_data_64 = 0; },
                                R::kExistsWithDifferentUserData64));
}

TEST(CreateTransfer, ExistsWithDifferentUserData32WhenRetriedWithOtherUserData32) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.user_data_32 = 5; },
                                R::kExistsWithDifferentUserData32));
}

TEST(CreateTransfer, ExistsWithDifferentLedgerWhenRetriedWithOtherLedger) {
  EXPECT_TRUE(
      RetryOfStoredGets([](TransferSpec& t) { t.ledger = kEur; }, R::kExistsWithDifferentLedger));
}

TEST(CreateTransfer, ExistsWithDifferentCodeWhenRetriedWithOtherCode) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.code = 8; }, R::kExistsWithDifferentCode));
}

TEST(CreateTransfer, ExistsWithDifferentValueTimeWhenRetriedWithOtherValueTime) {
  EXPECT_TRUE(RetryOfStoredGets([](TransferSpec& t) { t.value_time_ns = 43; },
                                R::kExistsWithDifferentValueTime));
}

TEST(CreateTransfer, ExistsWhenRetriedWithSameValuesAndAppliesNothingTwice) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(Stored());
  const uint64_t booked_ns = h.LookupTransfer(10).value().timestamp_ns;
  EXPECT_TRUE(TransferRejected(h, Stored(), R::kExists));
  EXPECT_EQ(h.LookupTransfer(10).value().timestamp_ns, booked_ns);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 100}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 100}));
}

TEST(CreateTransfer, ExistsWhenRetriedWithLinkedFlagInAChain) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(Stored());
  TransferSpec linked = Stored();
  linked.flags = tf::kLinked;
  EXPECT_EQ(h.CreateTransfers({linked, {.id = 11, .debit = kA, .credit = kC, .amount = 1}}),
            (std::vector<R>{R::kExists, R::kOk}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 101}));
}

TEST(CreateTransfer, ExistsWhenPostRetriedWithInheritedFieldsOmittedOrGiven) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer(
      {.id = 10, .amount = 50, .pending_id = 200, .ledger = 0, .code = 0, .flags = kPostFlag});
  EXPECT_TRUE(TransferRejected(h,
                               {.id = 10,
                                .debit = kA,
                                .credit = kB,
                                .amount = 50,
                                .pending_id = 200,
                                .ledger = kUsd,
                                .code = 1,
                                .flags = kPostFlag},
                               R::kExists));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 50, .pending_id = 200, .ledger = 0, .code = 0, .flags = kPostFlag},
      R::kExists));
  EXPECT_TRUE(TransferRejected(h,
                               {.id = 10,
                                .debit = kC,
                                .amount = 50,
                                .pending_id = 200,
                                .ledger = 0,
                                .code = 0,
                                .flags = kPostFlag},
                               R::kExistsWithDifferentDebitAccountId));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 50, .pending_id = 200, .ledger = 0, .code = 8, .flags = kPostFlag},
      R::kExistsWithDifferentCode));
}

TEST(CreateTransfer, ExistsWhenFullPostRetriedWithMaxAmountButNotAPartialOne) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 201, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 10, .amount = 50, .pending_id = 200, .code = 0, .flags = kPostFlag});
  h.AddTransfer({.id = 11, .amount = 20, .pending_id = 201, .code = 0, .flags = kPostFlag});
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = kU128Max, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kExists));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 11, .amount = kU128Max, .pending_id = 201, .code = 0, .flags = kPostFlag},
      R::kExistsWithDifferentAmount));
}

TEST(CreateTransfer, ExistsWhenMaxPostRetriedWithTheReservedAmount) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 10, .amount = kU128Max, .pending_id = 200, .code = 0, .flags = kPostFlag});
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(50));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 50, .pending_id = 200, .code = 0, .flags = kPostFlag}, R::kExists));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = kU128Max, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kExists));
}

TEST(CreateTransfer, ExistsWhenVoidRetriedWithZeroOrReservedAmount) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 10, .amount = 50, .pending_id = 200, .code = 0, .flags = kVoidFlag});
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 0, .pending_id = 200, .code = 0, .flags = kVoidFlag}, R::kExists));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 50, .pending_id = 200, .code = 0, .flags = kVoidFlag}, R::kExists));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 49, .pending_id = 200, .code = 0, .flags = kVoidFlag},
      R::kExistsWithDifferentAmount));
}

TEST(CreateTransfer, ExistsWhenBalancingRetriedWithAmountAtLeastTheClampedAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kC, .credit = kA, .amount = 30});
  const TransferSpec balancing = {
      .id = 10, .debit = kA, .credit = kB, .amount = 80, .flags = tf::kBalancingDebit};
  h.AddTransfer(balancing);
  ASSERT_EQ(h.LookupTransfer(10).value().amount, Amt(30));
  for (u128 amount : {u128{80}, u128{30}, kU128Max}) {
    TransferSpec retry = balancing;
    retry.amount = amount;
    EXPECT_TRUE(TransferRejected(h, retry, R::kExists)) << U128ToString(amount);
  }
  TransferSpec below = balancing;
  below.amount = 29;
  EXPECT_TRUE(TransferRejected(h, below, R::kExistsWithDifferentAmount));
}

// ---------------------------------------------------------------------------------------------
// References and balances: recorded.

TEST(CreateTransfer, DebitAccountNotFoundIsRecordedEvenAfterTheAccountIsCreated) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec event = {.id = 10, .debit = kMissingAccount, .credit = kB, .amount = 5};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kDebitAccountNotFound));
  h.AddAccount({.id = kMissingAccount});
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kDebitAccountNotFound));
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 1u);
}

TEST(CreateTransfer, CreditAccountNotFoundIsRecordedEvenAfterTheAccountIsCreated) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec event = {.id = 10, .debit = kA, .credit = kMissingAccount, .amount = 5};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kCreditAccountNotFound));
  h.AddAccount({.id = kMissingAccount});
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kCreditAccountNotFound));
}

TEST(CreateTransfer, AccountsMustHaveTheSameLedgerIsRecordedEvenForAFixedRetry) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 10, .debit = kA, .credit = kEurAccount, .amount = 5},
                                  R::kAccountsMustHaveTheSameLedger));
  // A later event with this id is compared with the failed one: never booked, even if valid.
  EXPECT_TRUE(RetryOfFailedGets(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5},
                                R::kExistsWithDifferentCreditAccountId,
                                R::kAccountsMustHaveTheSameLedger));
}

TEST(CreateTransfer, TransferMustHaveTheSameLedgerAsAccountsIsRecorded) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(
      RejectedAndRecorded(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .ledger = kEur},
                          R::kTransferMustHaveTheSameLedgerAsAccounts));
  EXPECT_TRUE(RetryOfFailedGets(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5},
                                R::kExistsWithDifferentLedger,
                                R::kTransferMustHaveTheSameLedgerAsAccounts));
}

TEST(CreateTransfer, PendingTransferNotFoundIsRecordedEvenAfterTheReservationExists) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec post = {.id = 10, .amount = 5, .pending_id = 300, .flags = kPostFlag};
  EXPECT_TRUE(RejectedAndRecorded(h, post, R::kPendingTransferNotFound));
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 11, .pending_id = 300, .flags = kVoidFlag},
                                  R::kPendingTransferNotFound));
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_TRUE(RetryOfFailedGets(h, post, R::kIdAlreadyFailed, R::kPendingTransferNotFound));
  EXPECT_EQ(h.StatusOf(300), PendingStatus::kPending);
}

TEST(CreateTransfer, PendingTransferNotFoundWhenPendingIdNamesARecordedFailure) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 300, .debit = kDebitLimited, .credit = kB, .amount = 5, .flags = tf::kPending}),
      R::kExceedsCredits);
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 10, .pending_id = 300, .flags = kVoidFlag},
                                  R::kPendingTransferNotFound));
}

TEST(CreateTransfer, PendingTransferNotPendingWhenPendingIdNamesAPlainTransfer) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  const TransferSpec post = {.id = 10, .amount = 5, .pending_id = 100, .flags = kPostFlag};
  EXPECT_TRUE(RejectedAndRecorded(h, post, R::kPendingTransferNotPending));
  EXPECT_TRUE(RetryOfFailedGets(h, post, R::kIdAlreadyFailed, R::kPendingTransferNotPending));
}

TEST(CreateTransfer, PendingTransferNotPendingWhenPendingIdNamesAPostRecord) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 10, .amount = 50, .pending_id = 200, .code = 0, .flags = kPostFlag});
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 11, .pending_id = 10, .code = 0, .flags = kVoidFlag},
                                  R::kPendingTransferNotPending));
}

TEST(CreateTransfer, PendingTransferHasDifferentDebitAccountIdWhenGivenAndDifferent) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .debit = kC, .amount = 5, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kPendingTransferHasDifferentDebitAccountId));
  EXPECT_TRUE(RetryOfFailedGets(
      h, {.id = 10, .debit = kA, .amount = 5, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kExistsWithDifferentDebitAccountId, R::kPendingTransferHasDifferentDebitAccountId));
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
}

TEST(CreateTransfer, PendingTransferHasDifferentCreditAccountIdWhenGivenAndDifferent) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .credit = kC, .pending_id = 200, .code = 0, .flags = kVoidFlag},
      R::kPendingTransferHasDifferentCreditAccountId));
  EXPECT_TRUE(RetryOfFailedGets(h, {.id = 10, .pending_id = 200, .code = 0, .flags = kVoidFlag},
                                R::kIdAlreadyFailed,
                                R::kPendingTransferHasDifferentCreditAccountId));
}

TEST(CreateTransfer, PendingTransferHasDifferentLedgerWhenGivenAndDifferent) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .amount = 5, .pending_id = 200, .ledger = kEur, .code = 0, .flags = kPostFlag},
      R::kPendingTransferHasDifferentLedger));
  EXPECT_TRUE(RetryOfFailedGets(
      h, {.id = 10, .amount = 5, .pending_id = 200, .ledger = 0, .code = 0, .flags = kPostFlag},
      R::kIdAlreadyFailed, R::kPendingTransferHasDifferentLedger));
}

TEST(CreateTransfer, PendingTransferHasDifferentCodeWhenGivenAndDifferent) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .amount = 5, .pending_id = 200, .code = 2, .flags = kPostFlag},
      R::kPendingTransferHasDifferentCode));
  EXPECT_TRUE(RetryOfFailedGets(
      h, {.id = 10, .amount = 5, .pending_id = 200, .code = 1, .flags = kPostFlag},
      R::kExistsWithDifferentCode, R::kPendingTransferHasDifferentCode));
}

TEST(CreateTransfer, ExceedsPendingTransferAmountWhenPostingMoreThanReserved) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .amount = 51, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kExceedsPendingTransferAmount));
  EXPECT_TRUE(RetryOfFailedGets(
      h, {.id = 10, .amount = 50, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kExistsWithDifferentAmount, R::kExceedsPendingTransferAmount));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 50, .debits_posted = 30}));
}

TEST(CreateTransfer, PendingTransferHasDifferentAmountWhenVoidAmountIsNeitherZeroNorReserved) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .amount = 49, .pending_id = 200, .code = 0, .flags = kVoidFlag},
      R::kPendingTransferHasDifferentAmount));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 11, .amount = 51, .pending_id = 200, .code = 0, .flags = kVoidFlag},
      R::kPendingTransferHasDifferentAmount));
  EXPECT_TRUE(RetryOfFailedGets(
      h, {.id = 10, .amount = 0, .pending_id = 200, .code = 0, .flags = kVoidFlag},
      R::kExistsWithDifferentAmount, R::kPendingTransferHasDifferentAmount));
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
}

TEST(CreateTransfer, PendingTransferAlreadyPostedWhenPostingOrVoidingAPostedReservation) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 10, .amount = 20, .pending_id = 200, .code = 0, .flags = kPostFlag});
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 11, .amount = 20, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kPendingTransferAlreadyPosted));
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 12, .pending_id = 200, .code = 0, .flags = kVoidFlag},
                                  R::kPendingTransferAlreadyPosted));
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(20));
}

TEST(CreateTransfer, PendingTransferAlreadyVoidedWhenPostingOrVoidingAVoidedReservation) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 10, .pending_id = 200, .code = 0, .flags = kVoidFlag});
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 11, .amount = 5, .pending_id = 200, .code = 0, .flags = kPostFlag},
      R::kPendingTransferAlreadyVoided));
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 12, .pending_id = 200, .code = 0, .flags = kVoidFlag},
                                  R::kPendingTransferAlreadyVoided));
}

TEST(CreateTransfer, PendingTransferExpiredWhenPostingOrVoidingAnExpiredReservation) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  const uint64_t expiry_ns = h.LookupTransfer(200).value().timestamp_ns + kNanosPerSecond;
  h.AdvanceTo(expiry_ns);
  ASSERT_EQ(h.StatusOf(200), PendingStatus::kExpired);
  EXPECT_TRUE(RejectedAndRecorded(h,
                                  {.id = 10, .amount = 50, .pending_id = 200, .flags = kPostFlag},
                                  R::kPendingTransferExpired));
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 11, .pending_id = 200, .flags = kVoidFlag},
                                  R::kPendingTransferExpired));
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
}

TEST(CreateTransfer, ReversedTransferNotFoundIsRecordedEvenAfterTheOriginalExists) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec reversal = {
      .id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100};
  EXPECT_TRUE(RejectedAndRecorded(h, reversal, R::kReversedTransferNotFound));
  AddOriginals(h);
  EXPECT_TRUE(RetryOfFailedGets(h, reversal, R::kIdAlreadyFailed, R::kReversedTransferNotFound));
  EXPECT_EQ(h.ReversedAmountOf(100), Amt(0));
}

TEST(CreateTransfer, ReversedTransferNotFoundWhenReversesIdNamesARecordedFailure) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 300, .debit = kDebitLimited, .credit = kB, .amount = 5}),
            R::kExceedsCredits);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .debit = kB, .credit = kDebitLimited, .amount = 5, .reverses_id = 300},
      R::kReversedTransferNotFound));
}

TEST(CreateTransfer, ReversedTransferNotPostedWhenReversingAPendingOrAVoid) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  h.AddTransfer({.id = 201, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 202, .pending_id = 201, .flags = kVoidFlag});
  EXPECT_TRUE(
      RejectedAndRecorded(h, {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 200},
                          R::kReversedTransferNotPosted));
  EXPECT_TRUE(
      RejectedAndRecorded(h, {.id = 11, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 202},
                          R::kReversedTransferNotPosted));
  // Posting the reservation does not make the reservation itself reversible.
  h.AddTransfer({.id = 203, .amount = 50, .pending_id = 200, .code = 0, .flags = kPostFlag});
  EXPECT_TRUE(
      RejectedAndRecorded(h, {.id = 12, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 200},
                          R::kReversedTransferNotPosted));
  EXPECT_TRUE(
      RetryOfFailedGets(h, {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 203},
                        R::kExistsWithDifferentReversesId, R::kReversedTransferNotPosted));
}

TEST(CreateTransfer, ReversalMustSwapAccountsWhenAccountsAreNotTheOriginalsSwapped) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(
      RejectedAndRecorded(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .reverses_id = 100},
                          R::kReversalMustSwapAccounts));
  EXPECT_TRUE(
      RejectedAndRecorded(h, {.id = 11, .debit = kB, .credit = kC, .amount = 5, .reverses_id = 100},
                          R::kReversalMustSwapAccounts));
  EXPECT_TRUE(
      RetryOfFailedGets(h, {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100},
                        R::kExistsWithDifferentDebitAccountId, R::kReversalMustSwapAccounts));
}

TEST(CreateTransfer, ExceedsReversibleAmountWhenReversalsWouldExceedTheOriginal) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedAndRecorded(
      h, {.id = 10, .debit = kB, .credit = kA, .amount = 31, .reverses_id = 100},
      R::kExceedsReversibleAmount));
  h.AddTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 25, .reverses_id = 100});
  EXPECT_TRUE(
      RejectedAndRecorded(h, {.id = 12, .debit = kB, .credit = kA, .amount = 6, .reverses_id = 100},
                          R::kExceedsReversibleAmount));
  // Recorded: a retry within the remaining 5 still fails.
  EXPECT_TRUE(
      RetryOfFailedGets(h, {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100},
                        R::kExistsWithDifferentAmount, R::kExceedsReversibleAmount));
  EXPECT_EQ(h.ReversedAmountOf(100), Amt(25));
}

TEST(CreateTransfer, DebitAccountAlreadyClosedWhenDebitingAClosedAccount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  const TransferSpec event = {.id = 10, .debit = kA, .credit = kC, .amount = 5};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kDebitAccountAlreadyClosed));
  h.AddTransfer({.id = 301, .pending_id = 300, .flags = kVoidFlag});  // reopens kA
  ASSERT_FALSE(h.IsClosed(kA));
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kDebitAccountAlreadyClosed));
}

TEST(CreateTransfer, CreditAccountAlreadyClosedWhenCreditingAClosedAccount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingCredit});
  const TransferSpec event = {.id = 10, .debit = kC, .credit = kB, .amount = 5};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kCreditAccountAlreadyClosed));
  h.AddTransfer({.id = 301, .pending_id = 300, .flags = kVoidFlag});  // reopens kB
  ASSERT_FALSE(h.IsClosed(kB));
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kCreditAccountAlreadyClosed));
}

TEST(CreateTransfer, OverflowsTimeoutWhenExpiryWouldReachTwoToThe63Nanoseconds) {
  Harness h;
  CreateStandardBook(h);
  // Booked at 8e18 + 1; + (2^32 - 1) s = 4.29e18 ns passes 2^63 = 9.223e18 (not 2^64).
  const uint64_t late_ns = 8'000'000'000'000'000'000ULL;
  const Observation before = h.Observe();
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kA,
                              .credit = kB,
                              .amount = 5,
                              .timeout_s = 0xFFFFFFFFu,
                              .flags = tf::kPending},
                             late_ns),
            R::kOverflowsTimeout);
  EXPECT_EQ(DiffObservations(before, h.Observe()), "");
  EXPECT_FALSE(h.LookupTransfer(10).has_value());
  // 4e8 s = 4e17 ns fits; the recorded id still fails.
  EXPECT_TRUE(RetryOfFailedGets(h,
                                {.id = 10,
                                 .debit = kA,
                                 .credit = kB,
                                 .amount = 5,
                                 .timeout_s = 400'000'000,
                                 .flags = tf::kPending},
                                R::kExistsWithDifferentTimeout, R::kOverflowsTimeout));
  EXPECT_EQ(h.CreateTransfer({.id = 11,
                              .debit = kA,
                              .credit = kB,
                              .amount = 5,
                              .timeout_s = 400'000'000,
                              .flags = tf::kPending}),
            R::kOk);
}

TEST(CreateTransfer, OverflowsTimeoutExactlyWhenTheDeadlineIsNotBelowTwoToThe63) {
  Harness h;
  CreateStandardBook(h);
  constexpr uint64_t kTimeoutNs = 1000 * kNanosPerSecond;
  // Batch at T, the event booked at T + 1: the deadline is T + 1 + 1000 s.
  const uint64_t last_ok_ns = kTimestampLimitNs - 1 - kTimeoutNs - 1;  // deadline 2^63 - 1
  const TransferSpec reservation = {
      .id = 10, .debit = kA, .credit = kB, .amount = 5, .timeout_s = 1000, .flags = tf::kPending};
  EXPECT_EQ(h.CreateTransfer(reservation, last_ok_ns), R::kOk);
  EXPECT_EQ(h.engine().GetTransferStatus(TransferId::From(10))->expires_at_ns,
            kTimestampLimitNs - 1);
  TransferSpec late = reservation;
  late.id = 11;
  EXPECT_EQ(h.CreateTransfer(late, last_ok_ns + 1 + 1), R::kOverflowsTimeout);  // 2^63 + 1
  EXPECT_FALSE(h.LookupTransfer(11).has_value());
  late.id = 12;
  late.timeout_s = 0;  // never expires: no deadline to check
  EXPECT_EQ(h.CreateTransfer(late), R::kOk);
}

TEST(CreateTransfer, OverflowsDebitsPendingWhenDebitPendingBalanceWouldWrap) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max, .flags = tf::kPending});
  const TransferSpec event = {
      .id = 10, .debit = kA, .credit = kC, .amount = 1, .flags = tf::kPending};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kOverflowsDebitsPending));
  h.AddTransfer({.id = 301, .pending_id = 300, .flags = kVoidFlag});
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kOverflowsDebitsPending));
}

TEST(CreateTransfer, OverflowsCreditsPendingWhenCreditPendingBalanceWouldWrap) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max, .flags = tf::kPending});
  const TransferSpec event = {
      .id = 10, .debit = kC, .credit = kB, .amount = 1, .flags = tf::kPending};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kOverflowsCreditsPending));
  h.AddTransfer({.id = 301, .pending_id = 300, .flags = kVoidFlag});
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kOverflowsCreditsPending));
}

TEST(CreateTransfer, OverflowsDebitsPostedWhenDebitPostedBalanceWouldWrap) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max - 1});
  const TransferSpec event = {.id = 10, .debit = kA, .credit = kC, .amount = 2};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kOverflowsDebitsPosted));
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kOverflowsDebitsPosted));
  // Exactly reaching 2^128 - 1 is fine.
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kC, .amount = 1}), R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = kU128Max}));
}

TEST(CreateTransfer, OverflowsCreditsPostedWhenCreditPostedBalanceWouldWrap) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max});
  const TransferSpec event = {.id = 10, .debit = kC, .credit = kB, .amount = 1};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kOverflowsCreditsPosted));
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kOverflowsCreditsPosted));
}

TEST(CreateTransfer, OverflowsDebitsWhenDebitPendingPlusPostedWouldWrap) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max});
  const TransferSpec event = {
      .id = 10, .debit = kA, .credit = kC, .amount = 1, .flags = tf::kPending};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kOverflowsDebits));
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kOverflowsDebits));
}

TEST(CreateTransfer, OverflowsCreditsWhenCreditPendingPlusPostedWouldWrap) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kB, .amount = kU128Max});
  const TransferSpec event = {
      .id = 10, .debit = kC, .credit = kB, .amount = 1, .flags = tf::kPending};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kOverflowsCredits));
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kOverflowsCredits));
}

TEST(CreateTransfer, ExceedsCreditsWhenDebitLimitedAccountWouldOverdraw) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300, .debit = kA, .credit = kDebitLimited, .amount = 100});
  const TransferSpec event = {.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 101};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kExceedsCredits));
  h.AddTransfer({.id = 301, .debit = kA, .credit = kDebitLimited, .amount = 1});  // now enough
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kExceedsCredits));
  EXPECT_EQ(h.BalancesOf(kDebitLimited), (Balances{.credits_posted = 101}));
}

TEST(CreateTransfer, ExceedsDebitsWhenCreditLimitedAccountWouldOverfill) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec event = {.id = 10, .debit = kA, .credit = kCreditLimited, .amount = 1};
  EXPECT_TRUE(RejectedAndRecorded(h, event, R::kExceedsDebits));
  h.AddTransfer({.id = 300, .debit = kCreditLimited, .credit = kB, .amount = 1});  // now room
  EXPECT_TRUE(RetryOfFailedGets(h, event, R::kIdAlreadyFailed, R::kExceedsDebits));
  EXPECT_EQ(h.BalancesOf(kCreditLimited), (Balances{.debits_posted = 1}));
}

TEST(CreateTransfer, RetryOfAFailedIdIsComparedWithTheFailedEventNeverBooked) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(RejectedAndRecorded(h, {.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 1},
                                  R::kExceedsCredits));
  EXPECT_TRUE(RetryOfFailedGets(h, {.id = 10, .debit = kA, .credit = kC, .amount = 7, .code = 3},
                                R::kExistsWithDifferentDebitAccountId, R::kExceedsCredits));
  EXPECT_TRUE(RetryOfFailedGets(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 7, .flags = tf::kPending},
      R::kExistsWithDifferentFlags, R::kExceedsCredits));
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 1u);
}

}  // namespace
}  // namespace ledger::engine::test
