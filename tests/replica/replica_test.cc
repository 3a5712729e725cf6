// The whole path: init, open a replica, submit batches, reopen (recover), compare with an
// engine that applied the same batches directly.
#include "replica/replica.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "engine/engine.h"
#include "replica/checkpoint.h"
#include "replica/internal/snapshot.h"
#include "replica/recovery.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"

namespace ledger::replica {
namespace {

using internal::CheckpointHead;
using wal::Directory;
using wal::kSegmentSizeMinBytes;
using wal::testing::TemporaryDirectory;
namespace testing = wal::testing;

// Damage a file's body the way a bad sector would, without changing its size.
void FlipABitInTheMiddle(const std::string& path) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto middle = static_cast<std::streamoff>(std::filesystem::file_size(path) / 2);
  char byte = 0;
  file.seekg(middle);
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x10);
  file.seekp(middle);
  file.write(&byte, 1);
}

std::unique_ptr<Replica> OpenLedger(const std::string& path, bool use_io_uring,
                                    ReplicaOptions options = {}) {
  options.use_io_uring = use_io_uring;
  options.writer_buffer_bytes = uint64_t{2} << 20;
  auto replica = Replica::Open(path, std::move(options));
  EXPECT_TRUE(replica.ok()) << replica.status();
  return replica.ok() ? std::move(*replica) : nullptr;
}

// Ops 1 and 2: the test ledger and its accounts.
void CreateLedgerAndAccounts(Replica& replica) {
  Ledger ledger = testing::TestLedger();
  CreateLedgerResult ledger_result;
  ASSERT_TRUE(replica.Submit<Ledger>({&ledger, 1}, {&ledger_result, 1}).ok());
  std::vector<Account> accounts = testing::TestAccounts();
  std::vector<CreateAccountResult> account_results(accounts.size());
  ASSERT_TRUE(replica.Submit<Account>(accounts, account_results).ok());
}

// The same, applied to `reference` too at the replica's timestamps.
void CreateLedgerAndAccounts(Replica& replica, engine::Engine& reference) {
  Ledger ledger = testing::TestLedger();
  CreateLedgerResult ledger_result;
  auto receipt = replica.Submit<Ledger>({&ledger, 1}, {&ledger_result, 1});
  ASSERT_TRUE(receipt.ok());
  reference.CreateLedgers({&ledger, 1}, receipt->timestamp_ns, {&ledger_result, 1});
  std::vector<Account> accounts = testing::TestAccounts();
  std::vector<CreateAccountResult> results(accounts.size());
  receipt = replica.Submit<Account>(accounts, results);
  ASSERT_TRUE(receipt.ok());
  reference.CreateAccounts(accounts, receipt->timestamp_ns, results);
}

class RoundTrip : public ::testing::TestWithParam<bool> {};

TEST_P(RoundTrip, RecoveredStateEqualsDirectApplicationAcrossRestartsAndSegments) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  engine::Engine reference;
  uint64_t op = 0;
  const uint64_t seed = 7;
  for (int restart = 0; restart < 3; ++restart) {
    std::unique_ptr<Replica> opened = OpenLedger(path, GetParam());
    ASSERT_NE(opened, nullptr);
    ASSERT_EQ(opened->recovery().last_op, op);
    ASSERT_EQ(opened->engine().ComputeStateHash(), reference.ComputeStateHash());
    if (op == 0) {
      ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened, reference));
      op = 2;
    }
    // Enough bytes to fill a 4 MiB segment or two: 600 ops of up to 60 transfers.
    for (int i = 0; i < 600; ++i) {
      std::vector<Transfer> batch = testing::TestTransfers(seed, ++op, 60);
      std::vector<CreateTransferResult> results(batch.size());
      std::vector<CreateTransferResult> expected(batch.size());
      auto receipt = opened->Submit<Transfer>(batch, results);
      ASSERT_TRUE(receipt.ok());
      ASSERT_EQ(receipt->op, op);
      reference.CreateTransfers(batch, receipt->timestamp_ns, expected);
      ASSERT_EQ(results, expected);
    }
    ASSERT_TRUE(opened->WaitDurable(op).ok());
  }
  auto directory = Directory::Open(path, /*writable=*/false);
  ASSERT_TRUE(directory.ok());
  auto segments = (*directory)->ListSegments();
  ASSERT_TRUE(segments.ok());
  EXPECT_GE(segments->size(), 2u) << "the test should span segments";
}

INSTANTIATE_TEST_SUITE_P(Io, RoundTrip, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "IoUring" : "Pwrite";
                         });

TEST(Replica, SnapshotsAreWrittenAndRecoveryUsesTheNewest) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  engine::StateHash expected;
  {
    ReplicaOptions options;
    options.snapshot_interval_ops = 50;
    std::unique_ptr<Replica> opened = OpenLedger(path, true, std::move(options));
    ASSERT_NE(opened, nullptr);
    ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened));
    for (uint64_t op = 3; op <= 230; ++op) {
      std::vector<Transfer> batch = testing::TestTransfers(11, op);
      std::vector<CreateTransferResult> results(batch.size());
      ASSERT_TRUE(opened->Submit<Transfer>(batch, results).ok());
    }
    ASSERT_TRUE(opened->WaitDurable(230).ok());
    expected = opened->engine().ComputeStateHash();
    opened.reset();  // waits for the snapshot in progress
  }
  auto directory = Directory::Open(path, true);
  ASSERT_TRUE(directory.ok());
  auto snapshots = (*directory)->ListSnapshots();
  ASSERT_TRUE(snapshots.ok());
  ASSERT_FALSE(snapshots->empty());
  EXPECT_LE(snapshots->size(), 2u);  // pruned
  auto recovered = Recover(**directory, {});
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(recovered->snapshot_op, snapshots->front());
  EXPECT_EQ(recovered->engine->ComputeStateHash(), expected);
  RecoveryOptions full;
  full.use_snapshots = false;
  auto replayed = Recover(**directory, full);
  ASSERT_TRUE(replayed.ok());
  EXPECT_EQ(replayed->engine->ComputeStateHash(), expected);
  EXPECT_EQ(replayed->replayed_entries, 230u);
}

