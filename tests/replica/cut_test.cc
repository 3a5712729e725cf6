// Cutting a log's tail (replica::CutLogAfter): the log ends with the op asked, later entries
// follow it, and a crash at any step of the cut leaves the whole log or the cut one. A damaged
// log is cut before the damage (replica::CutDamagedLog).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "replica/replica.h"
#include "tests/wal/memory_storage.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"

namespace ledger::replica {
namespace {

using wal::Directory;
using wal::EntryHeader;
using wal::testing::MemoryStorage;
namespace testing = wal::testing;

constexpr char kPath[] = "/data";
constexpr uint64_t kOps = 60;

struct SealedEntry {
  EntryHeader header;
  std::vector<std::byte> body;
};

std::unique_ptr<Replica> OpenOn(MemoryStorage& storage, const std::string& path,
                                ReplicaOptions options = {}) {
  options.use_io_uring = false;
  options.storage = &storage;
  options.writer_buffer_bytes = uint64_t{2} << 20;
  auto replica = Replica::Open(path, std::move(options));
  EXPECT_TRUE(replica.ok()) << replica.status();
  return replica.ok() ? std::move(*replica) : nullptr;
}

// A log of kOps ops in `storage` at kPath; returns its entries.
std::vector<SealedEntry> BuildLog(MemoryStorage& storage, uint64_t snapshot_interval_ops = 0) {
  EXPECT_TRUE(
      Directory::Init(kPath, {.segment_size_bytes = wal::kSegmentSizeMinBytes}, storage).ok());
  std::vector<SealedEntry> entries;
  ReplicaOptions options;
  options.snapshot_interval_ops = snapshot_interval_ops;
  options.on_entry = [&](const EntryHeader& header, std::span<const std::byte> body) {
    entries.push_back({header, {body.begin(), body.end()}});
  };
  std::unique_ptr<Replica> replica = OpenOn(storage, kPath, std::move(options));
  Ledger ledger = testing::TestLedger();
  CreateLedgerResult ledger_result;
  EXPECT_TRUE(replica->Submit<Ledger>({&ledger, 1}, {&ledger_result, 1}).ok());
  std::vector<Account> accounts = testing::TestAccounts();
  std::vector<CreateAccountResult> account_results(accounts.size());
  EXPECT_TRUE(replica->Submit<Account>(accounts, account_results).ok());
  while (replica->last_op() < kOps) {
    std::vector<Transfer> batch = testing::TestTransfers(3, replica->last_op() + 1, 30);
    std::vector<CreateTransferResult> results(batch.size());
    EXPECT_TRUE(replica->Submit<Transfer>(batch, results).ok());
    // One group per op or close: where groups end must not depend on the machine's speed.
    EXPECT_TRUE(replica->WaitDurable(replica->last_op()).ok());
  }
  EXPECT_TRUE(replica->WaitDurable(kOps).ok());
  return entries;
}

// The state after the first `op` entries, through another member's replica.
engine::StateHash StateAfter(const std::vector<SealedEntry>& entries, uint64_t op) {
  MemoryStorage storage;
  EXPECT_TRUE(
      Directory::Init(kPath, {.segment_size_bytes = wal::kSegmentSizeMinBytes}, storage).ok());
  std::unique_ptr<Replica> replica = OpenOn(storage, kPath);
  for (uint64_t i = 0; i < op; ++i) {
    EXPECT_TRUE(replica->AppendReplicated(entries[i].header, entries[i].body).ok());
  }
  return replica->engine().ComputeStateHash();
}

absl::Status Cut(MemoryStorage& storage, uint64_t op, const wal::Hash128& chain_hash) {
  auto directory = Directory::Open(kPath, /*writable=*/true, storage);
  if (!directory.ok()) return directory.status();
  return CutLogAfter(**directory, op, chain_hash);
}

TEST(Cut, TheLogEndsWithTheOpAndTheEntriesAfterItFollow) {
  MemoryStorage storage;
  const std::vector<SealedEntry> entries = BuildLog(storage);
  ASSERT_EQ(entries.size(), kOps);
  const uint64_t cut_op = 37;
  ASSERT_TRUE(Cut(storage, cut_op, entries[cut_op - 1].header.chain_hash).ok());
  {
    std::unique_ptr<Replica> replica = OpenOn(storage, kPath);
    ASSERT_NE(replica, nullptr);
    EXPECT_EQ(replica->last_op(), cut_op);
    EXPECT_EQ(replica->chain_hash(), entries[cut_op - 1].header.chain_hash);
    EXPECT_EQ(replica->engine().ComputeStateHash(), StateAfter(entries, cut_op));
    for (uint64_t op = cut_op + 1; op <= kOps; ++op) {
      ASSERT_TRUE(replica->AppendReplicated(entries[op - 1].header, entries[op - 1].body).ok());
    }
    ASSERT_TRUE(replica->WaitDurable(kOps).ok());
  }
  std::unique_ptr<Replica> replica = OpenOn(storage, kPath);
  EXPECT_EQ(replica->last_op(), kOps);
  EXPECT_EQ(replica->engine().ComputeStateHash(), StateAfter(entries, kOps));
  replica.reset();

  ASSERT_TRUE(Cut(storage, 0, {}).ok());
  EXPECT_EQ(OpenOn(storage, kPath)->last_op(), 0u) << "a cut after op 0 empties the log";
}

TEST(Cut, RefusesAnotherChainAnOpPastTheEndAndASnapshotPastTheCut) {
  MemoryStorage storage;
  const std::vector<SealedEntry> entries = BuildLog(storage, /*snapshot_interval_ops=*/50);
  wal::Hash128 other = entries[36].header.chain_hash;
  other.low ^= 1;
  EXPECT_TRUE(absl::IsFailedPrecondition(Cut(storage, 37, other)));
  EXPECT_TRUE(absl::IsFailedPrecondition(Cut(storage, kOps + 1, {})));
  EXPECT_TRUE(absl::IsFailedPrecondition(Cut(storage, 37, entries[36].header.chain_hash)))
      << "the snapshot at op 50 lies past the cut";
  EXPECT_TRUE(Cut(storage, kOps, entries[kOps - 1].header.chain_hash).ok()) << "nothing to cut";
  std::unique_ptr<Replica> replica = OpenOn(storage, kPath);
  EXPECT_EQ(replica->last_op(), kOps) << "nothing was changed";
  EXPECT_EQ(replica->engine().ComputeStateHash(), StateAfter(entries, kOps));
}

// A group damaged before the log's end (a flipped byte): recovery refuses the log; the cut
// keeps every group before the damage, and the rest follows again from another member.
TEST(Cut, ADamagedLogIsCutAfterItsLastIntactGroup) {
  MemoryStorage storage;
  const std::vector<SealedEntry> entries = BuildLog(storage);
  auto directory = Directory::Open(kPath, /*writable=*/true, storage);
  ASSERT_TRUE(directory.ok()) << directory.status();
  // The group that holds op 40, and the first op of the group after it.
  wal::ScanOptions options = LogScanOptions();
  wal::LogPosition damaged_at;
  uint64_t damaged_first_op = 0;
  options.on_group = [&](const wal::LogPosition& at, uint64_t first_op) {
    if (first_op <= 40) {
      damaged_at = at;
      damaged_first_op = first_op;
    }
  };
  ASSERT_TRUE(wal::ScanLog(**directory, options, [](auto&&...) { return absl::OkStatus(); }).ok());
  ASSERT_GT(damaged_first_op, 1u);
  ASSERT_LT(damaged_first_op + 1, kOps) << "the damaged group must not be the last (a torn tail)";
  {
    auto segment =
        storage.Open((*directory)->SegmentPath(damaged_at.segment_index), {.writable = true});
    ASSERT_TRUE(segment.ok()) << segment.status();
    std::byte byte{};
    ASSERT_TRUE((*segment)->Read(damaged_at.offset + 200, std::span(&byte, 1)).ok());
    byte ^= std::byte{0x5a};
    ASSERT_TRUE((*segment)->Write(damaged_at.offset + 200, std::span(&byte, 1)).ok());
    ASSERT_TRUE((*segment)->Sync().ok());
  }
  EXPECT_TRUE(absl::IsDataLoss(Recover(**directory, {}).status()));

  absl::StatusOr<uint64_t> kept = CutDamagedLog(**directory);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, damaged_first_op - 1) << "every group before the damaged one stays";
  EXPECT_TRUE(absl::IsFailedPrecondition(CutDamagedLog(**directory).status())) << "now intact";
  directory->reset();
  std::unique_ptr<Replica> replica = OpenOn(storage, kPath);
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->last_op(), *kept);
  EXPECT_EQ(replica->engine().ComputeStateHash(), StateAfter(entries, *kept));
  for (uint64_t op = *kept + 1; op <= kOps; ++op) {
    ASSERT_TRUE(replica->AppendReplicated(entries[op - 1].header, entries[op - 1].body).ok());
  }
  EXPECT_EQ(replica->engine().ComputeStateHash(), StateAfter(entries, kOps));
}

