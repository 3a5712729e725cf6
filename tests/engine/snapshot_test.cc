// Snapshot capture and restore: a restored engine is the same engine (state hash, lookups,
// and identical results for every later batch), and a tampered image is refused with
// DataLoss, never accepted and never a crash.
#include "engine/snapshot.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "tests/engine/test_util.h"

namespace ledger::engine {
namespace {

using test::OwnedSections;

constexpr uint32_t kLedger = 7;
constexpr uint64_t kAccountCount = 12;

uint64_t SeedFromEnvironment() {
  const char* seed = std::getenv("LEDGER_SEED");
  const uint64_t value =
      seed != nullptr ? std::strtoull(seed, nullptr, 10) : std::random_device{}();
  std::cout << "LEDGER_SEED=" << value << "\n";
  return value;
}

// A compact generator of every kind of event; ids from small spaces so that references hit.
class Workload {
 public:
  explicit Workload(uint64_t seed) : random_(seed) {}

  void Setup(Engine& engine) {
    Ledger ledger{};
    ledger.id = kLedger;
    ledger.scale = 2;
    std::memcpy(ledger.asset_code, "EUR", 3);
    CreateLedgerResult ledger_result;
    engine.CreateLedgers({&ledger, 1}, NextTimestamp(engine), {&ledger_result, 1});
    std::vector<Account> accounts(kAccountCount);
    for (uint64_t i = 0; i < kAccountCount; ++i) {
      accounts[i] = Account{};
      accounts[i].id = AccountId::From(i + 1);
      accounts[i].ledger = kLedger;
      accounts[i].code = 1;
      const uint16_t flag_choices[] = {0, account_flags::kDebitsMustNotExceedCredits,
                                       account_flags::kCreditsMustNotExceedDebits,
                                       account_flags::kHistory};
      accounts[i].flags = flag_choices[i % 4];
    }
    std::vector<CreateAccountResult> results(accounts.size());
    engine.CreateAccounts(accounts, NextTimestamp(engine), results);
  }

  std::vector<Transfer> NextBatch() {
    std::vector<Transfer> batch(1 + random_() % 12);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i] = NextTransfer();
      if (i + 1 < batch.size() && random_() % 5 == 0) batch[i].flags |= transfer_flags::kLinked;
    }
    return batch;
  }

  uint64_t NextTimestamp(const Engine& engine) {
    now_ns_ = std::max<uint64_t>(now_ns_ + 1 + random_() % 3'000'000'000ULL,
                                 engine.last_timestamp_ns() + 1);
    return now_ns_;
  }

 private:
  Transfer NextTransfer() {
    Transfer transfer{};
    transfer.id = TransferId::From(1 + random_() % 400);
    const uint64_t debit = 1 + random_() % kAccountCount;
    transfer.debit_account_id = AccountId::From(debit);
    transfer.credit_account_id = AccountId::From(debit % kAccountCount + 1);
    transfer.amount = Amount::From(1 + random_() % 1000);
    transfer.ledger = kLedger;
    transfer.code = static_cast<uint16_t>(1 + random_() % 3);
    transfer.value_time_ns = random_() >> 1;  // below 2^63, as every stored time
    switch (random_() % 9) {
      case 0:
      case 1:
        transfer.flags = transfer_flags::kPending;
        transfer.timeout_s = static_cast<uint32_t>(random_() % 4);
        if (random_() % 8 == 0) transfer.flags |= transfer_flags::kClosingDebit;
        break;
      case 2:
      case 3:
        transfer.flags =
            random_() % 2 == 0 ? transfer_flags::kPostPending : transfer_flags::kVoidPending;
        transfer.pending_id = TransferId::From(1 + random_() % 400);
        transfer.debit_account_id = transfer.credit_account_id = {};
        transfer.ledger = 0;
        transfer.code = 0;
        transfer.amount = transfer.flags == transfer_flags::kVoidPending
                              ? Amount{}
                              : (random_() % 2 == 0 ? Amount::Max() : transfer.amount);
        break;
      case 4:
        transfer.flags = transfer_flags::kBalancingDebit;
        break;
      case 5: {
        transfer.reverses_id = TransferId::From(1 + random_() % 400);
        std::swap(transfer.debit_account_id, transfer.credit_account_id);
        break;
      }
      default:
        break;
    }
    return transfer;
  }

