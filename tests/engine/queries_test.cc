// Queries: account transfers with every filter and cursor pagination, balance history and
// as-of balances, trial balances (including sums above 2^128), reversals, and lookups of ids
// that do not exist.
#include <algorithm>
#include <optional>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateTransferResult;

constexpr uint32_t kBothSides = filter_flags::kDebits | filter_flags::kCredits;

// Ids of the transfers the query returns, with an output span of `capacity` records.
std::vector<u128> TransferIds(const Harness& h, const AccountFilter& filter, size_t capacity = 64) {
  std::vector<Transfer> out(capacity);
  const size_t count = h.engine().GetAccountTransfers(filter, out);
  EXPECT_LE(count, capacity);
  std::vector<u128> ids;
  for (size_t i = 0; i < count && i < capacity; ++i) ids.push_back(out[i].id.Get());
  return ids;
}

std::vector<AccountBalance> BalanceHistory(const Harness& h, const AccountFilter& filter,
                                           size_t capacity = 64) {
  std::vector<AccountBalance> out(capacity);
  out.resize(std::min(h.engine().GetAccountBalances(filter, out), capacity));
  return out;
}

std::vector<Balances> BalancesIn(const std::vector<AccountBalance>& history) {
  std::vector<Balances> result;
  for (const AccountBalance& entry : history) result.push_back(BalancesOf(entry));
  return result;
}

std::vector<uint64_t> TimestampsIn(const std::vector<AccountBalance>& history) {
  std::vector<uint64_t> result;
  for (const AccountBalance& entry : history) result.push_back(entry.timestamp_ns);
  return result;
}

// kWithHistory gets four transfers (codes 1, 2, 3, 2) in two batches, and one transfer
// (12) does not involve it:
//   10: kA -> kWithHistory 100, code 1     11: kWithHistory -> kB 40, code 2
//   12: kA -> kB 5, code 1                 13: kC -> kWithHistory 7, code 3
//   14: kWithHistory -> kC 1, code 2 (next batch)
void AddTransfersOfHistoryAccount(Harness& h) {
  EXPECT_EQ(h.CreateTransfers({
                {.id = 10, .debit = kA, .credit = kWithHistory, .amount = 100, .code = 1},
                {.id = 11, .debit = kWithHistory, .credit = kB, .amount = 40, .code = 2},
                {.id = 12, .debit = kA, .credit = kB, .amount = 5, .code = 1},
                {.id = 13, .debit = kC, .credit = kWithHistory, .amount = 7, .code = 3},
            }),
            std::vector<R>(4, R::kOk));
  h.AddTransfer({.id = 14, .debit = kWithHistory, .credit = kC, .amount = 1, .code = 2});
}

// ---------------------------------------------------------------------------------------------
// GetAccountTransfers.

TEST(AccountTransfers, ReturnsBothSidesOldestFirstByDefault) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory)}), (std::vector<u128>{10, 11, 13, 14}));
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kB)}), (std::vector<u128>{11, 12}));
}

TEST(AccountTransfers, ReturnsFullRecordsAsStored) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  std::vector<Transfer> out(1);
  ASSERT_EQ(h.engine().GetAccountTransfers({.account_id = Aid(kWithHistory)}, out), 1u);
  EXPECT_TRUE(SameBytes(std::optional<Transfer>(out[0]), h.LookupTransfer(10)));
}

TEST(AccountTransfers, SideFilterSelectsDebitsOrCredits) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory), .flags = filter_flags::kDebits}),
            (std::vector<u128>{11, 14}));
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory), .flags = filter_flags::kCredits}),
            (std::vector<u128>{10, 13}));
}

