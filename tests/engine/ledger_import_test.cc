// Imported ledgers (docs/data-model.md, "Import"): a migration starts with its ledgers, booked
// at their timestamps in the system migrated from, so the accounts and transfers imported after
// them may be years old. Each code, precedence, a whole migration in order, history from 2019,
// and snapshots.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "engine/engine.h"
#include "engine/snapshot.h"
#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using L = CreateLedgerResult;
using A = CreateAccountResult;
using R = CreateTransferResult;

constexpr uint8_t kImported = ledger_flags::kImported;
constexpr uint64_t kSecond = kNanosPerSecond;
constexpr uint64_t kDay = 86'400 * kSecond;
// Batches run at "now"; the history they bring is older.
constexpr uint64_t kNow = 1'000'000 * kSecond;

TEST(ImportLedgers, BookedAtItsOwnTimestampWithTheFlagStored) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 1, .flags = kImported, .timestamp_ns = 500}, kNow), L::kOk);
  const std::optional<Ledger> ledger = h.engine().LookupLedger(1);
  ASSERT_TRUE(ledger.has_value());
  EXPECT_EQ(ledger->timestamp_ns, 500u);
  EXPECT_EQ(ledger->flags, kImported);
  // The last timestamp booked is the imported one, not the batch's.
  EXPECT_EQ(h.engine().last_timestamp_ns(), 500u);
  // A native ledger after it is booked as ever, and stores no flag.
  EXPECT_EQ(h.CreateLedger({.id = 2}, kNow + 10), L::kOk);
  EXPECT_EQ(h.engine().LookupLedger(2)->timestamp_ns, kNow + 11);
  EXPECT_EQ(h.engine().LookupLedger(2)->flags, 0u);
}

TEST(ImportLedgers, TheFirstEventDecidesTheModeOfTheBatch) {
  Harness h;
  EXPECT_EQ(h.CreateLedgers({{.id = 1, .flags = kImported, .timestamp_ns = 100}, {.id = 2}}, kNow),
            (std::vector<L>{L::kOk, L::kImportedEventExpected}));
  EXPECT_EQ(h.CreateLedgers({{.id = 3}, {.id = 4, .flags = kImported, .timestamp_ns = 200}}),
            (std::vector<L>{L::kOk, L::kImportedEventNotExpected}));
  EXPECT_FALSE(h.engine().LookupLedger(2).has_value());
  EXPECT_FALSE(h.engine().LookupLedger(4).has_value());
  // A native ledger still may not carry a timestamp.
  EXPECT_TRUE(LedgerRejected(h, {.id = 5, .timestamp_ns = 7}, L::kTimestampMustBeZero));
}

TEST(ImportLedgers, TimestampOutOfRangeWhenZeroNotBelowTheBatchOrNotBelowTwoToTheSixtyThree) {
  Harness h;
  const uint64_t batch = kNow;
  for (uint64_t bad : {uint64_t{0}, batch, batch + 1}) {
    EXPECT_EQ(h.CreateLedger({.id = 1, .flags = kImported, .timestamp_ns = bad}, batch),
              L::kImportedEventTimestampOutOfRange)
        << bad;
  }
  const uint64_t limit = kTimestampLimitNs;
  EXPECT_EQ(h.CreateLedger({.id = 1, .flags = kImported, .timestamp_ns = limit}, limit + 10),
            L::kImportedEventTimestampOutOfRange);
  EXPECT_FALSE(h.engine().LookupLedger(1).has_value());
  EXPECT_EQ(h.CreateLedger({.id = 1, .flags = kImported, .timestamp_ns = limit - 1}, limit + 10),
            L::kOk);
  EXPECT_EQ(h.engine().last_timestamp_ns(), limit - 1);
}