  std::mt19937_64 random_;
  uint64_t now_ns_ = 1'000'000'000;
};

EngineOptions SmallOptions() {
  EngineOptions options;
  options.accounts_capacity = 16;
  options.transfers_capacity = 64;
  options.accounts_max = 1 << 12;
  options.transfers_max = 1 << 16;
  options.change_feed_capacity = 64;  // wraps many times in these tests
  return options;
}

// The whole retained window of the change feed.
std::vector<Change> FeedWindow(const Engine& engine) {
  std::vector<Change> changes(engine.change_sequence_next() - engine.change_sequence_oldest());
  changes.resize(engine.GetChanges(engine.change_sequence_oldest(), changes));
  return changes;
}

bool SameFeed(const Engine& a, const Engine& b) {
  const std::vector<Change> window_a = FeedWindow(a);
  const std::vector<Change> window_b = FeedWindow(b);
  return a.change_sequence_next() == b.change_sequence_next() &&
         a.change_sequence_oldest() == b.change_sequence_oldest() &&
         window_a.size() == window_b.size() &&
         std::memcmp(window_a.data(), window_b.data(), window_a.size() * sizeof(Change)) == 0;
}

TEST(Snapshot, RestoredEngineHasSameHashAndGivesSameResultsAfterwards) {
  const uint64_t seed = SeedFromEnvironment();
  Workload workload(seed);
  Engine original(SmallOptions());
  workload.Setup(original);
  for (int round = 0; round < 20; ++round) {
    for (int batch_index = 0; batch_index < 15; ++batch_index) {
      std::vector<Transfer> batch = workload.NextBatch();
      std::vector<CreateTransferResult> results(batch.size());
      original.CreateTransfers(batch, workload.NextTimestamp(original), results);
    }
    std::unique_ptr<EngineSnapshot> image = original.CaptureSnapshot();
    absl::StatusOr<std::unique_ptr<Engine>> restored =
        Engine::Restore(SmallOptions(), image->sections());
    ASSERT_TRUE(restored.ok()) << restored.status() << " seed " << seed << " round " << round;
    ASSERT_EQ((*restored)->ComputeStateHash(), original.ComputeStateHash()) << "round " << round;
    ASSERT_EQ((*restored)->last_timestamp_ns(), original.last_timestamp_ns());
    ASSERT_TRUE(SameFeed(**restored, original)) << "round " << round;
    // Both go on with the same batches (expiries included): identical results and state.
    Workload follow_up(seed + static_cast<uint64_t>(round));
    for (int batch_index = 0; batch_index < 10; ++batch_index) {
      std::vector<Transfer> batch = follow_up.NextBatch();
      const uint64_t timestamp_ns = follow_up.NextTimestamp(**restored);
      std::vector<CreateTransferResult> expected(batch.size());
      std::vector<CreateTransferResult> actual(batch.size());
      Engine& copy = **restored;
      copy.CreateTransfers(batch, timestamp_ns, actual);
      // The original must see the same timestamp: it is past both engines' last one.
      original.CreateTransfers(batch, timestamp_ns, expected);
      ASSERT_EQ(actual, expected) << "round " << round << " batch " << batch_index;
    }
    ASSERT_EQ((*restored)->ComputeStateHash(), original.ComputeStateHash());
    ASSERT_TRUE(SameFeed(**restored, original)) << "round " << round;
  }
  // The workload did store and expire things (seeds store 75 to 244 transfers; a bound of 100
  // failed for a few seeds in a hundred).
  EXPECT_GT(original.GetStats().transfer_count, 20u) << "seed " << seed;
  EXPECT_GT(original.GetStats().expired_count, 0u) << "seed " << seed;
}

