// Who may reach the ledger, against the real ledgerd: connections that never log in cannot
// lock logged-in clients out (their own budgets, the oldest evicted, refusals told), the files
// the server writes are its owner's alone and its token files must be too, and the metrics
// endpoint can ask for a token.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/client.h"
#include "tests/build_path.h"
#include "tests/net/raw_rpc.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Connect;
using testing::Describe;
using testing::HttpGet;
using testing::MetricValue;
using testing::RawSocket;
using testing::ReadWholeFile;
using testing::RpcConnection;
using testing::ServerProcess;
using testing::WriteTokenFile;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint32_t kLedgerId = 7;

// Books a ledger, two accounts and a transfer of 100 between them through `client`; the
// transfer's result.
void BookTransfer(Client& client, uint64_t first_id) {
  Ledger ledger{};
  ledger.id = kLedgerId;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "USD", 3);
  LedgerResult ledger_result;
  ASSERT_TRUE(client.CreateLedgers(std::span(&ledger, 1), std::span(&ledger_result, 1)).ok());
  Account accounts[2]{};
  for (int i = 0; i < 2; ++i) {
    accounts[i].id = AccountId::From(first_id + static_cast<uint64_t>(i));
    accounts[i].ledger = kLedgerId;
    accounts[i].code = 10;
  }
  AccountResult account_results[2];
  ASSERT_TRUE(client.CreateAccounts(accounts, account_results).ok());
  EXPECT_EQ(account_results[0].status, CreateAccountResult::kOk);
  Transfer transfer{};
  transfer.id = TransferId::From(first_id);
  transfer.debit_account_id = accounts[0].id;
  transfer.credit_account_id = accounts[1].id;
  transfer.amount = Amount::From(100);
  transfer.ledger = kLedgerId;
  transfer.code = 1;
  TransferResult result;
  const absl::Status status =
      client.CreateTransfers(std::span(&transfer, 1), std::span(&result, 1));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(result.status, CreateTransferResult::kOk);
  auto found = client.LookupAccounts(std::span(&accounts[1].id, 1));
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].credits_posted, Amount::From(100));
}

mode_t ModeOf(const std::string& path) {
  struct stat status {};
  EXPECT_EQ(stat(path.c_str(), &status), 0) << path;
  return status.st_mode & 07777;
}

// Sets the process's umask for a scope: children (init, the server) inherit it.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : saved_(umask(mask)) {}
  ~ScopedUmask() { umask(saved_); }

 private:
  mode_t saved_;
};

std::string Scrape(const ServerProcess& server, const std::string& headers = "") {
  return HttpGet(server.metrics_address(), "/metrics", headers);
}

std::vector<std::string> FlagsWith(std::vector<std::string> more) {
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

// ---------------------------------------------------------------------------------------------
// Connections not logged in

TEST(Access, ConnectionsThatNeverLogInCannotKeepAClientOut) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(FlagsWith({"--metrics", "127.0.0.1:0"}))) << server.log();
  auto before = Connect(server);  // logged in before the flood: never evicted
  ASSERT_NE(before, nullptr);

  // 300 connections that never log in, more than --max-connections (256): 200 from the
  // client's own address and 10 from each of 10 others.
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 300; ++i) {
    const std::string source = i < 200 ? "127.0.0.1" : absl::StrCat("127.0.0.", 2 + (i - 200) / 10);
    idle.push_back(std::make_unique<RawSocket>(server.address(), 0, source));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  // The first of them was the oldest of its address when the 33rd came: closed and told why.
  std::string told;
  EXPECT_TRUE(idle.front()->WaitClosed(milliseconds(5000), &told));
  EXPECT_TRUE(absl::StrContains(
      told,
      "the server refused the connection: too many connections not logged in from "
      "127.0.0.1 (limit 32)"))
      << told;

  // A client logs in and books a transfer, well before the login timeout (10 s) frees anything.
  const auto started = Clock::now();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(BookTransfer(*client, 1));
  const auto took_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();
  std::printf("logged in and booked a transfer past 300 idle connections in %lld ms\n",
              static_cast<long long>(took_ms));
  EXPECT_LT(took_ms, 5000);
  auto still = before->LookupAccounts(std::vector<AccountId>{AccountId::From(2)});
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->size(), 1u);

  const std::string metrics = Scrape(server);
  EXPECT_GE(MetricValue(metrics,
                        "ledger_connections_evicted_total{reason=\"unauthenticated_per_address\"}"),
            200 - 32)
      << metrics;
  EXPECT_GE(MetricValue(metrics, "ledger_connections_evicted_total{reason=\"unauthenticated\"}"), 1)
      << metrics;
  EXPECT_LE(MetricValue(metrics, "ledger_connections_unauthenticated"), 64) << metrics;
  EXPECT_EQ(MetricValue(metrics, "ledger_connections_rejected_total"), 0) << metrics;
  std::printf(
      "%s",
      ("evicted: " +
       std::to_string(MetricValue(
           metrics, "ledger_connections_evicted_total{reason=\"unauthenticated_per_address\"}")) +
       " per address, " +
       std::to_string(
           MetricValue(metrics, "ledger_connections_evicted_total{reason=\"unauthenticated\"}")) +
       " of all\n")
          .c_str());
  idle.clear();
  client.reset();
  before.reset();
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