TEST(ImportLedgers, TimestampMustNotRegressPastAnythingBookedOrEarlierInTheBatch) {
  Harness h;
  h.AddLedger(1);  // native, at the harness's clock
  const uint64_t last = h.engine().last_timestamp_ns();
  const uint64_t batch = last + 1000;
  EXPECT_TRUE(LedgerRejected(h, {.id = 2, .flags = kImported, .timestamp_ns = last},
                             L::kImportedEventTimestampMustNotRegress));
  EXPECT_EQ(h.CreateLedgers({{.id = 2, .flags = kImported, .timestamp_ns = last + 5},
                             {.id = 3, .flags = kImported, .timestamp_ns = last + 5},
                             {.id = 4, .flags = kImported, .timestamp_ns = last + 4},
                             {.id = 5, .flags = kImported, .timestamp_ns = last + 6}},
                            batch),
            (std::vector<L>{L::kOk, L::kImportedEventTimestampMustNotRegress,
                            L::kImportedEventTimestampMustNotRegress, L::kOk}));
  EXPECT_FALSE(h.engine().LookupLedger(3).has_value());
  EXPECT_EQ(h.engine().last_timestamp_ns(), last + 6) << "a failed ledger books nothing";
}

TEST(ImportLedgers, RetryIsExistsBeforeTheTimestampRuleAndTheFlagIsCompared) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 1, .flags = kImported, .timestamp_ns = 100}, kNow), L::kOk);
  h.AddLedger(2);
  const uint64_t last = h.engine().last_timestamp_ns();
  // The same import again: exists, whatever its timestamp now (the stored one is kept).
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .flags = kImported, .timestamp_ns = last}, L::kExists));
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .flags = kImported, .timestamp_ns = 50}, L::kExists));
  EXPECT_EQ(h.engine().LookupLedger(1)->timestamp_ns, 100u);
  // A native retry of an imported ledger, and an imported retry of a native one.
  EXPECT_TRUE(LedgerRejected(h, {.id = 1}, L::kExistsWithDifferentFlags));
  EXPECT_TRUE(LedgerRejected(h, {.id = 2, .flags = kImported, .timestamp_ns = last},
                             L::kExistsWithDifferentFlags));
  // The flags come before the other fields.
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .scale = 3}, L::kExistsWithDifferentFlags));
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .scale = 3, .flags = kImported, .timestamp_ns = 50},
                             L::kExistsWithDifferentScale));
  EXPECT_TRUE(LedgerRejected(h,
                             {.id = 1, .flags = kImported, .asset_code = "EUR", .timestamp_ns = 50},
                             L::kExistsWithDifferentAssetCode));
}

TEST(ImportLedgers, ReservedFlagWhenABitOutsideKAll) {
  Harness h;
  for (int bit = 1; bit < 8; ++bit) {
    const uint8_t flags = static_cast<uint8_t>(1u << bit);
    EXPECT_TRUE(LedgerRejected(h, {.id = 1, .flags = flags}, L::kReservedFlag)) << bit;
    EXPECT_TRUE(LedgerRejected(
        h, {.id = 1, .flags = static_cast<uint8_t>(flags | kImported), .timestamp_ns = 1},
        L::kReservedFlag))
        << bit;
  }
  EXPECT_EQ(h.CreateLedger({.id = 1}), L::kOk);
}

TEST(ImportLedgers, PrecedenceOfTheNewCodes) {
  Harness h;
  const uint64_t batch = kNow;
  // The mode first, then the timestamp, then reserved bytes, then reserved flag bits, then id.
  EXPECT_EQ(h.CreateLedgers({{.id = 1, .flags = kImported, .timestamp_ns = 10},
                             {.id = 0, .reserved = {1, 0}, .timestamp_ns = 20}},
                            batch),
            (std::vector<L>{L::kOk, L::kImportedEventExpected}));
  EXPECT_EQ(h.CreateLedgers(
                {{.id = 3}, {.id = 0, .flags = 0xff, .reserved = {1, 0}, .timestamp_ns = 30}}),
            (std::vector<L>{L::kOk, L::kImportedEventNotExpected}));
  EXPECT_EQ(h.CreateLedger({.id = 0, .flags = kImported, .reserved = {1, 0}}, batch + 100),
            L::kImportedEventTimestampOutOfRange);
  EXPECT_EQ(
      h.CreateLedger({.id = 0, .flags = 0xff, .reserved = {1, 0}, .timestamp_ns = 30}, batch + 200),
      L::kReservedField);
  EXPECT_EQ(h.CreateLedger({.id = 0, .flags = 0xff, .timestamp_ns = 30}, batch + 300),
            L::kReservedFlag);
  EXPECT_EQ(h.CreateLedger({.id = 0, .flags = kImported, .timestamp_ns = 30}, batch + 400),
            L::kIdMustNotBeZero);
  // The timestamp rule comes last: an invalid ledger at a regressing timestamp is invalid.
  EXPECT_EQ(h.CreateLedger({.id = 2, .scale = kScaleMax + 1, .flags = kImported, .timestamp_ns = 5},
                           batch + 500),
            L::kScaleTooLarge);
  EXPECT_EQ(h.CreateLedger({.id = 2, .flags = kImported, .timestamp_ns = 5}, batch + 600),
            L::kImportedEventTimestampMustNotRegress);
}