// Each keyed checkpoint is reported once it is in its file, with the file's line and where
// the change feed stood after its op (which the line does not sign): the server exports them
// on its change feed so.
TEST(Replica, ReportsEachCheckpointInItsFileWithTheFeedsPositionAfterItsOp) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  const std::vector<uint8_t> key =
      *ParseCheckpointKey("00112233445566778899aabbccddeeff00112233445566778899aabbccddee01");
  std::mutex mutex;
  std::vector<SignedCheckpoint> reported;
  std::map<uint64_t, CheckpointHead> heads;  // by op, as each batch left it
  {
    ReplicaOptions options;
    options.checkpoint_key = key;
    options.checkpoint_file = temporary.Sub("checkpoints");
    options.checkpoint_interval_ops = 3;
    options.on_checkpoint = [&](const SignedCheckpoint& checkpoint) {
      std::lock_guard lock(mutex);
      reported.push_back(checkpoint);
    };
    std::unique_ptr<Replica> opened = OpenLedger(path, false, std::move(options));
    ASSERT_NE(opened, nullptr);
    ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened));
    for (uint64_t op = 3; op <= 7; ++op) {
      std::vector<Transfer> batch = testing::TestTransfers(5, op);
      std::vector<CreateTransferResult> results(batch.size());
      auto receipt = opened->Submit<Transfer>(batch, results);
      ASSERT_TRUE(receipt.ok()) << receipt.status();
      heads[op] = {receipt->op, opened->chain_hash(), receipt->timestamp_ns,
                   receipt->change_sequence_next};
    }
    ASSERT_GT(heads[3].change_sequence_next, 0u);
    ASSERT_GT(heads[6].change_sequence_next, heads[3].change_sequence_next);
  }  // closing signs op 7
  const std::vector<std::string> lines = absl::StrSplit(
      *base::ReadFileToString(temporary.Sub("checkpoints")), '\n', absl::SkipEmpty());
  ASSERT_EQ(reported.size(), 3u);
  ASSERT_EQ(lines.size(), 3u);
  const uint64_t ops[] = {3, 6, 7};
  for (size_t i = 0; i < reported.size(); ++i) {
    const SignedCheckpoint& checkpoint = reported[i];
    const CheckpointHead& head = heads[ops[i]];
    EXPECT_EQ(checkpoint.line, lines[i]);
    absl::StatusOr<Checkpoint> parsed = ParseCheckpoint(key, checkpoint.line);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->op, head.op);
    EXPECT_EQ(parsed->chain_hash, head.chain_hash);
    EXPECT_EQ(parsed->timestamp_ns, head.timestamp_ns);
    EXPECT_EQ(checkpoint.checkpoint.op, head.op);
    EXPECT_EQ(checkpoint.checkpoint.hmac, parsed->hmac);
    EXPECT_EQ(checkpoint.change_sequence_next, head.change_sequence_next) << "op " << head.op;
  }
}