TEST(AccountTransfers, CodeFilterSelectsOneCodeAndZeroMeansAny) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory), .code = 2}),
            (std::vector<u128>{11, 14}));
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory), .code = 3}), (std::vector<u128>{13}));
  EXPECT_EQ(
      TransferIds(h, {.account_id = Aid(kWithHistory), .code = 2, .flags = filter_flags::kCredits}),
      std::vector<u128>{});
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory), .code = 9}), std::vector<u128>{});
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory), .code = 0}),
            (std::vector<u128>{10, 11, 13, 14}));
}

TEST(AccountTransfers, TimeRangeIsInclusiveAndZeroMeansOpen) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  const AccountId id = Aid(kWithHistory);
  const uint64_t t11 = BookedAt(h, 11);
  const uint64_t t13 = BookedAt(h, 13);
  EXPECT_EQ(TransferIds(h, {.account_id = id, .timestamp_min_ns = t11, .timestamp_max_ns = t13}),
            (std::vector<u128>{11, 13}));
  EXPECT_EQ(TransferIds(h, {.account_id = id, .timestamp_min_ns = t13}),
            (std::vector<u128>{13, 14}));
  EXPECT_EQ(TransferIds(h, {.account_id = id, .timestamp_max_ns = t11}),
            (std::vector<u128>{10, 11}));
  EXPECT_EQ(TransferIds(h, {.account_id = id, .timestamp_min_ns = t13, .timestamp_max_ns = t13}),
            (std::vector<u128>{13}));
  EXPECT_EQ(
      TransferIds(h, {.account_id = id, .timestamp_min_ns = t11 + 1, .timestamp_max_ns = t13 - 1}),
      std::vector<u128>{});
  EXPECT_EQ(TransferIds(h, {.account_id = id, .timestamp_min_ns = BookedAt(h, 14) + 1}),
            std::vector<u128>{});
}

TEST(AccountTransfers, ReversedFlagReturnsNewestFirst) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory),
                            .flags = kBothSides | filter_flags::kReversed}),
            (std::vector<u128>{14, 13, 11, 10}));
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kWithHistory),
                            .flags = filter_flags::kDebits | filter_flags::kReversed,
                            .limit = 1}),
            (std::vector<u128>{14}));
}

TEST(AccountTransfers, LimitAndOutputSizeBothCapTheResults) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  const AccountId id = Aid(kWithHistory);
  EXPECT_EQ(TransferIds(h, {.account_id = id, .limit = 2}), (std::vector<u128>{10, 11}));
  EXPECT_EQ(TransferIds(h, {.account_id = id, .limit = 0}, 3), (std::vector<u128>{10, 11, 13}));
  EXPECT_EQ(TransferIds(h, {.account_id = id, .limit = 5}, 2), (std::vector<u128>{10, 11}));
  EXPECT_EQ(TransferIds(h, {.account_id = id, .limit = 100}), (std::vector<u128>{10, 11, 13, 14}));
  std::vector<Transfer> none;
  EXPECT_EQ(h.engine().GetAccountTransfers({.account_id = id}, none), 0u);
}

