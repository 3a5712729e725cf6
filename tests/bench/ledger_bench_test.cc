// ledger-bench as a user runs it: short runs against a server it starts and against a running
// one, every workload option at least once, and each must validate (exit 0, "PASSED", the
// JSON's "ok": true). Timing figures are printed by the runs, never asserted.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/build_path.h"
#include "tests/net/server_process.h"

namespace ledger::bench {
namespace {

using net::testing::ReadWholeFile;
using net::testing::ServerProcess;
using net::testing::Spawn;
using net::testing::WaitExit;

struct BenchRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

BenchRun RunBench(const std::vector<std::string>& flags, const std::string& directory) {
  std::vector<std::string> argv = {LEDGER_BENCH_BINARY, "--ledgerd", LEDGERD_BINARY,
                                   "--no-progress"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  const std::string log = directory + "/bench.log";
  unlink(log.c_str());
  BenchRun run;
  run.exit_code = WaitExit(Spawn(argv, log));
  run.output = ReadWholeFile(log);
  return run;
}

class LedgerBench : public ::testing::Test {
 protected:
  wal::testing::TemporaryDirectory directory_;
};

TEST_F(LedgerBench, ClosedLoopWithEveryKindOfTransferValidates) {
  const std::string json = directory_.path() + "/report.json";
  const std::string chart = directory_.path() + "/chart.svg";
  const BenchRun run = RunBench({"--accounts",
                                 "200",
                                 "--transfers",
                                 "6000",
                                 "--batch",
                                 "500",
                                 "--connections",
                                 "2",
                                 "--inflight",
                                 "2",
                                 "--distribution",
                                 "zipf",
                                 "--zipf-skew",
                                 "1.1",
                                 "--pending",
                                 "0.4",
                                 "--post",
                                 "0.4",
                                 "--void",
                                 "0.3",
                                 "--expire",
                                 "0.2",
                                 "--chains",
                                 "0.1",
                                 "--resubmit-share",
                                 "0.05",
                                 "--cross-shard",
                                 "0.5",
                                 "--shards",
                                 "4",
                                 "--id-order",
                                 "random",
                                 "--seed",
                                 "7",
                                 "--queries",
                                 "50",
                                 "--sample-accounts",
                                 "200",
                                 "--json",
                                 json,
                                 "--chart",
                                 chart},
                                directory_.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("validation:    PASSED (6,0"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("trial balance ok, 200 accounts match"), std::string::npos)
      << run.output;
  const std::string report = ReadWholeFile(json);
  EXPECT_NE(report.find("\"ok\": true"), std::string::npos) << report;
  EXPECT_NE(report.find("\"distribution\": \"zipf:1.1\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"transfers_acknowledged\": 6000"), std::string::npos) << report;
  // Resubmissions drew on earlier transfers and every one was answered `exists`.
  EXPECT_EQ(report.find("\"resubmits_exist\": 0,"), std::string::npos) << report;
  EXPECT_NE(report.find("\"resubmit_share\": 0.05"), std::string::npos) << report;
  const std::string svg = ReadWholeFile(chart);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

// History beyond memory end to end: a window of 2,000 transfers, so nearly all of 20,000 go
// cold while the bench resubmits old ids (answered `exists` from the cold store) and posts and
// voids reservations; then SIGKILL (the cooler may be writing a run), recovery over the cold
// store, and a second run that validates too.
TEST_F(LedgerBench, ColdStoreAnswersUnderLoadAndAfterSigkill) {
  ServerProcess server;
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--max-batch-events", "500", "--hot-transfers", "2000",
                             "--snapshot-interval-ops", "15", "--metrics", "127.0.0.1:0"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  for (int round = 0; round < 2; ++round) {
    const BenchRun run = RunBench({"--address",         server.address(),
                                   "--token-file",      server.data_dir() + "/token",
                                   "--metrics",         server.metrics_address(),
                                   "--accounts",        "200",
                                   "--transfers",       "20000",
                                   "--batch",           "500",
                                   "--pending",         "0.3",
                                   "--resubmit-share",  "0.1",
                                   "--queries",         "50",
                                   "--cold-queries",    "200",
                                   "--sample-accounts", "50"},
                                  directory_.path());
    ASSERT_EQ(run.exit_code, 0) << run.output;
    // Old lookups and pages answered during the load, each checked.
    EXPECT_NE(run.output.find("old lookups:"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("round trips:"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("PASSED"), std::string::npos) << run.output;
    if (round == 0) {
      EXPECT_EQ(server.Kill(), 128 + SIGKILL);
      ASSERT_TRUE(server.Start(flags)) << server.log();
    }
  }
  EXPECT_NE(server.log().find("recovered through op"), std::string::npos);
  // Retries of cold ids waited for their read-ahead off the event loop.
  const std::string metrics = net::testing::HttpGet(server.metrics_address(), "/metrics");
  EXPECT_EQ(metrics.find("ledger_cold_read_ahead_batches_total 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ledger_cold_read_ahead_batches_total "), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("ledger_cold_runs 0\n"), std::string::npos) << metrics;
  // Some were answered from old history alone, beside the batches.
  EXPECT_NE(metrics.find("ledger_cold_history_reads_total "), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("ledger_cold_history_reads_total 0\n"), std::string::npos) << metrics;
  // Each read of old history was timed (those the engine then answered too) since the restart.
  using net::testing::MetricValue;
  EXPECT_GE(MetricValue(metrics, "ledger_cold_history_read_seconds_count"),
            MetricValue(metrics, "ledger_cold_history_reads_total"))
      << metrics;
  EXPECT_GT(MetricValue(metrics, "ledger_cold_history_read_seconds_sum"), 0) << metrics;
  EXPECT_TRUE(std::filesystem::exists(server.data_dir() + "/cold/run-0000000000000001.cold"));
}

TEST_F(LedgerBench, OpenLoopWithAHotSetValidates) {
  const BenchRun run =
      RunBench({"--accounts",  "300",   "--transfers",    "4000",       "--batch",        "200",
                "--rate",      "20000", "--distribution", "hot",        "--hot-accounts", "5",
                "--hot-share", "0.8",   "--id-order",     "sequential", "--wire",         "list",
                "--queries",   "10"},
               directory_.path());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("offered:"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("list records"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("PASSED"), std::string::npos) << run.output;
}

TEST_F(LedgerBench, DrivesARunningServerTwiceWithoutTheRunsColliding) {
  ServerProcess server;
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--metrics", "127.0.0.1:0"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  for (int round = 0; round < 2; ++round) {
    const BenchRun run =
        RunBench({"--address", server.address(), "--token-file", server.data_dir() + "/token",
                  "--metrics", server.metrics_address(), "--accounts", "100", "--transfers", "2000",
                  "--batch", "300", "--uniform-never-mind"},
                 directory_.path());
    // An unknown flag is refused before anything is sent.
    EXPECT_EQ(run.exit_code, 64) << run.output;
    EXPECT_NE(run.output.find("unknown flag '--uniform-never-mind'"), std::string::npos);
    const BenchRun good = RunBench(
        {"--address", server.address(), "--token-file", server.data_dir() + "/token", "--metrics",
         server.metrics_address(), "--accounts", "100", "--transfers", "2000", "--batch", "300"},
        directory_.path());
    ASSERT_EQ(good.exit_code, 0) << good.output;
    EXPECT_NE(good.output.find("PASSED"), std::string::npos) << good.output;
    EXPECT_NE(good.output.find("server usage:  RSS"), std::string::npos) << good.output;
  }
  EXPECT_EQ(server.Stop(), 0);
}

TEST_F(LedgerBench, ABadTokenFailsClearly) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  const std::string token = directory_.path() + "/wrong-token";
  FILE* file = std::fopen(token.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("0123456789abcdef0123456789abcdef\n", file);
  std::fclose(file);
  const BenchRun run =
      RunBench({"--address", server.address(), "--token-file", token, "--transfers", "100"},
               directory_.path());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("ledger-bench: "), std::string::npos) << run.output;
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace ledger::bench