// The whole migration in booking order: ledgers, then accounts, then transfers, each after the
// last, all in the past of their batches; then the system goes live with native batches.
TEST(ImportLedgers, AWholeMigrationInOrderThenNativeBatches) {
  Harness h;
  EXPECT_EQ(
      h.CreateLedgers({{.id = 1, .flags = kImported, .timestamp_ns = 1000},
                       {.id = 2, .flags = kImported, .asset_code = "EUR", .timestamp_ns = 1001}},
                      kNow),
      (std::vector<L>{L::kOk, L::kOk}));
  // An account cannot come before its ledger's import (nor at it).
  EXPECT_EQ(h.CreateAccount({.id = 1, .flags = af::kImported, .timestamp_ns = 1001}, kNow + 1),
            A::kImportedEventTimestampMustNotRegress);
  EXPECT_EQ(h.CreateAccounts({{.id = 1, .flags = af::kImported, .timestamp_ns = 2000},
                              {.id = 2, .flags = af::kImported, .timestamp_ns = 2001},
                              {.id = 3, .ledger = 2, .flags = af::kImported, .timestamp_ns = 2002}},
                             kNow + 2),
            (std::vector<A>{A::kOk, A::kOk, A::kOk}));
  EXPECT_EQ(h.CreateTransfers({{.id = 1,
                                .debit = 1,
                                .credit = 2,
                                .amount = 70,
                                .timestamp_ns = 3000,
                                .flags = tf::kImported},
                               {.id = 2,
                                .debit = 2,
                                .credit = 1,
                                .amount = 20,
                                .timestamp_ns = 3001,
                                .flags = tf::kImported}},
                              kNow + 3),
            (std::vector<R>{R::kOk, R::kOk}));
  EXPECT_EQ(h.engine().last_timestamp_ns(), 3001u);
  // Live: native ledgers, accounts and transfers, booked at their batches' clocks.
  EXPECT_EQ(h.CreateLedger({.id = 3, .asset_code = "GBP"}, kNow + 10), L::kOk);
  EXPECT_EQ(h.CreateAccount({.id = 4}, kNow + 20), A::kOk);
  EXPECT_EQ(h.CreateTransfer({.id = 3, .debit = 1, .credit = 4, .amount = 5}, kNow + 30), R::kOk);
  EXPECT_EQ(h.engine().LookupLedger(3)->timestamp_ns, kNow + 11);
  EXPECT_EQ(h.engine().LookupAccount(Aid(4))->timestamp_ns, kNow + 21);
  EXPECT_EQ(h.LookupTransfer(3)->timestamp_ns, kNow + 31);
  EXPECT_EQ(h.BalancesOf(1).debits_posted, 75u);
  EXPECT_EQ(h.BalancesOf(1).credits_posted, 20u);
  EXPECT_EQ(h.BalancesOf(2).credits_posted, 70u);
  EXPECT_EQ(h.BalancesOf(4).credits_posted, 5u);
  EXPECT_TRUE(h.engine().GetTrialBalance(1).Balanced());
  // Once live, nothing older can be imported any more.
  EXPECT_EQ(h.CreateLedger({.id = 4, .flags = kImported, .timestamp_ns = 4000}, kNow + 40),
            L::kImportedEventTimestampMustNotRegress);
}

