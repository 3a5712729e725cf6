// Scenario tests with exact balances: balancing, reversals, booking time and limits. Linked
// chains are in chains_test.cc; reservations, expiry and closing in reservations_test.cc.
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

constexpr uint16_t kPost = tf::kPostPending;
constexpr uint16_t kVoid = tf::kVoidPending;

// ---------------------------------------------------------------------------------------------
// Balancing transfers.

TEST(Balancing, DebitClampsToWhatTheDebitAccountHasCountingPendingDebits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kC, .credit = kA, .amount = 100});
  h.AddTransfer({.id = 101, .debit = kA, .credit = kB, .amount = 30});
  h.AddTransfer({.id = 102, .debit = kA, .credit = kB, .amount = 20, .flags = tf::kPending});
  // kA has 100 - 30 - 20 = 50.
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = kA, .credit = kC, .amount = 80, .flags = tf::kBalancingDebit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(50));
  EXPECT_EQ(h.BalancesOf(kA),
            (Balances{.debits_pending = 20, .debits_posted = 80, .credits_posted = 100}));
  EXPECT_EQ(h.BalancesOf(kC), (Balances{.debits_posted = 100, .credits_posted = 50}));
}

TEST(Balancing, DebitMovesTheWholeAmountWhenTheAccountHasEnough) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kC, .credit = kA, .amount = 100});
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = kA, .credit = kB, .amount = 30, .flags = tf::kBalancingDebit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(30));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 30, .credits_posted = 100}));
}

TEST(Balancing, DebitClampsToZeroAndStillSucceedsWhenNothingIsLeft) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kC, .credit = kA, .amount = 40});
  h.AddTransfer({.id = 101, .debit = kA, .credit = kB, .amount = 40});
  const Observation before = h.Observe();
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kBalancingDebit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(0));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 40, .credits_posted = 40}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 40}));
  EXPECT_EQ(before.trial_balances[0].debits_posted, h.engine().GetTrialBalance(kUsd).debits_posted);
}

TEST(Balancing, DebitFloorsAtZeroWhenDebitsAlreadyExceedCredits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 100});
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = kA, .credit = kC, .amount = 10, .flags = tf::kBalancingDebit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(0));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 100}));
  EXPECT_EQ(h.BalancesOf(kC), Balances{});
}

TEST(Balancing, CreditClampsToWhatTheCreditAccountTakesCountingPendingCredits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kB, .credit = kC, .amount = 70});
  h.AddTransfer({.id = 101, .debit = kA, .credit = kB, .amount = 20});
  h.AddTransfer({.id = 102, .debit = kA, .credit = kB, .amount = 10, .flags = tf::kPending});
  // kB takes 70 - 20 - 10 = 40.
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 10, .debit = kC, .credit = kB, .amount = 100, .flags = tf::kBalancingCredit}),
      R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(40));
  EXPECT_EQ(h.BalancesOf(kB),
            (Balances{.debits_posted = 70, .credits_pending = 10, .credits_posted = 60}));
  EXPECT_EQ(h.BalancesOf(kC), (Balances{.debits_posted = 40, .credits_posted = 70}));
}

TEST(Balancing, CreditFloorsAtZeroWhenCreditsAlreadyExceedDebits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 100});
  EXPECT_EQ(h.CreateTransfer(
                {.id = 10, .debit = kC, .credit = kB, .amount = 10, .flags = tf::kBalancingCredit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(0));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 100}));
}

TEST(Balancing, BothFlagsMoveTheSmallerOfTheTwoLimits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kC, .credit = kA, .amount = 100});  // kA has 100
  h.AddTransfer({.id = 101, .debit = kB, .credit = kC, .amount = 30});   // kB takes 30
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kA,
                              .credit = kB,
                              .amount = 1000,
                              .flags = tf::kBalancingDebit | tf::kBalancingCredit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(30));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 30, .credits_posted = 100}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.debits_posted = 30, .credits_posted = 30}));
}

TEST(Balancing, PendingBalancingReservesTheClampedAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kC, .credit = kA, .amount = 40});
  EXPECT_EQ(h.CreateTransfer({.id = 200,
                              .debit = kA,
                              .credit = kB,
                              .amount = 100,
                              .flags = tf::kPending | tf::kBalancingDebit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(200).value().amount, Amt(40));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 40, .credits_posted = 40}));
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = kU128Max, .pending_id = 200, .flags = kPost}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(40));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 40, .credits_posted = 40}));
}

