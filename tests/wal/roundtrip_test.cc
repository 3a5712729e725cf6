// The whole path: init, append batches through the sequencer, recover, compare with an engine
// that applied the same batches directly.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/log_writer.h"
#include "wal/recovery.h"
#include "wal/sequencer.h"

namespace ledger::wal {
namespace {

using testing::TemporaryDirectory;

struct Opened {
  std::unique_ptr<Directory> directory;
  Recovered recovered;
  std::unique_ptr<LogWriter> writer;
  std::unique_ptr<Sequencer> sequencer;
};

Opened OpenLedger(const std::string& path, bool use_io_uring, SequencerOptions options = {}) {
  Opened opened;
  auto directory = Directory::Open(path, /*writable=*/true);
  EXPECT_TRUE(directory.ok()) << directory.status();
  opened.directory = std::move(*directory);
  auto recovered = Recover(*opened.directory, {});
  EXPECT_TRUE(recovered.ok()) << recovered.status();
  opened.recovered = std::move(*recovered);
  WriterOptions writer_options;
  writer_options.use_io_uring = use_io_uring;
  writer_options.buffer_bytes = uint64_t{2} << 20;
  auto writer = LogWriter::Open(*opened.directory, opened.recovered.log.end,
                                opened.recovered.log.last_op + 1, writer_options);
  EXPECT_TRUE(writer.ok()) << writer.status();
  opened.writer = std::move(*writer);
  opened.sequencer = std::make_unique<Sequencer>(
      *opened.recovered.engine, *opened.writer, *opened.directory, opened.recovered.log.last_op,
      opened.recovered.log.last_chain_hash, std::move(options));
  return opened;
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
    Opened opened = OpenLedger(path, GetParam());
    ASSERT_EQ(opened.recovered.log.last_op, op);
    ASSERT_EQ(opened.recovered.engine->ComputeStateHash(), reference.ComputeStateHash());
    if (op == 0) {
      Ledger ledger = testing::TestLedger();
      CreateLedgerResult ledger_result;
      auto receipt = opened.sequencer->CreateLedgers({&ledger, 1}, {&ledger_result, 1});
      ASSERT_TRUE(receipt.ok());
      reference.CreateLedgers({&ledger, 1}, receipt->timestamp_ns, {&ledger_result, 1});
      std::vector<Account> accounts = testing::TestAccounts();
      std::vector<CreateAccountResult> results(accounts.size());
      receipt = opened.sequencer->CreateAccounts(accounts, results);
      ASSERT_TRUE(receipt.ok());
      reference.CreateAccounts(accounts, receipt->timestamp_ns, results);
      op = 2;
    }
    // Enough bytes to fill a 4 MiB segment or two: 600 ops of up to 60 transfers.
    for (int i = 0; i < 600; ++i) {
      std::vector<Transfer> batch = testing::TestTransfers(seed, ++op, 60);
      std::vector<CreateTransferResult> results(batch.size());
      std::vector<CreateTransferResult> expected(batch.size());
      auto receipt = opened.sequencer->CreateTransfers(batch, results);
      ASSERT_TRUE(receipt.ok());
      ASSERT_EQ(receipt->op, op);
      reference.CreateTransfers(batch, receipt->timestamp_ns, expected);
      ASSERT_EQ(results, expected);
    }
    ASSERT_TRUE(opened.writer->WaitDurable(op).ok());
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

TEST(Directory, OpenRefusesMissingForeignAndLockedDirectories) {
  TemporaryDirectory temporary;
  auto missing = Directory::Open(temporary.Sub("nope"), true);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  auto not_ledger = Directory::Open(temporary.path(), true);
  EXPECT_EQ(not_ledger.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  EXPECT_EQ(Directory::Init(path, {}).code(), absl::StatusCode::kAlreadyExists);
  auto first = Directory::Open(path, true);
  ASSERT_TRUE(first.ok());
  auto second = Directory::Open(path, true);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  auto reader = Directory::Open(path, false);
  EXPECT_TRUE(reader.ok());
}

TEST(Sequencer, SnapshotsAreWrittenAndRecoveryUsesTheNewest) {
  TemporaryDirectory temporary;
  const std::string path = temporary.Sub("data");
  ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
  engine::StateHash expected;
  {
    SequencerOptions options;
    options.snapshot_interval_ops = 50;
    Opened opened = OpenLedger(path, true, std::move(options));
    Ledger ledger = testing::TestLedger();
    CreateLedgerResult ledger_result;
    ASSERT_TRUE(opened.sequencer->CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok());
    std::vector<Account> accounts = testing::TestAccounts();
    std::vector<CreateAccountResult> account_results(accounts.size());
    ASSERT_TRUE(opened.sequencer->CreateAccounts(accounts, account_results).ok());
    for (uint64_t op = 3; op <= 230; ++op) {
      std::vector<Transfer> batch = testing::TestTransfers(11, op);
      std::vector<CreateTransferResult> results(batch.size());
      ASSERT_TRUE(opened.sequencer->CreateTransfers(batch, results).ok());
    }
    ASSERT_TRUE(opened.writer->WaitDurable(230).ok());
    opened.sequencer.reset();  // waits for the snapshot in progress
    expected = opened.recovered.engine->ComputeStateHash();
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

}  // namespace
}  // namespace ledger::wal
