// ledgerctl run as a real process against the real ledgerd: human amounts in and out, result
// codes by name, exit codes, JSON.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

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
