// ledgerctl run as a real process against the real ledgerd: human amounts in and out, result
// codes by name, exit codes, JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/build_path.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::ServerProcess;

struct CtlRun {
  int exit_code = -1;
  std::string out;
};

class LedgerctlTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start(ServerFlags())) << server_.log(); }
  virtual std::vector<std::string> ServerFlags() const { return ServerProcess::DefaultFlags(); }

  CtlRun Run(std::vector<std::string> args) {
    const std::string out_path = server_.data_dir() + "/../ctl-" + std::to_string(++runs_);
    std::vector<std::string> argv = {LEDGERCTL_BINARY, "--address", server_.address(),
                                     "--token-file", server_.data_dir() + "/token"};
    argv.insert(argv.end(), args.begin(), args.end());
    CtlRun run;
    run.exit_code = testing::WaitExit(testing::Spawn(argv, out_path));
    run.out = testing::ReadWholeFile(out_path);
    return run;
  }

  // Ledger 1 (USD, scale 2) and its accounts 1 and 2.
  void CreateLedgerAndTwoAccounts() {
    ASSERT_EQ(Run({"create-ledger", "--id", "1", "--asset", "USD", "--scale", "2"}).exit_code, 0);
    ASSERT_EQ(Run({"create-account", "--id", "1", "--ledger", "1", "--code", "1", "then", "--id",
                   "2", "--ledger", "1", "--code", "1"})
                  .exit_code,
              0);
  }

  ServerProcess server_;
  int runs_ = 0;
};

TEST_F(LedgerctlTest, BooksHumanAmountsAndShowsThemInTheLedgersScale) {
  EXPECT_EQ(Run({"create-ledger", "--id", "1", "--asset", "USD", "--scale", "2"}).exit_code, 0);
  const CtlRun accounts =
      Run({"create-account", "--id", "1", "--ledger", "1", "--code", "100", "then", "--id", "2",
           "--ledger", "1", "--code", "200", "--flags", "debits-must-not-exceed-credits"});
  EXPECT_EQ(accounts.exit_code, 0) << accounts.out;
  const CtlRun posted = Run({"transfer", "--id", "10", "--debit", "1", "--credit", "2", "--amount",
                             "12.34", "--ledger", "1", "--code", "1"});
  EXPECT_EQ(posted.exit_code, 0) << posted.out;
  EXPECT_NE(posted.out.find("12.34 USD"), std::string::npos) << posted.out;

  // Account 2 holds 12.34: taking 20 from it exceeds its credits, by name, exit 1.
  const CtlRun refused = Run({"transfer", "--id", "11", "--debit", "2", "--credit", "1", "--amount",
                              "20", "--ledger", "1", "--code", "1"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find("exceeds_credits"), std::string::npos) << refused.out;
  // Three decimals in a scale-2 ledger is a usage error, never rounded.
  EXPECT_EQ(Run({"transfer", "--id", "12", "--debit", "1", "--credit", "2", "--amount", "0.001",
                 "--ledger", "1", "--code", "1"})
                .exit_code,
            64);

  const CtlRun account = Run({"--json", "lookup-account", "2"});
  EXPECT_EQ(account.exit_code, 0) << account.out;
  EXPECT_NE(account.out.find("\"credits_posted\":\"1234\""), std::string::npos) << account.out;
  EXPECT_NE(account.out.find("12.34"), std::string::npos) << account.out;
  const CtlRun trial = Run({"trial-balance", "1"});
  EXPECT_EQ(trial.exit_code, 0) << trial.out;
  EXPECT_EQ(Run({"lookup-account", "99"}).exit_code, 1);
  EXPECT_EQ(Run({"no-such-command"}).exit_code, 64);

  // A list of addresses is a replica group's: the first that serves answers, a dead one is
  // passed over. --etcd without --replica-group is a usage error.
  const CtlRun listed =
      Run({"--address", "127.0.0.1:1," + server_.address(), "lookup-account", "2"});
  EXPECT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_NE(listed.out.find("12.34"), std::string::npos) << listed.out;
  EXPECT_EQ(Run({"--etcd", "127.0.0.1:2379", "info"}).exit_code, 64);
}

// Holds you can see: a reservation's status line while held and once posted in part, and the
// reversals of the post; the same in JSON.
TEST_F(LedgerctlTest, LookupTransferSaysWhatBecameOfAHold) {
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndTwoAccounts());
  ASSERT_EQ(Run({"transfer", "--id", "20", "--debit", "1", "--credit", "2", "--amount", "50",
                 "--ledger", "1", "--code", "1", "--pending", "--timeout-s", "3600"})
                .exit_code,
            0);
  const CtlRun held = Run({"lookup-transfer", "20"});
  EXPECT_EQ(held.exit_code, 0) << held.out;
  EXPECT_NE(held.out.find("status"), std::string::npos) << held.out;
  EXPECT_NE(held.out.find("pending until "), std::string::npos) << held.out;
  ASSERT_EQ(Run({"post", "--id", "21", "--pending-id", "20", "--amount", "30"}).exit_code, 0);
  ASSERT_EQ(Run({"reverse", "--id", "22", "--reverses", "21", "--amount", "5"}).exit_code, 0);
  const CtlRun posted = Run({"lookup-transfer", "20", "21"});
  EXPECT_EQ(posted.exit_code, 0) << posted.out;
  EXPECT_NE(posted.out.find("posted 30.00 USD by 21, released 20.00 USD"), std::string::npos)
      << posted.out;
  EXPECT_NE(posted.out.find("5.00 USD by 22"), std::string::npos) << posted.out;
  const CtlRun json = Run({"--json", "lookup-transfer", "20", "21"});
  EXPECT_EQ(json.exit_code, 0) << json.out;
  EXPECT_NE(json.out.find("\"pending_status\":\"posted\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"released_amount\":\"2000\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"resolved_by\":\"21\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"reversals\":[\"22\"]"), std::string::npos) << json.out;
}