TEST(AccountTransfers, CursorPaginationReturnsEveryTransferExactlyOnceInOrder) {
  Harness h;
  CreateStandardBook(h);
  std::vector<u128> expected;
  for (u128 i = 0; i < 10; ++i) {
    const u128 id = 100 + 2 * i;
    const bool credit = i % 3 == 0;
    EXPECT_EQ(h.CreateTransfers({
                  {.id = id + 1, .debit = kA, .credit = kB, .amount = 1},  // not on the account
                  {.id = id,
                   .debit = credit ? kA : kWithHistory,
                   .credit = credit ? kWithHistory : kC,
                   .amount = 1},
              }),
              std::vector<R>(2, R::kOk));
    expected.push_back(id);
  }
  AccountFilter filter = {.account_id = Aid(kWithHistory), .limit = 3};
  std::vector<u128> seen;
  int page_count = 0;
  for (;;) {
    std::vector<Transfer> out(8);
    const size_t count = h.engine().GetAccountTransfers(filter, out);
    if (count == 0) break;
    ASSERT_LE(count, 3u);
    ASSERT_LT(++page_count, 10) << "pagination does not end";
    for (size_t i = 0; i < count; ++i) seen.push_back(out[i].id.Get());
    filter.timestamp_min_ns = out[count - 1].timestamp_ns + 1;
  }
  EXPECT_EQ(page_count, 4);
  EXPECT_EQ(seen, expected);

  // Newest first, moving the maximum down.
  filter = {
      .account_id = Aid(kWithHistory), .flags = kBothSides | filter_flags::kReversed, .limit = 4};
  seen.clear();
  page_count = 0;
  for (;;) {
    std::vector<Transfer> out(8);
    const size_t count = h.engine().GetAccountTransfers(filter, out);
    if (count == 0) break;
    ASSERT_LE(count, 4u);
    ASSERT_LT(++page_count, 10) << "pagination does not end";
    for (size_t i = 0; i < count; ++i) seen.push_back(out[i].id.Get());
    filter.timestamp_max_ns = out[count - 1].timestamp_ns - 1;
  }
  EXPECT_EQ(page_count, 3);
  EXPECT_EQ(seen, std::vector<u128>(expected.rbegin(), expected.rend()));
}

TEST(AccountTransfers, PostAndVoidRecordsAppearOnBothAccounts) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 201, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 10, .amount = 20, .pending_id = 200, .flags = tf::kPostPending});
  h.AddTransfer({.id = 11, .pending_id = 201, .flags = tf::kVoidPending});
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kA)}), (std::vector<u128>{200, 201, 10, 11}));
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kB)}), (std::vector<u128>{200, 201, 10, 11}));
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kB), .flags = filter_flags::kDebits}),
            std::vector<u128>{});
}

TEST(AccountTransfers, FailedTransfersAreNotListed) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kDebitLimited, .credit = kB, .amount = 1}),
            R::kExceedsCredits);
  EXPECT_EQ(h.CreateTransfer({.id = 11, .debit = kA, .credit = kB, .amount = 0}),
            R::kAmountMustNotBeZero);
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kB)}), std::vector<u128>{});
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kDebitLimited)}), std::vector<u128>{});
}

TEST(AccountTransfers, UnknownOrIdleAccountHasNoTransfers) {
  Harness h;
  CreateStandardBook(h);
  AddTransfersOfHistoryAccount(h);
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kMissingAccount)}), std::vector<u128>{});
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(kDebitLimited)}), std::vector<u128>{});
}

// ---------------------------------------------------------------------------------------------
// GetAccountBalances and GetBalanceAsOf.

// kWithHistory: +100 credit (10), -40 debit (11), a reservation of 30 (12), a post of 10 (13).
void AddHistory(Harness& h) {
  h.AddTransfer({.id = 10, .debit = kA, .credit = kWithHistory, .amount = 100});
  h.AddTransfer({.id = 11, .debit = kWithHistory, .credit = kB, .amount = 40});
  h.AddTransfer(
      {.id = 12, .debit = kWithHistory, .credit = kC, .amount = 30, .flags = tf::kPending});
  h.AddTransfer({.id = 13, .amount = 10, .pending_id = 12, .flags = tf::kPostPending});
}

// The balances of kWithHistory after each transfer of AddHistory.
std::vector<Balances> ExpectedHistory() {
  return {
      {.credits_posted = 100},
      {.debits_posted = 40, .credits_posted = 100},
      {.debits_pending = 30, .debits_posted = 40, .credits_posted = 100},
      {.debits_posted = 50, .credits_posted = 100},
  };
}

TEST(AccountBalances, HistoryHoldsTheBalancesAfterEachChange) {
  Harness h;
  CreateStandardBook(h);
  AddHistory(h);
  const std::vector<AccountBalance> history = BalanceHistory(h, {.account_id = Aid(kWithHistory)});
  EXPECT_EQ(BalancesIn(history), ExpectedHistory());
  EXPECT_EQ(TimestampsIn(history), (std::vector<uint64_t>{BookedAt(h, 10), BookedAt(h, 11),
                                                          BookedAt(h, 12), BookedAt(h, 13)}));
}

