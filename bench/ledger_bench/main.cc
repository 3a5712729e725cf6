// ledger-bench: the end-to-end load generator (docs/benchmarks.md). It drives ledgerd over RPC
// with the workload the flags describe, measures throughput and latency, and then proves the
// ledger holds what the generator computed: a benchmark of a wrong answer is worthless.
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/ledger_bench/driver.h"
#include "bench/ledger_bench/options.h"
#include "bench/ledger_bench/report.h"
#include "bench/ledger_bench/server.h"
#include "bench/ledger_bench/workload.h"
#include "net/client.h"

namespace ledger::bench {
namespace {

constexpr int kExitUsage = 64;
constexpr int kExitFailed = 1;
constexpr int kExitInvalid = 2;  // the run completed but the ledger's answers were wrong

int Fail(const std::string& message) {
  std::fprintf(stderr, "ledger-bench: %s\n", message.c_str());
  return kExitFailed;
}

bool WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  return static_cast<bool>(out);
}

// Ids of this run: deterministic against a server we started (a fresh one), random against a
// running one, so a second run there never collides with the first.
uint64_t RunNonce(const BenchOptions& options) {
  uint64_t nonce = Mix(options.seed + 0x51ED);
  if (!options.address.empty()) {
    uint64_t random = 0;
    if (getrandom(&random, sizeof(random), 0) == sizeof(random)) nonce ^= random;
  }
  return (nonce >> 2) | 1;  // not 0 and not 2^64-1: no id is 0 or 2^128-1
}

int Run(const BenchOptions& options) {
  std::unique_ptr<SpawnedServer> spawned;
  std::string address = options.address;
  std::string token_file = options.token_file;
  std::string metrics_address = options.metrics_address;
  if (address.empty()) {
    const std::string binary =
        options.ledgerd_binary.empty() ? DefaultLedgerdBinary() : options.ledgerd_binary;
    std::fprintf(stderr, "ledger-bench: starting %s on a temporary data directory\n",
                 binary.c_str());
    // --shards is the workload's shard count and, for a server started here, the server's.
    std::vector<std::string> server_flags = options.server_flags;
    if (options.shards != 0) server_flags.push_back(absl::StrCat("--shards=", options.shards));
    auto started =
        SpawnedServer::Start(binary, options.accounts + 16, options.transfers + 16, server_flags);
    if (!started.ok()) return Fail(started.status().ToString());
    spawned = std::move(*started);
    address = spawned->address();
    token_file = spawned->token_file();
    metrics_address = spawned->metrics_address();
  }
  auto token = net::ReadTokenFile(token_file);
  if (!token.ok()) return Fail(token.status().ToString());

  const uint64_t nonce = RunNonce(options);
  auto load = Load::Prepare(options, address, *token, nonce);
  if (!load.ok()) return Fail(load.status().ToString());

  Report report;
  absl::StatusOr<ServerStats> stats_before = absl::UnavailableError("no metrics endpoint");
  if (!metrics_address.empty()) stats_before = ScrapeServerStats(metrics_address);
  if (absl::Status status = (*load)->Run(report); !status.ok()) return Fail(status.ToString());
  if (stats_before.ok()) {
    absl::StatusOr<ServerStats> stats_after = ScrapeServerStats(metrics_address);
    if (stats_after.ok()) {
      report.has_server_stats = true;
      report.server_rss_bytes = stats_after->rss_bytes;
      report.server_cpu_ns = stats_after->cpu_ns - stats_before->cpu_ns;
      report.server_cpu_ns_per_transfer =
          report.transfers_acknowledged == 0
              ? 0
              : static_cast<double>(report.server_cpu_ns) /
                    static_cast<double>(report.transfers_acknowledged);
    }
  }
  if (absl::Status status = (*load)->Finish(report); !status.ok()) return Fail(status.ToString());
  report.workload.server = spawned ? "spawned" : address;

  PrintText(report, stdout);
  if (!options.json_file.empty() && !WriteFile(options.json_file, ToJson(report))) {
    return Fail(absl::StrCat("cannot write ", options.json_file));
  }
  if (!options.chart_file.empty() && !WriteFile(options.chart_file, ToSvg(report))) {
    return Fail(absl::StrCat("cannot write ", options.chart_file));
  }
  if (spawned) {
    const int code = spawned->Stop();
    if (code != 0) return Fail(absl::StrCat("the started ledgerd exited with ", code));
  }
  return report.validation.ok() ? 0 : kExitInvalid;
}

}  // namespace
}  // namespace ledger::bench

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<ledger::bench::BenchOptions> options = ledger::bench::ParseOptions(args);
  if (absl::IsNotFound(options.status())) {  // --help
    std::fputs(std::string(options.status().message()).c_str(), stdout);
    return 0;
  }
  if (!options.ok()) {
    std::fprintf(stderr, "ledger-bench: %s\n", std::string(options.status().message()).c_str());
    return ledger::bench::kExitUsage;
  }
  return ledger::bench::Run(*options);
}
