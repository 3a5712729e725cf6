// Scenario tests with exact balances: linked chains, reservations (post, void, expiry),
// balancing, closing, reversals, booking time and limits.
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

constexpr uint16_t kPost = tf::kPostPending;
constexpr uint16_t kVoid = tf::kVoidPending;

// A transfer that always fails with exceeds_credits in the standard book (kDebitLimited has no
// credits), used to break chains.
TransferSpec Failing(u128 id) {
  return {.id = id, .debit = kDebitLimited, .credit = kB, .amount = 1};
}

std::vector<u128> ReversalsOf(const Harness& h, u128 id) {
  std::vector<TransferId> out(8);
  out.resize(h.engine().GetReversals(Tid(id), out));
  std::vector<u128> ids;
  for (TransferId reversal : out) ids.push_back(reversal.Get());
  return ids;
}

uint64_t BookedAt(const Harness& h, u128 id) { return h.LookupTransfer(id).value().timestamp_ns; }

// ---------------------------------------------------------------------------------------------
// Linked chains.

TEST(Chain, AllEventsApplyWhenEveryEventSucceeds) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 100, .flags = tf::kLinked},
                {.id = 11, .debit = kB, .credit = kC, .amount = 60, .flags = tf::kLinked},
                {.id = 12, .debit = kC, .credit = kA, .amount = 10},
            }),
            std::vector<R>(3, R::kOk));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 100, .credits_posted = 10}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.debits_posted = 60, .credits_posted = 100}));
  EXPECT_EQ(h.BalancesOf(kC), (Balances{.debits_posted = 10, .credits_posted = 60}));
  // The linked flag belongs to the batch, not to the record.
  EXPECT_EQ(h.LookupTransfer(10).value().flags, 0u);
  EXPECT_EQ(h.LookupTransfer(11).value().flags, 0u);
}

TEST(Chain, FailingEventUndoesEarlierEventsOfItsChainOnly) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 9, .debit = kA, .credit = kC, .amount = 7},
                {.id = 10, .debit = kA, .credit = kB, .amount = 100, .flags = tf::kLinked},
                {.id = 11, .debit = kB, .credit = kC, .amount = 60, .flags = tf::kLinked},
                Failing(12),
                {.id = 13, .debit = kA, .credit = kC, .amount = 5},
            }),
            (std::vector<R>{R::kOk, R::kLinkedEventFailed, R::kLinkedEventFailed,
                            R::kExceedsCredits, R::kOk}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 12}));
  EXPECT_EQ(h.BalancesOf(kB), Balances{});
  EXPECT_EQ(h.BalancesOf(kC), (Balances{.credits_posted = 12}));
  EXPECT_FALSE(h.LookupTransfer(10).has_value());
  EXPECT_FALSE(h.LookupTransfer(11).has_value());
  EXPECT_FALSE(h.LookupTransfer(12).has_value());
  EXPECT_EQ(h.engine().GetStats().transfer_count, 2u);
  // Only the failing event's id is recorded.
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 100}), R::kOk);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kB, .credit = kC, .amount = 60}), R::kOk);
  EXPECT_EQ(h.CreateTransfer({.id = 12, .debit = kA, .credit = kB, .amount = 1}),
            R::kExceedsCredits);
}

TEST(Chain, EventsAfterTheFailingEventGetLinkedEventFailed) {
  Harness h;
  CreateStandardBook(h);
  const Observation before = h.Observe();
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kLinked},
                {.id = 11, .debit = kA, .credit = kB, .amount = 0, .flags = tf::kLinked},
                {.id = 12, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kLinked},
                {.id = 13, .debit = kA, .credit = kB, .amount = 1},
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kAmountMustNotBeZero, R::kLinkedEventFailed,
                            R::kLinkedEventFailed}));
  EXPECT_EQ(DiffObservations(before, h.Observe()), "");
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 0u);
}

TEST(Chain, EventSeesTheEffectsOfEarlierEventsOfItsChain) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(
      h.CreateTransfers({
          {.id = 10, .debit = kA, .credit = kDebitLimited, .amount = 100, .flags = tf::kLinked},
          {.id = 11, .debit = kDebitLimited, .credit = kB, .amount = 100, .flags = tf::kLinked},
          {.id = 12, .debit = kA, .credit = kC, .amount = 50, .flags = tf::kPending | tf::kLinked},
          {.id = 13, .amount = 20, .pending_id = 12, .flags = kPost},
      }),
      std::vector<R>(4, R::kOk));
  EXPECT_EQ(h.BalancesOf(kDebitLimited), (Balances{.debits_posted = 100, .credits_posted = 100}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 120}));
  EXPECT_EQ(h.BalancesOf(kC), (Balances{.credits_posted = 20}));
  EXPECT_EQ(h.StatusOf(12), PendingStatus::kPosted);
}