TEST(AccountBalances, TimeRangeOrderAndLimitApplyButSideAndCodeDoNot) {
  Harness h;
  CreateStandardBook(h);
  AddHistory(h);
  const AccountId id = Aid(kWithHistory);
  const std::vector<Balances> expected = ExpectedHistory();
  EXPECT_EQ(BalancesIn(BalanceHistory(h, {.account_id = id,
                                          .timestamp_min_ns = BookedAt(h, 11),
                                          .timestamp_max_ns = BookedAt(h, 12)})),
            (std::vector<Balances>{expected[1], expected[2]}));
  EXPECT_EQ(BalancesIn(BalanceHistory(
                h, {.account_id = id, .flags = kBothSides | filter_flags::kReversed, .limit = 2})),
            (std::vector<Balances>{expected[3], expected[2]}));
  EXPECT_EQ(BalancesIn(BalanceHistory(h, {.account_id = id}, 3)),
            (std::vector<Balances>{expected[0], expected[1], expected[2]}));
  EXPECT_EQ(BalancesIn(
                BalanceHistory(h, {.account_id = id, .code = 99, .flags = filter_flags::kCredits})),
            expected);
}

// Value time: booked in one order, valued in another. A back-dated transfer counts at its
// value time; one without a value time at its booking time; reservations post nothing.
TEST(ValueTime, HistoryFiltersAndPostedBalancesFollowValueTimeNotBookingTime) {
  Harness h;
  CreateStandardBook(h);
  h.AdvanceTo(h.next_timestamp_ns() + 1'000'000);  // room for value times before the bookings
  const uint64_t t0 = h.next_timestamp_ns();
  h.AddTransfer({.id = 30, .debit = kA, .credit = kB, .amount = 10, .value_time_ns = t0 + 500});
  h.AddTransfer({.id = 31, .debit = kA, .credit = kB, .amount = 20, .value_time_ns = t0 - 100});
  h.AddTransfer({.id = 32, .debit = kB, .credit = kA, .amount = 4});  // valued when booked
  h.AddTransfer({.id = 33,
                 .debit = kA,
                 .credit = kB,
                 .amount = 7,
                 .value_time_ns = t0 - 50,
                 .flags = tf::kPending});
  const uint64_t booked_32 = BookedAt(h, 32);
  ASSERT_LT(booked_32, t0 + 500);

  AccountFilter filter{.account_id = Aid(kA)};
  filter.value_time_max_ns = t0;  // 31 and the reservation 33
  std::vector<Transfer> out(8);
  out.resize(h.engine().GetAccountTransfers(filter, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id, Tid(31));
  EXPECT_EQ(out[1].id, Tid(33));
  filter.value_time_min_ns = booked_32;
  filter.value_time_max_ns = 0;  // 30 (valued later than booked) and 32
  out.resize(8);
  out.resize(h.engine().GetAccountTransfers(filter, out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].id, Tid(30));
  EXPECT_EQ(out[1].id, Tid(32));

  EXPECT_EQ(h.engine().GetPostedAtValueTime(Aid(kA), t0 - 101),
            (PostedAtValueTime{.debits_posted = Amt(0), .credits_posted = Amt(0)}));
  EXPECT_EQ(
      h.engine().GetPostedAtValueTime(Aid(kA), t0),
      (PostedAtValueTime{.debits_posted = Amt(20), .credits_posted = Amt(0), .transfer_count = 1}));
  EXPECT_EQ(
      h.engine().GetPostedAtValueTime(Aid(kA), booked_32),
      (PostedAtValueTime{.debits_posted = Amt(20), .credits_posted = Amt(4), .transfer_count = 2}));
  const PostedAtValueTime all = h.engine().GetPostedAtValueTime(Aid(kA), UINT64_MAX).value();
  EXPECT_EQ(all.debits_posted, Amt(30));
  EXPECT_EQ(all.debits_posted, h.engine().LookupAccount(Aid(kA))->debits_posted);
  EXPECT_EQ(h.engine().GetPostedAtValueTime(Aid(999), UINT64_MAX), std::nullopt);
}

TEST(AccountBalances, ExpiryAddsAnEntryAtItsBatchTimestamp) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10,
                 .debit = kWithHistory,
                 .credit = kB,
                 .amount = 30,
                 .timeout_s = 1,
                 .flags = tf::kPending});
  const uint64_t expiry_ns = BookedAt(h, 10) + kNanosPerSecond;
  const uint64_t batch_ns = expiry_ns + 500;
  h.AdvanceTo(batch_ns);
  const std::vector<AccountBalance> history = BalanceHistory(h, {.account_id = Aid(kWithHistory)});
  EXPECT_EQ(BalancesIn(history), (std::vector<Balances>{{.debits_pending = 30}, Balances{}}));
  EXPECT_EQ(TimestampsIn(history), (std::vector<uint64_t>{BookedAt(h, 10), batch_ns}));
  EXPECT_EQ(BalancesOf(h.engine().GetBalanceAsOf(Aid(kWithHistory), batch_ns - 1).value()),
            (Balances{.debits_pending = 30}));
  EXPECT_EQ(BalancesOf(h.engine().GetBalanceAsOf(Aid(kWithHistory), batch_ns).value()), Balances{});
}

