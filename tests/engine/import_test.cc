// Imports (docs/data-model.md, "Import"): accounts and transfers migrated from another system
// carry their booking timestamps (flag kImported). Each result code; a few thousand imported
// transfers seen through balances, history, as-of balances and the change feed; chains; the
// mode of a batch; native batches after an import; snapshots; and shard counts 1 to 8.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "engine/engine.h"
#include "engine/snapshot.h"
#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using A = CreateAccountResult;
using R = CreateTransferResult;

constexpr uint64_t kSecond = kNanosPerSecond;
// Imported history lies in the past of the batches that bring it: batches run at "now".
constexpr uint64_t kNow = 1'000'000 * kSecond;

// Ledger 1; accounts 1 and 2 imported at 100 and 200 (batch at kNow).
void SetUpImportedAccounts(Harness& h, uint16_t flags = 0) {
  h.AddLedger(1);
  const uint16_t imported = static_cast<uint16_t>(af::kImported | flags);
  EXPECT_EQ(h.CreateAccounts({{.id = 1, .flags = imported, .timestamp_ns = 100},
                              {.id = 2, .flags = imported, .timestamp_ns = 200}},
                             kNow),
            (std::vector<A>{A::kOk, A::kOk}));
}

TransferSpec Imported(u128 id, uint64_t timestamp_ns, u128 amount = 10) {
  return {.id = id,
          .debit = 1,
          .credit = 2,
          .amount = amount,
          .timestamp_ns = timestamp_ns,
          .flags = tf::kImported};
}

TEST(ImportAccounts, BookedAtTheirOwnTimestampsWithTheFlagStored) {
  Harness h;
  SetUpImportedAccounts(h);
  const std::optional<Account> account = h.engine().LookupAccount(Aid(2));
  ASSERT_TRUE(account.has_value());
  EXPECT_EQ(account->timestamp_ns, 200u);
  EXPECT_EQ(account->flags, af::kImported);
  // The last timestamp booked is the last imported, not the batch's.
  EXPECT_EQ(h.engine().last_timestamp_ns(), 200u);
}

TEST(ImportAccounts, EachCode) {
  Harness h;
  h.AddLedger(1);
  const uint64_t now = h.next_timestamp_ns() + 1000;
  // The first event decides the mode.
  EXPECT_EQ(h.CreateAccounts(
                {{.id = 1, .flags = af::kImported, .timestamp_ns = now - 500}, {.id = 2}}, now),
            (std::vector<A>{A::kOk, A::kImportedEventExpected}));
  EXPECT_EQ(h.CreateAccounts({{.id = 3}, {.id = 4, .flags = af::kImported, .timestamp_ns = 0}}),
            (std::vector<A>{A::kOk, A::kImportedEventNotExpected}));
  // A native event still may not carry a timestamp.
  EXPECT_EQ(h.CreateAccount({.id = 5, .timestamp_ns = 7}), A::kTimestampMustBeZero);
  const uint64_t last = h.engine().last_timestamp_ns();
  const uint64_t batch = last + 1000;
  for (uint64_t bad : {uint64_t{0}, batch, batch + 1}) {
    EXPECT_EQ(h.CreateAccount({.id = 6, .flags = af::kImported, .timestamp_ns = bad}, batch),
              A::kImportedEventTimestampOutOfRange)
        << bad;
  }
  // Not after the last booked (native events included), nor after the batch's earlier events.
  EXPECT_EQ(h.CreateAccount({.id = 6, .flags = af::kImported, .timestamp_ns = last}, batch + 10),
            A::kImportedEventTimestampMustNotRegress);
  EXPECT_EQ(h.CreateAccounts({{.id = 6, .flags = af::kImported, .timestamp_ns = last + 5},
                              {.id = 7, .flags = af::kImported, .timestamp_ns = last + 5},
                              {.id = 8, .flags = af::kImported, .timestamp_ns = last + 4}},
                             batch + 20),
            (std::vector<A>{A::kOk, A::kImportedEventTimestampMustNotRegress,
                            A::kImportedEventTimestampMustNotRegress}));
  // A retry of an imported account is `exists` (before the timestamp rule), and its fields are
  // compared as ever; the imported flag is one of them.
  EXPECT_EQ(
      h.CreateAccount({.id = 6, .flags = af::kImported, .timestamp_ns = last + 6}, batch + 30),
      A::kExists);
  EXPECT_EQ(h.CreateAccount({.id = 6}), A::kExistsWithDifferentFlags);
  // Ledger not found comes after the timestamp rule.
  const uint64_t after = h.engine().last_timestamp_ns();
  EXPECT_EQ(h.CreateAccount({.id = 9, .ledger = 9, .flags = af::kImported, .timestamp_ns = after},
                            after + 100),
            A::kImportedEventTimestampMustNotRegress);
  EXPECT_EQ(
      h.CreateAccount({.id = 9, .ledger = 9, .flags = af::kImported, .timestamp_ns = after + 1},
                      after + 100),
      A::kLedgerNotFound);
  EXPECT_EQ(h.engine().last_timestamp_ns(), after) << "a failed account books nothing";
}