TEST(Chain, FailedChainUndoesAReservationCreatedInIt) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10,
                 .debit = kA,
                 .credit = kB,
                 .amount = 50,
                 .timeout_s = 1,
                 .flags = tf::kPending | tf::kLinked},
                Failing(11),
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  EXPECT_EQ(h.StatusOf(10), PendingStatus::kNone);
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
  EXPECT_EQ(h.engine().GetStats().pending_count, 0u);
  // Its expiry was undone too: nothing expires later.
  h.AdvanceTo(h.next_timestamp_ns() + 2 * kNanosPerSecond);
  EXPECT_EQ(h.engine().GetStats().expired_count, 0u);
}

TEST(Chain, FailedChainRestoresAReservationPostedInIt) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .amount = 50, .pending_id = 200, .flags = kPost | tf::kLinked},
                Failing(11),
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(0));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 50}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_pending = 50}));
  EXPECT_EQ(h.CreateTransfer({.id = 12, .amount = 50, .pending_id = 200, .flags = kPost}), R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 50}));
}

TEST(Chain, FailedChainRestoresAReservationVoidedInIt) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .pending_id = 200, .flags = kVoid | tf::kLinked},
                Failing(11),
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 50}));
  EXPECT_EQ(h.engine().GetStats().pending_count, 1u);
}

TEST(Chain, FailedChainReopensAnAccountClosedInIt) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit | tf::kLinked},
                Failing(11),
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  EXPECT_FALSE(h.IsClosed(kA));
  EXPECT_EQ(h.CreateTransfer({.id = 12, .debit = kA, .credit = kC, .amount = 5}), R::kOk);
}

TEST(Chain, FailedChainKeepsAnAccountClosedWhenItsReopeningVoidIsUndone) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .pending_id = 300, .flags = kVoid | tf::kLinked},
                Failing(11),
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  EXPECT_TRUE(h.IsClosed(kA));
  EXPECT_EQ(h.StatusOf(300), PendingStatus::kPending);
  EXPECT_EQ(h.CreateTransfer({.id = 12, .debit = kA, .credit = kC, .amount = 5}),
            R::kDebitAccountAlreadyClosed);
}

TEST(Chain, FailedChainRestoresReversedAmounts) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10,
                 .debit = kB,
                 .credit = kA,
                 .amount = 30,
                 .reverses_id = 100,
                 .flags = tf::kLinked},
                Failing(11),
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  EXPECT_EQ(h.ReversedAmountOf(100), Amt(0));
  EXPECT_EQ(ReversalsOf(h, 100), std::vector<u128>{});
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 30}));
  // The whole amount is still reversible.
  EXPECT_EQ(
      h.CreateTransfer({.id = 12, .debit = kB, .credit = kA, .amount = 30, .reverses_id = 100}),
      R::kOk);
  EXPECT_EQ(ReversalsOf(h, 100), std::vector<u128>{12});
}

TEST(Chain, FailedChainLeavesNoTransfersOrBalanceHistory) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kWithHistory, .amount = 5, .flags = tf::kLinked},
                Failing(11),
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits}));
  std::vector<Transfer> transfers(4);
  std::vector<AccountBalance> balances(4);
  EXPECT_EQ(h.engine().GetAccountTransfers({.account_id = Aid(kWithHistory)}, transfers), 0u);
  EXPECT_EQ(h.engine().GetAccountBalances({.account_id = Aid(kWithHistory)}, balances), 0u);
  std::optional<AccountBalance> now =
      h.engine().GetBalanceAsOf(Aid(kWithHistory), h.engine().last_timestamp_ns());
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(BalancesOf(*now), Balances{});
}