// A transfer id that failed with a recorded code: a retry says id_already_failed, and
// lookup-transfer shows the recorded code and the failed event instead of "not found".
TEST_F(LedgerctlTest, LookupTransferOfAFailedIdShowsItsRecordedCode) {
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndTwoAccounts());
  const std::vector<std::string> transfer = {
      "transfer", "--id",     "30", "--debit", "9", "--credit",       "2", "--amount",
      "7",        "--ledger", "1",  "--code",  "5", "--user-data-64", "77"};
  const CtlRun failed = Run(transfer);
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_NE(failed.out.find("transfer 30: debit_account_not_found"), std::string::npos)
      << failed.out;
  const CtlRun retried = Run(transfer);
  EXPECT_EQ(retried.exit_code, 1) << retried.out;
  EXPECT_NE(retried.out.find("transfer 30: id_already_failed"), std::string::npos) << retried.out;

  const CtlRun text = Run({"lookup-transfer", "30", "31"});
  EXPECT_EQ(text.exit_code, 1) << text.out;
  EXPECT_NE(text.out.find("transfer 30: failed, debit_account_not_found"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("7.00 USD"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("transfer 31: not found"), std::string::npos) << text.out;
  const CtlRun json = Run({"--json", "lookup-transfer", "30"});
  EXPECT_EQ(json.exit_code, 1) << json.out;
  EXPECT_NE(json.out.find("\"type\":\"failed\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"result\":\"debit_account_not_found\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"result_code\":39"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"debit_account_id\":\"9\""), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"user_data_64\":\"77\""), std::string::npos) << json.out;
  EXPECT_EQ(json.out.find("\"type\":\"not_found\""), std::string::npos) << json.out;
}

// Timestamps are below 2^63 (a signed 64-bit integer): --value-time-ns and --timeout-s refuse
// what is out of range with a usage error that names the flag and the range, before any call.
TEST_F(LedgerctlTest, ValueTimeAndTimeoutOutOfRangeAreUsageErrors) {
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndTwoAccounts());
  const auto transfer = [this](const std::string& id, std::vector<std::string> extra) {
    std::vector<std::string> args = {"transfer", "--id",   id,         "--debit", "1",
                                     "--credit", "2",      "--amount", "1",       "--ledger",
                                     "1",        "--code", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  };
  for (const char* value : {"9223372036854775808", "18446744073709551615", "-1"}) {
    const CtlRun run = transfer("50", {"--value-time-ns", value});
    EXPECT_EQ(run.exit_code, 64) << value << ": " << run.out;
    EXPECT_NE(run.out.find("--value-time-ns must be a whole number in 0..9223372036854775807"),
              std::string::npos)
        << run.out;
  }
  for (const char* value : {"4294967296", "-1"}) {
    const CtlRun run = transfer("51", {"--pending", "--timeout-s", value});
    EXPECT_EQ(run.exit_code, 64) << value << ": " << run.out;
    EXPECT_NE(run.out.find("--timeout-s must be a whole number in 0..4294967295"),
              std::string::npos)
        << run.out;
  }
  // Nothing was submitted: the ids are still free, and the largest values are accepted.
  const CtlRun largest = transfer("50", {"--value-time-ns", "9223372036854775807"});
  EXPECT_EQ(largest.exit_code, 0) << largest.out;
  const CtlRun longest = transfer("51", {"--pending", "--timeout-s", "4294967295"});
  EXPECT_EQ(longest.exit_code, 0) << longest.out;
  const CtlRun json = Run({"--json", "lookup-transfer", "50"});
  EXPECT_NE(json.out.find("\"value_time_ns\":\"9223372036854775807\""), std::string::npos)
      << json.out;
}