// A checkpoint is signed once its op is durable: a log that ends before the file's last one, or
// holds its op with another chain hash, lost acknowledged ops or was rewritten, and the replica
// refuses to open on it (DataLoss naming the file) rather than start short. A last line that
// does not verify is verify's to report, not recovery's.
TEST(Replica, RefusesALogThatEndsBeforeItsLastCheckpointOrDiffersAtIt) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  const std::string file = temporary.Sub("checkpoints");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  const std::vector<uint8_t> key =
      *ParseCheckpointKey("00112233445566778899aabbccddeeff00112233445566778899aabbccddee01");
  std::mutex log_mutex;  // the replica's threads may log too
  std::string logged;
  const auto open = [&](bool replicated = false) {
    ReplicaOptions options;
    options.writer_buffer_bytes = uint64_t{2} << 20;
    options.checkpoint_key = key;
    options.checkpoint_file = file;
    options.checkpoint_interval_ops = 3;
    options.replicated = replicated;
    options.log = [&](std::string_view message) {
      std::lock_guard lock(log_mutex);
      logged.append(message).append("\n");
    };
    return Replica::Open(path, std::move(options));
  };
  wal::Hash128 head_chain;
  {
    absl::StatusOr<std::unique_ptr<Replica>> opened = open();
    ASSERT_TRUE(opened.ok()) << opened.status();
    ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(**opened));
    std::vector<Transfer> batch = testing::TestTransfers(5, 3);
    std::vector<CreateTransferResult> results(batch.size());
    ASSERT_TRUE((*opened)->Submit<Transfer>(batch, results).ok());
    head_chain = (*opened)->chain_hash();
  }  // closing signs op 3
  const std::string signed_text = *base::ReadFileToString(file);
  {
    const std::vector<std::string> lines = absl::StrSplit(signed_text, '\n', absl::SkipEmpty());
    ASSERT_FALSE(lines.empty());
    absl::StatusOr<Checkpoint> last = ParseCheckpoint(key, lines.back());
    ASSERT_TRUE(last.ok()) << last.status();
    ASSERT_EQ(last->op, 3u);
    ASSERT_EQ(last->chain_hash, head_chain);
  }
  {
    absl::StatusOr<std::unique_ptr<Replica>> reopened = open();
    ASSERT_TRUE(reopened.ok()) << reopened.status();
  }
  const auto open_with_last_line = [&](const Checkpoint& last) {
    std::ofstream(file, std::ios::trunc) << signed_text << FormatCheckpoint(last);
    return open();
  };
  // Signed ahead of the log: ops lost (or cut back).
  absl::StatusOr<std::unique_ptr<Replica>> refused =
      open_with_last_line(SignCheckpoint(key, 5, head_chain, 1));
  ASSERT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("signs op 5, but the log ends at op 3"),
            std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find(file), std::string::npos) << refused.status();
  // A member of a replica group takes the rest from its leader: opened, and said so.
  EXPECT_TRUE(open(/*replicated=*/true).ok());
  {
    std::lock_guard lock(log_mutex);
    EXPECT_NE(logged.find("signs op 5, beyond this log's op 3: this member takes the rest from its "
                          "leader"),
              std::string::npos)
        << logged;
  }
  // The log's head signed with another chain hash: rewritten.
  wal::Hash128 other_chain = head_chain;
  other_chain.low ^= 1;
  refused = open_with_last_line(SignCheckpoint(key, 3, other_chain, 1));
  ASSERT_TRUE(absl::IsDataLoss(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("the history was rewritten"), std::string::npos)
      << refused.status();
  // An older op signed last, and a last line another key signed: opened.
  EXPECT_TRUE(open_with_last_line(SignCheckpoint(key, 2, other_chain, 1)).ok());
  std::vector<uint8_t> other_key = key;
  other_key[0] ^= 1;
  EXPECT_TRUE(open_with_last_line(SignCheckpoint(other_key, 9, head_chain, 1)).ok());
}

TEST(Replica, ExpireDueLogsATickOnlyOnceADeadlineHasPassedAndReplayReleasesTheSame) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  auto now_ns = std::make_shared<uint64_t>(uint64_t{1'000'000'000'000});
  ReplicaOptions options;
  options.clock_ns = [now_ns] { return *now_ns; };
  std::unique_ptr<Replica> opened = OpenLedger(path, false, std::move(options));
  ASSERT_NE(opened, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened));
  Transfer hold{};
  hold.id = TransferId::From(1);
  hold.debit_account_id = AccountId::From(2);
  hold.credit_account_id = AccountId::From(3);
  hold.amount = Amount::From(10);
  hold.ledger = testing::kTestLedger;
  hold.code = 1;
  hold.flags = transfer_flags::kPending;
  hold.timeout_s = 1;
  CreateTransferResult result;
  ASSERT_TRUE(opened->Submit<Transfer>({&hold, 1}, {&result, 1}).ok());
  ASSERT_EQ(result, CreateTransferResult::kOk);
  auto nothing_due = opened->ExpireDue();
  ASSERT_TRUE(nothing_due.ok());
  EXPECT_FALSE(nothing_due->has_value());
  EXPECT_EQ(opened->last_op(), 3u);
  *now_ns += 2'000'000'000;
  auto tick = opened->ExpireDue();
  ASSERT_TRUE(tick.ok()) << tick.status();
  ASSERT_TRUE(tick->has_value());
  EXPECT_EQ((*tick)->op, 4u);
  EXPECT_EQ((*tick)->timestamp_ns, *now_ns);
  EXPECT_EQ(opened->engine().GetStats().expired_count, 1u);
  auto again = opened->ExpireDue();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value()) << "released: nothing more is due";
  const engine::StateHash expected = opened->engine().ComputeStateHash();
  ASSERT_TRUE(opened->WaitDurable(4).ok());
  opened.reset();
  std::unique_ptr<Replica> reopened = OpenLedger(path, false);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->engine().ComputeStateHash(), expected);
  EXPECT_EQ(reopened->engine().GetStats().expired_count, 1u);
}

// After an import the engine's last timestamp is below the batch's; the sequencer still gives
// the next batch a timestamp past the import batch's timestamp + its events (the log's rule),
// even with a clock that stands still, and replay books the imported events where they were.
TEST(Replica, ImportBatchesKeepTheLogsTimestampRuleAndReplayIdentically) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  auto now_ns = std::make_shared<uint64_t>(uint64_t{1'000'000'000'000});
  ReplicaOptions options;
  options.clock_ns = [now_ns] { return *now_ns; };
  std::unique_ptr<Replica> opened = OpenLedger(path, false, std::move(options));
  ASSERT_NE(opened, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened));
  *now_ns += 1'000'000;
  std::vector<Transfer> imported(3);
  for (size_t i = 0; i < imported.size(); ++i) {
    imported[i].id = TransferId::From(100 + i);
    imported[i].debit_account_id = AccountId::From(2);
    imported[i].credit_account_id = AccountId::From(3);
    imported[i].amount = Amount::From(10);
    imported[i].ledger = testing::kTestLedger;
    imported[i].code = 1;
    imported[i].flags = transfer_flags::kImported;
    imported[i].timestamp_ns = opened->engine().last_timestamp_ns() + 1 + 10 * i;
  }
  std::vector<CreateTransferResult> results(imported.size());
  std::vector<uint64_t> timestamps_ns(imported.size());
  auto receipt = opened->Submit<Transfer>(imported, results, timestamps_ns);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(results, std::vector<CreateTransferResult>(3, CreateTransferResult::kOk));
  EXPECT_EQ(timestamps_ns[2], imported[2].timestamp_ns) << "its own timestamp, reported";
  EXPECT_EQ(opened->engine().last_timestamp_ns(), imported[2].timestamp_ns);
  // The clock stands still: the next batch goes past the import batch's timestamp + events.
  Transfer native = imported[0];
  native.id = TransferId::From(200);
  native.flags = 0;
  native.timestamp_ns = 0;
  CreateTransferResult native_result;
  auto next = opened->Submit<Transfer>({&native, 1}, {&native_result, 1});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(native_result, CreateTransferResult::kOk);
  EXPECT_GT(next->timestamp_ns, receipt->timestamp_ns + imported.size());
  const engine::StateHash expected = opened->engine().ComputeStateHash();
  ASSERT_TRUE(opened->WaitDurable(next->op).ok());
  opened.reset();
  std::unique_ptr<Replica> reopened = OpenLedger(path, false);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->engine().ComputeStateHash(), expected);
  EXPECT_EQ(reopened->engine().LookupTransfer(TransferId::From(101))->timestamp_ns,
            imported[1].timestamp_ns);
}