TEST(Balancing, DebitFromALimitedAccountStaysWithinItsLimit) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kDebitLimited, .amount = 100});
  h.AddTransfer(
      {.id = 101, .debit = kDebitLimited, .credit = kB, .amount = 30, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .debit = kDebitLimited,
                              .credit = kB,
                              .amount = 100,
                              .flags = tf::kBalancingDebit}),
            R::kOk);
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(70));
  EXPECT_EQ(h.BalancesOf(kDebitLimited),
            (Balances{.debits_pending = 30, .debits_posted = 70, .credits_posted = 100}));
}

// ---------------------------------------------------------------------------------------------
// Reversals.

TEST(Reversal, ReversalsMayAddUpToTheFullAmountAndAreLinkedBothWays) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 10, .reverses_id = 100}),
      R::kOk);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 20, .reverses_id = 100}),
      R::kOk);
  EXPECT_TRUE(
      TransferRejected(h, {.id = 12, .debit = kB, .credit = kA, .amount = 1, .reverses_id = 100},
                       R::kExceedsReversibleAmount));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 30, .credits_posted = 30}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.debits_posted = 30, .credits_posted = 30}));
  EXPECT_EQ(h.ReversedAmountOf(100), Amt(30));
  EXPECT_EQ(ReversalsOf(h, 100), (std::vector<u128>{10, 11}));
  EXPECT_EQ(h.LookupTransfer(10).value().reverses_id, Tid(100));
  EXPECT_EQ(h.LookupTransfer(11).value().reverses_id, Tid(100));
  EXPECT_EQ(h.LookupTransfer(100).value().reverses_id, Tid(0));
  EXPECT_EQ(h.ReversedAmountOf(10), Amt(0));
}

TEST(Reversal, PostOfAReservationIsReversibleUpToThePostedAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 201, .amount = 20, .pending_id = 200, .flags = kPost});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 21, .reverses_id = 201}),
      R::kExceedsReversibleAmount);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 20, .reverses_id = 201}),
      R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 20, .credits_posted = 20}));
  EXPECT_EQ(ReversalsOf(h, 201), std::vector<u128>{11});
}

TEST(Reversal, ReversalOfAReversalIsAllowed) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  h.AddTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 30, .reverses_id = 100});
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 30, .reverses_id = 10}),
      R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 60, .credits_posted = 30}));
  EXPECT_EQ(h.ReversedAmountOf(10), Amt(30));
  EXPECT_EQ(h.ReversedAmountOf(100), Amt(30));
}

TEST(Reversal, BalancingTransferIsReversibleUpToTheAmountActuallyMoved) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kC, .credit = kA, .amount = 50});
  h.AddTransfer({.id = 101, .debit = kA, .credit = kB, .amount = 80, .flags = tf::kBalancingDebit});
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 51, .reverses_id = 101}),
      R::kExceedsReversibleAmount);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 50, .reverses_id = 101}),
      R::kOk);
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.debits_posted = 50, .credits_posted = 50}));
}

// ---------------------------------------------------------------------------------------------
// Booking time and value time.

TEST(Time, EventsAreBookedAtBatchTimestampPlusOnePlusIndexWhateverTheirResult) {
  Harness h;
  CreateStandardBook(h);
  const uint64_t t = h.next_timestamp_ns() + 1000;
  EXPECT_EQ(h.CreateTransfers(
                {
                    {.id = 10, .debit = kA, .credit = kB, .amount = 1},
                    {.id = 11, .debit = kA, .credit = kB, .amount = 0},
                    Failing(12),
                    {.id = 13, .debit = kA, .credit = kB, .amount = 1},
                },
                t),
            (std::vector<R>{R::kOk, R::kAmountMustNotBeZero, R::kExceedsCredits, R::kOk}));
  EXPECT_EQ(BookedAt(h, 10), t + 1);
  EXPECT_EQ(BookedAt(h, 13), t + 4);
  EXPECT_EQ(h.engine().last_timestamp_ns(), t + 4);
  // The next batch may start right after the last booked event.
  EXPECT_EQ(h.CreateTransfer({.id = 14, .debit = kA, .credit = kB, .amount = 1}, t + 5), R::kOk);
  EXPECT_EQ(BookedAt(h, 14), t + 6);
}

TEST(Time, EmptyBatchAdvancesTimeToItsTimestamp) {
  Harness h;
  CreateStandardBook(h);
  const uint64_t t = h.next_timestamp_ns() + 5000;
  h.AdvanceTo(t);
  EXPECT_EQ(h.engine().last_timestamp_ns(), t);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 1});
  EXPECT_EQ(BookedAt(h, 10), t + 2);
}