// The n-th storage operation of the cut fails and the machine crashes there, for every n:
// after a restart the log is whole or cut, never less, and recovery finishes a cut begun.
TEST(Cut, ACrashAtAnyStepLeavesTheWholeLogOrTheCutOne) {
  const uint64_t cut_op = 23;
  bool finished = false;
  int cut_seen = 0;
  for (int fail_at = 1; !finished; ++fail_at) {
    ASSERT_LT(fail_at, 500) << "the cut never completed";
    MemoryStorage storage;
    const std::vector<SealedEntry> entries = BuildLog(storage);
    int operations = 0;
    storage.fault = [&](std::string_view, const std::string&) {
      return ++operations == fail_at ? absl::UnavailableError("injected") : absl::OkStatus();
    };
    finished = Cut(storage, cut_op, entries[cut_op - 1].header.chain_hash).ok();
    storage.fault = nullptr;
    storage.Crash();
    storage.Restart();
    std::unique_ptr<Replica> replica = OpenOn(storage, kPath);
    ASSERT_NE(replica, nullptr) << "fail_at " << fail_at;
    const uint64_t last_op = replica->last_op();
    ASSERT_TRUE(last_op == kOps || last_op == cut_op) << "fail_at " << fail_at << " op " << last_op;
    if (finished) {
      ASSERT_EQ(last_op, cut_op);
    }
    if (last_op == cut_op) ++cut_seen;
    ASSERT_EQ(replica->chain_hash(), entries[last_op - 1].header.chain_hash);
    ASSERT_EQ(replica->engine().ComputeStateHash(), StateAfter(entries, last_op))
        << "fail_at " << fail_at;
  }
  EXPECT_GT(cut_seen, 1) << "some crashes midway were finished by recovery";
}

}  // namespace
}  // namespace ledger::replica
