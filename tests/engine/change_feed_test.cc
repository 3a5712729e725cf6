// The change feed (docs/data-model.md, "Change feed"): one change per successful transfer and
// per expiry, with both accounts' balances right after it; nothing for failures, exists or a
// failed chain; the newest change_feed_capacity retained; and a snapshot keeps the sequence and
// the window. The property tests hold the feed to the reference model on random workloads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/snapshot.h"
#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

EngineOptions FeedOptions(uint64_t change_feed_capacity) {
  return {.accounts_capacity = 64,
          .transfers_capacity = 256,
          .change_feed_capacity = change_feed_capacity};
}

AccountBalances Bal(u128 debits_pending, u128 debits_posted, u128 credits_pending,
                    u128 credits_posted) {
  return {Amt(debits_pending), Amt(debits_posted), Amt(credits_pending), Amt(credits_posted)};
}

std::vector<Change> ChangesFrom(const Engine& engine, uint64_t from_sequence,
                                size_t out_size = 64) {
  std::vector<Change> out(out_size);
  out.resize(engine.GetChanges(from_sequence, out));
  return out;
}

std::vector<Change> Window(const Engine& engine) {
  return ChangesFrom(engine, engine.change_sequence_oldest(),
                     engine.change_sequence_next() - engine.change_sequence_oldest() + 1);
}

std::vector<uint64_t> Sequences(const std::vector<Change>& changes) {
  std::vector<uint64_t> sequences;
  for (const Change& change : changes) sequences.push_back(change.sequence);
  return sequences;
}

std::vector<u128> TransferIds(const std::vector<Change>& changes) {
  std::vector<u128> ids;
  for (const Change& change : changes) ids.push_back(change.transfer_id.Get());
  return ids;
}

bool SameChanges(const std::vector<Change>& a, const std::vector<Change>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(Change)) == 0);
}

void ExpectChange(const Change& change, uint64_t sequence, uint64_t timestamp_ns, u128 transfer_id,
                  ChangeKind kind, const AccountBalances& debit, const AccountBalances& credit) {
  SCOPED_TRACE("change " + std::to_string(sequence));
  EXPECT_EQ(change.sequence, sequence);
  EXPECT_EQ(change.timestamp_ns, timestamp_ns);
  EXPECT_EQ(change.transfer_id, Tid(transfer_id));
  EXPECT_EQ(change.kind, kind);
  for (uint8_t byte : change.reserved) EXPECT_EQ(byte, 0);
  EXPECT_EQ(change.debit_balance, debit);
  EXPECT_EQ(change.credit_balance, credit);
}

// Twelve plain transfers of 1 (A -> B), ids first_id.., one batch each.
void AddPlainTransfers(Harness& h, u128 first_id, int count) {
  for (int i = 0; i < count; ++i) {
    h.AddTransfer({.id = first_id + static_cast<u128>(i), .debit = kA, .credit = kB, .amount = 1});
  }
}