// History beyond memory through the replica: the cooler's background runs, eviction, recovery.

constexpr uint64_t kHotTransfers = 256;

// A batch of new transfers plus, from an op long ago (cold by now), a retry of one of its
// transfers and a post of one of its reservations (expired, or cold and still pending).
std::vector<Transfer> BatchReachingBack(uint64_t seed, uint64_t op) {
  std::vector<Transfer> batch = testing::TestTransfers(seed, op, 40);
  if (op > 40) {
    const std::vector<Transfer> old = testing::TestTransfers(seed, op - 37, 40);
    batch.push_back(old.front());
    batch.back().flags &= static_cast<uint16_t>(~transfer_flags::kLinked);
    for (const Transfer& candidate : old) {
      if ((candidate.flags & transfer_flags::kPending) == 0) continue;
      Transfer post{};
      post.id = TransferId::From((u128{op} << 32) | 0xffff);
      post.pending_id = candidate.id;
      post.amount = Amount::Max();
      post.flags = transfer_flags::kPostPending;
      batch.push_back(post);
      break;
    }
  }
  return batch;
}

// Submits `batch` (op `op`) to the replica and applies it to `reference` at the same
// timestamp, which goes to *timestamp_ns: both give the same results.
void SubmitToBoth(Replica& replica, engine::Engine& reference, std::span<const Transfer> batch,
                  uint64_t op, uint64_t* timestamp_ns = nullptr) {
  std::vector<CreateTransferResult> results(batch.size());
  std::vector<CreateTransferResult> expected(batch.size());
  auto receipt = replica.Submit<Transfer>(batch, results);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  reference.CreateTransfers(batch, receipt->timestamp_ns, expected);
  ASSERT_EQ(results, expected) << "op " << op;
  if (timestamp_ns != nullptr) *timestamp_ns = receipt->timestamp_ns;
}

TEST(Replica, HotWindowAnswersAsAllInMemoryAcrossSnapshotsAndRestarts) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  engine::Engine reference;
  std::vector<TransferId> some_ids;
  uint64_t op = 0;
  for (int restart = 0; restart < 4; ++restart) {
    ReplicaOptions options;
    options.engine.hot_transfers = kHotTransfers;
    options.snapshot_interval_ops = restart % 2 == 0 ? 70 : 0;  // odd: replay from older ops
    std::unique_ptr<Replica> opened = OpenLedger(path, /*use_io_uring=*/false, options);
    ASSERT_NE(opened, nullptr);
    ASSERT_EQ(opened->engine().ComputeStateHash(), reference.ComputeStateHash()) << restart;
    if (op == 0) {
      ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened, reference));
      op = 2;
    }
    for (int i = 0; i < 150; ++i) {
      std::vector<Transfer> batch = BatchReachingBack(11, ++op);
      ASSERT_NO_FATAL_FAILURE(SubmitToBoth(*opened, reference, batch, op));
      ASSERT_LE(opened->engine().hot_transfer_count(), kHotTransfers);
      some_ids.push_back(batch.front().id);
    }
    ASSERT_EQ(opened->engine().ComputeStateHash(), reference.ComputeStateHash());
    // Every transfer reads the same, cold or hot; account history across the boundary too.
    for (const TransferId& id : some_ids) {
      const std::optional<Transfer> found = opened->engine().LookupTransfer(id);
      const std::optional<Transfer> expected = reference.LookupTransfer(id);
      ASSERT_EQ(found.has_value(), expected.has_value());
      if (found) {
        ASSERT_EQ(std::memcmp(&*found, &*expected, sizeof(Transfer)), 0);
      }
    }
    AccountFilter filter;
    filter.account_id = AccountId::From(3);
    std::vector<Transfer> history(5000), expected_history(5000);
    history.resize(opened->engine().GetAccountTransfers(filter, history));
    expected_history.resize(reference.GetAccountTransfers(filter, expected_history));
    ASSERT_EQ(history.size(), expected_history.size());
    ASSERT_EQ(
        std::memcmp(history.data(), expected_history.data(), history.size() * sizeof(Transfer)), 0);
    ASSERT_GT(opened->engine().cold_before_ns(), 0u);
    ASSERT_GT(opened->cold_store()->run_count(), 0u);
    ASSERT_TRUE(opened->WaitDurable(op).ok());
    if (restart == 2) {
      ASSERT_TRUE(opened->SnapshotNow().ok());
    }
  }
}