TEST(Snapshot, RestoreRefusesEveryKindOfTamperingWithDataLoss) {
  Workload workload(99);
  Engine original(SmallOptions());
  workload.Setup(original);
  for (int batch_index = 0; batch_index < 200; ++batch_index) {
    std::vector<Transfer> batch = workload.NextBatch();
    std::vector<CreateTransferResult> results(batch.size());
    original.CreateTransfers(batch, workload.NextTimestamp(original), results);
  }
  std::unique_ptr<EngineSnapshot> image = original.CaptureSnapshot();
  ASSERT_TRUE(Engine::Restore(SmallOptions(), image->sections()).ok());

  struct Tamper {
    const char* what;
    void (*apply)(OwnedSections&);
  };
  const Tamper tampers[] = {
      {"an account's posted debits",
       [](OwnedSections& s) {
         auto& bytes = s.Of(SnapshotSectionKind::kAccounts);
         bytes[offsetof(Account, debits_posted)] ^= std::byte{1};
       }},
      {"a transfer's amount",
       [](OwnedSections& s) {
         auto& bytes = s.Of(SnapshotSectionKind::kTransfers);
         bytes[offsetof(Transfer, amount)] ^= std::byte{4};
       }},
      {"a duplicate transfer",
       [](OwnedSections& s) {
         auto& bytes = s.Of(SnapshotSectionKind::kTransfers);
         std::memcpy(bytes.data() + sizeof(Transfer), bytes.data(), sizeof(Transfer));
       }},
      {"a transfer to an unknown account",
       [](OwnedSections& s) {
         auto& bytes = s.Of(SnapshotSectionKind::kTransfers);
         bytes[offsetof(Transfer, debit_account_id) + 8] ^= std::byte{1};
       }},
      {"a reservation's status",
       [](OwnedSections& s) {
         auto& bytes = s.Of(SnapshotSectionKind::kReservations);
         bytes[offsetof(ReservationRecord, status)] = std::byte{9};
       }},
      {"a truncated section",
       [](OwnedSections& s) {
         s.Of(SnapshotSectionKind::kTransfers).resize(sizeof(Transfer) * 3 + 5);
         s.sections[3].bytes = std::span<const std::byte>(s.bytes[3]);
       }},
      {"a dropped reservation",
       [](OwnedSections& s) {
         auto& bytes = s.Of(SnapshotSectionKind::kReservations);
         bytes.resize(bytes.size() - sizeof(ReservationRecord));
         s.sections[5].bytes = std::span<const std::byte>(s.bytes[5]);
       }},
      {"a missing section", [](OwnedSections& s) { s.sections.pop_back(); }},
      {"a wrong record size", [](OwnedSections& s) { s.sections[2].record_size_bytes = 64; }},
      {"a meta timestamp in the past",
       [](OwnedSections& s) {
         auto& bytes = s.Of(SnapshotSectionKind::kMeta);
         std::memset(bytes.data(), 0, 8);
         bytes[0] = std::byte{1};
       }},
  };
  for (const Tamper& tamper : tampers) {
    OwnedSections sections(*image);
    tamper.apply(sections);
    absl::StatusOr<std::unique_ptr<Engine>> restored =
        Engine::Restore(SmallOptions(), sections.sections);
    ASSERT_FALSE(restored.ok()) << tamper.what;
    EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss)
        << tamper.what << ": " << restored.status();
  }
}

