// The whole replica (sequencer, log writer, snapshots, recovery, engine) on a simulated disk
// (tests/wal/memory_storage.h) that crashes at a random I/O operation and tears the writes not
// yet synced (none, all, some sectors, or a prefix cut at any byte), fails syncs and drops the
// unsynced pages (fsyncgate), runs out of space, and fails reads during recovery. After each
// crash the replica opens again, and:
// - every acknowledged op is there: recovery never starts with less;
// - the state is exactly the reference engine's after the same batches at the log's
//   timestamps (the log holds what was submitted, nothing else);
// - a recovery that cannot read its disk refuses (an error), and the next one, without the
//   fault, recovers in full.
//
// LEDGER_SEED=N replays one seed; LEDGER_SIM_SECONDS=S runs seeds for S seconds (the long mode);
// by default kSeeds seeds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "replica/log_schema.h"
#include "replica/replica.h"
#include "tests/wal/memory_storage.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

namespace ledger::replica {
namespace {

using wal::testing::MemoryStorage;
namespace testing = wal::testing;

constexpr char kPath[] = "data";
// ~140 ms of CPU a seed in release. The sanitizers, three (ASan) to ten (TSan) times slower,
// check the memory and the threads of the same code on fewer.
#if defined(__SANITIZE_THREAD__)
constexpr uint64_t kSeeds = 30;
#elif defined(__SANITIZE_ADDRESS__)
constexpr uint64_t kSeeds = 60;
#else
constexpr uint64_t kSeeds = 200;
#endif
constexpr int kRounds = 4;            // crashes per seed
constexpr uint64_t kBatchesMax = 24;  // submitted per round at most

// What the faults did, over all seeds.
struct Tally {
  uint64_t seeds = 0;
  std::atomic<uint64_t> crashes{0};  // these three counted on the replica's threads too
  std::atomic<uint64_t> sync_failures{0};
  std::atomic<uint64_t> disk_full{0};
  std::atomic<uint64_t> misdirected{0};
  uint64_t refused_after_misdirect = 0;  // recoveries that found the damage and refused
  uint64_t read_errors = 0;
  uint64_t recoveries = 0;
  uint64_t acknowledged = 0;
  uint64_t lost_unacknowledged = 0;  // ops logged but not acknowledged, gone after a crash
};

// Tables for the few hundred transfers a seed books: an engine's default ones cost more to
// build than the whole seed.
engine::EngineOptions SmallEngine() {
  engine::EngineOptions options;
  options.accounts_capacity = 64;
  options.transfers_capacity = 1024;
  return options;
}

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : seed_(seed), random_(seed), tear_(seed ^ 0x7ea5) {}

  void Run(Tally& tally) {
    ASSERT_TRUE(
        wal::Directory::Init(kPath, {.segment_size_bytes = wal::kSegmentSizeMinBytes}, disk_).ok());
    disk_.failed_sync_drops_pages = true;
    for (int round = 0; round < kRounds && !::testing::Test::HasFailure(); ++round) {
      std::unique_ptr<Replica> replica = Recover(tally);
      if (replica == nullptr) return;
      Book(*replica, tally);
      replica.reset();  // its writes fail after the crash; it closes all the same
      disk_.fault = nullptr;
      disk_.misdirect = nullptr;
      disk_.Restart();
    }
    ++tally.seeds;
  }

 private:
  // Opens the replica, once perhaps with read errors (it must then refuse, not start short),
  // and checks what it recovered.
  std::unique_ptr<Replica> Recover(Tally& tally) {
    if (random_() % 4 == 0) {
      const uint64_t failing_read = random_() % 40;
      auto reads = std::make_shared<std::atomic<uint64_t>>(0);
      disk_.fault = [reads, failing_read](std::string_view operation, const std::string&) {
        if (operation == "read" && reads->fetch_add(1) == failing_read) {
          return absl::DataLossError("simulated: the sector does not read (EIO)");
        }
        return absl::OkStatus();
      };
      absl::StatusOr<std::unique_ptr<Replica>> opened = Open();
      disk_.fault = nullptr;
      if (!opened.ok()) {
        ++tally.read_errors;
      } else {
        Check(**opened);
        if (::testing::Test::HasFailure()) return nullptr;
        opened->reset();
      }
    }
    absl::StatusOr<std::unique_ptr<Replica>> opened = Open();
    if (!opened.ok() && misdirected_->load() && absl::IsDataLoss(opened.status())) {
      // A group written where another belongs: damage the log shows, refused with its place.
      ++tally.refused_after_misdirect;
      return nullptr;
    }
    EXPECT_TRUE(opened.ok()) << "seed " << seed_ << ": " << opened.status();
    if (!opened.ok()) return nullptr;
    ++tally.recoveries;
    Check(**opened);
    return ::testing::Test::HasFailure() ? nullptr : std::move(*opened);
  }