TEST(ImportAccounts, BelowTwoToTheSixtyThree) {
  Harness h;
  h.AddLedger(1);
  const uint64_t limit = uint64_t{1} << 63;
  EXPECT_EQ(h.CreateAccount({.id = 1, .flags = af::kImported, .timestamp_ns = limit}, limit + 10),
            A::kImportedEventTimestampOutOfRange);
  EXPECT_EQ(
      h.CreateAccount({.id = 1, .flags = af::kImported, .timestamp_ns = limit - 1}, limit + 10),
      A::kOk);
  EXPECT_EQ(h.engine().last_timestamp_ns(), limit - 1);
}

TEST(ImportTransfers, EachCode) {
  Harness h;
  SetUpImportedAccounts(h);
  const uint64_t batch = kNow + 1000;
  // Mode: the first event decides.
  TransferSpec native = Imported(18, 0);
  native.flags = 0;
  EXPECT_EQ(h.CreateTransfers({Imported(10, 300), native}, batch),
            (std::vector<R>{R::kOk, R::kImportedEventExpected}));
  native.id = 19;
  EXPECT_EQ(h.CreateTransfers({native, Imported(11, 0)}),
            (std::vector<R>{R::kOk, R::kImportedEventNotExpected}));
  TransferSpec stamped = native;
  stamped.id = 12;
  stamped.timestamp_ns = 5;
  EXPECT_EQ(h.CreateTransfer(stamped), R::kTimestampMustBeZero);
  // Range: not zero, below the batch's timestamp.
  const uint64_t last = h.engine().last_timestamp_ns();
  const uint64_t next_batch = last + 1000;
  for (uint64_t bad : {uint64_t{0}, next_batch, next_batch + 1}) {
    EXPECT_EQ(h.CreateTransfer(Imported(13, bad), next_batch), R::kImportedEventTimestampOutOfRange)
        << bad;
  }
  // Mode beats range, range beats the fields' own checks.
  TransferSpec zero_id = Imported(0, 0);
  EXPECT_EQ(h.CreateTransfer(zero_id, next_batch + 10), R::kImportedEventTimestampOutOfRange);
  zero_id.timestamp_ns = last + 1;
  EXPECT_EQ(h.CreateTransfer(zero_id, next_batch + 20), R::kIdMustNotBeZero);
  // An imported reservation never expires by the clock.
  TransferSpec reservation = Imported(14, last + 1);
  reservation.flags |= tf::kPending;
  reservation.timeout_s = 1;
  EXPECT_EQ(h.CreateTransfer(reservation, next_batch + 30), R::kImportedEventTimeoutMustBeZero);
  TransferSpec plain_with_timeout = Imported(14, last + 1);
  plain_with_timeout.timeout_s = 1;
  EXPECT_EQ(h.CreateTransfer(plain_with_timeout, next_batch + 40),
            R::kTimeoutReservedForPendingTransfer);
  // Regress: at or before the last booked, including the batch's own earlier events.
  EXPECT_EQ(h.CreateTransfer(Imported(15, last), next_batch + 50),
            R::kImportedEventTimestampMustNotRegress);
  EXPECT_EQ(
      h.CreateTransfers({Imported(15, last + 2), Imported(16, last + 2), Imported(17, last + 1)},
                        next_batch + 60),
      (std::vector<R>{R::kOk, R::kImportedEventTimestampMustNotRegress,
                      R::kImportedEventTimestampMustNotRegress}));
  // Idempotency comes first: a retried import batch answers `exists`.
  EXPECT_EQ(h.CreateTransfer(Imported(10, 300), next_batch + 70), R::kExists);
  EXPECT_EQ(h.CreateTransfer(Imported(10, 300, 11), next_batch + 80),
            R::kExistsWithDifferentAmount);
  // Not recorded: a retry with a good timestamp goes through.
  EXPECT_EQ(h.CreateTransfer(Imported(16, last + 3), next_batch + 90), R::kOk);
  EXPECT_EQ(h.LookupTransfer(16)->timestamp_ns, last + 3);
}

