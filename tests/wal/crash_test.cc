// The crash test: a child process (crash_child.cc) appends through the sequencer under load and
// is killed with SIGKILL at a random moment, again and again. After each kill the directory is
// recovered here and held to what the child acknowledged:
//   - every acknowledged op survived (the recovered log reaches the highest one);
//   - every entry holds, byte for byte, the batch the workload defines for its op, so nothing
//     appeared that the child did not write;
//   - the recovered engine's trial balance holds, and recovery from the newest snapshot reaches
//     the state hash of a replay from genesis.
// Each directory runs on 1 to 4 shards (docs/shards.md): the child and the recovery here use
// that many, the replay from genesis one, so a crash of a sharded ledger is held to the state
// a single-shard replay of the same log reaches.
// The child snapshots every kSnapshotIntervalOps and writes 4 MiB segments, so kills also land
// in snapshot writing and segment creation; one kill in kEarlyKillOneIn lands in its start-up
// (recovery, cutting a torn tail). A directory takes kKillsPerDirectory kills, so recovery
// also meets what earlier crashes left, then a fresh one keeps the replays short.
//
//   LEDGER_SEED=<n>              replays a run's workload and kill schedule (not its timing)
//   LEDGER_CRASH_ITERATIONS=<n>  kills per run (default 50)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/assert.h"
#include "engine/engine.h"
#include "engine/operation.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "tests/build_path.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

#ifndef LEDGER_WAL_CRASH_CHILD_FROM_BUILD
#error "LEDGER_WAL_CRASH_CHILD_FROM_BUILD must name wal_crash_child (tests/CMakeLists.txt)"
#endif

#if defined(__SANITIZE_THREAD__)
#define LEDGER_CRASH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LEDGER_CRASH_TSAN 1
#endif
#endif

namespace ledger::wal {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint64_t kIterationsDefault = 50;
constexpr uint64_t kKillsPerDirectory = 10;
constexpr uint64_t kSnapshotIntervalOps = 20;
constexpr uint64_t kEarlyKillOneIn = 8;
constexpr int64_t kEarlyKillDelayMsMax = 20;  // from the spawn
constexpr int64_t kKillDelayMsMin = 5;        // from "ready"
constexpr int64_t kKillDelayMsMax = 150;
// Start-up is recovery of at most kKillsPerDirectory kills' worth of log: well under a second
// even under ASan. Past this the child is stuck.
constexpr auto kReadyTimeout = std::chrono::seconds(60);
// count_max of op N is kCountMaxList[N % size]: mostly small batches (many entries per group,
// many ops between kills), some full ones (1.25 MB: back-pressure on the 2 MiB buffers, and a
// segment switch every three).
const std::vector<size_t> kCountMaxList = {4, 8, 16, 60, 4, 200, 8, 1000, 16, 8190};

// ---------------------------------------------------------------------------------------------
// Environment knobs

uint64_t EnvironmentNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

// ---------------------------------------------------------------------------------------------
// The workload: what each op of the log must hold

using engine::Operation;
using replica::Recover;
using replica::RecoveryOptions;

struct ExpectedEntry {
  Operation operation;
  uint32_t event_count;
  std::vector<std::byte> body;
};

template <typename Event>
ExpectedEntry MakeExpected(Operation operation, const std::vector<Event>& events) {
  const auto bytes = std::as_bytes(std::span(events));
  return {operation, static_cast<uint32_t>(events.size()), {bytes.begin(), bytes.end()}};
}

ExpectedEntry ExpectedEntryOf(uint64_t seed, uint64_t op) {
  if (op == 1) return MakeExpected(Operation::kCreateLedgers, std::vector{testing::TestLedger()});
  if (op == 2) return MakeExpected(Operation::kCreateAccounts, testing::TestAccounts());
  return MakeExpected(Operation::kCreateTransfers,
                      testing::TestTransfers(seed, op, kCountMaxList[op % kCountMaxList.size()]));
}

// ---------------------------------------------------------------------------------------------
// The child process

// What the child said before it died: "ready <last op> <snapshot op>", then acknowledged ops.
struct ChildReport {
  bool ready = false;
  uint64_t ready_last_op = 0;
  uint64_t ready_snapshot_op = 0;
  uint64_t acknowledged_count = 0;
  uint64_t acknowledged_max = 0;  // 0: none
  std::string protocol_error;     // a line out of place
  std::string partial_line;
};

void ParseLine(const std::string& line, ChildReport& report) {
  if (!report.protocol_error.empty()) return;
  if (line.rfind("ready ", 0) == 0) {
    unsigned long long last_op = 0, snapshot_op = 0;
    if (report.ready || std::sscanf(line.c_str(), "ready %llu %llu", &last_op, &snapshot_op) != 2) {
      report.protocol_error = "unexpected line: " + line;
      return;
    }
    report.ready = true;
    report.ready_last_op = last_op;
    report.ready_snapshot_op = snapshot_op;
    report.acknowledged_max = last_op;
    return;
  }
  // Acknowledgements come in op order, each exactly once, right after what recovery found.
  const uint64_t op = std::strtoull(line.c_str(), nullptr, 10);
  if (!report.ready || op != report.acknowledged_max + 1) {
    report.protocol_error =
        absl::StrCat("unexpected line '", line, "' after op ", report.acknowledged_max);
    return;
  }
  report.acknowledged_max = op;
  ++report.acknowledged_count;
}

// This process's environment, except that under ThreadSanitizer a race in the child stops it
// at once: by default TSan reports and carries on, and a child killed later would pass.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> environment;
  for (char** variable = environ; *variable != nullptr; ++variable) {
    environment.emplace_back(*variable);
  }
#ifdef LEDGER_CRASH_TSAN
  const char* options = std::getenv("TSAN_OPTIONS");
  std::erase_if(environment, [](const std::string& v) { return v.starts_with("TSAN_OPTIONS="); });
  environment.push_back(
      absl::StrCat("TSAN_OPTIONS=", options == nullptr ? "" : options, " halt_on_error=1"));
#endif
  return environment;
}