TEST(AccountBalances, ExpiriesInOneBatchMakeOneEntryAtTheBatchTimestamp) {
  Harness h;
  CreateStandardBook(h);
  // Two reservations expire in the same batch: one entry at its timestamp, after both, so
  // timestamps stay unique per account and cursor pagination cannot skip an entry.
  h.AddTransfer({.id = 10,
                 .debit = kWithHistory,
                 .credit = kB,
                 .amount = 10,
                 .timeout_s = 2,
                 .flags = tf::kPending});
  h.AddTransfer({.id = 11,
                 .debit = kWithHistory,
                 .credit = kB,
                 .amount = 20,
                 .timeout_s = 1,
                 .flags = tf::kPending});
  const uint64_t batch_ns = BookedAt(h, 10) + 2 * kNanosPerSecond;
  h.AdvanceTo(batch_ns);
  const std::vector<AccountBalance> history = BalanceHistory(h, {.account_id = Aid(kWithHistory)});
  EXPECT_EQ(BalancesIn(history),
            (std::vector<Balances>{{.debits_pending = 10}, {.debits_pending = 30}, Balances{}}));
  EXPECT_EQ(TimestampsIn(history),
            (std::vector<uint64_t>{BookedAt(h, 10), BookedAt(h, 11), batch_ns}));
  EXPECT_EQ(BalancesOf(h.engine().GetBalanceAsOf(Aid(kWithHistory), batch_ns).value()), Balances{});
  // Paging one entry at a time with timestamp + 1 visits all three.
  uint64_t cursor_ns = 0;
  size_t seen = 0;
  for (;;) {
    const std::vector<AccountBalance> page = BalanceHistory(
        h, {.account_id = Aid(kWithHistory), .timestamp_min_ns = cursor_ns, .limit = 1});
    if (page.empty()) break;
    ++seen;
    cursor_ns = page.back().timestamp_ns + 1;
  }
  EXPECT_EQ(seen, 3u);
}

TEST(AccountBalances, AccountWithoutHistoryFlagHasNoHistory) {
  Harness h;
  CreateStandardBook(h);
  AddHistory(h);
  EXPECT_EQ(BalanceHistory(h, {.account_id = Aid(kA)}).size(), 0u);
  EXPECT_EQ(BalanceHistory(h, {.account_id = Aid(kMissingAccount)}).size(), 0u);
  EXPECT_FALSE(h.engine().GetBalanceAsOf(Aid(kA), h.engine().last_timestamp_ns()).has_value());
  EXPECT_FALSE(
      h.engine().GetBalanceAsOf(Aid(kMissingAccount), h.engine().last_timestamp_ns()).has_value());
}