TEST(ImportTransfers, RecordedFailureIsBookedAtItsTimestampAndKept) {
  Harness h;
  SetUpImportedAccounts(h);
  TransferSpec unknown = Imported(20, 300);
  unknown.debit = 99;
  EXPECT_EQ(h.CreateTransfer(unknown, kNow + 10), R::kDebitAccountNotFound);
  EXPECT_EQ(h.engine().last_timestamp_ns(), 300u);
  // Retries are compared with the failed event, as native ones are.
  EXPECT_EQ(h.CreateTransfer(Imported(20, 301), kNow + 20), R::kExistsWithDifferentDebitAccountId);
  EXPECT_EQ(h.CreateTransfer(unknown, kNow + 30), R::kIdAlreadyFailed);
  EXPECT_EQ(h.engine().GetStats().failed_transfer_count, 1u);
}

// The failure of a rolled-back import chain keeps its own time, above the ledger's last
// timestamp; a snapshot restores it, and the import goes on below that time.
TEST(ImportTransfers, FailureOfARolledBackChainSurvivesASnapshot) {
  Harness h;
  SetUpImportedAccounts(h);
  TransferSpec first = Imported(30, 300);
  first.flags |= tf::kLinked;
  TransferSpec second = Imported(31, 400);
  second.debit = 99;  // fails: debit_account_not_found, recorded
  EXPECT_EQ(h.CreateTransfers({first, second}, kNow + 10),
            (std::vector<R>{R::kLinkedEventFailed, R::kDebitAccountNotFound}));
  EXPECT_EQ(h.engine().last_timestamp_ns(), 200u);
  std::unique_ptr<EngineSnapshot> image = h.engine().CaptureSnapshot();
  absl::StatusOr<std::unique_ptr<Engine>> restored =
      Engine::Restore(EngineOptions{}, image->sections());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ((*restored)->ComputeStateHash(), h.engine().ComputeStateHash());
  const std::optional<FailedTransfer> failed = (*restored)->LookupFailedTransfer(Tid(31));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->event.timestamp_ns, 400u);
  EXPECT_EQ(failed->code, R::kDebitAccountNotFound);
}

TEST(ImportTransfers, FailedChainBooksNoTimestamp) {
  Harness h;
  SetUpImportedAccounts(h, af::kHistory);
  TransferSpec first = Imported(30, 300);
  first.flags |= tf::kLinked;
  TransferSpec second = Imported(31, 400);
  second.debit = 99;  // fails: debit_account_not_found
  const Observation before = h.Observe();
  EXPECT_EQ(h.CreateTransfers({first, second}, kNow + 10),
            (std::vector<R>{R::kLinkedEventFailed, R::kDebitAccountNotFound}));
  EXPECT_EQ(DiffObservations(before, h.Observe()), "");
  EXPECT_EQ(h.engine().last_timestamp_ns(), 200u);
  EXPECT_FALSE(h.LookupTransfer(30).has_value());
  // So the same history can be imported again after the fix.
  EXPECT_EQ(h.CreateTransfers({first, Imported(32, 400)}, kNow + 20),
            (std::vector<R>{R::kOk, R::kOk}));
  EXPECT_EQ(h.LookupTransfer(30)->timestamp_ns, 300u);
  EXPECT_EQ(h.engine().last_timestamp_ns(), 400u);
}

