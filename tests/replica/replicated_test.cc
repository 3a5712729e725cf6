// A follower's replica fed the leader's sealed entries (Replica::AppendReplicated): the same
// log chain and state at every op, across its own restart; entries that do not follow its
// head are refused and change nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "replica/replica.h"
#include "tests/replica/sealing_replica.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"

namespace ledger::replica {
namespace {

using testing::InitDirectory;
using testing::SealedEntry;
using testing::SealingReplica;
using wal::Directory;
using wal::EntryHeader;
using wal::testing::TemporaryDirectory;
namespace wal_testing = wal::testing;

std::unique_ptr<Replica> OpenAt(const std::string& path, ReplicaOptions options) {
  auto replica = Replica::Open(path, testing::TestOptions(std::move(options)));
  EXPECT_TRUE(replica.ok()) << replica.status();
  return replica.ok() ? std::move(*replica) : nullptr;
}

// A leader: it books, and keeps a copy of every entry it seals.
struct Leader : SealingReplica {
  using SealingReplica::SealingReplica;

  // Ledger, accounts, then `batches` transfer batches, some retrying or posting old ones.
  void Book(uint64_t seed, int batches) {
    ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts());
    for (int i = 0; i < batches; ++i) {
      const uint64_t op = replica->last_op() + 1;
      std::vector<Transfer> batch = wal_testing::TestTransfers(seed, op, 40);
      if (op > 30) {
        Transfer retry = wal_testing::TestTransfers(seed, op - 27, 40).front();
        retry.flags &= static_cast<uint16_t>(~transfer_flags::kLinked);
        batch.push_back(retry);
      }
      std::vector<CreateTransferResult> results(batch.size());
      ASSERT_TRUE(replica->Submit<Transfer>(batch, results).ok());
    }
    ASSERT_TRUE(replica->WaitDurable(replica->last_op()).ok());
  }
};

class Replicated : public ::testing::TestWithParam<uint64_t> {};  // the hot window (0: all)

TEST_P(Replicated, FollowerHasTheLeadersChainAndStateAtEveryOpAndAfterItsRestart) {
  TemporaryDirectory temporary;
  ReplicaOptions options;
  options.engine.hot_transfers = GetParam();
  options.snapshot_interval_ops = 50;
  Leader leader(InitDirectory(temporary, "leader"), options);
  ASSERT_NE(leader.replica, nullptr);
  ASSERT_NO_FATAL_FAILURE(leader.Book(5, 200));

  const std::string follower_path = InitDirectory(temporary, "follower");
  std::unique_ptr<Replica> follower = OpenAt(follower_path, options);
  ASSERT_NE(follower, nullptr);
  for (const SealedEntry& entry : leader.entries) {
    absl::StatusOr<BatchReceipt> receipt = follower->AppendReplicated(entry.header, entry.body);
    ASSERT_TRUE(receipt.ok()) << receipt.status();
    ASSERT_EQ(receipt->op, entry.header.op);
    ASSERT_EQ(follower->last_op(), entry.header.op);
    ASSERT_EQ(follower->chain_hash(), entry.header.chain_hash);
  }
  EXPECT_EQ(follower->engine().ComputeStateHash(), leader.replica->engine().ComputeStateHash());
  if (GetParam() != 0) {
    EXPECT_GT(follower->engine().cold_before_ns(), 0u) << "history went cold";
  }
  ASSERT_TRUE(follower->WaitDurable(follower->last_op()).ok());

  // Its own log, snapshots and recovery bring it back to the same head and state.
  follower.reset();
  follower = OpenAt(follower_path, options);
  ASSERT_NE(follower, nullptr);
  EXPECT_EQ(follower->last_op(), leader.replica->last_op());
  EXPECT_EQ(follower->chain_hash(), leader.replica->chain_hash());
  EXPECT_EQ(follower->engine().ComputeStateHash(), leader.replica->engine().ComputeStateHash());
  EXPECT_GT(follower->recovery().snapshot_op, 0u) << "it wrote its own snapshots";
}

INSTANTIATE_TEST_SUITE_P(Window, Replicated, ::testing::Values(0, 64),
                         [](const ::testing::TestParamInfo<uint64_t>& param_info) {
                           return param_info.param == 0 ? "AllInMemory" : "HotWindow64";
                         });

// The ops of the snapshot files in a data directory (snapshot-<op>.snap).
std::vector<uint64_t> SnapshotOps(const std::string& path) {
  std::vector<uint64_t> ops;
  for (const auto& file : std::filesystem::directory_iterator(path)) {
    const std::string name = file.path().filename().string();
    if (name.starts_with("snapshot-") && name.ends_with(".snap")) {
      ops.push_back(std::stoull(name.substr(9, 20)));
    }
  }
  return ops;
}

// A member of a group makes nothing permanent beyond its log past the group's committed op:
// no snapshot and no cold run holds what a new epoch might cut.
TEST(Replicated, SnapshotsAndColdExportsWaitForTheGroupsCommittedOp) {
  TemporaryDirectory temporary;
  ReplicaOptions options;
  // The window holds the uncommitted ops: a member short of room waits for the group to
  // commit what it would export, and here the commits come from this thread.
  options.engine.hot_transfers = 1024;
  options.snapshot_interval_ops = 20;
  Leader leader(InitDirectory(temporary, "leader"), options);
  ASSERT_NE(leader.replica, nullptr);
  ASSERT_NO_FATAL_FAILURE(leader.Book(3, 300));

  options.replicated = true;
  const std::string path = InitDirectory(temporary, "follower");
  std::unique_ptr<Replica> follower = OpenAt(path, options);
  ASSERT_NE(follower, nullptr);
  constexpr uint64_t kCommitLagOps = 5;
  for (const SealedEntry& entry : leader.entries) {
    ASSERT_TRUE(follower->AppendReplicated(entry.header, entry.body).ok());
    // As a leader would: its commit follows this member's durable op.
    ASSERT_TRUE(follower->WaitDurable(entry.header.op).ok());
    if (entry.header.op > kCommitLagOps) follower->NoteCommitted(entry.header.op - kCommitLagOps);
  }
  const uint64_t last_op = follower->last_op();
  ASSERT_TRUE(follower->WaitDurable(last_op).ok());
  const uint64_t committed_op = last_op - kCommitLagOps;
  EXPECT_EQ(follower->committed_op(), committed_op);
  absl::Status refused = follower->SnapshotNow();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  // Facts of the last uncommitted ops stay in memory: the cold boundary is at most the first
  // uncommitted entry's timestamp.
  EXPECT_GT(follower->engine().cold_before_ns(), 0u);
  EXPECT_LE(follower->engine().cold_before_ns(), leader.entries[committed_op].header.timestamp_ns);

  const std::vector<uint64_t> snapshots = SnapshotOps(path);
  ASSERT_FALSE(snapshots.empty());
  for (uint64_t op : snapshots) EXPECT_LE(op, committed_op);

  follower->NoteCommitted(last_op);
  ASSERT_TRUE(follower->SnapshotNow().ok());
  const std::vector<uint64_t> after = SnapshotOps(path);
  EXPECT_EQ(*std::max_element(after.begin(), after.end()), last_op);
}

TEST(Replicated, AMemberWaitingForTheGroupStillClosesAtOnce) {
  TemporaryDirectory temporary;
  ReplicaOptions options;
  options.snapshot_interval_ops = 5;
  Leader leader(InitDirectory(temporary, "leader"), options);
  ASSERT_NO_FATAL_FAILURE(leader.Book(4, 10));
  options.replicated = true;
  std::unique_ptr<Replica> follower = OpenAt(InitDirectory(temporary, "follower"), options);
  ASSERT_NE(follower, nullptr);
  for (const SealedEntry& entry : leader.entries) {
    ASSERT_TRUE(follower->AppendReplicated(entry.header, entry.body).ok());
  }
  ASSERT_TRUE(follower->WaitDurable(follower->last_op()).ok());
  EXPECT_EQ(follower->committed_op(), 0u) << "nothing committed: its snapshot thread waits";
  follower.reset();  // must not wait for a commit that never comes
}

TEST(Replicated, EntriesThatDoNotFollowTheHeadAreRefusedAndChangeNothing) {
  TemporaryDirectory temporary;
  Leader leader(InitDirectory(temporary, "leader"), {});
  ASSERT_NE(leader.replica, nullptr);
  ASSERT_NO_FATAL_FAILURE(leader.Book(9, 6));
  std::unique_ptr<Replica> follower = OpenAt(InitDirectory(temporary, "follower"), {});
  ASSERT_NE(follower, nullptr);
  const std::vector<SealedEntry>& entries = leader.entries;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(follower->AppendReplicated(entries[i].header, entries[i].body).ok());
  }