// An expiry naming a transfer that was never a reservation (found by the snapshot fuzz target,
// tests/wal/fuzz/: Restore looked its reservation state up with flat_hash_map::at, which threw
// std::out_of_range through the engine).
TEST(Snapshot, RestoreRefusesAnExpiryOfAPlainTransferWithDataLoss) {
  using test::MakeTransfer;
  Engine original(SmallOptions());
  const std::vector<Ledger> ledgers = {test::MakeLedger({.id = 1})};
  std::vector<CreateLedgerResult> ledger_results(1);
  original.CreateLedgers(ledgers, 1 * test::kNanosPerSecond, ledger_results);
  const std::vector<Account> accounts = {test::MakeAccount({.id = 1}),
                                         test::MakeAccount({.id = 2})};
  std::vector<CreateAccountResult> account_results(2);
  original.CreateAccounts(accounts, 2 * test::kNanosPerSecond, account_results);
  const std::vector<Transfer> transfers = {
      MakeTransfer({.id = 10, .debit = 1, .credit = 2, .amount = 5}),
      MakeTransfer({.id = 11,
                    .debit = 1,
                    .credit = 2,
                    .amount = 7,
                    .timeout_s = 1,
                    .flags = transfer_flags::kPending})};
  std::vector<CreateTransferResult> transfer_results(2);
  original.CreateTransfers(transfers, 3 * test::kNanosPerSecond, transfer_results);
  ASSERT_EQ(transfer_results, std::vector<CreateTransferResult>(2, CreateTransferResult::kOk));
  original.CreateTransfers({}, 9 * test::kNanosPerSecond, {});  // 11 expires
  std::unique_ptr<EngineSnapshot> image = original.CaptureSnapshot();
  ASSERT_TRUE(Engine::Restore(SmallOptions(), image->sections()).ok());

  OwnedSections sections(*image);
  std::vector<std::byte>& expiries = sections.Of(SnapshotSectionKind::kExpiries);
  ASSERT_EQ(expiries.size(), sizeof(ExpiryFact));
  const TransferId plain = TransferId::From(10);
  std::memcpy(expiries.data() + offsetof(ExpiryFact, id), &plain, sizeof(plain));
  sections.Refresh();
  absl::StatusOr<std::unique_ptr<Engine>> restored =
      Engine::Restore(SmallOptions(), sections.sections);
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss) << restored.status();
}