TEST(Chain, OpenChainAtBatchEndFailsOnlyThatChain) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 9, .debit = kA, .credit = kB, .amount = 1},
                {.id = 10, .debit = kA, .credit = kB, .amount = 2, .flags = tf::kLinked},
                {.id = 11, .debit = kA, .credit = kB, .amount = 4, .flags = tf::kLinked},
            }),
            (std::vector<R>{R::kOk, R::kLinkedEventFailed, R::kLinkedEventChainOpen}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 1}));
  EXPECT_FALSE(h.LookupTransfer(10).has_value());
  EXPECT_FALSE(h.LookupTransfer(11).has_value());
  // Nothing recorded: the chain, closed this time, succeeds.
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 2, .flags = tf::kLinked},
                {.id = 11, .debit = kA, .credit = kB, .amount = 4},
            }),
            (std::vector<R>{R::kOk, R::kOk}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 7}));
}

TEST(Chain, ExistsDoesNotFailAChain) {
  Harness h;
  CreateStandardBook(h);
  const std::vector<TransferSpec> chain = {
      {.id = 10, .debit = kA, .credit = kB, .amount = 3, .flags = tf::kLinked},
      {.id = 11, .debit = kB, .credit = kC, .amount = 2},
  };
  EXPECT_EQ(h.CreateTransfers(chain), std::vector<R>(2, R::kOk));
  EXPECT_EQ(h.CreateTransfers(chain), std::vector<R>(2, R::kExists));
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 3, .flags = tf::kLinked},
                {.id = 12, .debit = kC, .credit = kA, .amount = 1},
            }),
            (std::vector<R>{R::kExists, R::kOk}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 3, .credits_posted = 1}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.debits_posted = 2, .credits_posted = 3}));
  EXPECT_EQ(h.BalancesOf(kC), (Balances{.debits_posted = 1, .credits_posted = 2}));
}

TEST(Chain, RepeatedIdInAChainIsExistsAndDoesNotFailIt) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 3, .flags = tf::kLinked},
                {.id = 10, .debit = kA, .credit = kB, .amount = 3, .flags = tf::kLinked},
                {.id = 11, .debit = kB, .credit = kC, .amount = 1},
            }),
            (std::vector<R>{R::kOk, R::kExists, R::kOk}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 3}));
}

TEST(Chain, FailureCausedByAnEarlierEventIsRecordedEvenThoughThatEventIsUndone) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit | tf::kLinked},
                {.id = 11, .debit = kA, .credit = kC, .amount = 5},
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kDebitAccountAlreadyClosed}));
  EXPECT_FALSE(h.IsClosed(kA));
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kC, .amount = 5}),
            R::kDebitAccountAlreadyClosed);
  EXPECT_EQ(h.CreateTransfer({.id = 12, .debit = kA, .credit = kC, .amount = 5}), R::kOk);
}

TEST(Chain, DuplicateIdsInOneBatchSeeTheEarlierOutcome) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 3},
                {.id = 10, .debit = kA, .credit = kB, .amount = 4},
                Failing(11),
                {.id = 11, .debit = kA, .credit = kB, .amount = 1},
            }),
            (std::vector<R>{R::kOk, R::kExistsWithDifferentAmount, R::kExceedsCredits,
                            R::kExceedsCredits}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 3}));
}

TEST(Chain, IndependentChainsInOneBatchSucceedOrFailSeparately) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kLinked},
                Failing(11),
                {.id = 12, .debit = kA, .credit = kC, .amount = 2, .flags = tf::kLinked},
                {.id = 13, .debit = kC, .credit = kB, .amount = 1},
            }),
            (std::vector<R>{R::kLinkedEventFailed, R::kExceedsCredits, R::kOk, R::kOk}));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 2}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 1}));
  EXPECT_EQ(h.BalancesOf(kC), (Balances{.debits_posted = 1, .credits_posted = 2}));
}

// ---------------------------------------------------------------------------------------------
// Reservations: pending, post, void.

TEST(Pending, ReservationMovesAmountIntoPendingBalances) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 50}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_pending = 50}));
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(0));
  const TrialBalance trial = h.engine().GetTrialBalance(kUsd);
  EXPECT_EQ(trial.debits_pending.low, Amt(50));
  EXPECT_EQ(trial.credits_pending.low, Amt(50));
  EXPECT_EQ(trial.debits_posted.low, Amt(0));
  EXPECT_EQ(h.engine().GetStats().pending_count, 1u);
}