  const engine::StateHash state = follower->engine().ComputeStateHash();
  const wal::Hash128 head = follower->chain_hash();
  const SealedEntry& next = entries[3];
  auto refused = [&](const EntryHeader& header, std::span<const std::byte> body) {
    absl::StatusOr<BatchReceipt> receipt = follower->AppendReplicated(header, body);
    EXPECT_TRUE(absl::IsDataLoss(receipt.status())) << receipt.status();
    EXPECT_EQ(follower->last_op(), 3u);
    EXPECT_EQ(follower->chain_hash(), head);
    EXPECT_EQ(follower->engine().ComputeStateHash(), state);
  };
  refused(entries[2].header, entries[2].body);  // again
  refused(entries[4].header, entries[4].body);  // a gap
  std::vector<std::byte> damaged = next.body;
  damaged[damaged.size() / 2] ^= std::byte{1};
  refused(next.header, damaged);
  refused(next.header, std::span(next.body).first(next.body.size() - 1));
  EntryHeader edited = next.header;
  edited.timestamp_ns += 1;  // not resealed: the chain hash no longer matches
  refused(edited, next.body);
  // Sealed properly, but by a leader whose log forked: linked to another head.
  EntryHeader forked = next.header;
  forked.previous_chain_hash.low ^= 1;
  wal::SealEntry(forked, next.body);
  refused(forked, next.body);
  // Sealed and linked, with a timestamp before the previous entry's events.
  EntryHeader backwards = next.header;
  backwards.timestamp_ns = entries[2].header.timestamp_ns;
  wal::SealEntry(backwards, next.body);
  refused(backwards, next.body);
  // Sealed and linked, with its events booked past the end of time (the sum wraps).
  EntryHeader end_of_time = next.header;
  end_of_time.timestamp_ns = ~uint64_t{0} - end_of_time.event_count;
  wal::SealEntry(end_of_time, next.body);
  refused(end_of_time, next.body);

  for (size_t i = 3; i < entries.size(); ++i) {
    ASSERT_TRUE(follower->AppendReplicated(entries[i].header, entries[i].body).ok()) << i;
  }
  EXPECT_EQ(follower->engine().ComputeStateHash(), leader.replica->engine().ComputeStateHash());
}

}  // namespace
}  // namespace ledger::replica
