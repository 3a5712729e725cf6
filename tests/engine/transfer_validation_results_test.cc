// One test (at least) per CreateTransferResult code, part one: ok, the chain codes, and the
// validation of the event's own fields. Each sets up the state, submits the event, and checks
// the code and that nothing changed (accounts, trial balances, reservations, reversal sums, the
// record under the id). Validation failures are not recorded: the fixed event with the same id
// then succeeds. Idempotency, references and balances: transfer_results_test.cc.
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

// `bad` gets `code` and changes nothing; then `fixed` (same id, the cause removed) succeeds,
// which shows that the failure was not recorded.
::testing::AssertionResult RejectedThenFixed(Harness& h, const TransferSpec& bad, R code,
                                             const TransferSpec& fixed) {
  ::testing::AssertionResult rejected = TransferRejected(h, bad, code);
  if (!rejected) return rejected;
  const R result = h.CreateTransfer(fixed);
  if (result != R::kOk) {
    return ::testing::AssertionFailure()
           << "the fixed event got " << ::testing::PrintToString(result) << ", want ok";
  }
  return ::testing::AssertionSuccess();
}

constexpr uint16_t kPostFlag = tf::kPostPending;
constexpr uint16_t kVoidFlag = tf::kVoidPending;

// ---------------------------------------------------------------------------------------------
// ok and the chain codes.

TEST(CreateTransfer, OkPostsAmountAndStoresRecordAsGivenWithBookingTimestamp) {
  Harness h;
  CreateStandardBook(h);
  const TransferSpec spec = {.id = 10,
                             .debit = kA,
                             .credit = kB,
                             .amount = 100,
                             .user_data_128 = U128(1, 2),
                             .user_data_64 = 3,
                             .value_time_ns = 42,
                             .user_data_32 = 4,
                             .code = 9};
  EXPECT_EQ(h.CreateTransfer(spec), R::kOk);
  Transfer expected = MakeTransfer(spec);
  expected.timestamp_ns = h.last_batch_timestamp_ns() + 1;
  EXPECT_TRUE(SameBytes(h.LookupTransfer(10), std::optional<Transfer>(expected)));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 100}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 100}));
  const TrialBalance trial = h.engine().GetTrialBalance(kUsd);
  EXPECT_EQ(trial.debits_posted.low, Amt(100));
  EXPECT_EQ(trial.credits_posted.low, Amt(100));
  EXPECT_TRUE(trial.Balanced());
  EXPECT_EQ(h.StatusOf(10), PendingStatus::kNone);
  EXPECT_EQ(h.engine().GetStats().transfer_count, 1u);
}

TEST(CreateTransfer, LinkedEventFailedWhenAnotherEventOfTheChainFails) {
  Harness h;
  CreateStandardBook(h);
  const Observation before = h.Observe();
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 100, .flags = tf::kLinked},
                {.id = 11, .debit = kDebitLimited, .credit = kB, .amount = 1},
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  EXPECT_EQ(DiffObservations(before, h.Observe()), "");
  EXPECT_FALSE(h.LookupTransfer(10).has_value());
  EXPECT_FALSE(h.LookupTransfer(11).has_value());
  // linked_event_failed is not recorded; the failing event's own code is.
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 100}), R::kOk);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kDebitLimited, .credit = kB, .amount = 1}),
            R::kIdAlreadyFailed);
  EXPECT_EQ(h.engine().LookupFailedTransfer(TransferId::From(11))->code, R::kExceedsCredits);
}

TEST(CreateTransfer, LinkedEventChainOpenWhenTheLastEventOfTheBatchIsLinked) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(
      TransferRejected(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kLinked},
                       R::kLinkedEventChainOpen));
  const Observation before = h.Observe();
  EXPECT_EQ(h.CreateTransfers({
                {.id = 11, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kLinked},
                {.id = 12, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kLinked},
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kLinkedEventChainOpen}));
  EXPECT_EQ(DiffObservations(before, h.Observe()), "");
  // Not recorded: the same id succeeds once the chain is closed.
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5}), R::kOk);
}

// ---------------------------------------------------------------------------------------------
// Validation of the event's own fields: not recorded.

TEST(CreateTransfer, TimestampMustBeZeroWhenTimestampIsSet) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(RejectedThenFixed(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .timestamp_ns = 1},
      R::kTimestampMustBeZero, {.id = 10, .debit = kA, .credit = kB, .amount = 5}));
}

TEST(CreateTransfer, ReservedFlagWhenAFlagBitOutsideKAllIsSet) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = 1 << 15}, R::kReservedFlag));
  EXPECT_TRUE(RejectedThenFixed(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = kUnknownTransferFlag},
      R::kReservedFlag, {.id = 10, .debit = kA, .credit = kB, .amount = 5}));
}

