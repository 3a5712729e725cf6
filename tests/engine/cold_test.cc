// The hot window's own contract (engine/cold.h): memory follows the window, not the total, and
// the calls that move the boundary refuse what would lose facts. Equivalence with an all-hot
// engine is the property tests' (PropertyTest.*WithATinyHotWindow).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "tests/engine/memory_cold_store.h"

namespace ledger::engine {
namespace {

constexpr uint64_t kWindow = 1024;
constexpr size_t kBatch = 100;
constexpr uint64_t kChangeFeedCapacity = 250;

class ColdWindow : public ::testing::Test {
 protected:
  ColdWindow() {
    EngineOptions options;
    options.hot_transfers = kWindow;
    options.cold = &store_;
    options.change_feed_capacity = kChangeFeedCapacity;
    engine_ = std::make_unique<Engine>(options);
    Ledger ledger{};
    ledger.id = 1;
    std::memcpy(ledger.asset_code, "USD", 3);
    CreateLedgerResult ledger_result[1];
    engine_->CreateLedgers({&ledger, 1}, Next(), ledger_result);
    std::vector<Account> accounts(2);
    for (size_t i = 0; i < accounts.size(); ++i) {
      accounts[i] = Account{};
      accounts[i].id = AccountId::From(i + 1);
      accounts[i].ledger = 1;
      accounts[i].code = 1;
    }
    std::vector<CreateAccountResult> results(accounts.size());
    engine_->CreateAccounts(accounts, Next(), results);
  }

  uint64_t Next() { return engine_->last_timestamp_ns() + 1; }

  // A batch of plain transfers between the two accounts, then (cool) everything exported and
  // what is older than the last two batches evicted.
  void ApplyAndCool(bool cool = true) {
    std::vector<Transfer> batch(kBatch);
    for (Transfer& transfer : batch) {
      transfer = Transfer{};
      transfer.id = TransferId::From(++next_id_);
      transfer.debit_account_id = AccountId::From(1);
      transfer.credit_account_id = AccountId::From(2);
      transfer.amount = Amount::From(1);
      transfer.ledger = 1;
      transfer.code = 1;
    }
    std::vector<CreateTransferResult> results(batch.size());
    ASSERT_TRUE(engine_->HasRoomFor(0, batch.size()));
    engine_->CreateTransfers(batch, Next(), results);
    for (CreateTransferResult result : results) ASSERT_EQ(result, CreateTransferResult::kOk);
    ends_ns_.push_back(engine_->last_timestamp_ns() + 1);
    if (!cool || ends_ns_.size() < 3) return;
    ColdFacts facts;
    engine_->ExportCold(ends_ns_.back(), facts);
    store_.Add(facts);
    engine_->EvictBefore(ends_ns_[ends_ns_.size() - 3]);
  }