TEST(BalanceAsOf, ReturnsTheBalancesAfterTheLastChangeAtOrBeforeTheTime) {
  Harness h;
  CreateStandardBook(h);
  AddHistory(h);
  const AccountId id = Aid(kWithHistory);
  const std::vector<Balances> expected = ExpectedHistory();
  auto as_of = [&](uint64_t t) { return BalancesOf(h.engine().GetBalanceAsOf(id, t).value()); };
  EXPECT_EQ(as_of(BookedAt(h, 10)), expected[0]);
  EXPECT_EQ(as_of(BookedAt(h, 11) - 1), expected[0]);
  EXPECT_EQ(as_of(BookedAt(h, 11)), expected[1]);
  EXPECT_EQ(as_of(BookedAt(h, 12)), expected[2]);
  EXPECT_EQ(as_of(BookedAt(h, 13)), expected[3]);
  EXPECT_EQ(as_of(h.engine().last_timestamp_ns() + 1'000'000), expected[3]);
}

TEST(BalanceAsOf, ZerosFromCreationOnAndNothingBefore) {
  Harness h;
  CreateStandardBook(h);
  AddHistory(h);
  const AccountId id = Aid(kWithHistory);
  const uint64_t created_ns = h.engine().LookupAccount(id).value().timestamp_ns;
  EXPECT_FALSE(h.engine().GetBalanceAsOf(id, created_ns - 1).has_value());
  EXPECT_FALSE(h.engine().GetBalanceAsOf(id, 0).has_value());
  std::optional<AccountBalance> at_creation = h.engine().GetBalanceAsOf(id, created_ns);
  ASSERT_TRUE(at_creation.has_value());
  EXPECT_EQ(BalancesOf(*at_creation), Balances{});
  EXPECT_EQ(BalancesOf(h.engine().GetBalanceAsOf(id, BookedAt(h, 10) - 1).value()), Balances{});
}

// ---------------------------------------------------------------------------------------------
// GetTrialBalance.

TEST(TrialBalance, SumsTheFourBalancesOverTheLedgersAccounts) {
  Harness h;
  CreateStandardBook(h);
  AddHistory(h);
  h.AddTransfer({.id = 20, .debit = kA, .credit = kC, .amount = 8, .flags = tf::kPending});
  h.AddAccount({.id = 30, .ledger = kEur});
  h.AddTransfer({.id = 21, .debit = kEurAccount, .credit = 30, .amount = 1000, .ledger = kEur});
  const TrialBalance usd = h.engine().GetTrialBalance(kUsd);
  EXPECT_EQ(usd.ledger, kUsd);
  EXPECT_EQ(usd.account_count, 6u);
  EXPECT_EQ(usd.debits_pending, (WideSum{.low = Amt(8)}));
  EXPECT_EQ(usd.credits_pending, (WideSum{.low = Amt(8)}));
  EXPECT_EQ(usd.debits_posted, (WideSum{.low = Amt(150)}));
  EXPECT_EQ(usd.credits_posted, (WideSum{.low = Amt(150)}));
  EXPECT_TRUE(usd.Balanced());
  const TrialBalance eur = h.engine().GetTrialBalance(kEur);
  EXPECT_EQ(eur.account_count, 2u);
  EXPECT_EQ(eur.debits_posted, (WideSum{.low = Amt(1000)}));
  EXPECT_EQ(eur.credits_posted, (WideSum{.low = Amt(1000)}));
  EXPECT_EQ(eur.debits_pending, WideSum{});
}