// The window a snapshot restores has no marks of its batches: after a restart the cooler still
// writes it in runs of cold_run_facts_max at most, also when entries after the snapshot were
// replayed (a crash), and while a long replay writes runs. It wrote it as one run, which in a
// server was the whole window (up to 16M facts held in memory at once, written while batches
// waited).
class RunsAfterARestart : public ::testing::TestWithParam<int> {};

TEST_P(RunsAfterARestart, AreNoLargerThanTheOthers) {
  constexpr uint64_t kRunFactsMax = 20;
  const int batches_replayed = GetParam();
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  ReplicaOptions options;
  options.engine.hot_transfers = kHotTransfers;  // the cooler starts at half of it
  options.cold_run_facts_max = kRunFactsMax;
  engine::Engine reference;
  uint64_t op = 2;
  {
    std::unique_ptr<Replica> opened = OpenLedger(path, /*use_io_uring=*/false, options);
    ASSERT_NE(opened, nullptr);
    ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened, reference));
    while (opened->engine().hot_transfer_count() < kHotTransfers / 2 - 10) {
      const std::vector<Transfer> batch = testing::TestTransfers(5, ++op);
      ASSERT_NO_FATAL_FAILURE(SubmitToBoth(*opened, reference, batch, op));
    }
    ASSERT_EQ(opened->cold_store()->run_count(), 0u);  // all of it in the snapshot's window
    ASSERT_TRUE(opened->WaitDurable(op).ok());
    ASSERT_TRUE(opened->SnapshotNow().ok());
    for (int i = 0; i < batches_replayed; ++i) {
      const std::vector<Transfer> batch = testing::TestTransfers(5, ++op);
      ASSERT_NO_FATAL_FAILURE(SubmitToBoth(*opened, reference, batch, op));
    }
    ASSERT_TRUE(opened->WaitDurable(op).ok());
  }
  std::unique_ptr<Replica> opened = OpenLedger(path, /*use_io_uring=*/false, options);
  ASSERT_NE(opened, nullptr);
  ASSERT_EQ(opened->recovery().replayed_entries, static_cast<uint64_t>(batches_replayed));
  const cold::ColdStore& store = *opened->cold_store();
  // A long replay writes runs while it recovers, of the same size.
  EXPECT_LE(store.transfer_count(), kRunFactsMax * store.run_count());
  uint64_t runs = store.run_count();
  uint64_t cold_transfers = store.transfer_count();
  for (int i = 0; i < 200; ++i) {
    const std::vector<Transfer> batch = testing::TestTransfers(5, ++op);
    ASSERT_NO_FATAL_FAILURE(SubmitToBoth(*opened, reference, batch, op));
    if (store.run_count() == runs) continue;
    EXPECT_LE(store.transfer_count() - cold_transfers, kRunFactsMax * (store.run_count() - runs))
        << "op " << op;
    runs = store.run_count();
    cold_transfers = store.transfer_count();
  }
  EXPECT_GE(runs, 5u);
  EXPECT_EQ(opened->engine().ComputeStateHash(), reference.ComputeStateHash());
}

INSTANTIATE_TEST_SUITE_P(Replica, RunsAfterARestart, ::testing::Values(0, 4, 30),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return absl::StrCat("AfterReplaying", param_info.param, "Entries");
                         });

// Byte for byte (memcmp must not see an empty vector's null data).
template <typename Record>
bool SameRecords(std::span<const Record> a, std::span<const Record> b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0);
}