TEST(Access, EvictedConnectionLearnsWhyAtItsNextCall) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      FlagsWith({"--max-unauthenticated-per-address", "2", "--metrics", "127.0.0.1:0"})))
      << server.log();
  RpcConnection oldest(server.address());  // takes the Gateway, does not log in yet
  auto gateway = oldest.gateway().whenResolved();
  ASSERT_EQ(oldest.Failure(kj::mv(gateway)), nullptr);
  RawSocket second(server.address());
  RawSocket third(server.address());  // the address's third: the oldest goes
  ASSERT_TRUE(second.connected() && third.connected());
  // Connected is not yet accepted: wait until the server has made room.
  const std::string kEvicted =
      "ledger_connections_evicted_total{reason=\"unauthenticated_per_address\"}";
  for (const auto until = Clock::now() + milliseconds(5000);
       MetricValue(Scrape(server), kEvicted) < 1 && Clock::now() < until;) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(MetricValue(Scrape(server), kEvicted), 1);
  auto failure = oldest.Failure(oldest.Login(server.token()));
  EXPECT_TRUE(absl::StrContains(Describe(failure),
                                "the server refused the connection: too many connections not "
                                "logged in from 127.0.0.1 (limit 2)"))
      << Describe(failure);
  // Logging in within the budget works, from another address too.
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