TEST(TrialBalance, UnknownOrEmptyLedgerHasZeroCounts) {
  Harness h;
  CreateStandardBook(h);
  h.AddLedger(9, "GBP");
  for (uint32_t ledger : {9u, 42u}) {
    const TrialBalance trial = h.engine().GetTrialBalance(ledger);
    EXPECT_EQ(trial.account_count, 0u) << ledger;
    EXPECT_EQ(trial.debits_posted, WideSum{}) << ledger;
    EXPECT_EQ(trial.credits_posted, WideSum{}) << ledger;
    EXPECT_TRUE(trial.Balanced()) << ledger;
  }
}

TEST(TrialBalance, WideSumsCarryWhenTotalsExceedTwoToThe128) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = kU128Max});
  h.AddTransfer({.id = 11, .debit = kC, .credit = kWithHistory, .amount = 5});
  h.AddTransfer(
      {.id = 12, .debit = kCreditLimited, .credit = kC, .amount = kU128Max, .flags = tf::kPending});
  h.AddTransfer(
      {.id = 13, .debit = kWithHistory, .credit = kA, .amount = 10, .flags = tf::kPending});
  const TrialBalance trial = h.engine().GetTrialBalance(kUsd);
  // (2^128 - 1) + 5 = 1 * 2^128 + 4; (2^128 - 1) + 10 = 1 * 2^128 + 9.
  EXPECT_EQ(trial.debits_posted, (WideSum{.low = Amt(4), .carries = 1}));
  EXPECT_EQ(trial.credits_posted, (WideSum{.low = Amt(4), .carries = 1}));
  EXPECT_EQ(trial.debits_pending, (WideSum{.low = Amt(9), .carries = 1}));
  EXPECT_EQ(trial.credits_pending, (WideSum{.low = Amt(9), .carries = 1}));
  EXPECT_TRUE(trial.Balanced());
}

// ---------------------------------------------------------------------------------------------
// GetReversals.

TEST(Reversals, ListsReversalsOldestFirstUpToTheOutputSize) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 100, .debit = kA, .credit = kB, .amount = 30});
  h.AddTransfer({.id = 12, .debit = kB, .credit = kA, .amount = 5, .reverses_id = 100});
  h.AddTransfer({.id = 11, .debit = kB, .credit = kA, .amount = 10, .reverses_id = 100});
  h.AddTransfer({.id = 10, .debit = kB, .credit = kA, .amount = 15, .reverses_id = 100});
  std::vector<TransferId> out(8);
  ASSERT_EQ(h.engine().GetReversals(Tid(100), out), 3u);
  EXPECT_EQ(out[0], Tid(12));
  EXPECT_EQ(out[1], Tid(11));
  EXPECT_EQ(out[2], Tid(10));
  std::vector<TransferId> small(2);
  ASSERT_EQ(h.engine().GetReversals(Tid(100), small), 2u);
  EXPECT_EQ(small[0], Tid(12));
  EXPECT_EQ(small[1], Tid(11));
  EXPECT_EQ(h.engine().GetReversedAmount(Tid(100)), Amt(30));
  EXPECT_EQ(h.engine().GetReversals(Tid(12), out), 0u);
}

// ---------------------------------------------------------------------------------------------
// Lookups.

TEST(Lookups, UnknownIdsFindNothing) {
  Harness h;
  CreateStandardBook(h);
  EXPECT_EQ(h.CreateTransfer({.id = 10, .debit = kMissingAccount, .credit = kB, .amount = 1}),
            R::kDebitAccountNotFound);
  const Engine& engine = h.engine();
  EXPECT_FALSE(engine.LookupLedger(99).has_value());
  EXPECT_FALSE(engine.LookupLedger(0).has_value());
  EXPECT_FALSE(engine.LookupAccount(Aid(kMissingAccount)).has_value());
  EXPECT_FALSE(engine.LookupAccount(Aid(0)).has_value());
  EXPECT_FALSE(engine.LookupAccount(Aid(kU128Max)).has_value());
  for (u128 id : {u128{0}, u128{10}, u128{99}, kU128Max}) {
    SCOPED_TRACE(U128ToString(id));
    EXPECT_FALSE(engine.LookupTransfer(Tid(id)).has_value());
    EXPECT_EQ(engine.GetPendingStatus(Tid(id)), PendingStatus::kNone);
    EXPECT_EQ(engine.GetPostedAmount(Tid(id)), Amt(0));
    EXPECT_EQ(engine.GetReversedAmount(Tid(id)), Amt(0));
    std::vector<TransferId> out(4);
    EXPECT_EQ(engine.GetReversals(Tid(id), out), 0u);
  }
}