// Old history read on another thread while batches apply (a server's history thread): each
// ColdHistory, taken between batches and used while later ones apply, answers lookups and
// history and balance pages as the engine does at the end, whenever it covers the question;
// ids in the window, never booked, or ranges that reach it are left to the engine.
TEST(Replica, ColdHistoryAnswersAsTheEngineWhileBatchesApply) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  ReplicaOptions options;
  options.engine.hot_transfers = kHotTransfers;
  std::unique_ptr<Replica> opened = OpenLedger(path, /*use_io_uring=*/false, options);
  ASSERT_NE(opened, nullptr);
  engine::Engine reference;
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened, reference));
  ASSERT_EQ(opened->TakeColdHistory(), nullptr);  // nothing cold yet

  // What the reader thread asked and was told.
  struct Lookup {
    TransferId id;
    bool answered;
    std::vector<Transfer> transfers;
    std::vector<FailedTransfer> failures;
  };
  struct Page {
    AccountFilter filter;
    bool balances_page = false;  // GetAccountBalances; else GetAccountTransfers
    std::optional<size_t> count;
    std::vector<Transfer> transfers;
    std::vector<AccountBalance> balances;
  };
  std::mutex mutex;
  std::shared_ptr<const ColdHistory> latest;
  std::atomic<uint64_t> last_op{0};
  std::atomic<uint64_t> first_timestamp_ns{0};
  std::atomic<bool> done{false};
  std::vector<Lookup> lookups;
  std::vector<Page> pages;
  std::thread reader([&] {
    std::mt19937_64 random(7);
    while (!done.load()) {
      std::shared_ptr<const ColdHistory> history;
      {
        std::lock_guard lock(mutex);
        history = latest;
      }
      if (history == nullptr) {
        std::this_thread::yield();
        continue;
      }
      Lookup lookup;
      const uint64_t op = 3 + random() % (last_op.load() - 2);
      lookup.id = TransferId::From((u128{op} << 32) | (random() % 10 == 0 ? 0xffff : random() % 9));
      lookup.answered =
          history->LookupTransfers({&lookup.id, 1}, lookup.transfers, lookup.failures);
      Page page;
      page.filter.account_id = AccountId::From(1 + random() % testing::kTestAccounts);
      // Half of the ranges end in the window, or beyond it.
      const uint64_t span_ns = 2 * (history->before_ns() - first_timestamp_ns.load());
      page.filter.timestamp_max_ns = first_timestamp_ns.load() + random() % span_ns;
      page.filter.timestamp_min_ns =
          random() % 3 == 0 ? page.filter.timestamp_max_ns - random() % span_ns : 0;
      page.filter.flags = static_cast<uint32_t>(random() % 8);  // debits, credits, reversed
      page.filter.code = static_cast<uint16_t>(random() % 3 == 0 ? random() % 3 : 0);
      page.filter.limit = static_cast<uint32_t>(1 + random() % 40);
      page.transfers.resize(page.filter.limit);
      page.count = history->GetAccountTransfers(page.filter, page.transfers);
      if (page.count) page.transfers.resize(*page.count);
      Page balances;
      balances.filter = page.filter;
      balances.balances_page = true;
      balances.balances.resize(page.filter.limit);
      balances.count = history->GetAccountBalances(balances.filter, balances.balances);
      if (balances.count) balances.balances.resize(*balances.count);
      std::lock_guard lock(mutex);
      lookups.push_back(std::move(lookup));
      pages.push_back(std::move(page));
      pages.push_back(std::move(balances));
    }
  });

  uint64_t op = 2;
  for (int i = 0; i < 400; ++i) {
    std::vector<Transfer> batch = BatchReachingBack(13, ++op);
    uint64_t timestamp_ns = 0;
    ASSERT_NO_FATAL_FAILURE(SubmitToBoth(*opened, reference, batch, op, &timestamp_ns));
    if (op == 3) first_timestamp_ns = timestamp_ns;
    last_op = op;
    if (i % 3 == 0) {  // the reader goes on with an older one meanwhile
      std::shared_ptr<const ColdHistory> history = opened->TakeColdHistory();
      std::lock_guard lock(mutex);
      if (history != nullptr) latest = std::move(history);
    }
  }
  done = true;
  reader.join();

  // Every answer the history gave is the engine's (and the all-in-memory reference's) now.
  size_t lookups_answered = 0, pages_answered = 0;
  for (const Lookup& lookup : lookups) {
    const std::optional<Transfer> transfer = opened->engine().LookupTransfer(lookup.id);
    const std::optional<FailedTransfer> failure = opened->engine().LookupFailedTransfer(lookup.id);
    const std::optional<Transfer> expected = reference.LookupTransfer(lookup.id);
    ASSERT_EQ(transfer.has_value(), expected.has_value());
    if (!lookup.answered) continue;
    ++lookups_answered;
    ASSERT_EQ(lookup.transfers.size() + lookup.failures.size(), 1u);
    if (!lookup.transfers.empty()) {
      ASSERT_TRUE(transfer.has_value());
      ASSERT_EQ(std::memcmp(&lookup.transfers[0], &*transfer, sizeof(Transfer)), 0);
    } else {
      ASSERT_TRUE(failure.has_value());
      ASSERT_EQ(lookup.failures[0], *failure);
    }
  }
  for (const Page& page : pages) {
    if (!page.count) continue;
    ++pages_answered;
    if (!page.balances_page) {
      std::vector<Transfer> engine_page(page.filter.limit), expected_page(page.filter.limit);
      engine_page.resize(opened->engine().GetAccountTransfers(page.filter, engine_page));
      expected_page.resize(reference.GetAccountTransfers(page.filter, expected_page));
      ASSERT_TRUE(SameRecords<Transfer>(page.transfers, engine_page));
      ASSERT_TRUE(SameRecords<Transfer>(page.transfers, expected_page));
    } else {
      std::vector<AccountBalance> engine_page(page.filter.limit);
      engine_page.resize(opened->engine().GetAccountBalances(page.filter, engine_page));
      ASSERT_TRUE(SameRecords<AccountBalance>(page.balances, engine_page));
    }
  }
  // Enough of each to mean something: cold answers, and questions left to the engine.
  EXPECT_GT(lookups_answered, lookups.size() / 4) << lookups.size();
  EXPECT_LT(lookups_answered, lookups.size());
  EXPECT_GT(pages_answered, 10u) << pages.size();
  EXPECT_LT(pages_answered, pages.size());
}