TEST(CreateTransfer, IdMustNotBeZeroWhenIdIsZero) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(
      TransferRejected(h, {.id = 0, .debit = kA, .credit = kB, .amount = 5}, R::kIdMustNotBeZero));
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 0u);
}

TEST(CreateTransfer, IdMustNotBeIntMaxWhenIdIsAllOnes) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(TransferRejected(h, {.id = kU128Max, .debit = kA, .credit = kB, .amount = 5},
                               R::kIdMustNotBeIntMax));
  EXPECT_EQ(h.CreateTransfer({.id = kU128Max - 1, .debit = kA, .credit = kB, .amount = 5}), R::kOk);
}

TEST(CreateTransfer, FlagsAreMutuallyExclusiveWhenKindsOrModifiersConflict) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  const uint16_t conflicting[] = {
      tf::kPending | kPostFlag,        tf::kPending | kVoidFlag,
      kPostFlag | kVoidFlag,           tf::kPending | kPostFlag | kVoidFlag,
      kPostFlag | tf::kBalancingDebit, kPostFlag | tf::kBalancingCredit,
      kVoidFlag | tf::kBalancingDebit, kPostFlag | tf::kClosingDebit,
      kVoidFlag | tf::kClosingCredit,
  };
  for (uint16_t flags : conflicting) {
    SCOPED_TRACE(flags);
    EXPECT_TRUE(TransferRejected(
        h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .pending_id = 200, .flags = flags},
        R::kFlagsAreMutuallyExclusive));
  }
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 5, .pending_id = 200, .flags = kPostFlag}),
            R::kOk);
}

TEST(CreateTransfer, PendingIdMustBeZeroWhenNotPostOrVoid) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(
      TransferRejected(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .pending_id = 200},
                       R::kPendingIdMustBeZero));
  EXPECT_TRUE(RejectedThenFixed(
      h,
      {.id = 10, .debit = kA, .credit = kB, .amount = 5, .pending_id = 200, .flags = tf::kPending},
      R::kPendingIdMustBeZero,
      {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kPending}));
}

TEST(CreateTransfer, PendingIdMustNotBeZeroWhenPostOrVoidNamesNoReservation) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .pending_id = 0, .flags = kVoidFlag},
                               R::kPendingIdMustNotBeZero));
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .amount = 5, .pending_id = 0, .flags = kPostFlag},
                                R::kPendingIdMustNotBeZero,
                                {.id = 10, .amount = 5, .pending_id = 200, .flags = kPostFlag}));
}

TEST(CreateTransfer, PendingIdMustNotBeIntMaxWhenPendingIdIsAllOnes) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedThenFixed(h,
                                {.id = 10, .amount = 5, .pending_id = kU128Max, .flags = kPostFlag},
                                R::kPendingIdMustNotBeIntMax,
                                {.id = 10, .amount = 5, .pending_id = 200, .flags = kPostFlag}));
}

TEST(CreateTransfer, PendingIdMustBeDifferentWhenPendingIdIsTheOwnId) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .pending_id = 10, .flags = kVoidFlag},
                                R::kPendingIdMustBeDifferent,
                                {.id = 10, .pending_id = 200, .flags = kVoidFlag}));
}

TEST(CreateTransfer, ReversesIdMustNotBeIntMaxWhenReversesIdIsAllOnes) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(RejectedThenFixed(
      h, {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = kU128Max},
      R::kReversesIdMustNotBeIntMax,
      {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100}));
}

TEST(CreateTransfer, ReversesIdMustBeDifferentWhenReversesIdIsTheOwnId) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(
      RejectedThenFixed(h, {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 10},
                        R::kReversesIdMustBeDifferent,
                        {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100}));
}

TEST(CreateTransfer, ReversalMustBePlainWhenAReversalHasAnyFlagButLinked) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  for (uint16_t flags : {tf::kPending, tf::kBalancingDebit, tf::kBalancingCredit}) {
    SCOPED_TRACE(flags);
    EXPECT_TRUE(TransferRejected(
        h, {.id = 10, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100, .flags = flags},
        R::kReversalMustBePlain));
  }
  // A linked reversal is fine.
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10,
                 .debit = kB,
                 .credit = kA,
                 .amount = 5,
                 .reverses_id = 100,
                 .flags = tf::kLinked},
                {.id = 11, .debit = kA, .credit = kC, .amount = 1},
            }),
            (std::vector<R>{R::kOk, R::kOk}));
}

TEST(CreateTransfer, TimeoutReservedForPendingTransferWhenTimeoutWithoutPending) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .amount = 5, .pending_id = 200, .timeout_s = 5, .flags = kPostFlag},
      R::kTimeoutReservedForPendingTransfer));
  EXPECT_TRUE(RejectedThenFixed(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .timeout_s = 1},
      R::kTimeoutReservedForPendingTransfer,
      {.id = 10, .debit = kA, .credit = kB, .amount = 5, .timeout_s = 1, .flags = tf::kPending}));
}

