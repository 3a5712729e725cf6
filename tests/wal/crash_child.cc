// The process that the crash test (crash_test.cc) kills: it appends a deterministic workload to
// a data directory through the sequencer, as a server would, and reports every op it has seen
// durable, until SIGKILL arrives.
//
//   wal_crash_child <data dir> <seed> <io_uring 0|1> <snapshot interval ops>
//                   <count max list, e.g. 8,60,8190> <parent pid>
//
// It recovers the directory and prints "ready <last op> <snapshot op>". Then it continues the
// log: the ledger at op 1, the accounts at op 2, then TestTransfers(seed, op, count_max) with
// count_max = list[op % list size], so the parent can say what every entry must hold. Ops go
// in bursts of 1 to kBurstOpsMax appended without waiting, so a group holds several entries;
// once WaitDurable covers the burst, one line per op ("<op>\n") goes to stdout in one write:
// a line is an acknowledgement.
//
// It stops by itself only on an error (exit 2, reason on stderr), when its parent dies
// (PR_SET_PDEATHSIG) or after kLifetimeMax. It refuses a directory outside the system's
// temporary directory.
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "replica/replica.h"
#include "tests/wal/wal_test_util.h"

namespace ledger::wal {
namespace {

constexpr uint64_t kBurstOpsMax = 8;
// A run is killed within a second or so; this only bounds a child whose parent lost track.
constexpr auto kLifetimeMax = std::chrono::seconds(120);
// Two buffers of 2 MiB: each holds one full batch of 8,190 transfers (1.25 MB), so full
// batches also meet back-pressure, and both fit the crash test's 4 MiB segments.
constexpr uint64_t kWriterBufferBytes = uint64_t{2} << 20;

[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "wal_crash_child: %s\n", why.c_str());
  std::_Exit(2);  // not exit(): the writer and snapshot threads are still running
}

void Check(const absl::Status& status, const char* what) {
  if (!status.ok()) Fail(absl::StrCat(what, ": ", status.ToString()));
}

uint64_t ParseNumber(const char* text, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') Fail(absl::StrCat("bad ", what, ": ", text));
  return value;
}

std::vector<size_t> ParseCountMaxList(const std::string& text) {
  std::vector<size_t> list;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const uint64_t value = ParseNumber(item.c_str(), "count max");
    if (value == 0 || value > kEventsPerEntryMax) Fail(absl::StrCat("bad count max ", value));
    list.push_back(value);
    start = comma + 1;
  }
  return list;
}

// The child writes only under the system's temporary directory: a slip in the parent must
// never let it append to a real ledger.
void CheckTemporary(const std::string& path) {
  const auto temporary = std::filesystem::weakly_canonical(std::filesystem::temp_directory_path());
  const auto target = std::filesystem::weakly_canonical(path);
  const auto [mismatch, rest] =
      std::mismatch(temporary.begin(), temporary.end(), target.begin(), target.end());
  if (mismatch != temporary.end() || rest == target.end()) {
    Fail(absl::StrCat(path, " is not under ", temporary.string()));
  }
}

// Appends op `op` of the workload; results are discarded (the parent checks the state).
void AppendOp(replica::Replica& replica, uint64_t seed, uint64_t op,
              const std::vector<size_t>& count_max_list) {
  absl::Status status;
  if (op == 1) {
    const Ledger ledger = testing::TestLedger();
    CreateLedgerResult result;
    status = replica.Submit<Ledger>({&ledger, 1}, {&result, 1}).status();
  } else if (op == 2) {
    const std::vector<Account> accounts = testing::TestAccounts();
    std::vector<CreateAccountResult> results(accounts.size());
    status = replica.Submit<Account>(accounts, results).status();
  } else {
    const std::vector<Transfer> batch =
        testing::TestTransfers(seed, op, count_max_list[op % count_max_list.size()]);
    std::vector<CreateTransferResult> results(batch.size());
    status = replica.Submit<Transfer>(batch, results).status();
  }
  Check(status, "append");
  if (replica.last_op() != op) Fail(absl::StrCat("the replica gave op ", replica.last_op()));
}

void WriteLine(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t written = write(STDOUT_FILENO, text.data() + done, text.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) Fail("stdout is gone");
    done += static_cast<size_t>(written);
  }
}

int Run(int argc, char** argv) {
  if (argc != 7) {
    Fail(
        "usage: wal_crash_child <dir> <seed> <io_uring 0|1> <snapshot interval ops> "
        "<count max list> <parent pid>");
  }
  const std::string path = argv[1];
  const uint64_t seed = ParseNumber(argv[2], "seed");
  const bool use_io_uring = ParseNumber(argv[3], "io_uring") != 0;
  const uint64_t snapshot_interval_ops = ParseNumber(argv[4], "snapshot interval");
  const std::vector<size_t> count_max_list = ParseCountMaxList(argv[5]);
  const auto parent = static_cast<pid_t>(ParseNumber(argv[6], "parent pid"));
  // Die with the parent. Set before checking it is still there, so no death goes unnoticed.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) Fail("prctl(PR_SET_PDEATHSIG) failed");
  if (getppid() != parent) Fail("the parent is gone");
  CheckTemporary(path);

  replica::ReplicaOptions options;
  // The parent picks the shard count (tests/wal/crash_test.cc).
  if (const char* shards = std::getenv("LEDGER_CRASH_SHARDS"); shards != nullptr) {
    options.engine.shard_count = static_cast<uint32_t>(ParseNumber(shards, "shards"));
  }
  options.use_io_uring = use_io_uring;
  options.writer_buffer_bytes = kWriterBufferBytes;
  options.snapshot_interval_ops = snapshot_interval_ops;
  options.on_snapshot = [](const absl::Status& status) { Check(status, "snapshot"); };
  auto opened = replica::Replica::Open(path, std::move(options));
  Check(opened.status(), "open");
  replica::Replica& replica = **opened;
  WriteLine(absl::StrCat("ready ", replica.recovery().last_op, " ", replica.recovery().snapshot_op,
                         "\n"));

  // Burst sizes need not be reproducible (the kill moment is not): only the entries are.
  std::mt19937_64 random(std::random_device{}());
  const auto deadline = std::chrono::steady_clock::now() + kLifetimeMax;
  while (std::chrono::steady_clock::now() < deadline) {
    const uint64_t first = replica.last_op() + 1;
    const uint64_t last = first + random() % kBurstOpsMax;
    for (uint64_t op = first; op <= last; ++op) AppendOp(replica, seed, op, count_max_list);
    Check(replica.WaitDurable(last), "wait for durability");
    std::string lines;
    for (uint64_t op = first; op <= last; ++op) absl::StrAppend(&lines, op, "\n");
    WriteLine(lines);
  }
  Fail("lived past its lifetime: the parent never killed it");
}

}  // namespace
}  // namespace ledger::wal

int main(int argc, char** argv) { return ledger::wal::Run(argc, argv); }