// The problem this solves: a migration had to create its ledger natively, at now, and nothing
// older than that could be imported. Now the ledger is imported first, in 2019, and the history
// follows it.
TEST(ImportLedgers, HistoryFromYearsAgoWithBalancesAsOfItsTimes) {
  constexpr uint64_t k2019 = 1'546'300'800 * kSecond;  // 2019-01-01T00:00:00Z
  constexpr uint64_t k2025 = 1'735'689'600 * kSecond;  // 2025-01-01T00:00:00Z, "now"
  {
    // Before: a native ledger is booked at now, and the 2019 accounts regress behind it.
    Harness before;
    EXPECT_EQ(before.CreateLedger({.id = 1}, k2025), L::kOk);
    EXPECT_EQ(before.CreateAccount({.id = 1, .flags = af::kImported, .timestamp_ns = k2019 + kDay},
                                   k2025 + 10),
              A::kImportedEventTimestampMustNotRegress);
  }
  Harness h(EngineOptions{.change_feed_capacity = 16});
  EXPECT_EQ(h.CreateLedger({.id = 1, .flags = kImported, .timestamp_ns = k2019}, k2025), L::kOk);
  const uint16_t history = af::kImported | af::kHistory;
  EXPECT_EQ(h.CreateAccounts({{.id = 1, .flags = history, .timestamp_ns = k2019 + kDay},
                              {.id = 2, .flags = history, .timestamp_ns = k2019 + kDay + 1}},
                             k2025 + 100),
            (std::vector<A>{A::kOk, A::kOk}));
  const uint64_t feb = k2019 + 31 * kDay;
  const uint64_t mar = k2019 + 59 * kDay;
  EXPECT_EQ(h.CreateTransfers({{.id = 1,
                                .debit = 1,
                                .credit = 2,
                                .amount = 300,
                                .timestamp_ns = feb,
                                .flags = tf::kImported},
                               {.id = 2,
                                .debit = 2,
                                .credit = 1,
                                .amount = 100,
                                .timestamp_ns = mar,
                                .flags = tf::kImported}},
                              k2025 + 200),
            (std::vector<R>{R::kOk, R::kOk}));
  EXPECT_EQ(h.engine().LookupLedger(1)->timestamp_ns, k2019);
  EXPECT_EQ(h.engine().LookupAccount(Aid(1))->timestamp_ns, k2019 + kDay);
  EXPECT_EQ(h.LookupTransfer(2)->timestamp_ns, mar);
  EXPECT_EQ(h.BalancesOf(1).debits_posted, 300u);
  EXPECT_EQ(h.BalancesOf(1).credits_posted, 100u);
  // As of mid-February: the February transfer only; as of March and later: both.
  const std::optional<AccountBalance> mid_feb = h.engine().GetBalanceAsOf(Aid(1), feb + 14 * kDay);
  ASSERT_TRUE(mid_feb.has_value());
  EXPECT_EQ(mid_feb->timestamp_ns, feb);
  EXPECT_EQ(mid_feb->debits_posted.Get(), 300u);
  EXPECT_EQ(mid_feb->credits_posted.Get(), 0u);
  const std::optional<AccountBalance> at_mar = h.engine().GetBalanceAsOf(Aid(2), mar);
  ASSERT_TRUE(at_mar.has_value());
  EXPECT_EQ(at_mar->timestamp_ns, mar);
  EXPECT_EQ(at_mar->credits_posted.Get(), 300u);
  EXPECT_EQ(at_mar->debits_posted.Get(), 100u);
  // Before the first transfer: the account as created, in 2019; before that: no account.
  const std::optional<AccountBalance> created = h.engine().GetBalanceAsOf(Aid(1), feb - 1);
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->debits_posted.Get(), 0u);
  EXPECT_EQ(created->credits_posted.Get(), 0u);
  EXPECT_FALSE(h.engine().GetBalanceAsOf(Aid(1), k2019 + kDay - 1).has_value());
  // The change feed starts in 2019.
  std::vector<Change> changes(4);
  ASSERT_EQ(h.engine().GetChanges(0, changes), 2u);
  EXPECT_EQ(changes[0].timestamp_ns, feb);
  EXPECT_EQ(changes[1].timestamp_ns, mar);
}