TEST(Time, ValueTimeIsStoredAsGiven) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 1, .value_time_ns = 5});
  h.AddTransfer(
      {.id = 11, .debit = kA, .credit = kB, .amount = 1, .value_time_ns = kTimestampLimitNs - 1});
  h.AddTransfer({.id = 12, .debit = kA, .credit = kB, .amount = 1});
  EXPECT_EQ(h.LookupTransfer(10).value().value_time_ns, 5u);
  EXPECT_EQ(h.LookupTransfer(11).value().value_time_ns, kTimestampLimitNs - 1);  // the largest
  EXPECT_EQ(h.LookupTransfer(12).value().value_time_ns, 0u);
  EXPECT_NE(h.LookupTransfer(10).value().timestamp_ns, 5u);
}

// ---------------------------------------------------------------------------------------------
// Limits.

TEST(Limits, DebitLimitedAccountMaySpendExactlyItsCredits) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kDebitLimited, .amount = 100});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 100}),
            R::kOk);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kDebitLimited, .credit = kB, .amount = 1}),
            R::kExceedsCredits);
  EXPECT_EQ(h.BalancesOf(kDebitLimited), (Balances{.debits_posted = 100, .credits_posted = 100}));
}

TEST(Limits, PendingDebitsCountAgainstTheAvailableBalance) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kDebitLimited, .amount = 100});
  h.AddTransfer(
      {.id = 200, .debit = kDebitLimited, .credit = kB, .amount = 60, .flags = tf::kPending});
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 41},
                               R::kExceedsCredits));
  EXPECT_TRUE(TransferRejected(
      h, {.id = 11, .debit = kDebitLimited, .credit = kB, .amount = 41, .flags = tf::kPending},
      R::kExceedsCredits));
  EXPECT_EQ(h.CreateTransfer({.id = 12, .debit = kDebitLimited, .credit = kB, .amount = 40}),
            R::kOk);
  EXPECT_EQ(h.BalancesOf(kDebitLimited),
            (Balances{.debits_pending = 60, .debits_posted = 40, .credits_posted = 100}));
  // Posting the reservation needs no extra room; voiding it would have freed 60.
  EXPECT_EQ(h.CreateTransfer({.id = 13, .amount = 60, .pending_id = 200, .flags = kPost}), R::kOk);
  EXPECT_EQ(h.BalancesOf(kDebitLimited), (Balances{.debits_posted = 100, .credits_posted = 100}));
}

TEST(Limits, VoidRestoresTheAvailableBalance) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kDebitLimited, .amount = 100});
  h.AddTransfer(
      {.id = 200, .debit = kDebitLimited, .credit = kB, .amount = 100, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 1}),
            R::kExceedsCredits);
  h.AddTransfer({.id = 11, .pending_id = 200, .flags = kVoid});
  EXPECT_EQ(h.CreateTransfer({.id = 12, .debit = kDebitLimited, .credit = kB, .amount = 100}),
            R::kOk);
}

TEST(Limits, PendingCreditsCountAgainstTheCreditLimit) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kCreditLimited, .credit = kA, .amount = 100});
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kCreditLimited, .amount = 60, .flags = tf::kPending});
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .debit = kA, .credit = kCreditLimited, .amount = 41},
                               R::kExceedsDebits));
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kCreditLimited, .amount = 40}),
            R::kOk);
  EXPECT_EQ(h.BalancesOf(kCreditLimited),
            (Balances{.debits_posted = 100, .credits_pending = 60, .credits_posted = 40}));
}

TEST(Limits, ReversalIsSubjectToTheDebitLimit) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kDebitLimited, .amount = 100});
  h.AddTransfer({.id = 101, .debit = kDebitLimited, .credit = kB, .amount = 70});
  // Reversing the funding would take kDebitLimited's debits (70 + 100) above its credits (100).
  EXPECT_TRUE(TransferRejected(
      h, {.id = 10, .debit = kDebitLimited, .credit = kA, .amount = 31, .reverses_id = 100},
      R::kExceedsCredits));
  EXPECT_EQ(h.CreateTransfer(
                {.id = 11, .debit = kDebitLimited, .credit = kA, .amount = 30, .reverses_id = 100}),
            R::kOk);
}

}  // namespace
}  // namespace ledger::engine::test