// A server that does not speak TLS (or a certificate not trusted): 76, not the usage code.
TEST_F(LedgerctlTest, ATlsFailureHasItsOwnExitCode) {
  const std::string certificate = server_.data_dir() + "/../cert.pem";
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout " +
      server_.data_dir() + "/../key.pem -out " + certificate + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  const CtlRun run = Run({"--tls-ca", certificate, "info"});
  EXPECT_EQ(run.exit_code, 76) << run.out;
  EXPECT_NE(run.out.find("TLS with " + server_.address() + " failed"), std::string::npos)
      << run.out;
}

// Value time over the wire: a back-dated transfer is found by its value time and counts in the
// posted balances as of then; one without a value time counts at its booking time.
TEST_F(LedgerctlTest, ValueTimeFiltersHistoryAndGivesBalancesAsOfThen) {
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndTwoAccounts());
  ASSERT_EQ(Run({"transfer", "--id", "40", "--debit", "1", "--credit", "2", "--amount", "3",
                 "--ledger", "1", "--code", "1", "--value-time-ns", "1000"})
                .exit_code,
            0);
  ASSERT_EQ(Run({"transfer", "--id", "41", "--debit", "1", "--credit", "2", "--amount", "4",
                 "--ledger", "1", "--code", "1"})
                .exit_code,
            0);
  const CtlRun valued = Run({"--json", "history", "1", "--value-to-ns", "2000"});
  EXPECT_EQ(valued.exit_code, 0) << valued.out;
  EXPECT_NE(valued.out.find("\"id\":\"40\""), std::string::npos) << valued.out;
  EXPECT_EQ(valued.out.find("\"id\":\"41\""), std::string::npos) << valued.out;
  const CtlRun then = Run({"--json", "value-balance", "1", "--at-ns", "2000"});
  EXPECT_EQ(then.exit_code, 0) << then.out;
  EXPECT_NE(then.out.find("\"debits_posted\":\"300\""), std::string::npos) << then.out;
  EXPECT_NE(then.out.find("\"transfer_count\":\"1\""), std::string::npos) << then.out;
  const CtlRun now = Run({"value-balance", "1", "--at-ns", "18446744073709551615"});
  EXPECT_EQ(now.exit_code, 0) << now.out;
  EXPECT_NE(now.out.find("7.00 USD"), std::string::npos) << now.out;
  EXPECT_EQ(Run({"value-balance", "9", "--at-ns", "1"}).exit_code, 1);
  EXPECT_EQ(Run({"value-balance", "1"}).exit_code, 64);
}

// How many JSON lines of `out` hold this id (one record per line).
int CountId(const std::string& out, const std::string& id) {
  int count = 0;
  const std::string key = "\"id\":\"" + id + "\"";
  for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + 1)) ++count;
  return count;
}