TEST(CreateTransfer, ClosingTransferMustBePendingWhenClosingFlagWithoutPending) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kClosingCredit},
      R::kClosingTransferMustBePending));
  EXPECT_TRUE(RejectedThenFixed(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kClosingDebit},
      R::kClosingTransferMustBePending,
      {.id = 10,
       .debit = kA,
       .credit = kB,
       .amount = 5,
       .flags = tf::kClosingDebit | tf::kPending}));
  EXPECT_FALSE(h.IsClosed(kB));
}

TEST(CreateTransfer, DebitAccountIdMustNotBeZeroWhenNotPostOrVoid) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .debit = 0, .credit = kB, .amount = 5},
                                R::kDebitAccountIdMustNotBeZero,
                                {.id = 10, .debit = kA, .credit = kB, .amount = 5}));
}

TEST(CreateTransfer, DebitAccountIdMustNotBeIntMaxForAnyKind) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .debit = kU128Max, .amount = 5, .pending_id = 200, .flags = kPostFlag},
      R::kDebitAccountIdMustNotBeIntMax));
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .debit = kU128Max, .credit = kB, .amount = 5},
                                R::kDebitAccountIdMustNotBeIntMax,
                                {.id = 10, .debit = kA, .credit = kB, .amount = 5}));
}

TEST(CreateTransfer, CreditAccountIdMustNotBeZeroWhenNotPostOrVoid) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .debit = kA, .credit = 0, .amount = 5},
                                R::kCreditAccountIdMustNotBeZero,
                                {.id = 10, .debit = kA, .credit = kB, .amount = 5}));
}

TEST(CreateTransfer, CreditAccountIdMustNotBeIntMaxForAnyKind) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(
      TransferRejected(h, {.id = 10, .credit = kU128Max, .pending_id = 200, .flags = kVoidFlag},
                       R::kCreditAccountIdMustNotBeIntMax));
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .debit = kA, .credit = kU128Max, .amount = 5},
                                R::kCreditAccountIdMustNotBeIntMax,
                                {.id = 10, .debit = kA, .credit = kB, .amount = 5}));
}

TEST(CreateTransfer, AccountsMustBeDifferentWhenDebitEqualsCredit) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .debit = kA, .credit = kA, .amount = 5, .pending_id = 200, .flags = kPostFlag},
      R::kAccountsMustBeDifferent));
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .debit = kA, .credit = kA, .amount = 5},
                                R::kAccountsMustBeDifferent,
                                {.id = 10, .debit = kA, .credit = kB, .amount = 5}));
}

TEST(CreateTransfer, LedgerMustNotBeZeroWhenNotPostOrVoid) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .ledger = 0},
                                R::kLedgerMustNotBeZero,
                                {.id = 10, .debit = kA, .credit = kB, .amount = 5, .ledger = 1}));
}

TEST(CreateTransfer, CodeMustNotBeZeroWhenNotPostOrVoid) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_TRUE(RejectedThenFixed(h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .code = 0},
                                R::kCodeMustNotBeZero,
                                {.id = 10, .debit = kA, .credit = kB, .amount = 5, .code = 1}));
}

TEST(CreateTransfer, ValueTimeOutOfRangeWhenNotBelowTwoToThe63) {
  Harness h;
  CreateStandardBook(h);
  for (uint64_t value_time_ns : {kTimestampLimitNs, kTimestampLimitNs + 1, ~uint64_t{0}}) {
    EXPECT_TRUE(TransferRejected(
        h, {.id = 10, .debit = kA, .credit = kB, .amount = 5, .value_time_ns = value_time_ns},
        R::kValueTimeOutOfRange))
        << value_time_ns;
  }
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 0u);  // not recorded: fixed, it books
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kA,
                              .credit = kB,
                              .amount = 5,
                              .value_time_ns = kTimestampLimitNs - 1}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10)->value_time_ns, kTimestampLimitNs - 1);
  // 0 means the booking time; it is not out of range.
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 5}), R::kOk);
}

TEST(CreateTransfer, AmountMustNotBeZeroExceptForVoid) {
  Harness h;
  CreateStandardBook(h);
  AddOriginals(h);
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .debit = kA, .credit = kB, .amount = 0},
                               R::kAmountMustNotBeZero));
  EXPECT_TRUE(
      TransferRejected(h, {.id = 10, .debit = kA, .credit = kB, .amount = 0, .flags = tf::kPending},
                       R::kAmountMustNotBeZero));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .debit = kA, .credit = kB, .amount = 0, .flags = tf::kBalancingDebit},
      R::kAmountMustNotBeZero));
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .amount = 0, .pending_id = 200, .flags = kPostFlag},
                               R::kAmountMustNotBeZero));
  // A void with amount 0 means "the reserved amount".
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 0, .pending_id = 200, .flags = kVoidFlag}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(50));
}

}  // namespace
}  // namespace ledger::engine::test