TEST(ChangeFeed, EachKindCarriesBothBalancesRightAfterIt) {
  Harness h;  // capacity 16
  CreateStandardBook(h);
  h.AddTransfer({.id = 1, .debit = kA, .credit = kB, .amount = 30});
  h.AddTransfer({.id = 2, .debit = kA, .credit = kB, .amount = 50, .flags = tf::kPending});
  h.AddTransfer({.id = 3, .amount = 20, .pending_id = 2, .flags = tf::kPostPending});
  h.AddTransfer({.id = 4, .debit = kC, .credit = kA, .amount = 7, .flags = tf::kPending});
  h.AddTransfer({.id = 5, .pending_id = 4, .flags = tf::kVoidPending});
  h.AddTransfer(
      {.id = 6, .debit = kA, .credit = kC, .amount = 5, .timeout_s = 1, .flags = tf::kPending});
  h.AddTransfer({.id = 7, .debit = kB, .credit = kA, .amount = 10, .reverses_id = 1});
  // Finds nothing to move (C has no credits): still a change, of 0.
  h.AddTransfer({.id = 8, .debit = kC, .credit = kB, .amount = 100, .flags = tf::kBalancingDebit});
  const uint64_t expiry_batch_ns = BookedAt(h, 6) + kNanosPerSecond;
  h.AdvanceTo(expiry_batch_ns);
  h.AddTransfer(
      {.id = 9, .debit = kC, .credit = kB, .amount = 1, .flags = tf::kPending | tf::kClosingDebit});

  const Engine& engine = h.engine();
  EXPECT_EQ(engine.change_sequence_next(), 10u);
  EXPECT_EQ(engine.change_sequence_oldest(), 0u);
  const std::vector<Change> changes = ChangesFrom(engine, 0);
  ASSERT_EQ(changes.size(), 10u);
  using K = ChangeKind;
  ExpectChange(changes[0], 0, BookedAt(h, 1), 1, K::kSinglePhase, Bal(0, 30, 0, 0),
               Bal(0, 0, 0, 30));
  ExpectChange(changes[1], 1, BookedAt(h, 2), 2, K::kPending, Bal(50, 30, 0, 0), Bal(0, 0, 50, 30));
  ExpectChange(changes[2], 2, BookedAt(h, 3), 3, K::kPosted, Bal(0, 50, 0, 0), Bal(0, 0, 0, 50));
  ExpectChange(changes[3], 3, BookedAt(h, 4), 4, K::kPending, Bal(7, 0, 0, 0), Bal(0, 50, 7, 0));
  ExpectChange(changes[4], 4, BookedAt(h, 5), 5, K::kVoided, Bal(0, 0, 0, 0), Bal(0, 50, 0, 0));
  ExpectChange(changes[5], 5, BookedAt(h, 6), 6, K::kPending, Bal(5, 50, 0, 0), Bal(0, 0, 5, 0));
  ExpectChange(changes[6], 6, BookedAt(h, 7), 7, K::kSinglePhase, Bal(0, 10, 0, 50),
               Bal(5, 50, 0, 10));
  ExpectChange(changes[7], 7, BookedAt(h, 8), 8, K::kSinglePhase, Bal(0, 0, 5, 0),
               Bal(0, 10, 0, 50));
  // The expiry names the reservation, at its batch's timestamp.
  ExpectChange(changes[8], 8, expiry_batch_ns, 6, K::kExpired, Bal(0, 50, 0, 10), Bal(0, 0, 0, 0));
  ExpectChange(changes[9], 9, BookedAt(h, 9), 9, K::kPending, Bal(1, 0, 0, 0), Bal(0, 10, 1, 50));
}

TEST(ChangeFeed, FailuresExistsAndOpenChainsAppendNothing) {
  Harness h;
  CreateStandardBook(h);
  h.AddTransfer({.id = 1, .debit = kA, .credit = kB, .amount = 30});
  const std::vector<Change> before = Window(h.engine());
  EXPECT_EQ(h.CreateTransfer({.id = 1, .debit = kA, .credit = kB, .amount = 30}),
            CreateTransferResult::kExists);
  EXPECT_EQ(h.CreateTransfer(Failing(2)), CreateTransferResult::kExceedsCredits);
  EXPECT_EQ(h.CreateTransfer({.id = 3, .debit = kA, .credit = kMissingAccount, .amount = 1}),
            CreateTransferResult::kCreditAccountNotFound);
  EXPECT_EQ(
      h.CreateTransfers({{.id = 4, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kLinked}}),
      std::vector{CreateTransferResult::kLinkedEventChainOpen});
  EXPECT_EQ(h.engine().change_sequence_next(), 1u);
  EXPECT_TRUE(SameChanges(Window(h.engine()), before));
}