TEST_F(LedgerctlTest, QueriesFindAccountsAndTransfersAcrossTheLedger) {
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndTwoAccounts());
  ASSERT_EQ(Run({"create-ledger", "--id", "2", "--asset", "EUR", "--scale", "2"}).exit_code, 0);
  ASSERT_EQ(Run({"create-account", "--id", "3", "--ledger", "2", "--code", "7", "--user-data-64",
                 "77", "then", "--id", "4", "--ledger", "2", "--code", "7"})
                .exit_code,
            0);
  const std::vector<std::vector<std::string>> transfers = {
      {"--id", "50", "--user-data-128", "0xabc", "--user-data-32", "5"},
      {"--id", "51", "--user-data-32", "5"},
      {"--id", "52", "--user-data-32", "6", "--code", "2"}};
  for (std::vector<std::string> args : transfers) {
    args.insert(args.begin(), "transfer");
    for (const char* arg : {"--debit", "1", "--credit", "2", "--amount", "1", "--ledger", "1"}) {
      args.push_back(arg);
    }
    if (std::find(args.begin(), args.end(), "--code") == args.end()) {
      args.insert(args.end(), {"--code", "1"});
    }
    ASSERT_EQ(Run(args).exit_code, 0) << args[2];
  }

  const CtlRun reference = Run({"--json", "query-transfers", "--user-data-128", "0xabc"});
  EXPECT_EQ(reference.exit_code, 0) << reference.out;
  EXPECT_EQ(CountId(reference.out, "50"), 1) << reference.out;
  EXPECT_EQ(CountId(reference.out, "51") + CountId(reference.out, "52"), 0) << reference.out;

  const CtlRun newest_first =
      Run({"--json", "query-transfers", "--user-data-32", "5", "--reversed"});
  EXPECT_EQ(newest_first.exit_code, 0) << newest_first.out;
  EXPECT_LT(newest_first.out.find("\"id\":\"51\""), newest_first.out.find("\"id\":\"50\""))
      << newest_first.out;
  EXPECT_EQ(CountId(newest_first.out, "52"), 0) << newest_first.out;

  const CtlRun page = Run({"--json", "query-transfers", "--ledger", "1", "--limit", "2"});
  EXPECT_EQ(page.exit_code, 0) << page.out;
  EXPECT_EQ(CountId(page.out, "50") + CountId(page.out, "51"), 2) << page.out;
  EXPECT_EQ(CountId(page.out, "52"), 0) << page.out;
  const CtlRun by_code = Run({"query-transfers", "--ledger", "1", "--code", "2"});
  EXPECT_EQ(by_code.exit_code, 0) << by_code.out;
  EXPECT_NE(by_code.out.find("52"), std::string::npos) << by_code.out;
  EXPECT_EQ(by_code.out.find(" 50 "), std::string::npos) << by_code.out;

  const CtlRun ledger_two = Run({"--json", "query-accounts", "--ledger", "2", "--all"});
  EXPECT_EQ(ledger_two.exit_code, 0) << ledger_two.out;
  EXPECT_EQ(CountId(ledger_two.out, "3") + CountId(ledger_two.out, "4"), 2) << ledger_two.out;
  EXPECT_EQ(CountId(ledger_two.out, "1") + CountId(ledger_two.out, "2"), 0) << ledger_two.out;
  const CtlRun by_reference = Run({"--json", "query-accounts", "--user-data-64", "77"});
  EXPECT_EQ(CountId(by_reference.out, "3"), 1) << by_reference.out;
  EXPECT_EQ(CountId(by_reference.out, "4"), 0) << by_reference.out;
  const CtlRun none = Run({"--json", "query-accounts", "--ledger", "1", "--code", "7"});
  EXPECT_EQ(none.exit_code, 0) << none.out;
  EXPECT_EQ(none.out.find("\"id\""), std::string::npos) << none.out;

  // Zero would match anything, a positional argument is not a filter: usage errors.
  EXPECT_EQ(Run({"query-transfers", "--ledger", "0"}).exit_code, 64);
  EXPECT_EQ(Run({"query-transfers", "--user-data-128", "0"}).exit_code, 64);
  EXPECT_EQ(Run({"query-accounts", "1"}).exit_code, 64);
}

// The number after `"key":` (quoted or not) in JSON text, or 0.
uint64_t JsonNumber(const std::string& json, const std::string& key, size_t from = 0) {
  size_t at = json.find("\"" + key + "\":", from);
  if (at == std::string::npos) return 0;
  at += key.size() + 3;
  if (json[at] == '"') ++at;
  return std::strtoull(json.c_str() + at, nullptr, 10);
}