  absl::StatusOr<std::unique_ptr<Replica>> Open() {
    ReplicaOptions options;
    options.use_io_uring = false;
    options.storage = &disk_;
    options.writer_buffer_bytes = uint64_t{2} << 20;
    options.snapshot_interval_ops = 3 + seed_ % 9;
    options.engine = SmallEngine();
    return Replica::Open(kPath, std::move(options));
  }

  // Acknowledged ops survive; the state is the reference's after the logged batches.
  void Check(const Replica& replica) {
    const uint64_t last_op = replica.last_op();
    ASSERT_GE(last_op, acknowledged_op_) << "seed " << seed_ << ": acknowledged ops lost";
    ASSERT_LE(last_op, planned_.size()) << "seed " << seed_ << ": ops nobody submitted";
    const std::vector<uint64_t> timestamps = LogTimestamps(last_op);
    ASSERT_EQ(timestamps.size(), last_op + 1) << "seed " << seed_;
    engine::Engine reference(SmallEngine());
    for (uint64_t op = 1; op <= last_op; ++op) Apply(reference, op, timestamps[op]);
    ASSERT_EQ(replica.engine().ComputeStateHash(), reference.ComputeStateHash())
        << "seed " << seed_ << ": state differs at op " << last_op;
    planned_.resize(last_op);  // what was not logged is submitted anew, as new batches
  }

  // Each op's timestamp in the log (index = op).
  std::vector<uint64_t> LogTimestamps(uint64_t last_op) {
    std::vector<uint64_t> timestamps(1, 0);
    absl::StatusOr<std::unique_ptr<wal::Directory>> directory =
        wal::Directory::Open(kPath, /*writable=*/false, disk_);
    EXPECT_TRUE(directory.ok()) << directory.status();
    if (!directory.ok()) return timestamps;
    const absl::StatusOr<wal::ScanResult> scanned =
        wal::ScanLog(**directory, LogScanOptions(),
                     [&](const wal::EntryHeader& header, std::span<const std::byte>) {
                       if (header.op <= last_op) timestamps.push_back(header.timestamp_ns);
                       return absl::OkStatus();
                     });
    EXPECT_TRUE(scanned.ok()) << scanned.status();
    return timestamps;
  }

  void Apply(engine::Engine& reference, uint64_t op, uint64_t timestamp_ns) {
    if (op == 1) {
      const Ledger ledger = testing::TestLedger();
      CreateLedgerResult result;
      reference.CreateLedgers({&ledger, 1}, timestamp_ns, {&result, 1});
    } else if (op == 2) {
      const std::vector<Account> accounts = testing::TestAccounts();
      std::vector<CreateAccountResult> results(accounts.size());
      reference.CreateAccounts(accounts, timestamp_ns, results);
    } else {
      const std::vector<Transfer>& batch = planned_[op - 1];
      std::vector<CreateTransferResult> results(batch.size());
      reference.CreateTransfers(batch, timestamp_ns, results);
    }
  }

  // Submits batches until the disk crashes (at a random operation) or fails.
  void Book(Replica& replica, Tally& tally) {
    ArmFaults(tally);
    const uint64_t batches = 1 + random_() % kBatchesMax;
    for (uint64_t i = 0; i < batches; ++i) {
      const uint64_t op = replica.last_op() + 1;
      absl::Status status;
      if (op == 1) {
        planned_.emplace_back();
        Ledger ledger = testing::TestLedger();
        CreateLedgerResult result;
        status = replica.Submit<Ledger>({&ledger, 1}, {&result, 1}).status();
      } else if (op == 2) {
        planned_.emplace_back();
        std::vector<Account> accounts = testing::TestAccounts();
        std::vector<CreateAccountResult> results(accounts.size());
        status = replica.Submit<Account>(accounts, results).status();
      } else {
        planned_.push_back(testing::TestTransfers(seed_ * 1000 + generation_, op, 40));
        std::vector<CreateTransferResult> results(planned_.back().size());
        status = replica.Submit<Transfer>(planned_.back(), results).status();
      }
      if (!status.ok()) break;
      if (i % 3 == 2 || i + 1 == batches) {
        if (!replica.WaitDurable(op).ok()) break;
        tally.acknowledged += op - acknowledged_op_;
        acknowledged_op_ = op;
      }
    }
    if (!crashed_->load()) {
      // The process dies: what it logged and did not sync may be torn.
      std::lock_guard lock(*tear_mutex_);
      disk_.Crash(&tear_);
      ++tally.crashes;
    }
    const uint64_t logged = replica.last_op();
    tally.lost_unacknowledged += logged - acknowledged_op_;  // at most: some may survive
    ++generation_;
  }