TEST(Access, ClientPastAServerFullOfLoggedInClientsIsToldWhy) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(FlagsWith({"--max-connections", "3", "--metrics", "127.0.0.1:0"})))
      << server.log();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Connect(server));
    ASSERT_NE(clients.back(), nullptr);
  }
  ClientOptions options;
  options.address = server.address();
  options.token = server.token();
  auto refused = Client::Connect(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_EQ(refused.status().message(),
            "the server refused the connection: too many connections (limit 3), all logged in");
  EXPECT_EQ(MetricValue(Scrape(server), "ledger_connections_rejected_total"), 1);
  // One leaves: room again.
  clients.pop_back();
  bool admitted = false;
  for (const auto until = Clock::now() + milliseconds(5000); !admitted && Clock::now() < until;) {
    admitted = Client::Connect(options).ok();
    if (!admitted) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(admitted);
  clients.clear();
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

// ---------------------------------------------------------------------------------------------
// The metrics endpoint behind a token

TEST(Access, MetricsWithATokenFileAnswerOnlyRequestsThatCarryIt) {
  ServerProcess server;
  const std::string token_file = server.data_dir() + "/../metrics-token";
  WriteTokenFile(token_file, "metrics-token-of-the-access-test\n");
  ASSERT_TRUE(
      server.Start(FlagsWith({"--metrics", "127.0.0.1:0", "--metrics-token-file", token_file})))
      << server.log();
  const std::string none = Scrape(server);
  EXPECT_TRUE(none.starts_with("HTTP/1.1 401 ")) << none;
  EXPECT_TRUE(absl::StrContains(none, "WWW-Authenticate: Bearer")) << none;
  EXPECT_EQ(none.find("ledger_up"), std::string::npos) << none;
  const std::string wrong =
      Scrape(server, "Authorization: Bearer metrics-token-of-the-access-tesT\r\n");
  EXPECT_TRUE(wrong.starts_with("HTTP/1.1 401 ")) << wrong;
  const std::string shorter = Scrape(server, "Authorization: Bearer metrics\r\n");
  EXPECT_TRUE(shorter.starts_with("HTTP/1.1 401 ")) << shorter;
  const std::string right =
      Scrape(server, "Authorization: Bearer metrics-token-of-the-access-test\r\n");
  EXPECT_TRUE(right.starts_with("HTTP/1.1 200 ")) << right;
  EXPECT_EQ(MetricValue(right, "ledger_up"), 1) << right;
  EXPECT_EQ(MetricValue(right, "ledger_metrics_requests_unauthorized_total"), 3) << right;
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

TEST(Access, MetricsTokenFileOthersMayReadIsRefused) {
  ServerProcess server;
  const std::string token_file = server.data_dir() + "/../metrics-token";
  WriteTokenFile(token_file, "metrics-token-of-the-access-test\n");
  ASSERT_EQ(chmod(token_file.c_str(), 0644), 0);
  EXPECT_FALSE(
      server.Start(FlagsWith({"--metrics", "127.0.0.1:0", "--metrics-token-file", token_file})));
  EXPECT_EQ(server.start_exit_code(), 64);
  EXPECT_TRUE(absl::StrContains(server.log(), "run: chmod 600 ")) << server.log();
}

// ---------------------------------------------------------------------------------------------
// Files for their owner only

TEST(Access, EveryFileTheServerWritesIsTheOwnersOnlyWhateverTheUmask) {
  ScopedUmask open_umask(0);  // the umask takes nothing away: the modes are the server's own
  ServerProcess server;
  ASSERT_EQ(server.init_exit_code(), 0) << server.log();
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(BookTransfer(*client, 1));
  client.reset();
  ASSERT_EQ(server.Stop(), 0) << server.log();  // writes a snapshot

  EXPECT_EQ(ModeOf(server.data_dir()), 0700u);
  int files = 0;
  bool snapshot = false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(server.data_dir())) {
    const std::string path = entry.path().string();
    const mode_t expected = entry.is_directory() ? 0700 : 0600;
    EXPECT_EQ(ModeOf(path), expected) << path;
    if (entry.is_regular_file()) ++files;
    if (absl::StrContains(entry.path().filename().string(), "snap")) snapshot = true;
  }
  EXPECT_GE(files, 3) << "identity, a segment, the token";
  EXPECT_TRUE(snapshot) << "no snapshot was written: its mode went unchecked";
  EXPECT_EQ(server.log().find("warning"), std::string::npos) << server.log();
}

TEST(Access, InitClosesAnEmptyDirectoryThatExists) {
  ServerProcess server;  // only for its temporary directory and binary
  const std::string dir = server.data_dir() + "-made-by-hand";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  const pid_t pid = testing::Spawn({LEDGERD_BINARY, "init", "--data-dir", dir}, server.log_path());
  ASSERT_EQ(testing::WaitExit(pid), 0) << server.log();
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(dir + "/token"), 0600u);
}

TEST(Access, TokenFileOthersMayReadIsRefusedWithTheChmodToRun) {
  ServerProcess server;
  const std::string token_file = server.data_dir() + "/token";
  ASSERT_EQ(ModeOf(token_file), 0600u) << "ledgerd init wrote it";
  ASSERT_EQ(chmod(token_file.c_str(), 0644), 0);
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.start_exit_code(), 64);
  EXPECT_TRUE(absl::StrContains(server.log(), absl::StrCat("run: chmod 600 ", token_file)))
      << server.log();
  EXPECT_TRUE(absl::StrContains(server.log(), "(mode 0644)")) << server.log();

  ASSERT_EQ(chmod(token_file.c_str(), 0620), 0);  // writable by the group: refused too
  EXPECT_FALSE(server.Start());
  EXPECT_EQ(server.start_exit_code(), 64);

  ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Access, GroupTokenFileOthersMayReadIsRefused) {
  ServerProcess server;
  const std::string group_token = server.data_dir() + "/../group-token";
  WriteTokenFile(group_token, "group-token-of-the-access-test\n");
  ASSERT_EQ(chmod(group_token.c_str(), 0640), 0);
  // Refused before etcd is asked: none runs at this address.
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  for (const char* flag : {"--replica-group", "g", "--etcd", "127.0.0.1:1", "--member", "m",
                           "--replication-listen", "127.0.0.1:0", "--group-token-file"}) {
    flags.push_back(flag);
  }
  flags.push_back(group_token);
  EXPECT_FALSE(server.Start(flags));
  EXPECT_EQ(server.start_exit_code(), 64);
  EXPECT_TRUE(absl::StrContains(server.log(), "run: chmod 600 ")) << server.log();
}

TEST(Access, DataDirectoryOpenToOthersIsWarnedAbout) {
  ServerProcess server;
  ASSERT_EQ(chmod(server.data_dir().c_str(), 0755), 0);
  ASSERT_TRUE(server.Start()) << server.log();
  EXPECT_TRUE(
      absl::StrContains(server.log(), absl::StrCat("run: chmod -R go= ", server.data_dir())))
      << server.log();
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace ledger::net