// An import through ledgerctl (docs/data-model.md, "Import"): a ledger from 2019, then accounts
// and a few thousand transfers with their original timestamps, in batches of events joined by
// `then`; then the balances and records as booked. The history must post-date what the ledger
// holds (here, the imported ledger record), so the timestamps start just after it.
TEST_F(LedgerctlTest, ImportsAccountsAndTransfersWithTheirTimestamps) {
  const uint64_t start_ns = uint64_t{1'546'300'800} * 1'000'000'000;  // 2019-01-01T00:00:00Z
  const std::vector<std::string> create_ledger = {"create-ledger", "--id",    "1", "--asset",
                                                  "USD",           "--scale", "2"};
  auto with = [](std::vector<std::string> args, std::vector<std::string> more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  // One import flag without the other is a usage error; nothing is created.
  EXPECT_EQ(Run(with(create_ledger, {"--imported"})).exit_code, 64);
  EXPECT_EQ(Run(with(create_ledger, {"--timestamp-ns", std::to_string(start_ns)})).exit_code, 64);
  const CtlRun ledger = Run(with(with({"--json"}, create_ledger),
                                 {"--imported", "--timestamp-ns", std::to_string(start_ns)}));
  ASSERT_EQ(ledger.exit_code, 0) << ledger.out;
  EXPECT_EQ(JsonNumber(ledger.out, "timestamp_ns"), start_ns) << ledger.out;
  // A retry of the import is fine (exists). (Not a native batch: it would move the clock to now.)
  EXPECT_EQ(Run(with(create_ledger, {"--imported", "--timestamp-ns", "5"})).exit_code, 0);
  const CtlRun ledger_json = Run({"--json", "lookup-ledger", "1"});
  ASSERT_EQ(ledger_json.exit_code, 0) << ledger_json.out;
  EXPECT_NE(ledger_json.out.find("\"imported\":true"), std::string::npos) << ledger_json.out;
  EXPECT_EQ(JsonNumber(ledger_json.out, "timestamp_ns"), start_ns) << ledger_json.out;
  const CtlRun ledger_text = Run({"lookup-ledger", "1"});
  ASSERT_EQ(ledger_text.exit_code, 0) << ledger_text.out;
  EXPECT_NE(ledger_text.out.find("imported"), std::string::npos) << ledger_text.out;
  ASSERT_EQ(
      Run({"create-account", "--id", "1",          "--ledger",       "1",
           "--code",         "1",    "--imported", "--timestamp-ns", std::to_string(start_ns + 1),
           "then",           "--id", "2",          "--ledger",       "1",
           "--code",         "1",    "--imported", "--timestamp-ns", std::to_string(start_ns + 2)})
          .exit_code,
      0);
  constexpr int kBatches = 3;
  constexpr int kPerBatch = 1000;
  uint64_t expected_cents = 0;
  for (int batch = 0; batch < kBatches; ++batch) {
    std::vector<std::string> args = {"transfer"};
    for (int i = 0; i < kPerBatch; ++i) {
      const int n = batch * kPerBatch + i;
      if (i > 0) args.push_back("then");
      const int cents = 1 + n % 50;
      expected_cents += static_cast<uint64_t>(cents);
      for (const std::string& arg :
           {std::string("--id"), std::to_string(100 + n), std::string("--debit"), std::string("1"),
            std::string("--credit"), std::string("2"), std::string("--amount"),
            std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") +
                std::to_string(cents % 100),
            std::string("--ledger"), std::string("1"), std::string("--code"), std::string("1"),
            std::string("--imported"), std::string("--timestamp-ns"),
            std::to_string(start_ns + 10 + 10 * static_cast<uint64_t>(n))}) {
        args.push_back(arg);
      }
    }
    const CtlRun run = Run(args);
    ASSERT_EQ(run.exit_code, 0) << run.out.substr(0, 2000);
  }
  const CtlRun account = Run({"--json", "lookup-account", "1"});
  ASSERT_EQ(account.exit_code, 0) << account.out;
  EXPECT_EQ(JsonNumber(account.out, "debits_posted"), expected_cents) << account.out;
  EXPECT_EQ(JsonNumber(account.out, "timestamp_ns"), start_ns + 1) << account.out;
  EXPECT_NE(account.out.find("imported"), std::string::npos) << account.out;
  const CtlRun last =
      Run({"--json", "lookup-transfer", std::to_string(100 + kBatches * kPerBatch - 1)});
  ASSERT_EQ(last.exit_code, 0) << last.out;
  EXPECT_EQ(JsonNumber(last.out, "timestamp_ns"),
            start_ns + 10 + 10 * uint64_t{kBatches * kPerBatch - 1})
      << last.out;
  // The imported history answers ledger-wide queries by its own times: the three transfers
  // booked in the second batch's first 30 ns, and the newest of all.
  const uint64_t second_batch_ns = start_ns + 10 + 10 * uint64_t{kPerBatch};
  const CtlRun window =
      Run({"--json", "query-transfers", "--ledger", "1", "--from-ns",
           std::to_string(second_batch_ns), "--to-ns", std::to_string(second_batch_ns + 29)});
  ASSERT_EQ(window.exit_code, 0) << window.out;
  for (int n = kPerBatch; n < kPerBatch + 3; ++n) {
    EXPECT_EQ(CountId(window.out, std::to_string(100 + n)), 1) << window.out;
  }
  EXPECT_EQ(CountId(window.out, std::to_string(100 + kPerBatch + 3)), 0) << window.out;
  const CtlRun newest =
      Run({"--json", "query-transfers", "--ledger", "1", "--reversed", "--limit", "1"});
  ASSERT_EQ(newest.exit_code, 0) << newest.out;
  EXPECT_EQ(CountId(newest.out, std::to_string(100 + kBatches * kPerBatch - 1)), 1) << newest.out;
  const CtlRun accounts =
      Run({"--json", "query-accounts", "--ledger", "1", "--to-ns", std::to_string(start_ns + 1)});
  EXPECT_EQ(CountId(accounts.out, "1"), 1) << accounts.out;
  EXPECT_EQ(CountId(accounts.out, "2"), 0) << accounts.out;
  // A native transfer afterwards is booked by the server's clock, after the history.
  const CtlRun native = Run({"--json", "transfer", "--id", "9", "--debit", "2", "--credit", "1",
                             "--amount", "0.01", "--ledger", "1", "--code", "1"});
  ASSERT_EQ(native.exit_code, 0) << native.out;
  EXPECT_GT(JsonNumber(native.out, "timestamp_ns"),
            start_ns + 10 + 10 * uint64_t{kBatches * kPerBatch});
  // A native create of the imported ledger's id differs in its flags.
  const CtlRun native_ledger = Run(create_ledger);
  EXPECT_NE(native_ledger.exit_code, 0);
  EXPECT_NE(native_ledger.out.find("exists_with_different_flags"), std::string::npos)
      << native_ledger.out;
  // Out of range or regressing: refused with the engine's codes; misuse of the flags: usage.
  const CtlRun regress =
      Run({"transfer", "--id", "10", "--debit", "1", "--credit", "2", "--amount", "1", "--ledger",
           "1", "--code", "1", "--imported", "--timestamp-ns", std::to_string(start_ns + 5)});
  EXPECT_NE(regress.exit_code, 0);
  EXPECT_NE(regress.out.find("imported_event_timestamp_must_not_regress"), std::string::npos)
      << regress.out;
  EXPECT_EQ(Run({"transfer", "--id", "11", "--debit", "1", "--credit", "2", "--amount", "1",
                 "--ledger", "1", "--code", "1", "--imported"})
                .exit_code,
            64);
  EXPECT_EQ(Run({"transfer", "--id", "11", "--debit", "1", "--credit", "2", "--amount", "1",
                 "--ledger", "1", "--code", "1", "--timestamp-ns", "5"})
                .exit_code,
            64);
  EXPECT_EQ(
      Run({"create-account", "--id", "3", "--ledger", "1", "--code", "1", "--timestamp-ns", "5"})
          .exit_code,
      64);
}

// A ledger whose accounts table holds two.
class LedgerctlFullTest : public LedgerctlTest {
  std::vector<std::string> ServerFlags() const override {
    std::vector<std::string> flags = ServerProcess::DefaultFlags();
    flags.insert(flags.end(), {"--accounts-max", "2"});
    return flags;
  }
};

TEST_F(LedgerctlFullTest, AFullLedgerHasItsOwnExitCode) {
  ASSERT_NO_FATAL_FAILURE(CreateLedgerAndTwoAccounts());
  const CtlRun full = Run({"create-account", "--id", "3", "--ledger", "1", "--code", "1"});
  EXPECT_EQ(full.exit_code, 73) << full.out;
  EXPECT_NE(full.out.find("ledger full"), std::string::npos) << full.out;
}

}  // namespace
}  // namespace ledger::net