// Each snapshot writes only what is new since the previous one into its extent and names the
// older extents its window still reaches into; recovery from any kept snapshot gives the state
// and change feed the engine had; extents no kept snapshot names are deleted; a damaged or
// missing extent fails its snapshots by name and recovery goes back to the log.
TEST(Replica, SnapshotsShareExtentsAndRecoveryChecksThem) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  ReplicaOptions options;
  options.engine.change_feed_capacity = 300;
  options.engine.hot_transfers = 400;  // evicted under the extents
  std::unique_ptr<Replica> opened = OpenLedger(path, /*use_io_uring=*/false, options);
  ASSERT_NE(opened, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened));
  auto directory = Directory::Open(path, /*writable=*/false);
  ASSERT_TRUE(directory.ok());
  engine::EngineOptions restore_options = options.engine;  // over the replica's cold store
  restore_options.cold = opened->cold_store();
  uint64_t op = 2;
  uint64_t transfers_before = 0;
  size_t longest_chain = 0;
  for (size_t round = 0; round < 30; ++round) {
    if (round == 20) {  // the chain goes on from the snapshot recovery starts with
      opened.reset();
      opened = OpenLedger(path, /*use_io_uring=*/false, options);
      ASSERT_NE(opened, nullptr);
      restore_options.cold = opened->cold_store();
    }
    for (int i = 0; i < 12; ++i) {
      std::vector<Transfer> batch = testing::TestTransfers(23, ++op);
      std::vector<CreateTransferResult> results(batch.size());
      ASSERT_TRUE(opened->Submit<Transfer>(batch, results).ok());
    }
    ASSERT_TRUE(opened->SnapshotNow().ok());
    auto restored = RestoreSnapshot(**directory, op, restore_options);
    ASSERT_TRUE(restored.ok()) << restored.status();
    const engine::Engine& live = opened->engine();
    ASSERT_EQ(restored->engine->ComputeStateHash(), live.ComputeStateHash()) << round;
    ASSERT_EQ(restored->engine->change_sequence_oldest(), live.change_sequence_oldest());
    std::vector<Change> changes(300), expected_changes(300);
    changes.resize(restored->engine->GetChanges(live.change_sequence_oldest(), changes));
    expected_changes.resize(live.GetChanges(live.change_sequence_oldest(), expected_changes));
    ASSERT_EQ(changes.size(), expected_changes.size());
    ASSERT_EQ(std::memcmp(changes.data(), expected_changes.data(), changes.size() * sizeof(Change)),
              0);
    // This snapshot's extent holds what is new: the transfers and changes since the last one,
    // unless the chain was long enough to start again from the whole window.
    const uint64_t transfers_now = live.GetStats().transfer_count;
    const uint64_t new_transfers = transfers_now - transfers_before;
    transfers_before = transfers_now;
    const auto& extents = restored->extent_chain.extents;
    ASSERT_FALSE(extents.empty());
    ASSERT_LT(extents.size(), internal::kExtentsMax);  // the window moves on first
    EXPECT_EQ(extents.back().op, op);
    if (round > 0) {
      ASSERT_GT(extents.size(), 1u) << round;
      EXPECT_EQ(extents.back().transfer_count, new_transfers) << round;
    }
    longest_chain = std::max(longest_chain, extents.size());
    uint64_t window = 0;
    for (const internal::ExtentRef& ref : extents) window += ref.transfer_count;
    EXPECT_EQ(window, live.hot_transfer_count());
    // Kept: two snapshots and the extents they name, nothing else.
    auto snapshots = (*directory)->ListSnapshots();
    ASSERT_TRUE(snapshots.ok());
    ASSERT_LE(snapshots->size(), 2u);
    std::set<uint64_t> named;
    for (const uint64_t snapshot_op : *snapshots) {
      auto loaded = internal::LoadSnapshot(**directory, snapshot_op);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      for (const internal::ExtentRef& ref : loaded->chain.extents) named.insert(ref.op);
    }
    auto on_disk = (*directory)->ListExtents();
    ASSERT_TRUE(on_disk.ok());
    EXPECT_EQ(*on_disk, std::vector<uint64_t>(named.begin(), named.end()));
  }
  EXPECT_GE(longest_chain, 5u);  // the window reaches back a few snapshots
  const engine::StateHash expected = opened->engine().ComputeStateHash();
  const auto newest = (*directory)->ListSnapshots();
  ASSERT_TRUE(newest.ok() && newest->size() == 2);
  auto chain = RestoreSnapshot(**directory, newest->front(), restore_options);
  ASSERT_TRUE(chain.ok());
  opened.reset();

  // A bit flipped in the newest snapshot's oldest extent, then that extent gone: each time the
  // snapshots naming it are skipped with its name, and recovery replays the log instead.
  const std::string damaged = (*directory)->ExtentPath(chain->extent_chain.extents.front().op);
  FlipABitInTheMiddle(damaged);
  for (int pass = 0; pass < 2; ++pass) {
    RecoveryOptions recovery;
    recovery.engine = options.engine;
    recovery.engine.hot_transfers = 0;  // everything replayed into memory
    recovery.cut_torn_tail = false;
    auto recovered = Recover(**directory, recovery);
    ASSERT_TRUE(recovered.ok()) << recovered.status();
    ASSERT_FALSE(recovered->notes.empty());
    EXPECT_NE(recovered->notes.front().find(damaged), std::string::npos)
        << recovered->notes.front();
    EXPECT_EQ(recovered->engine->ComputeStateHash(), expected);
    std::filesystem::remove(damaged);
  }
}

// A stop right after a start from a snapshot takes a snapshot again at the same op: it must not
// write that op's extent anew (the snapshot it replaces, and itself, name the old one), whether
// the feed was in the snapshot file (more changes than the feed holds since the one before) or
// in the extents.
class SnapshotAgain : public ::testing::TestWithParam<uint64_t> {};