class ChildProcess {
 public:
  // Runs `program args...` with its stdout a pipe read by this object; stderr is shared.
  explicit ChildProcess(const std::vector<std::string>& arguments) {
    int fds[2];
    LEDGER_ASSERT(pipe2(fds, O_CLOEXEC) == 0, errno);
    std::vector<char*> argv;
    for (const std::string& argument : arguments)
      argv.push_back(const_cast<char*>(argument.data()));
    argv.push_back(nullptr);
    std::vector<std::string> environment = ChildEnvironment();
    std::vector<char*> envp;
    for (std::string& variable : environment) envp.push_back(variable.data());
    envp.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    LEDGER_ASSERT(pid_ >= 0, errno);
    if (pid_ == 0) {
      // Async-signal-safe calls only until exec. The child sets PR_SET_PDEATHSIG itself too;
      // this covers the moment before it gets there.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      if (dup2(fds[1], STDOUT_FILENO) < 0) _exit(126);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(fds[1]);
    stdout_fd_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0) Kill();
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  // Reads the child's lines until `stop` holds, `deadline` passes or its stdout closes (false).
  template <typename Stop>
  bool Read(Clock::time_point deadline, ChildReport& report, Stop stop) {
    char buffer[4096];
    while (!stop()) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return true;
      pollfd poll_fd{stdout_fd_, POLLIN, 0};
      const int ready = poll(&poll_fd, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      LEDGER_ASSERT(ready >= 0, errno);
      if (ready == 0) continue;
      const ssize_t count = read(stdout_fd_, buffer, sizeof(buffer));
      if (count < 0 && errno == EINTR) continue;
      LEDGER_ASSERT(count >= 0, errno);
      if (count == 0) return false;
      for (ssize_t i = 0; i < count; ++i) {
        if (buffer[i] != '\n') {
          report.partial_line.push_back(buffer[i]);
          continue;
        }
        ParseLine(report.partial_line, report);
        report.partial_line.clear();
      }
    }
    return true;
  }

  // SIGKILL, reap, and collect every line it wrote before dying (those acks count too).
  // Returns the wait status.
  int Kill(ChildReport* report = nullptr) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (report != nullptr) {
      // The pipe closes with the child; a deadline only guards against a stray holder.
      Read(Clock::now() + std::chrono::seconds(10), *report, [] { return false; });
    }
    return status;
  }
  int Reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
};

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

// ---------------------------------------------------------------------------------------------
// Checking a crashed directory

struct Totals {
  uint64_t kills = 0;
  uint64_t early_kills = 0;
  uint64_t acknowledged_ops = 0;
  uint64_t torn_tails = 0;
  uint64_t snapshot_recoveries = 0;
  uint64_t entries_checked = 0;
  uint64_t log_ops_max = 0;
  uint64_t io_uring_runs = 0;
  uint64_t child_snapshot_starts = 0;  // child start-ups that recovered from a snapshot
  uint64_t unacknowledged_ops = 0;     // in the log, but the kill came before the ack
  uint64_t snapshot_leftovers = 0;     // kills during a snapshot write (its .tmp was left)
  uint64_t segment_leftovers = 0;      // kills during a segment's creation
};