TEST(ImportTransfers, ThousandsThenBalancesHistoryAsOfAndFeed) {
  constexpr int kCount = 3000;
  Harness h(EngineOptions{
      .accounts_capacity = 64, .transfers_capacity = 4096, .change_feed_capacity = 4096});
  SetUpImportedAccounts(h, af::kHistory);
  std::vector<TransferSpec> batch;
  u128 expected = 0;
  for (int i = 0; i < kCount; ++i) {
    TransferSpec spec = Imported(1000 + i, 1000 + 10 * static_cast<uint64_t>(i), 1 + i % 7);
    if (i % 2 == 1) std::swap(spec.debit, spec.credit);
    expected += i % 2 == 0 ? spec.amount : 0;
    batch.push_back(spec);
  }
  const std::vector<R> results = h.CreateTransfers(batch, kNow);
  EXPECT_EQ(results, std::vector<R>(kCount, R::kOk));
  const uint64_t last_ns = 1000 + 10 * (kCount - 1);
  EXPECT_EQ(h.engine().last_timestamp_ns(), last_ns);
  EXPECT_EQ(h.BalancesOf(1).debits_posted, expected);
  EXPECT_EQ(h.BalancesOf(2).credits_posted, expected);
  // History: in booking order, at the imported timestamps, each flagged.
  std::vector<Transfer> history(kCount + 1);
  history.resize(h.engine().GetAccountTransfers({.account_id = Aid(1)}, history));
  ASSERT_EQ(history.size(), size_t{kCount});
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(history[i].timestamp_ns, 1000 + 10 * static_cast<uint64_t>(i)) << i;
    ASSERT_EQ(history[i].flags, tf::kImported) << i;
  }
  // As of an imported time, and between two.
  u128 debits_at = 0;
  for (int i = 0; i <= 100; ++i) debits_at += i % 2 == 0 ? 1 + i % 7 : 0;
  const std::optional<AccountBalance> at = h.engine().GetBalanceAsOf(Aid(1), 1000 + 10 * 100);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->debits_posted.Get(), debits_at);
  EXPECT_EQ(at->timestamp_ns, 2000u);
  const std::optional<AccountBalance> between = h.engine().GetBalanceAsOf(Aid(1), 2005);
  ASSERT_TRUE(between.has_value());
  EXPECT_EQ(between->timestamp_ns, 2000u);
  EXPECT_FALSE(h.engine().GetBalanceAsOf(Aid(1), 99).has_value()) << "before the account";
  // The change feed, in booking order.
  std::vector<Change> changes(kCount);
  ASSERT_EQ(h.engine().GetChanges(0, changes), size_t{kCount});
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(changes[i].sequence, static_cast<uint64_t>(i));
    ASSERT_EQ(changes[i].timestamp_ns, 1000 + 10 * static_cast<uint64_t>(i));
    ASSERT_EQ(changes[i].transfer_id.Get(), 1000u + static_cast<u128>(i));
  }
  // Value time defaults to the imported booking time.
  const std::optional<PostedAtValueTime> posted = h.engine().GetPostedAtValueTime(Aid(2), 2000);
  ASSERT_TRUE(posted.has_value());
  EXPECT_EQ(posted->credits_posted.Get(), debits_at);
  EXPECT_EQ(posted->transfer_count, 101u);
}

TEST(ImportTransfers, NativeBatchAfterAnImportGoesOn) {
  Harness h;
  SetUpImportedAccounts(h);
  EXPECT_EQ(h.CreateTransfer(Imported(40, 500), kNow + 1), R::kOk);
  // The next native batch is past both the import's last event and its batch timestamp.
  const uint64_t native_batch = kNow + 10;
  TransferSpec native = Imported(41, 0);
  native.flags = 0;
  EXPECT_EQ(h.CreateTransfer(native, native_batch), R::kOk);
  EXPECT_EQ(h.LookupTransfer(41)->timestamp_ns, native_batch + 1);
  EXPECT_EQ(h.engine().last_timestamp_ns(), native_batch + 1);
  // A later import continues after the native events.
  EXPECT_EQ(h.CreateTransfer(Imported(42, native_batch + 1), kNow + 100),
            R::kImportedEventTimestampMustNotRegress);
  EXPECT_EQ(h.CreateTransfer(Imported(42, native_batch + 2), kNow + 100), R::kOk);
  EXPECT_EQ(h.BalancesOf(1).debits_posted, 30u);
}

TEST(ImportTransfers, ImportedPendingPostedAndVoidedByImports) {
  Harness h;
  SetUpImportedAccounts(h);
  TransferSpec hold = Imported(50, 300, 40);
  hold.flags |= tf::kPending;
  TransferSpec post = {.id = 51,
                       .amount = 30,
                       .pending_id = 50,
                       .timestamp_ns = 310,
                       .ledger = 0,
                       .code = 0,
                       .flags = tf::kImported | tf::kPostPending};
  EXPECT_EQ(h.CreateTransfers({hold, post}, kNow), (std::vector<R>{R::kOk, R::kOk}));
  EXPECT_EQ(h.StatusOf(50), PendingStatus::kPosted);
  EXPECT_EQ(h.BalancesOf(1).debits_posted, 30u);
  EXPECT_EQ(h.BalancesOf(1).debits_pending, 0u);
  EXPECT_EQ(h.LookupTransfer(51)->timestamp_ns, 310u);
}