  testing::MemoryColdStore store_;
  std::unique_ptr<Engine> engine_;
  uint64_t next_id_ = 0;
  std::vector<uint64_t> ends_ns_;
};

TEST_F(ColdWindow, MemoryFollowsTheWindowWhileTheTotalGrows) {
  for (int i = 0; i < 500; ++i) ApplyAndCool();
  const EngineStats stats = engine_->GetStats();
  EXPECT_EQ(stats.transfer_count, 500 * kBatch);  // all of them, cold ones too
  EXPECT_EQ(engine_->hot_transfer_count(), 2 * kBatch);
  EXPECT_EQ(stats.transfer_record_bytes, 2 * kBatch * sizeof(Transfer));
  // The window's lists: the arena keeps a freed block of every size a list grew through, so at
  // most a small multiple of the window's entries, where the total's would be 400,000 bytes.
  EXPECT_LE(stats.history_bytes, 16 * 2 * 2 * kBatch * sizeof(uint32_t));
  EXPECT_EQ(store_.transfer_count(), 500 * kBatch);  // exported, the newest still in memory too
  // The oldest transfer, long cold, is still found and still a duplicate.
  ASSERT_TRUE(engine_->LookupTransfer(TransferId::From(1)).has_value());
  EXPECT_EQ(engine_->LookupTransfer(TransferId::From(1))->amount, Amount::From(1));
  EXPECT_EQ(engine_->LookupAccount(AccountId::From(1))->debits_posted, Amount::From(500 * kBatch));
}

TEST_F(ColdWindow, EvictingWhileASnapshotImageIsAliveIsRefused) {
  for (int i = 0; i < 4; ++i) ApplyAndCool();
  const std::unique_ptr<EngineSnapshot> image = engine_->CaptureSnapshot();
  ColdFacts facts;
  engine_->ExportCold(engine_->last_timestamp_ns() + 1, facts);
  EXPECT_EQ(engine_->evictable_before_ns(), 1);  // a whole image borrows the whole window
  EXPECT_DEATH(engine_->EvictBefore(engine_->last_timestamp_ns() + 1), "evictable_before_ns");
}

// An image that leaves out what an earlier snapshot's extent holds borrows only the rest:
// eviction goes on up to it while the image is alive, and the image still holds what it took.
TEST_F(ColdWindow, AnImageBorrowsOnlyWhatItTakes) {
  for (int i = 0; i < 4; ++i) ApplyAndCool();
  const uint64_t through_ns = engine_->last_timestamp_ns();
  ApplyAndCool(/*cool=*/false);
  const std::unique_ptr<EngineSnapshot> image =
      engine_->CaptureSnapshot({.transfers_after_ns = through_ns});
  EXPECT_EQ(image->transfer_count(), kBatch);
  EXPECT_EQ(image->window_transfer_count(), 3 * kBatch);
  EXPECT_EQ(image->change_count(), 0);  // the feed's 250 changes name transfers of the window
  EXPECT_EQ(engine_->evictable_before_ns(), through_ns + 1);
  ColdFacts facts;
  engine_->ExportCold(engine_->last_timestamp_ns() + 1, facts);
  store_.Add(facts);
  engine_->EvictBefore(through_ns + 1);  // all that the image left out
  EXPECT_EQ(engine_->hot_transfer_count(), kBatch);
  EXPECT_DEATH(engine_->EvictBefore(engine_->last_timestamp_ns() + 1), "evictable_before_ns");
  ApplyAndCool(/*cool=*/false);
  for (const SnapshotSection& section : image->sections()) {
    if (section.kind != SnapshotSectionKind::kTransfers) continue;
    ASSERT_EQ(section.bytes.size(), kBatch * sizeof(Transfer));
    Transfer first;
    std::memcpy(&first, section.bytes.data(), sizeof(first));
    EXPECT_EQ(first.id, TransferId::From(4 * kBatch + 1));
  }
}

// ExportBoundary cuts the transfers not yet exported into runs of exactly the size asked (the
// rest at the end), wherever batches begin and end, and says when none are left.
TEST_F(ColdWindow, ExportBoundariesCutRunsOfTheSizeAsked) {
  for (int i = 0; i < 5; ++i) ApplyAndCool(/*cool=*/false);
  uint64_t exported = 0;
  for (const uint64_t size :
       {uint64_t{0}, uint64_t{1}, uint64_t{37}, uint64_t{100}, uint64_t{250}}) {
    ColdFacts facts;
    engine_->ExportCold(engine_->ExportBoundary(size), facts);
    ASSERT_EQ(facts.transfers.size(), size);
    if (size > 0) {
      EXPECT_EQ(facts.transfers.front().id, TransferId::From(exported + 1));
    }
    exported += size;
  }
  ColdFacts rest;
  EXPECT_EQ(engine_->ExportBoundary(1000), engine_->last_timestamp_ns() + 1);
  engine_->ExportCold(engine_->ExportBoundary(1000), rest);
  EXPECT_EQ(rest.transfers.size(), 5 * kBatch - exported);
  EXPECT_EQ(engine_->ExportBoundary(1), engine_->last_timestamp_ns() + 1);
}

TEST_F(ColdWindow, EvictingPastWhatWasExportedIsRefused) {
  for (int i = 0; i < 4; ++i) ApplyAndCool();
  ApplyAndCool(/*cool=*/false);
  EXPECT_DEATH(engine_->EvictBefore(engine_->last_timestamp_ns() + 1), "exported_before_ns_");
}

TEST_F(ColdWindow, AWindowedSnapshotNeedsTheColdStore) {
  for (int i = 0; i < 4; ++i) ApplyAndCool();
  const std::unique_ptr<EngineSnapshot> image = engine_->CaptureSnapshot();
  EngineOptions without_store;
  without_store.hot_transfers = kWindow;
  const auto refused = Engine::Restore(without_store, image->sections());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EngineOptions with_store = without_store;
  with_store.cold = &store_;
  const auto restored = Engine::Restore(with_store, image->sections());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ((*restored)->ComputeStateHash(), engine_->ComputeStateHash());
  EXPECT_EQ((*restored)->GetStats().transfer_count, 4 * kBatch);
}

// An image let go of and reused keeps its buffers; what it captures is what a fresh one would.
TEST_F(ColdWindow, AReusedImageCapturesWhatAFreshOneWould) {
  for (int i = 0; i < 3; ++i) ApplyAndCool();
  std::unique_ptr<EngineSnapshot> image = engine_->CaptureSnapshot();
  image->Release();
  EXPECT_EQ(engine_->evictable_before_ns(), UINT64_MAX);
  ApplyAndCool();
  const std::unique_ptr<EngineSnapshot> fresh = engine_->CaptureSnapshot();
  image = engine_->CaptureSnapshot({}, std::move(image));
  const std::span<const SnapshotSection> expected = fresh->sections();
  const std::span<const SnapshotSection> reused = image->sections();
  ASSERT_EQ(reused.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(reused[i].kind, expected[i].kind);
    ASSERT_EQ(reused[i].bytes.size(), expected[i].bytes.size()) << i;
    if (expected[i].bytes.empty()) continue;  // memcmp of null pointers is undefined
    EXPECT_EQ(
        std::memcmp(reused[i].bytes.data(), expected[i].bytes.data(), expected[i].bytes.size()), 0)
        << i;
  }
  // The feed's changes older than the window of two batches (the rest is derived at restore).
  EXPECT_EQ(image->change_count(), kChangeFeedCapacity - 2 * kBatch);
}

}  // namespace
}  // namespace ledger::engine