TEST(Pending, PostOfTheFullAmountInheritsTheReservationsFields) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .code = 7, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 10,
                              .amount = 50,
                              .pending_id = 200,
                              .user_data_64 = 9,
                              .value_time_ns = 77,
                              .ledger = 0,
                              .code = 0,
                              .flags = kPost}),
            R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 50}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 50}));
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPosted);
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(50));
  EXPECT_EQ(h.engine().GetStats().pending_count, 0u);
  const Transfer post = h.LookupTransfer(10).value();
  EXPECT_EQ(post.debit_account_id, Aid(kA));
  EXPECT_EQ(post.credit_account_id, Aid(kB));
  EXPECT_EQ(post.ledger, kUsd);
  EXPECT_EQ(post.code, 7u);
  EXPECT_EQ(post.amount, Amt(50));
  EXPECT_EQ(post.pending_id, Tid(200));
  EXPECT_EQ(post.user_data_64, 9u);
  EXPECT_EQ(post.value_time_ns, 77u);
  EXPECT_EQ(post.flags, kPost);
  EXPECT_EQ(post.timestamp_ns, h.last_batch_timestamp_ns() + 1);
  // The reservation's own record is unchanged.
  EXPECT_EQ(h.LookupTransfer(200).value().amount, Amt(50));
  EXPECT_EQ(h.LookupTransfer(200).value().flags, tf::kPending);
}

TEST(Pending, PartialPostPostsTheAmountAndReleasesTheRest) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 20, .pending_id = 200, .flags = kPost}), R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 20}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 20}));
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(20));
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(20));
  EXPECT_TRUE(h.engine().GetTrialBalance(kUsd).Balanced());
}

TEST(Pending, PostWithMaxAmountPostsTheWholeReservation) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = kU128Max, .pending_id = 200, .flags = kPost}),
            R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 50}));
  EXPECT_EQ(h.BalancesOf(kB), (Balances{.credits_posted = 50}));
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(50));
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(50));
}

TEST(Pending, VoidReleasesTheWholeReservationAndRecordsTheReservedAmount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 201, .debit = kA, .credit = kB, .amount = 30, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .pending_id = 200, .ledger = 0, .code = 0, .flags = kVoid}),
            R::kOk);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .amount = 30, .pending_id = 201, .flags = kVoid}), R::kOk);
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
  EXPECT_EQ(h.BalancesOf(kB), Balances{});
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kVoided);
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(0));
  const Transfer void_record = h.LookupTransfer(10).value();
  EXPECT_EQ(void_record.amount, Amt(50));
  EXPECT_EQ(void_record.debit_account_id, Aid(kA));
  EXPECT_EQ(void_record.credit_account_id, Aid(kB));
  EXPECT_EQ(void_record.ledger, kUsd);
  EXPECT_EQ(void_record.code, 1u);
  EXPECT_EQ(h.engine().GetStats().pending_count, 0u);
}

// ---------------------------------------------------------------------------------------------
// Expiry.

TEST(Expiry, ReservationExpiresAtTheFirstBatchReachingItsExpiryNotOneNanosecondEarlier) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 2, .flags = tf::kPending});
  const uint64_t expiry_ns = BookedAt(h, 200) + 2 * kNanosPerSecond;
  h.AdvanceTo(expiry_ns - 1);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 50}));
  EXPECT_EQ(h.engine().GetStats().expired_count, 0u);
  h.AdvanceTo(expiry_ns);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kExpired);
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
  EXPECT_EQ(h.BalancesOf(kB), Balances{});
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(200)), Amt(0));
  EXPECT_EQ(h.engine().GetStats().expired_count, 1u);
  EXPECT_EQ(h.engine().GetStats().pending_count, 0u);
  EXPECT_EQ(h.engine().last_timestamp_ns(), expiry_ns);
}

TEST(Expiry, ReservationExpiresInALaterBatchThatPassesItsExpiry) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  h.AdvanceTo(BookedAt(h, 200) + 10 * kNanosPerSecond);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kExpired);
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
}

TEST(Expiry, PostInTheBatchJustBeforeExpirySucceeds) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  const uint64_t expiry_ns = BookedAt(h, 200) + kNanosPerSecond;
  // The batch timestamp is below the expiry, so the reservation is still pending when the
  // post (booked at expiry_ns itself) runs.
  EXPECT_EQ(
      h.CreateTransfer({.id = 10, .amount = 50, .pending_id = 200, .flags = kPost}, expiry_ns - 1),
      R::kOk);
  EXPECT_EQ(BookedAt(h, 10), expiry_ns);
  h.AdvanceTo(expiry_ns + kNanosPerSecond);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPosted);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 50}));
  EXPECT_EQ(h.engine().GetStats().expired_count, 0u);
}