TEST(ChangeFeed, FailedChainLeavesNothingEvenWhenTheRingIsFull) {
  Harness h(FeedOptions(4));
  CreateStandardBook(h);
  AddPlainTransfers(h, 1, 4);
  const std::vector<Change> full = Window(h.engine());
  ASSERT_EQ(Sequences(full), (std::vector<uint64_t>{0, 1, 2, 3}));
  // Two successes (a reservation and its post among them), then a failure: all undone. Had
  // the chain written to the ring, its changes would have displaced the oldest three.
  EXPECT_EQ(
      h.CreateTransfers({
          {.id = 10, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kLinked},
          {.id = 11, .debit = kA, .credit = kB, .amount = 5, .flags = tf::kPending | tf::kLinked},
          {.id = 12, .amount = 5, .pending_id = 11, .flags = tf::kPostPending | tf::kLinked},
          Failing(13),
      }),
      (std::vector{
          CreateTransferResult::kLinkedEventFailed, CreateTransferResult::kLinkedEventFailed,
          CreateTransferResult::kLinkedEventFailed, CreateTransferResult::kExceedsCredits}));
  EXPECT_EQ(h.engine().change_sequence_next(), 4u);
  EXPECT_EQ(h.engine().change_sequence_oldest(), 0u);
  EXPECT_TRUE(SameChanges(Window(h.engine()), full));
  // A chain that commits joins the feed in order, after the plain transfer before it.
  EXPECT_EQ(h.CreateTransfers({
                {.id = 20, .debit = kA, .credit = kB, .amount = 1},
                {.id = 21, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kLinked},
                {.id = 22, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kLinked},
                {.id = 23, .debit = kA, .credit = kB, .amount = 1},
            }),
            std::vector(4, CreateTransferResult::kOk));
  const std::vector<Change> window = Window(h.engine());
  EXPECT_EQ(Sequences(window), (std::vector<uint64_t>{4, 5, 6, 7}));
  EXPECT_EQ(TransferIds(window), (std::vector<u128>{20, 21, 22, 23}));
  EXPECT_EQ(window[3].debit_balance, Bal(0, 8, 0, 0));  // A after the 8th transfer of 1
}

TEST(ChangeFeed, KeepsTheNewestWhenTheRingWrapsAndNothingBelowIt) {
  Harness h(FeedOptions(5));
  CreateStandardBook(h);
  AddPlainTransfers(h, 1, 12);  // sequences 0 to 11; 7 to 11 retained
  const Engine& engine = h.engine();
  EXPECT_EQ(engine.change_sequence_next(), 12u);
  EXPECT_EQ(engine.change_sequence_oldest(), 7u);
  EXPECT_EQ(Sequences(ChangesFrom(engine, 7)), (std::vector<uint64_t>{7, 8, 9, 10, 11}));
  EXPECT_EQ(TransferIds(ChangesFrom(engine, 7)), (std::vector<u128>{8, 9, 10, 11, 12}));
  EXPECT_EQ(Sequences(ChangesFrom(engine, 9, 2)), (std::vector<uint64_t>{9, 10}));
  EXPECT_EQ(Sequences(ChangesFrom(engine, 11)), (std::vector<uint64_t>{11}));
  EXPECT_TRUE(ChangesFrom(engine, 6).empty()) << "below the window: the caller reports it";
  EXPECT_TRUE(ChangesFrom(engine, 0).empty());
  EXPECT_TRUE(ChangesFrom(engine, 12).empty()) << "nothing new yet";
  EXPECT_TRUE(ChangesFrom(engine, 1000).empty());
  EXPECT_TRUE(ChangesFrom(engine, 8, 0).empty());
}

TEST(ChangeFeed, CountsEveryChangeWhenOffAndTheHashIgnoresTheWindow) {
  Harness off(FeedOptions(0));
  Harness on(FeedOptions(3));
  for (Harness* h : {&off, &on}) {
    CreateStandardBook(*h);
    AddPlainTransfers(*h, 1, 5);
    h->CreateTransfers(
        {{.id = 10, .debit = kA, .credit = kB, .amount = 1, .flags = tf::kLinked}, Failing(11)});
  }
  EXPECT_EQ(off.engine().change_sequence_next(), 5u);
  EXPECT_EQ(off.engine().change_sequence_oldest(), 5u);
  EXPECT_TRUE(ChangesFrom(off.engine(), 0).empty());
  EXPECT_TRUE(ChangesFrom(off.engine(), 5).empty());
  EXPECT_EQ(on.engine().change_sequence_next(), 5u);
  EXPECT_EQ(off.engine().ComputeStateHash(), on.engine().ComputeStateHash());
}