TEST(Lookups, FindEveryRecordAfterTheTablesGrowPastTheirInitialCapacity) {
  Harness h;  // capacity 64 accounts, 256 transfers
  h.AddLedger(kUsd);
  std::vector<AccountSpec> accounts;
  for (u128 id = 1; id <= 100; ++id) accounts.push_back({.id = id});
  EXPECT_EQ(h.CreateAccounts(accounts),
            std::vector<CreateAccountResult>(100, CreateAccountResult::kOk));
  std::vector<TransferSpec> transfers;
  for (u128 i = 0; i < 600; ++i) {
    transfers.push_back(
        {.id = 1000 + i, .debit = 1 + i % 100, .credit = 1 + (i + 1) % 100, .amount = 1 + i});
  }
  EXPECT_EQ(h.CreateTransfers(transfers), std::vector<R>(600, R::kOk));
  for (u128 id = 1; id <= 100; ++id) {
    ASSERT_TRUE(h.engine().LookupAccount(Aid(id)).has_value()) << U128ToString(id);
  }
  for (u128 i = 0; i < 600; ++i) {
    ASSERT_EQ(h.LookupTransfer(1000 + i).value().amount, Amt(1 + i)) << U128ToString(i);
  }
  // Account 1 is debited by transfers i = 0, 100, ..., 500 and credited by i = 99, ..., 599.
  EXPECT_EQ(h.BalancesOf(1), (Balances{.debits_posted = 1 + 101 + 201 + 301 + 401 + 501,
                                       .credits_posted = 100 + 200 + 300 + 400 + 500 + 600}));
  EXPECT_EQ(TransferIds(h, {.account_id = Aid(1)}).size(), 12u);
  const TrialBalance trial = h.engine().GetTrialBalance(kUsd);
  EXPECT_EQ(trial.account_count, 100u);
  EXPECT_EQ(trial.debits_posted, (WideSum{.low = Amt(600 * 601 / 2)}));
  EXPECT_TRUE(trial.Balanced());
}

TEST(Lookups, PendingStatusIsNoneForTransfersThatAreNotReservations) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5});
  h.AddTransfer({.id = 200, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kPending});
  h.AddTransfer({.id = 11, .amount = 5, .pending_id = 200, .flags = tf::kPostPending});
  EXPECT_EQ(h.StatusOf(10), PendingStatus::kNone);
  EXPECT_EQ(h.StatusOf(11), PendingStatus::kNone);
  EXPECT_EQ(h.StatusOf(200), PendingStatus::kPosted);
  EXPECT_EQ(h.engine().GetPostedAmount(Tid(11)), Amt(0));
}

TEST(Lookups, ReturnCopiesThatDoNotAliasEngineState) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 10, .debit = kA, .credit = kB, .amount = 5});
  Account account = h.engine().LookupAccount(Aid(kA)).value();
  account.debits_posted = Amt(999);
  Transfer transfer = h.LookupTransfer(10).value();
  transfer.amount = Amt(999);
  EXPECT_EQ(h.BalancesOf(kA), (Balances{.debits_posted = 5}));
  EXPECT_EQ(h.LookupTransfer(10).value().amount, Amt(5));
}

}  // namespace
}  // namespace ledger::engine::test
