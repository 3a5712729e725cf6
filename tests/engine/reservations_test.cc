// Scenario tests with exact balances: reservations (pending, post, void), their expiry, and
// closing transfers (a reservation that closes its accounts until it is voided or expires).
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

constexpr uint16_t kPost = tf::kPostPending;
constexpr uint16_t kVoid = tf::kVoidPending;

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

// Holds you can see: every fate of a reservation, and the reversals of what it posted.
TEST(Pending, TransferStatusTellsWhatBecameOfAHold) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.engine().GetTransferStatus(Tid(999)), std::nullopt);
  h.AddTransfer(
      {.id = 200, .debit = kA, .credit = kB, .amount = 50, .timeout_s = 60, .flags = tf::kPending});
  TransferStatus held = h.engine().GetTransferStatus(Tid(200)).value();
  EXPECT_EQ(held.pending_status, PendingStatus::kPending);
  EXPECT_EQ(held.expires_at_ns, BookedAt(h, 200) + 60 * kNanosPerSecond);
  EXPECT_EQ(held.released_amount, Amt(0));
  EXPECT_EQ(held.resolved_by, Tid(0));
  // Posting 30 of 50 releases 20.
  EXPECT_EQ(
      h.CreateTransfer(
          {.id = 10, .amount = 30, .pending_id = 200, .ledger = 0, .code = 0, .flags = kPost}),
      R::kOk);
  const TransferStatus posted = h.engine().GetTransferStatus(Tid(200)).value();
  EXPECT_EQ(posted.pending_status, PendingStatus::kPosted);
  EXPECT_EQ(posted.posted_amount, Amt(30));
  EXPECT_EQ(posted.released_amount, Amt(20));
  EXPECT_EQ(posted.resolved_by, Tid(10));
  // The post is reversed in part: its status counts it; the hold's does not change.
  h.AddTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 12, .reverses_id = 10});
  const TransferStatus post = h.engine().GetTransferStatus(Tid(10)).value();
  EXPECT_EQ(post.pending_status, PendingStatus::kNone);
  EXPECT_EQ(post.reversed_amount, Amt(12));
  EXPECT_EQ(post.reversal_count, 1u);
  EXPECT_EQ(h.engine().GetTransferStatus(Tid(200)), posted);
  // A void releases all, named; an expiry releases all, unnamed.
  h.AddTransfer({.id = 201, .debit = kA, .credit = kB, .amount = 8, .flags = tf::kPending});
  EXPECT_EQ(h.CreateTransfer(
                {.id = 12, .amount = 0, .pending_id = 201, .ledger = 0, .code = 0, .flags = kVoid}),
            R::kOk);
  const TransferStatus voided = h.engine().GetTransferStatus(Tid(201)).value();
  EXPECT_EQ(voided.pending_status, PendingStatus::kVoided);
  EXPECT_EQ(voided.released_amount, Amt(8));
  EXPECT_EQ(voided.resolved_by, Tid(12));
  h.AddTransfer(
      {.id = 202, .debit = kA, .credit = kB, .amount = 9, .timeout_s = 1, .flags = tf::kPending});
  h.AdvanceTo(BookedAt(h, 202) + kNanosPerSecond);
  const TransferStatus expired = h.engine().GetTransferStatus(Tid(202)).value();
  EXPECT_EQ(expired.pending_status, PendingStatus::kExpired);
  EXPECT_EQ(expired.released_amount, Amt(9));
  EXPECT_EQ(expired.resolved_by, Tid(0));
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

// What a server's expiry tick reads: the earliest deadline, on one shard or several, and an
// empty batch at it releases the reservation.
TEST(Expiry, NextExpiryIsTheEarliestDeadlineAndAnEmptyBatchThereReleasesIt) {
  for (const uint32_t shard_count : {1u, 4u}) {
    SCOPED_TRACE(shard_count);
    Harness h(EngineOptions{.accounts_capacity = 64,
                            .transfers_capacity = 256,
                            .change_feed_capacity = 16,
                            .shard_count = shard_count});
    CreateStandardBook(h);
    EXPECT_EQ(h.engine().next_expiry_ns(), std::nullopt);
    h.AddTransfer({.id = 200,
                   .debit = kA,
                   .credit = kB,
                   .amount = 50,
                   .timeout_s = 5,
                   .flags = tf::kPending});
    h.AddTransfer(
        {.id = 201, .debit = kB, .credit = kA, .amount = 7, .timeout_s = 2, .flags = tf::kPending});
    const uint64_t first_ns = BookedAt(h, 201) + 2 * kNanosPerSecond;
    ASSERT_EQ(h.engine().next_expiry_ns(), first_ns);
    h.AdvanceTo(first_ns);
    EXPECT_EQ(h.StatusOf(201), PendingStatus::kExpired);
    EXPECT_EQ(h.StatusOf(200), PendingStatus::kPending);
    EXPECT_EQ(h.engine().next_expiry_ns(), BookedAt(h, 200) + 5 * kNanosPerSecond);
    // Resolved before its deadline, it may still be named until a batch passes it.
    EXPECT_EQ(
        h.CreateTransfer(
            {.id = 10, .amount = 50, .pending_id = 200, .ledger = 0, .code = 0, .flags = kVoid}),
        R::kOk);
    h.AdvanceTo(BookedAt(h, 200) + 5 * kNanosPerSecond);
    EXPECT_EQ(h.engine().next_expiry_ns(), std::nullopt);
    EXPECT_EQ(h.engine().GetStats().expired_count, 1u);
  }
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

}  // namespace
}  // namespace ledger::engine::test