TEST(ChangeFeed, ExpiriesOfOneBatchComeInOrderOfExpiryThenBooking) {
  Harness h;
  CreateStandardBook(h);
  h.CreateTransfers({
      {.id = 1, .debit = kA, .credit = kB, .amount = 1, .timeout_s = 2, .flags = tf::kPending},
      {.id = 2, .debit = kA, .credit = kC, .amount = 2, .timeout_s = 1, .flags = tf::kPending},
  });
  h.AddTransfer(
      {.id = 3, .debit = kC, .credit = kB, .amount = 3, .timeout_s = 1, .flags = tf::kPending});
  const uint64_t batch_ns = BookedAt(h, 1) + 5 * kNanosPerSecond;
  h.AdvanceTo(batch_ns);
  const std::vector<Change> changes = ChangesFrom(h.engine(), 3);
  ASSERT_EQ(changes.size(), 3u);
  // 2 expires 1 s after the first batch, 3 a little later, 1 a second after that.
  EXPECT_EQ(TransferIds(changes), (std::vector<u128>{2, 3, 1}));
  for (const Change& change : changes) {
    EXPECT_EQ(change.kind, ChangeKind::kExpired);
    EXPECT_EQ(change.timestamp_ns, batch_ns);
  }
  // Balances after each expiry in turn: C loses 2 of credits pending, then 3 of debits pending.
  EXPECT_EQ(changes[0].credit_balance, Bal(3, 0, 0, 0));
  EXPECT_EQ(changes[1].debit_balance, Bal(0, 0, 0, 0));
  EXPECT_EQ(changes[2].credit_balance, Bal(0, 0, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// Snapshots.

// A feed of 8 that has wrapped: 12 plain transfers, a reservation and its expiry.
void MakeHistory(Harness& h) {
  CreateStandardBook(h);
  AddPlainTransfers(h, 1, 12);
  h.AddTransfer(
      {.id = 50, .debit = kC, .credit = kA, .amount = 4, .timeout_s = 1, .flags = tf::kPending});
  h.AdvanceTo(BookedAt(h, 50) + kNanosPerSecond);
}

std::unique_ptr<Engine> RestoreOrDie(const Engine& engine, uint64_t change_feed_capacity) {
  const std::unique_ptr<EngineSnapshot> image = engine.CaptureSnapshot();
  absl::StatusOr<std::unique_ptr<Engine>> restored =
      Engine::Restore(FeedOptions(change_feed_capacity), image->sections());
  EXPECT_TRUE(restored.ok()) << restored.status();
  return restored.ok() ? std::move(*restored) : nullptr;
}

// One plain transfer (A -> B) applied to both engines at the same timestamp.
void ApplyToBoth(Engine& a, Engine& b, u128 id) {
  const Transfer transfer = MakeTransfer({.id = id, .debit = kA, .credit = kB, .amount = 1});
  const uint64_t timestamp_ns = std::max(a.last_timestamp_ns(), b.last_timestamp_ns()) + 1;
  CreateTransferResult result_a;
  CreateTransferResult result_b;
  a.CreateTransfers({&transfer, 1}, timestamp_ns, {&result_a, 1});
  b.CreateTransfers({&transfer, 1}, timestamp_ns, {&result_b, 1});
  EXPECT_EQ(result_a, CreateTransferResult::kOk);
  EXPECT_EQ(result_b, CreateTransferResult::kOk);
}

TEST(ChangeFeedSnapshot, RestoreKeepsTheSequenceAndTheWindowAndGoesOnAlike) {
  Harness h(FeedOptions(8));
  MakeHistory(h);
  ASSERT_EQ(h.engine().change_sequence_next(), 14u);
  std::unique_ptr<Engine> restored = RestoreOrDie(h.engine(), 8);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->change_sequence_next(), 14u);
  EXPECT_EQ(restored->change_sequence_oldest(), 6u);
  EXPECT_TRUE(SameChanges(Window(*restored), Window(h.engine())));
  EXPECT_EQ(restored->ComputeStateHash(), h.engine().ComputeStateHash());
  for (u128 id = 100; id < 105; ++id) ApplyToBoth(h.engine(), *restored, id);
  EXPECT_EQ(restored->change_sequence_oldest(), 11u);
  EXPECT_TRUE(SameChanges(Window(*restored), Window(h.engine())));
}

TEST(ChangeFeedSnapshot, RestoreWithSmallerCapacityKeepsTheNewest) {
  Harness h(FeedOptions(8));
  MakeHistory(h);
  std::unique_ptr<Engine> restored = RestoreOrDie(h.engine(), 3);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->change_sequence_next(), 14u);
  EXPECT_EQ(restored->change_sequence_oldest(), 11u);
  EXPECT_TRUE(SameChanges(Window(*restored), ChangesFrom(h.engine(), 11)));
  ApplyToBoth(h.engine(), *restored, 100);
  EXPECT_TRUE(SameChanges(Window(*restored), ChangesFrom(h.engine(), 12)));
}

// A snapshot may hold the window in pieces (its extents): the ring keeps the newest of them in
// order, whichever pieces the capacity cuts through.
// A snapshot of format 3 held the whole feed, in pieces when some were in extents.
TEST(ChangeFeedSnapshot, RestoreFromPiecesKeepsTheNewestInOrder) {
  Harness h(FeedOptions(8));
  MakeHistory(h);
  const std::unique_ptr<EngineSnapshot> image = h.engine().CaptureSnapshot();
  OwnedSections whole_feed(*image);
  whole_feed.HoldWholeFeed(h.engine());
  std::vector<SnapshotSection> sections;
  for (const SnapshotSection& section : whole_feed.sections) {
    if (section.kind != SnapshotSectionKind::kChanges) {
      sections.push_back(section);
      continue;
    }
    ASSERT_EQ(section.bytes.size(), 8 * sizeof(Change));
    for (auto [first, count] : {std::pair{0, 3}, {3, 2}, {5, 3}}) {
      sections.push_back({section.kind, section.record_size_bytes,
                          section.bytes.subspan(first * sizeof(Change), count * sizeof(Change))});
      // An extent with no new changes: an empty piece, whose data may be null.
      sections.push_back({section.kind, section.record_size_bytes, {}});
    }
  }
  for (uint64_t capacity : {2, 4, 5, 8, 100}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    absl::StatusOr<std::unique_ptr<Engine>> restored =
        Engine::Restore(FeedOptions(capacity), sections);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ((*restored)->change_sequence_next(), 14u);
    const uint64_t oldest = 14 - std::min<uint64_t>(capacity, 8);
    EXPECT_EQ((*restored)->change_sequence_oldest(), oldest);
    EXPECT_TRUE(SameChanges(Window(**restored), ChangesFrom(h.engine(), oldest)));
    // And goes on as one restored from a whole window.
    std::unique_ptr<Engine> whole = RestoreOrDie(h.engine(), capacity);
    ASSERT_NE(whole, nullptr);
    for (u128 id = 100; id < 103; ++id) ApplyToBoth(*whole, **restored, id);
    EXPECT_TRUE(SameChanges(Window(**restored), Window(*whole)));
  }
}

TEST(ChangeFeedSnapshot, RestoreWithLargerCapacityGrowsFromTheSnapshotsWindow) {
  Harness h(FeedOptions(8));
  MakeHistory(h);
  std::unique_ptr<Engine> restored = RestoreOrDie(h.engine(), 100);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->change_sequence_oldest(), 6u);
  const std::vector<Change> before = Window(h.engine());
  for (u128 id = 100; id < 105; ++id) ApplyToBoth(h.engine(), *restored, id);
  EXPECT_EQ(restored->change_sequence_oldest(), 6u);  // nothing displaced yet
  std::vector<Change> expected = before;
  for (const Change& change : Window(h.engine())) {
    if (change.sequence >= 14) expected.push_back(change);
  }
  EXPECT_TRUE(SameChanges(Window(*restored), expected));
}