// The change feed's window must describe the state it comes with: every change a transfer or
// expiry that happened, in log order, densely numbered up to the counter, with the balances
// the state implies.
TEST(Snapshot, RestoreRefusesTamperedChangesWithDataLoss) {
  Workload workload(7);
  Engine original(SmallOptions());
  workload.Setup(original);
  for (int batch_index = 0; batch_index < 200; ++batch_index) {
    std::vector<Transfer> batch = workload.NextBatch();
    std::vector<CreateTransferResult> results(batch.size());
    original.CreateTransfers(batch, workload.NextTimestamp(original), results);
  }
  std::unique_ptr<EngineSnapshot> image = original.CaptureSnapshot();
  ASSERT_TRUE(Engine::Restore(SmallOptions(), image->sections()).ok());
  // Held as format 3 held them (format 4 derives the window's changes, and holds only those
  // older than the window, which an engine all in memory has none of).
  const auto whole_feed = [&] {
    auto sections = std::make_unique<OwnedSections>(*image);
    sections->HoldWholeFeed(original);
    return sections;
  };
  ASSERT_TRUE(Engine::Restore(SmallOptions(), whole_feed()->sections).ok());
  const std::vector<Change> window = whole_feed()->Changes();
  ASSERT_EQ(window.size(), 64u);
  // The index of the first change of `kind` from `start` on (the workload makes every kind).
  const auto first_of = [&window](ChangeKind kind, size_t start) {
    for (size_t i = start; i < window.size(); ++i) {
      if (window[i].kind == kind) return i;
    }
    ADD_FAILURE() << "no change of kind " << static_cast<int>(kind) << " from " << start;
    return start;
  };
  const size_t plain = first_of(ChangeKind::kSinglePhase, 1);
  const size_t reservation = first_of(ChangeKind::kPending, 1);
  const size_t expiry = first_of(ChangeKind::kExpired, 0);
  const uint64_t oldest = window[0].sequence;

  struct Tamper {
    std::string what;
    std::function<void(std::vector<Change>&)> apply;
  };
  const Tamper tampers[] = {
      {"a sequence", [](std::vector<Change>& c) { c[5].sequence += 1; }},
      {"a kind out of range", [](std::vector<Change>& c) { c[5].kind = ChangeKind{9}; }},
      {"a reserved byte", [](std::vector<Change>& c) { c[5].reserved[3] = 1; }},
      {"a posting relabelled a reservation",
       [&](std::vector<Change>& c) { c[plain].kind = ChangeKind::kPending; }},
      {"a reservation relabelled an expiry",
       [&](std::vector<Change>& c) { c[reservation].kind = ChangeKind::kExpired; }},
      {"a transfer id", [&](std::vector<Change>& c) { c[plain].transfer_id.lo ^= 1; }},
      {"a transfer's timestamp", [&](std::vector<Change>& c) { c[plain].timestamp_ns += 1; }},
      {"an expiry naming a posting",
       [&](std::vector<Change>& c) { c[expiry].transfer_id = c[plain].transfer_id; }},
      {"a debit balance",
       [](std::vector<Change>& c) { c[10].debit_balance.debits_posted.lo ^= 1; }},
      {"the newest credit balance",
       [](std::vector<Change>& c) { c.back().credit_balance.credits_pending.lo ^= 2; }},
      {"two changes swapped, sequences kept",
       [](std::vector<Change>& c) {
         std::swap(c[10], c[11]);
         std::swap(c[10].sequence, c[11].sequence);
       }},
      {"a change dropped from the middle, the older ones renumbered",
       [&](std::vector<Change>& c) {
         c.erase(c.begin() + static_cast<std::ptrdiff_t>(plain));
         for (size_t i = 0; i < plain; ++i) c[i].sequence += 1;
       }},
      {"the newest change dropped, the others renumbered",
       [](std::vector<Change>& c) {
         c.pop_back();
         for (Change& change : c) change.sequence += 1;
       }},
      {"sequences that do not end at the counter",
       [&](std::vector<Change>& c) {
         for (Change& change : c) change.sequence -= oldest;
       }},
  };
  for (const Tamper& tamper : tampers) {
    const std::unique_ptr<OwnedSections> sections = whole_feed();
    std::vector<Change> changes = sections->Changes();
    tamper.apply(changes);
    sections->SetChanges(changes);
    const absl::StatusOr<std::unique_ptr<Engine>> restored =
        Engine::Restore(SmallOptions(), sections->sections);
    ASSERT_FALSE(restored.ok()) << tamper.what;
    EXPECT_EQ(restored.status().code(), absl::StatusCode::kDataLoss)
        << tamper.what << ": " << restored.status();
  }
  {
    OwnedSections sections(*image);
    SnapshotMeta meta = sections.Meta();
    meta.change_sequence_next += 1;
    sections.SetMeta(meta);
    EXPECT_EQ(Engine::Restore(SmallOptions(), sections.sections).status().code(),
              absl::StatusCode::kDataLoss)
        << "the meta's change counter";
  }
  {
    const std::unique_ptr<OwnedSections> sections = whole_feed();
    sections->Of(SnapshotSectionKind::kChanges).resize(sizeof(Change) * 3 + 5);
    sections->Refresh();
    EXPECT_EQ(Engine::Restore(SmallOptions(), sections->sections).status().code(),
              absl::StatusCode::kDataLoss)
        << "a partial change record";
  }
}

TEST(Snapshot, EmptyEngineRoundTrips) {
  Engine empty(SmallOptions());
  std::unique_ptr<EngineSnapshot> image = empty.CaptureSnapshot();
  absl::StatusOr<std::unique_ptr<Engine>> restored =
      Engine::Restore(SmallOptions(), image->sections());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ((*restored)->ComputeStateHash(), empty.ComputeStateHash());
}

}  // namespace
}  // namespace ledger::engine