  // A crash at a random I/O operation, and now and then a failed sync or a full disk first.
  void ArmFaults(Tally& tally) {
    crashed_ = std::make_shared<std::atomic<bool>>(false);
    const uint64_t crash_at = 1 + random_() % 60;
    const uint64_t fail_kind = random_() % 6;  // 0: a sync fails, 1: the disk is full, 2: a
                                               // segment write lands elsewhere
    const uint64_t fail_at = random_() % 40;
    auto count = std::make_shared<std::atomic<uint64_t>>(0);
    if (fail_kind == 2) {
      const int64_t shift_blocks = static_cast<int64_t>(random_() % 7) - 3;
      auto writes = std::make_shared<std::atomic<uint64_t>>(0);
      disk_.misdirect = [this, writes, shift_blocks, &tally, misdirected = misdirected_](
                            const std::string& path, uint64_t offset,
                            uint64_t size_bytes) -> std::optional<uint64_t> {
        if (path.find("/wal-") == std::string::npos || shift_blocks == 0 ||
            writes->fetch_add(1) != 2) {
          return std::nullopt;
        }
        const int64_t to = static_cast<int64_t>(offset) + shift_blocks * int64_t{4096};
        if (to < 4096 || static_cast<uint64_t>(to) + size_bytes > wal::kSegmentSizeMinBytes) {
          return std::nullopt;
        }
        ++tally.misdirected;
        misdirected->store(true);
        return static_cast<uint64_t>(to);
      };
    }
    disk_.fault = [this, count, crash_at, fail_kind, fail_at, &tally, crashed = crashed_](
                      std::string_view operation, const std::string&) {
      const uint64_t n = count->fetch_add(1);
      if (n == fail_at && fail_kind == 0 && operation == "sync") {
        ++tally.sync_failures;
        return absl::DataLossError("simulated: fsync failed (EIO); its pages are dropped");
      }
      if (n >= fail_at && fail_kind == 1 && (operation == "write" || operation == "allocate")) {
        ++tally.disk_full;
        return absl::ResourceExhaustedError("simulated: no space left on device");
      }
      if (n == crash_at && !crashed->exchange(true)) {
        std::lock_guard lock(*tear_mutex_);
        disk_.Crash(&tear_);
        ++tally.crashes;
        return absl::UnavailableError("simulated: the machine stopped");
      }
      return absl::OkStatus();
    };
  }

  const uint64_t seed_;
  std::mt19937_64 random_;
  std::mt19937_64 tear_;
  std::shared_ptr<std::mutex> tear_mutex_ = std::make_shared<std::mutex>();
  std::shared_ptr<std::atomic<bool>> crashed_ = std::make_shared<std::atomic<bool>>(false);
  // A misdirected write happened since the seed began: recovery may then refuse.
  std::shared_ptr<std::atomic<bool>> misdirected_ = std::make_shared<std::atomic<bool>>(false);
  MemoryStorage disk_;
  std::vector<std::vector<Transfer>> planned_;  // index op - 1; empty for ops 1 and 2
  uint64_t acknowledged_op_ = 0;
  uint64_t generation_ = 0;
};

TEST(Simulator, AcknowledgedOpsSurviveCrashesTornWritesAndDiskFaultsWithTheReferenceState) {
  Tally tally;
  const char* replay = std::getenv("LEDGER_SEED");
  const char* seconds = std::getenv("LEDGER_SIM_SECONDS");
  const uint64_t first_seed = replay != nullptr ? std::strtoull(replay, nullptr, 10) : 1;
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::seconds(seconds != nullptr ? std::strtoull(seconds, nullptr, 10) : 0);
  for (uint64_t seed = first_seed;; ++seed) {
    if (replay != nullptr && seed != first_seed) break;
    if (replay == nullptr && seconds == nullptr && seed >= first_seed + kSeeds) break;
    if (seconds != nullptr && std::chrono::steady_clock::now() >= deadline) break;
    SCOPED_TRACE(absl::StrCat("LEDGER_SEED=", seed));
    Simulation(seed).Run(tally);
    if (HasFailure()) break;
  }
  std::printf(
      "[   SIM    ] seeds %lu, crashes %lu, failed syncs %lu, disk-full writes %lu, misdirected "
      "writes %lu (refused after: %lu), failed recoveries (read errors) %lu, recoveries checked "
      "%lu, ops acknowledged %lu, logged but unacknowledged at a crash %lu\n",
      static_cast<unsigned long>(tally.seeds), static_cast<unsigned long>(tally.crashes.load()),
      static_cast<unsigned long>(tally.sync_failures.load()),
      static_cast<unsigned long>(tally.disk_full.load()),
      static_cast<unsigned long>(tally.misdirected.load()),
      static_cast<unsigned long>(tally.refused_after_misdirect),
      static_cast<unsigned long>(tally.read_errors), static_cast<unsigned long>(tally.recoveries),
      static_cast<unsigned long>(tally.acknowledged),
      static_cast<unsigned long>(tally.lost_unacknowledged));
  EXPECT_GT(tally.crashes, 0u);
}

}  // namespace
}  // namespace ledger::replica