TEST(Expiry, PostInTheBatchAtExpiryFailsBecauseExpiryRunsFirst) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  const uint64_t expiry_ns = BookedAt(h, 200) + kNanosPerSecond;
  EXPECT_EQ(h.CreateTransfers({{.id = 10, .amount = 50, .pending_id = 200, .flags = kPost},
                               {.id = 11, .pending_id = 200, .flags = kVoid}},
                              expiry_ns),
            (std::vector<R>{R::kPendingTransferExpired, R::kPendingTransferExpired}));
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kExpired);
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
  EXPECT_EQ(h.BalancesOf(kB), Balances{});
}

TEST(Expiry, ReleasedFundsAreAvailableToTheEventsOfTheExpiringBatch) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kDebitLimited, .amount = 100});
  h.AddTransfer({.id = 200,
                 .debit = kDebitLimited,
                 .credit = kB,
                 .amount = 100,
                 .timeout_s = 1,
                 .flags = tf::kPending});
  const uint64_t expiry_ns = BookedAt(h, 200) + kNanosPerSecond;
  // Booked at expiry_ns - 1: the reservation still holds the funds.
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kC, .amount = 1},
                             expiry_ns - 2),
            R::kExceedsCredits);
  EXPECT_EQ(
      h.CreateTransfer({.id = 11, .debit = kDebitLimited, .credit = kC, .amount = 100}, expiry_ns),
      R::kOk);
  EXPECT_EQ(h.BalancesOf(kDebitLimited), (Balances{.debits_posted = 100, .credits_posted = 100}));
}

TEST(Expiry, AccountAndLedgerBatchesAlsoExpireReservations) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  h.AddTransfer(
      {.id = 201, .debit = kA, .credit = kB, .amount = 7, .timeout_s = 2, .flags = tf::kPending});
  EXPECT_EQ(h.CreateAccount({.id = 50}, BookedAt(h, 200) + kNanosPerSecond),
            CreateAccountResult::kOk);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kExpired);
  EXPECT_EQ(h.StatusOf(201), PendingStatus::kPending);
  EXPECT_EQ(h.CreateLedger({.id = 9}, BookedAt(h, 201) + 2 * kNanosPerSecond),
            CreateLedgerResult::kOk);
  EXPECT_EQ(h.StatusOf(201), PendingStatus::kExpired);
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
}

TEST(Expiry, ZeroTimeoutNeverExpires) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AdvanceTo(h.next_timestamp_ns() + 1'000'000 * kNanosPerSecond);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 50}));
}

TEST(Expiry, ExpiryCreatesNoTransferRecord) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 1, .flags = tf::kPending});
  h.AdvanceTo(BookedAt(h, 200) + kNanosPerSecond);
  std::vector<Transfer> out(4);
  ASSERT_EQ(h.engine().GetAccountTransfers({.account_id = Aid(kA)}, out), 1u);
  EXPECT_EQ(out[0].id, Tid(200));
  EXPECT_EQ(h.engine().GetStats().transfer_count, 1u);
  // The reservation's record itself is kept as it was.
  EXPECT_EQ(h.LookupTransfer(200).value().flags, tf::kPending);
}

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
// Closing transfers.

TEST(Closing, ClosingDebitClosesTheDebitAccountAgainstEveryNewTransfer) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_TRUE(h.IsClosed(kA));
  EXPECT_FALSE(h.IsClosed(kB));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 1}));
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .debit = kA, .credit = kC, .amount = 5},
                               R::kDebitAccountAlreadyClosed));
  EXPECT_TRUE(TransferRejected(h, {.id = 11, .debit = kC, .credit = kA, .amount = 5},
                               R::kCreditAccountAlreadyClosed));
  EXPECT_TRUE(
      TransferRejected(h, {.id = 12, .debit = kC, .credit = kA, .amount = 5, .flags = tf::kPending},
                       R::kCreditAccountAlreadyClosed));
  EXPECT_TRUE(TransferRejected(
      h,
      {.id = 13, .debit = kA, .credit = kC, .amount = 1, .flags = tf::kPending | tf::kClosingDebit},
      R::kDebitAccountAlreadyClosed));
  EXPECT_EQ(h.CreateTransfer({.id = 14, .debit = kB, .credit = kC, .amount = 5}), R::kOk);
}