TEST(ImportTransfers, ANativeReservationDueDuringAnImportExpiresAtTheNextNativeBatch) {
  Harness h;
  SetUpImportedAccounts(h);
  TransferSpec hold = Imported(60, 0, 25);
  hold.flags = tf::kPending;
  hold.timeout_s = 1;
  EXPECT_EQ(h.CreateTransfer(hold, kNow + 5), R::kOk);  // booked at kNow + 6
  const uint64_t deadline = kNow + 6 + kSecond;
  // The import runs past the deadline and books history on both sides of it.
  EXPECT_EQ(h.CreateTransfers({Imported(61, kNow + 7), Imported(62, deadline + 5)}, deadline + 100),
            (std::vector<R>{R::kOk, R::kOk}));
  EXPECT_EQ(h.StatusOf(60), PendingStatus::kPending) << "an import expires nothing";
  EXPECT_EQ(h.BalancesOf(1).debits_pending, 25u);
  // The next native batch (here an empty one: the server's expiry tick) books the expiry at its
  // own timestamp, after every imported event.
  h.AdvanceTo(deadline + 200);
  EXPECT_EQ(h.StatusOf(60), PendingStatus::kExpired);
  EXPECT_EQ(h.BalancesOf(1).debits_pending, 0u);
}

std::vector<Transfer> ToTransfers(const std::vector<TransferSpec>& specs) {
  std::vector<Transfer> out;
  for (const TransferSpec& spec : specs) out.push_back(MakeTransfer(spec));
  return out;
}

// A log mixing imports and native batches: account creation, then alternating batches.
struct MixedLog {
  std::vector<Account> accounts;
  std::vector<std::vector<Transfer>> batches;
  std::vector<uint64_t> batch_timestamps_ns;
};

MixedLog MakeMixedLog() {
  MixedLog log;
  for (u128 id = 1; id <= 16; ++id) {
    log.accounts.push_back(MakeAccount({.id = id * 7919,
                                        .flags = af::kImported,
                                        .timestamp_ns = 100 + static_cast<uint64_t>(id)}));
  }
  uint64_t now = kNow;
  uint64_t imported_ns = 1000;
  u128 next_id = 1;
  for (int batch = 0; batch < 12; ++batch) {
    std::vector<TransferSpec> specs;
    const bool import = batch % 3 != 2;
    for (int i = 0; i < 200; ++i) {
      const u128 debit = (1 + (next_id * 5) % 16) * 7919;
      u128 credit = (1 + (next_id * 11 + 3) % 16) * 7919;
      if (credit == debit) credit = (1 + (next_id * 5 + 1) % 16) * 7919;
      TransferSpec spec{.id = next_id, .debit = debit, .credit = credit, .amount = 1 + next_id % 9};
      if (i % 17 == 5) spec.flags |= tf::kLinked;  // some chains
      if (i % 23 == 7) spec.debit = 3;             // some failures (recorded)
      if (import) {
        spec.flags |= tf::kImported;
        spec.timestamp_ns = imported_ns += 1 + static_cast<uint64_t>(next_id % 3);
        if (i % 41 == 9) spec.timestamp_ns = imported_ns - 2;  // some regressions
      }
      specs.push_back(spec);
      ++next_id;
    }
    log.batches.push_back(ToTransfers(specs));
    log.batch_timestamps_ns.push_back(now);
    if (!import) imported_ns = now + 1000;  // after the native batch's events
    now += 10'000;
  }
  return log;
}

std::vector<std::vector<R>> RunLog(Engine& engine, const MixedLog& log) {
  Ledger ledger = MakeLedger({.id = 1});
  std::vector<CreateLedgerResult> ledger_result(1);
  engine.CreateLedgers({&ledger, 1}, 10, ledger_result);
  std::vector<A> account_results(log.accounts.size());
  engine.CreateAccounts(log.accounts, 1000, account_results);
  EXPECT_EQ(account_results, std::vector<A>(log.accounts.size(), A::kOk));
  std::vector<std::vector<R>> results;
  for (size_t b = 0; b < log.batches.size(); ++b) {
    results.emplace_back(log.batches[b].size());
    engine.CreateTransfers(log.batches[b], log.batch_timestamps_ns[b], results.back());
  }
  return results;
}