// Snapshot and segment files still under their .tmp name: what kills left half-made.
struct Leftovers {
  uint64_t snapshots = 0;
  uint64_t segments = 0;
};
Leftovers CountLeftovers(const std::string& path) {
  Leftovers leftovers;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(".tmp")) continue;
    leftovers.snapshots += name.starts_with("snapshot-") ? 1 : 0;
    leftovers.segments += name.starts_with("wal-") ? 1 : 0;
  }
  return leftovers;
}

// Recovers `path` as the child's successor would, holds it to the acknowledgements and the
// workload, and returns the op the log ends at.
uint64_t CheckRecoveredDirectory(const std::string& path, uint64_t seed, uint64_t acknowledged_max,
                                 uint32_t shard_count, Totals& totals) {
  auto directory = Directory::Open(path, /*writable=*/true);
  EXPECT_TRUE(directory.ok()) << directory.status();
  if (!directory.ok()) return 0;
  const Leftovers swept = CountLeftovers(path);
  EXPECT_EQ(swept.snapshots + swept.segments, 0u) << "a writable open removes crash temporaries";
  RecoveryOptions sharded;
  sharded.engine.shard_count = shard_count;
  auto recovered = Recover(**directory, sharded);
  EXPECT_TRUE(recovered.ok()) << recovered.status();
  if (!recovered.ok()) return 0;
  const uint64_t last_op = recovered->log.last_op;
  EXPECT_GE(last_op, acknowledged_max) << "an acknowledged op was lost";
  totals.unacknowledged_ops += last_op > acknowledged_max ? last_op - acknowledged_max : 0;
  EXPECT_EQ(recovered->replayed_entries, last_op - recovered->snapshot_op);
  totals.torn_tails += recovered->log.torn_tail ? 1 : 0;
  totals.snapshot_recoveries += recovered->snapshot_op > 0 ? 1 : 0;
  if (last_op >= 2) {
    const TrialBalance balance = recovered->engine->GetTrialBalance(testing::kTestLedger);
    EXPECT_TRUE(balance.Balanced());
    EXPECT_EQ(balance.account_count, testing::kTestAccounts);
  }

  RecoveryOptions full;
  full.use_snapshots = false;
  auto replayed = Recover(**directory, full);
  EXPECT_TRUE(replayed.ok()) << replayed.status();
  if (!replayed.ok()) return last_op;
  EXPECT_FALSE(replayed->log.torn_tail) << "the first recovery cut the tail";
  EXPECT_EQ(replayed->log.last_op, last_op);
  EXPECT_EQ(replayed->replayed_entries, last_op);
  EXPECT_EQ(replayed->engine->ComputeStateHash(), recovered->engine->ComputeStateHash())
      << "recovery on " << shard_count << " shards from the snapshot at op "
      << recovered->snapshot_op << " differs from a single-shard replay from genesis";

  uint64_t next_op = 1;
  auto scanned = ScanLog(**directory, replica::LogScanOptions(),
                         [&](const EntryHeader& header, std::span<const std::byte> body) {
                           if (header.op != next_op) {
                             return absl::InternalError(
                                 absl::StrCat("op ", header.op, " where ", next_op, " was due"));
                           }
                           const ExpectedEntry expected = ExpectedEntryOf(seed, next_op++);
                           if (header.operation != static_cast<uint8_t>(expected.operation) ||
                               header.event_count != expected.event_count ||
                               body.size() != expected.body.size() ||
                               std::memcmp(body.data(), expected.body.data(), body.size()) != 0) {
                             return absl::InternalError(absl::StrCat(
                                 "op ", header.op, " does not hold the batch the child wrote"));
                           }
                           return absl::OkStatus();
                         });
  EXPECT_TRUE(scanned.ok()) << scanned.status();
  EXPECT_EQ(next_op, last_op + 1);
  totals.entries_checked += next_op - 1;
  totals.log_ops_max = std::max(totals.log_ops_max, last_op);
  return last_op;
}

// ---------------------------------------------------------------------------------------------
// The test