TEST(ImportLedgers, SnapshotRoundTripKeepsTheFlagAndTheTimestamp) {
  const EngineOptions options{};
  Engine original(options);
  {
    std::vector<Ledger> ledgers = {MakeLedger({.id = 1, .flags = kImported, .timestamp_ns = 100}),
                                   MakeLedger({.id = 2, .flags = kImported, .timestamp_ns = 101})};
    std::vector<L> results(2);
    original.CreateLedgers(ledgers, kNow, results);
    ASSERT_EQ(results, (std::vector<L>{L::kOk, L::kOk}));
    std::vector<Ledger> native = {MakeLedger({.id = 3})};
    original.CreateLedgers(native, kNow + 10, std::span(results).first(1));
    ASSERT_EQ(results[0], L::kOk);
  }
  std::unique_ptr<EngineSnapshot> image = original.CaptureSnapshot();
  absl::StatusOr<std::unique_ptr<Engine>> restored = Engine::Restore(options, image->sections());
  ASSERT_TRUE(restored.ok()) << restored.status();
  Engine& copy = **restored;
  EXPECT_EQ(copy.ComputeStateHash(), original.ComputeStateHash());
  for (uint32_t id : {1u, 2u, 3u}) {
    const std::optional<Ledger> a = original.LookupLedger(id);
    const std::optional<Ledger> b = copy.LookupLedger(id);
    ASSERT_TRUE(a.has_value() && b.has_value()) << id;
    EXPECT_EQ(std::memcmp(&*a, &*b, sizeof(Ledger)), 0) << id;
  }
  EXPECT_EQ(copy.LookupLedger(2)->flags, kImported);
  EXPECT_EQ(copy.LookupLedger(2)->timestamp_ns, 101u);
  EXPECT_EQ(copy.LookupLedger(3)->flags, 0u);
  // A retry against the copy is answered as against the original.
  std::vector<Ledger> retry = {MakeLedger({.id = 2}),
                               MakeLedger({.id = 2, .flags = kImported, .timestamp_ns = 5})};
  std::vector<L> a(1), b(1);
  original.CreateLedgers(std::span(retry).first(1), kNow + 20, a);
  copy.CreateLedgers(std::span(retry).first(1), kNow + 20, b);
  EXPECT_EQ(a, std::vector<L>{L::kExistsWithDifferentFlags});
  EXPECT_EQ(a, b);
}

TEST(ImportLedgers, SnapshotRestoreRefusesAReservedLedgerFlag) {
  const EngineOptions options{};
  Engine original(options);
  std::vector<Ledger> ledgers = {MakeLedger({.id = 1, .flags = kImported, .timestamp_ns = 100})};
  std::vector<L> results(1);
  original.CreateLedgers(ledgers, kNow, results);
  ASSERT_EQ(results[0], L::kOk);
  std::unique_ptr<EngineSnapshot> image = original.CaptureSnapshot();
  std::vector<SnapshotSection> sections(image->sections().begin(), image->sections().end());
  std::vector<std::byte> ledger_bytes;
  for (SnapshotSection& section : sections) {
    if (section.kind != SnapshotSectionKind::kLedgers) continue;
    ASSERT_EQ(section.bytes.size(), sizeof(Ledger));
    ledger_bytes.assign(section.bytes.begin(), section.bytes.end());
    section.bytes = ledger_bytes;
  }
  ASSERT_EQ(ledger_bytes.size(), sizeof(Ledger));
  // The untouched bytes restore; a flag bit outside kAll does not.
  ASSERT_TRUE(Engine::Restore(options, sections).ok());
  ledger_bytes[offsetof(Ledger, flags)] = std::byte{kImported | 0x02};
  const absl::StatusOr<std::unique_ptr<Engine>> refused = Engine::Restore(options, sections);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ledger::engine::test