TEST(ChangeFeedSnapshot, RestoreWithoutFeedKeepsTheCounter) {
  Harness h(FeedOptions(8));
  MakeHistory(h);
  std::unique_ptr<Engine> restored = RestoreOrDie(h.engine(), 0);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->change_sequence_next(), 14u);
  EXPECT_EQ(restored->change_sequence_oldest(), 14u);
  EXPECT_EQ(restored->ComputeStateHash(), h.engine().ComputeStateHash());
  ApplyToBoth(h.engine(), *restored, 100);
  EXPECT_EQ(restored->change_sequence_next(), 15u);
}

absl::Status RestoreStatus(const OwnedSections& sections) {
  return Engine::Restore(FeedOptions(8), sections.sections).status();
}

TEST(ChangeFeedSnapshot, RestoreRefusesASnapshotFromBeforeTheFeed) {
  Harness h(FeedOptions(8));
  MakeHistory(h);
  const std::unique_ptr<EngineSnapshot> image = h.engine().CaptureSnapshot();
  OwnedSections sections(*image);
  sections.Drop(SnapshotSectionKind::kChanges);
  SnapshotMeta meta = sections.Meta();
  meta.change_sequence_next = 0;
  meta.format_version = 0;
  sections.SetMeta(meta);
  const absl::Status status = RestoreStatus(sections);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("format version 0"), std::string::npos) << status;
}