TEST(Closing, ClosingCreditClosesTheCreditAccount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingCredit});
  EXPECT_FALSE(h.IsClosed(kA));
  EXPECT_TRUE(h.IsClosed(kB));
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kB, .credit = kC, .amount = 5}),
            R::kDebitAccountAlreadyClosed);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kC, .amount = 5}), R::kOk);
}

TEST(Closing, BothClosingFlagsCloseBothAccounts) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit | tf::kClosingCredit});
  EXPECT_TRUE(h.IsClosed(kA));
  EXPECT_TRUE(h.IsClosed(kB));
  h.AddTransfer({.id = 10, .pending_id = 300, .flags = kVoid});
  EXPECT_FALSE(h.IsClosed(kA));
  EXPECT_FALSE(h.IsClosed(kB));
}

TEST(Closing, VoidOfTheClosingReservationReopensTheAccount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .pending_id = 300, .flags = kVoid}), R::kOk);
  EXPECT_FALSE(h.IsClosed(kA));
  EXPECT_EQ(h.BalancesOf(kA), Balances{});
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kC, .amount = 5}), R::kOk);
}

TEST(Closing, ExpiryOfTheClosingReservationReopensTheAccount) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .timeout_s = 1,
                 .flags = tf::kPending | tf::kClosingCredit});
  EXPECT_TRUE(h.IsClosed(kB));
  h.AdvanceTo(BookedAt(h, 300) + kNanosPerSecond - 1);
  EXPECT_TRUE(h.IsClosed(kB));
  h.AdvanceTo(BookedAt(h, 300) + kNanosPerSecond);
  EXPECT_EQ(h.StatusOf(300), PendingStatus::kExpired);
  EXPECT_FALSE(h.IsClosed(kB));
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kC, .credit = kB, .amount = 5}), R::kOk);
}

TEST(Closing, PostOfTheClosingReservationIsAllowedAndKeepsTheAccountClosed) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_EQ(h.CreateTransfer({.id = 10, .amount = 1, .pending_id = 300, .flags = kPost}), R::kOk);
  EXPECT_TRUE(h.IsClosed(kA));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 1}));
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kC, .amount = 5}),
            R::kDebitAccountAlreadyClosed);
}

TEST(Closing, VoidsOfOtherReservationsAreAcceptedButTheirPostsAreNot) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 40, .flags = tf::kPending});
  h.AddTransfer({.id = 201, .debit = kC, .credit = kA, .amount = 10, .flags = tf::kPending});
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .amount = 10, .pending_id = 201, .flags = kPost},
                               R::kCreditAccountAlreadyClosed));
  EXPECT_EQ(h.CreateTransfer({.id = 11, .pending_id = 200, .flags = kVoid}), R::kOk);
  EXPECT_EQ(h.CreateTransfer({.id = 12, .pending_id = 201, .flags = kVoid}), R::kOk);
  EXPECT_TRUE(h.IsClosed(kA));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 1}));
}

TEST(Closing, PostOfTheClosingReservationFailsWhenTheOtherAccountWasClosedByAnotherOne) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kB,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  h.AddTransfer({.id = 301,
                 .debit = kB,
                 .credit = kC,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  EXPECT_TRUE(TransferRejected(h, {.id = 10, .amount = 1, .pending_id = 300, .flags = kPost},
                               R::kCreditAccountAlreadyClosed));
  EXPECT_EQ(h.CreateTransfer({.id = 11, .pending_id = 300, .flags = kVoid}), R::kOk);
  EXPECT_FALSE(h.IsClosed(kA));
  EXPECT_TRUE(h.IsClosed(kB));
}

TEST(Closing, ExpiryOfAReservationOnAClosedAccountIsAccepted) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 40, .timeout_s = 1, .flags = tf::kPending});
  h.AddTransfer({.id = 300,
                 .debit = kA,
                 .credit = kC,
                 .amount = 1,
                 .flags = tf::kPending | tf::kClosingDebit});
  h.AdvanceTo(BookedAt(h, 200) + kNanosPerSecond);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kExpired);
  EXPECT_TRUE(h.IsClosed(kA));
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_pending = 1}));
  EXPECT_EQ(h.BalancesOf(kB), Balances{});
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
  h.AddTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 1, .value_time_ns = ~uint64_t{0}});
  h.AddTransfer({.id = 12, .debit = kA, .credit = kB, .amount = 1});
  EXPECT_EQ(h.LookupTransfer(10).value().value_time_ns, 5u);
  EXPECT_EQ(h.LookupTransfer(11).value().value_time_ns, ~uint64_t{0});
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