TEST(ImportTransfers, SameResultsAndStateForOneToEightShards) {
  const MixedLog log = MakeMixedLog();
  Engine reference(EngineOptions{.transfers_capacity = 4096, .change_feed_capacity = 4096});
  const std::vector<std::vector<R>> expected = RunLog(reference, log);
  size_t ok_count = 0;
  size_t regress_count = 0;
  for (const auto& batch : expected) {
    for (R result : batch) {
      ok_count += result == R::kOk;
      regress_count += result == R::kImportedEventTimestampMustNotRegress;
    }
  }
  EXPECT_GT(ok_count, 1000u);
  EXPECT_GT(regress_count, 0u);
  for (uint32_t shards = 1; shards <= 8; ++shards) {
    Engine sharded(EngineOptions{.transfers_capacity = 4096,
                                 .change_feed_capacity = 4096,
                                 .shard_count = shards,
                                 .shard_threads = std::min<uint32_t>(shards, 2),
                                 .in_order_cross_percent = 101});
    EXPECT_EQ(RunLog(sharded, log), expected) << shards << " shards";
    EXPECT_EQ(sharded.ComputeStateHash(), reference.ComputeStateHash()) << shards << " shards";
    EXPECT_EQ(sharded.last_timestamp_ns(), reference.last_timestamp_ns());
    std::vector<Change> a(4096), b(4096);
    a.resize(reference.GetChanges(0, a));
    b.resize(sharded.GetChanges(0, b));
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].timestamp_ns, b[i].timestamp_ns) << i;
      ASSERT_EQ(a[i].transfer_id, b[i].transfer_id) << i;
    }
  }
}

TEST(ImportTransfers, SnapshotRoundTripRestoresImportedRecordsExactly) {
  const MixedLog log = MakeMixedLog();
  const EngineOptions options{.transfers_capacity = 4096, .change_feed_capacity = 4096};
  Engine original(options);
  RunLog(original, log);
  std::unique_ptr<EngineSnapshot> image = original.CaptureSnapshot();
  absl::StatusOr<std::unique_ptr<Engine>> restored = Engine::Restore(options, image->sections());
  ASSERT_TRUE(restored.ok()) << restored.status();
  Engine& copy = **restored;
  EXPECT_EQ(copy.ComputeStateHash(), original.ComputeStateHash());
  EXPECT_EQ(copy.last_timestamp_ns(), original.last_timestamp_ns());
  const std::optional<Account> account = copy.LookupAccount(Aid(7919));
  ASSERT_TRUE(account.has_value());
  EXPECT_EQ(account->flags, af::kImported);
  EXPECT_EQ(account->timestamp_ns, 101u);
  const std::optional<Transfer> transfer = copy.LookupTransfer(Tid(1));
  ASSERT_TRUE(transfer.has_value());
  EXPECT_EQ(transfer->flags & tf::kImported, tf::kImported);
  const std::optional<Transfer> stored = original.LookupTransfer(Tid(1));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(std::memcmp(&*transfer, &*stored, sizeof(Transfer)), 0);
  // Both go on with the same import and get the same results.
  const uint64_t next_ns = original.last_timestamp_ns() + 1;
  std::vector<Transfer> more = ToTransfers({{.id = 90'000,
                                             .debit = 7919,
                                             .credit = 2 * 7919,
                                             .amount = 5,
                                             .timestamp_ns = next_ns,
                                             .flags = tf::kImported},
                                            {.id = 90'001,
                                             .debit = 7919,
                                             .credit = 2 * 7919,
                                             .amount = 5,
                                             .timestamp_ns = next_ns,
                                             .flags = tf::kImported}});
  std::vector<R> a(2), b(2);
  original.CreateTransfers(more, next_ns + 100, a);
  copy.CreateTransfers(more, next_ns + 100, b);
  EXPECT_EQ(a, (std::vector<R>{R::kOk, R::kImportedEventTimestampMustNotRegress}));
  EXPECT_EQ(a, b);
  EXPECT_EQ(copy.ComputeStateHash(), original.ComputeStateHash());
}

}  // namespace
}  // namespace ledger::engine::test