TEST(CrashTest, AcknowledgedOpsSurviveSigkillAndNothingElseAppears) {
  const uint64_t seed = EnvironmentNumber("LEDGER_SEED", std::random_device{}());
  const uint64_t iterations = EnvironmentNumber("LEDGER_CRASH_ITERATIONS", kIterationsDefault);
  std::printf("%s\n", absl::StrCat("crash test: LEDGER_SEED=", seed,
                                   " LEDGER_CRASH_ITERATIONS=", iterations)
                          .c_str());
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 random(seed);
  const auto started = Clock::now();
  Totals totals;
  std::unique_ptr<testing::TemporaryDirectory> temporary;
  std::string path;
  uint64_t log_last_op = 0;
  for (uint64_t iteration = 0; iteration < iterations && !HasFailure(); ++iteration) {
    SCOPED_TRACE(absl::StrCat("LEDGER_SEED=", seed, " kill ", iteration));
    const uint32_t shard_count = 1 + static_cast<uint32_t>(iteration / kKillsPerDirectory % 4);
    setenv("LEDGER_CRASH_SHARDS", std::to_string(shard_count).c_str(), /*overwrite=*/1);
    if (iteration % kKillsPerDirectory == 0) {
      temporary = nullptr;
      temporary = std::make_unique<testing::TemporaryDirectory>();
      path = temporary->Sub("data");
      ASSERT_TRUE(Directory::Init(path, {.segment_size_bytes = kSegmentSizeMinBytes}).ok());
      log_last_op = 0;
    }
#ifdef LEDGER_CRASH_TSAN
    const bool use_io_uring = false;  // ThreadSanitizer does not see io_uring's memory accesses
#else
    const bool use_io_uring = random() % 2 == 0;
#endif
    const bool early = random() % kEarlyKillOneIn == 0;
    const auto delay = milliseconds(
        early ? static_cast<int64_t>(random() % (kEarlyKillDelayMsMax + 1))
              : kKillDelayMsMin +
                    static_cast<int64_t>(random() % (kKillDelayMsMax - kKillDelayMsMin + 1)));

    const Leftovers before = CountLeftovers(path);
    ChildReport report;
    ChildProcess child({LEDGER_WAL_CRASH_CHILD, path, std::to_string(seed),
                        use_io_uring ? "1" : "0", std::to_string(kSnapshotIntervalOps),
                        absl::StrJoin(kCountMaxList, ","), std::to_string(getpid())});
    const auto spawned = Clock::now();
    bool alive = true;
    if (!early) {
      alive = child.Read(spawned + kReadyTimeout, report, [&] { return report.ready; });
      ASSERT_TRUE(!alive || report.ready) << "the child did not start in time";
    }
    const auto kill_at = (early ? spawned : Clock::now()) + delay;
    if (alive) alive = child.Read(kill_at, report, [] { return false; });
    const int status = alive ? child.Kill(&report) : child.Reap();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child died by itself: " << DescribeWaitStatus(status);
    ASSERT_EQ(report.protocol_error, "");
    if (report.ready) {
      ASSERT_EQ(report.ready_last_op, log_last_op) << "the child's recovery disagrees with ours";
    }
    totals.kills += 1;
    totals.early_kills += early ? 1 : 0;
    totals.io_uring_runs += use_io_uring ? 1 : 0;
    totals.acknowledged_ops += report.acknowledged_count;
    totals.child_snapshot_starts += report.ready_snapshot_op > 0 ? 1 : 0;

    const uint64_t acknowledged_max = std::max(report.acknowledged_max, log_last_op);
    const Leftovers after = CountLeftovers(path);
    totals.snapshot_leftovers += after.snapshots - std::min(after.snapshots, before.snapshots);
    totals.segment_leftovers += after.segments - std::min(after.segments, before.segments);
    log_last_op = CheckRecoveredDirectory(path, seed, acknowledged_max, shard_count, totals);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "%s\n",
      absl::StrCat(
          "crash test: ", totals.kills, " kills (", totals.early_kills, " in start-up, ",
          totals.io_uring_runs, " with io_uring) in ", absl::SixDigits(seconds), " s; ",
          totals.acknowledged_ops, " ops acknowledged, ", totals.unacknowledged_ops,
          " more durable but unacknowledged; ", totals.entries_checked,
          " entries checked, longest log ", totals.log_ops_max, " ops; ", totals.torn_tails,
          " torn tails cut; recoveries from a snapshot: ", totals.snapshot_recoveries, " here, ",
          totals.child_snapshot_starts, " in the child; kills left ", totals.snapshot_leftovers,
          " snapshot and ", totals.segment_leftovers, " segment temporaries")
          .c_str());
}

}  // namespace
}  // namespace ledger::wal
