// Scenario tests with exact balances: linked chains. A failing event undoes the earlier events
// of its chain (and only of its chain); the events after it get linked_event_failed.
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

constexpr uint16_t kPost = tf::kPostPending;
constexpr uint16_t kVoid = tf::kVoidPending;

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
  EXPECT_EQ(h.CreateTransfer(Failing(12)), R::kIdAlreadyFailed);
  ASSERT_TRUE(h.engine().LookupFailedTransfer(TransferId::From(12)).has_value());
  EXPECT_EQ(h.engine().LookupFailedTransfer(TransferId::From(12))->code, R::kExceedsCredits);
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
            R::kIdAlreadyFailed);
  EXPECT_EQ(h.engine().LookupFailedTransfer(TransferId::From(11))->code,
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
                Failing(11),
                {.id = 11, .debit = kA, .credit = kB, .amount = 1},
            }),
            (std::vector<R>{R::kOk, R::kExistsWithDifferentAmount, R::kExceedsCredits,
                            R::kIdAlreadyFailed, R::kExistsWithDifferentDebitAccountId}));
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

}  // namespace
}  // namespace ledger::engine::test