TEST_P(SnapshotAgain, AtTheSameOpRestoresAfterwards) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  ReplicaOptions options;
  options.engine.change_feed_capacity = GetParam();
  options.engine.hot_transfers = 400;
  std::unique_ptr<Replica> opened = OpenLedger(path, /*use_io_uring=*/false, options);
  ASSERT_NE(opened, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts(*opened));
  uint64_t op = 2;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 12; ++i) {
      std::vector<Transfer> batch = testing::TestTransfers(23, ++op);
      std::vector<CreateTransferResult> results(batch.size());
      ASSERT_TRUE(opened->Submit<Transfer>(batch, results).ok());
    }
    ASSERT_TRUE(opened->SnapshotNow().ok());
  }
  // The last snapshot's extent, which the snapshots again at its op name.
  auto directory = Directory::Open(path, /*writable=*/false);
  ASSERT_TRUE(directory.ok());
  ASSERT_TRUE(std::filesystem::exists((*directory)->ExtentPath(op)));
  const engine::StateHash expected = opened->engine().ComputeStateHash();
  std::vector<std::string> notes;  // outlives every replica that logs into it
  options.log = [&notes](std::string_view line) { notes.emplace_back(line); };
  for (int start = 0; start < 3; ++start) {
    opened.reset();
    notes.clear();
    opened = OpenLedger(path, /*use_io_uring=*/false, options);
    ASSERT_NE(opened, nullptr);
    EXPECT_EQ(opened->recovery().snapshot_op, op) << absl::StrJoin(notes, "\n");
    EXPECT_EQ(opened->engine().ComputeStateHash(), expected);
    ASSERT_TRUE(opened->SnapshotNow().ok());
  }
  opened.reset();  // before `notes`
}

INSTANTIATE_TEST_SUITE_P(ChangeFeed, SnapshotAgain, ::testing::Values(10, 5000),
                         [](const ::testing::TestParamInfo<uint64_t>& param_info) {
                           return absl::StrCat("Capacity", param_info.param);
                         });

// A chain of extents_max extents makes the next snapshot write its whole window into one
// extent; every snapshot restores to the state and change feed it was taken of. With a feed
// shorter than the changes between two snapshots, the changes go into the snapshot file (no
// later one shares them), otherwise into the extents; the writer switches as the load does.
class ExtentChains : public ::testing::TestWithParam<uint64_t> {};

TEST_P(ExtentChains, StartAgainFromTheWholeWindowAndKeepTheFeed) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  auto directory = Directory::Open(path, /*writable=*/true);
  ASSERT_TRUE(directory.ok());
  engine::EngineOptions options;
  options.change_feed_capacity = GetParam();
  engine::Engine engine(options);
  uint64_t timestamp_ns = 1000;
  Ledger ledger = testing::TestLedger();
  CreateLedgerResult ledger_result;
  engine.CreateLedgers({&ledger, 1}, ++timestamp_ns, {&ledger_result, 1});
  std::vector<Account> accounts = testing::TestAccounts();
  std::vector<CreateAccountResult> account_results(accounts.size());
  engine.CreateAccounts(accounts, timestamp_ns += 10, account_results);
  internal::SnapshotWriter writer(**directory, {}, /*extents_max=*/3);
  std::vector<size_t> chain_sizes;
  for (uint64_t op = 3; op < 11; ++op) {
    std::vector<Transfer> batch = testing::TestTransfers(5, op);
    std::vector<CreateTransferResult> results(batch.size());
    engine.CreateTransfers(batch, timestamp_ns += 100, results);
    const std::unique_ptr<engine::EngineSnapshot> image =
        engine.CaptureSnapshot(writer.NextCapture());
    ASSERT_TRUE(writer.Write(*image, op, wal::Hash128{op, 0}).ok());
    chain_sizes.push_back(writer.chain().extents.size());
    auto restored = RestoreSnapshot(**directory, op, options);
    ASSERT_TRUE(restored.ok()) << restored.status();
    ASSERT_EQ(restored->engine->ComputeStateHash(), engine.ComputeStateHash()) << op;
    ASSERT_EQ(restored->engine->change_sequence_oldest(), engine.change_sequence_oldest());
    std::vector<Change> changes(GetParam()), expected(GetParam());
    changes.resize(restored->engine->GetChanges(engine.change_sequence_oldest(), changes));
    expected.resize(engine.GetChanges(engine.change_sequence_oldest(), expected));
    ASSERT_EQ(changes.size(), expected.size());
    for (size_t i = 0; i < changes.size(); ++i) {
      ASSERT_EQ(std::memcmp(&changes[i], &expected[i], sizeof(Change)), 0) << op << " " << i;
    }
  }
  EXPECT_EQ(chain_sizes, (std::vector<size_t>{1, 2, 3, 1, 2, 3, 1, 2}));
  // The writer prunes from what it wrote, reading no snapshot file (a whole read hashed the
  // feed's 170 MB at every snapshot). A writer that did not write them reads them, and keeps
  // every extent while one does not read back: shown here with the newest one damaged.
  const std::string newest = (*directory)->SnapshotPath(10);
  FlipABitInTheMiddle(newest);
  internal::SnapshotWriter fresh(**directory, {}, /*extents_max=*/3);
  ASSERT_TRUE(fresh.Prune(1).ok());
  auto extents = (*directory)->ListExtents();
  ASSERT_TRUE(extents.ok());
  EXPECT_EQ(*extents, (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9, 10}));
  ASSERT_TRUE(writer.Prune(1).ok());
  extents = (*directory)->ListExtents();
  ASSERT_TRUE(extents.ok());
  EXPECT_EQ(*extents, (std::vector<uint64_t>{9, 10}));
}

INSTANTIATE_TEST_SUITE_P(ChangeFeed, ExtentChains, ::testing::Values(1000, 3),
                         [](const ::testing::TestParamInfo<uint64_t>& param_info) {
                           return absl::StrCat("Capacity", param_info.param);
                         });

}  // namespace
}  // namespace ledger::replica
