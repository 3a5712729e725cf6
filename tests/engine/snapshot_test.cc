// Snapshot capture and restore: a restored engine is the same engine (state hash, lookups,
// and identical results for every later batch), and a tampered image is refused with
// DataLoss, never accepted and never a crash.
#include "engine/snapshot.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "engine/engine.h"

namespace ledger::engine {
namespace {

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
    transfer.value_time_ns = random_();
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
  return options;
}

// Copies an image's sections so a test can alter them.
struct OwnedSections {
  std::vector<std::vector<std::byte>> bytes;
  std::vector<SnapshotSection> sections;

  explicit OwnedSections(const EngineSnapshot& image) {
    for (const SnapshotSection& section : image.sections()) {
      bytes.emplace_back(section.bytes.begin(), section.bytes.end());
    }
    for (size_t i = 0; i < bytes.size(); ++i) {
      sections.push_back({image.sections()[i].kind, image.sections()[i].record_size_bytes,
                          std::span<const std::byte>(bytes[i])});
    }
  }
  std::vector<std::byte>& Of(SnapshotSectionKind kind) {
    for (size_t i = 0; i < sections.size(); ++i) {
      if (sections[i].kind == kind) return bytes[i];
    }
    std::abort();
  }
};

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
  }
  EXPECT_GT(original.GetStats().transfer_count, 100u);
  EXPECT_GT(original.GetStats().expired_count, 0u);
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