TEST(ChangeFeedSnapshot, RestoreRefusesAWindowLargerThanTheCounter) {
  Harness h(FeedOptions(8));
  CreateStandardBook(h);
  AddPlainTransfers(h, 1, 2);
  const std::unique_ptr<EngineSnapshot> image = h.engine().CaptureSnapshot();
  {
    OwnedSections sections(*image);
    sections.HoldWholeFeed(h.engine());
    std::vector<Change> changes = sections.Changes();
    ASSERT_EQ(changes.size(), 2u);
    changes.insert(changes.begin(), changes[0]);
    sections.SetChanges(changes);
    const absl::Status status = RestoreStatus(sections);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find("the sequence counter"), std::string::npos) << status;
  }
  // Format 4: the feed's length is in the meta, and the window must hold what it derives.
  for (const uint64_t retained : {uint64_t{3}, ~uint64_t{0}}) {
    OwnedSections sections(*image);
    SnapshotMeta meta = sections.Meta();
    ASSERT_EQ(meta.retained_change_count, 2u);
    meta.retained_change_count = retained;
    sections.SetMeta(meta);
    const absl::Status status = RestoreStatus(sections);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_NE(status.message().find("the sequence counter"), std::string::npos) << status;
  }
}

// The snapshot holds no change of the window: restore derives them, the same records.
TEST(ChangeFeedSnapshot, TheWindowsChangesAreDerivedNotHeld) {
  Harness h(FeedOptions(8));
  MakeHistory(h);
  const std::unique_ptr<EngineSnapshot> image = h.engine().CaptureSnapshot();
  EXPECT_EQ(image->change_count(), 0u);
  OwnedSections sections(*image);
  EXPECT_TRUE(sections.Changes().empty());
  EXPECT_EQ(sections.Meta().retained_change_count, 8u);
  absl::StatusOr<std::unique_ptr<Engine>> restored =
      Engine::Restore(FeedOptions(8), sections.sections);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(SameChanges(Window(**restored), Window(h.engine())));
}

}  // namespace
}  // namespace ledger::engine::test
