// Access by role, against the real ledgerd: a tokens file gives each token a role (read, write,
// admin) and optionally ledgers; calls the token may not make fail with "permission denied"
// and change nothing; SIGHUP re-reads the file (revoked tokens lose their sessions, a file that
// does not parse keeps the tokens in use); the file must be its owner's.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/client.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Connect;
using testing::HttpGet;
using testing::ServerProcess;
using testing::Shell;
using testing::WriteTokenFile;
using Clock = std::chrono::steady_clock;

constexpr char kReadToken[] = "read-token-0123456789abcdef";
constexpr char kWriteToken[] = "write-token-0123456789abcdef";
constexpr char kLimitedToken[] = "ledger-one-writer-0123456789";

// The server's own token (DIR/token, --token-file) is its admin token; `tokens` goes to a
// tokens file beside the data directory.
class RoleServer {
 public:
  explicit RoleServer(const std::string& tokens, bool metrics = false)
      : tokens_file_(server_.data_dir() + "/../tokens") {
    WriteTokenFile(tokens_file_, tokens);
    flags_ = ServerProcess::DefaultFlags();
    for (const std::string& flag : {std::string("--token-file"), server_.data_dir() + "/token",
                                    std::string("--tokens-file"), tokens_file_}) {
      flags_.push_back(flag);
    }
    if (metrics) {
      flags_.push_back("--metrics");
      flags_.push_back("127.0.0.1:0");
    }
  }

  ServerProcess& server() { return server_; }
  const std::vector<std::string>& flags() const { return flags_; }
  const std::string& tokens_file() const { return tokens_file_; }

  // Rewrites the tokens file, sends SIGHUP and waits until the log tells the outcome
  // (`expect`: "tokens reloaded" or "kept the").
  bool Reload(const std::string& tokens, const std::string& expect) {
    const size_t seen = CountIn(server_.log(), expect);
    WriteTokenFile(tokens_file_, tokens);
    kill(server_.pid(), SIGHUP);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      if (CountIn(server_.log(), expect) > seen) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  static size_t CountIn(const std::string& text, const std::string& what) {
    size_t count = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
      ++count;
    }
    return count;
  }

  ServerProcess server_;
  std::string tokens_file_;
  std::vector<std::string> flags_;
};

void CreateLedger(Client& client, uint32_t id) {
  Ledger ledger{};
  ledger.id = id;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "USD", 3);
  LedgerResult result;
  ASSERT_TRUE(client.CreateLedgers(std::span(&ledger, 1), std::span(&result, 1)).ok());
  ASSERT_EQ(result.status, CreateLedgerResult::kOk);
}

void CreateAccounts(Client& client, uint32_t ledger, uint64_t first_id, int count) {
  std::vector<Account> accounts(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    accounts[static_cast<size_t>(i)] = Account{};
    accounts[static_cast<size_t>(i)].id = AccountId::From(first_id + static_cast<uint64_t>(i));
    accounts[static_cast<size_t>(i)].ledger = ledger;
    accounts[static_cast<size_t>(i)].code = 10;
  }
  std::vector<AccountResult> results(accounts.size());
  ASSERT_TRUE(client.CreateAccounts(accounts, results).ok());
  for (const AccountResult& result : results) ASSERT_EQ(result.status, CreateAccountResult::kOk);
}

Transfer TransferOf(uint64_t id, uint64_t debit, uint64_t credit, uint32_t ledger) {
  Transfer transfer{};
  transfer.id = TransferId::From(id);
  transfer.debit_account_id = AccountId::From(debit);
  transfer.credit_account_id = AccountId::From(credit);
  transfer.amount = Amount::From(100);
  transfer.ledger = ledger;
  transfer.code = 1;
  return transfer;
}

// The credits posted to account `id`, as the admin sees them.
Amount CreditsOf(Client& admin, uint64_t id) {
  const AccountId account = AccountId::From(id);
  auto found = admin.LookupAccounts(std::span(&account, 1));
  EXPECT_TRUE(found.ok()) << found.status();
  if (!found.ok() || found->size() != 1) return Amount::From(~uint64_t{0});
  return (*found)[0].credits_posted;
}

double MetricValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(Roles, ReadTokenCannotCreateButCanLookUp) {
  RoleServer roles(absl::StrCat("# readers\nread ", kReadToken, "  # the dashboard\n"),
                   /*metrics=*/true);
  ServerProcess& server = roles.server();
  ASSERT_TRUE(server.Start(roles.flags())) << server.log();
  auto admin = Connect(server);
  ASSERT_NE(admin, nullptr);
  CreateLedger(*admin, 7);
  CreateAccounts(*admin, 7, 1, 2);

  auto reader = Connect(server, kReadToken);
  ASSERT_NE(reader, nullptr);
  const Transfer transfer = TransferOf(1, 1, 2, 7);
  TransferResult result;
  const absl::Status status =
      reader->CreateTransfers(std::span(&transfer, 1), std::span(&result, 1));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "permission denied: this token's role is read"))
      << status;
  Ledger ledger{};
  ledger.id = 8;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "EUR", 3);
  LedgerResult ledger_result;
  EXPECT_EQ(reader->CreateLedgers(std::span(&ledger, 1), std::span(&ledger_result, 1)).code(),
            absl::StatusCode::kPermissionDenied);

  // Nothing was booked; the reader still reads.
  EXPECT_EQ(CreditsOf(*admin, 2), Amount::From(0));
  const uint32_t ledger_ids[] = {7, 8};
  auto ledgers = admin->LookupLedgers(ledger_ids);
  ASSERT_TRUE(ledgers.ok()) << ledgers.status();
  EXPECT_EQ(ledgers->size(), 1u);
  const AccountId ids[] = {AccountId::From(1), AccountId::From(2)};
  auto found = reader->LookupAccounts(ids);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->size(), 2u);
  auto changes = reader->GetChanges(0, 0);
  EXPECT_TRUE(changes.ok()) << changes.status();

  // The admin books; the reader sees it.
  ASSERT_TRUE(admin->CreateTransfers(std::span(&transfer, 1), std::span(&result, 1)).ok());
  EXPECT_EQ(result.status, CreateTransferResult::kOk);
  EXPECT_EQ(CreditsOf(*reader, 2), Amount::From(100));

  const std::string metrics = HttpGet(server.metrics_address(), "/metrics");
  EXPECT_EQ(MetricValue(metrics, "ledger_logins_total{role=\"read\"}"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "ledger_logins_total{role=\"admin\"}"), 1);
  EXPECT_EQ(MetricValue(metrics, "ledger_calls_denied_total{role=\"read\"}"), 2);
  EXPECT_EQ(MetricValue(metrics, "ledger_calls_denied_total{role=\"admin\"}"), 0);
  EXPECT_EQ(MetricValue(metrics, "ledger_requests_rejected_total{reason=\"permission_denied\"}"),
            2);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Roles, LedgerLimitedWriterCannotBookInAnotherLedger) {
  RoleServer roles(absl::StrCat("write ", kLimitedToken, " ledgers=1\n"));
  ServerProcess& server = roles.server();
  ASSERT_TRUE(server.Start(roles.flags())) << server.log();
  auto admin = Connect(server);
  ASSERT_NE(admin, nullptr);
  CreateLedger(*admin, 1);
  CreateLedger(*admin, 2);
  CreateAccounts(*admin, 1, 11, 2);
  CreateAccounts(*admin, 2, 21, 2);

  auto writer = Connect(server, kLimitedToken);
  ASSERT_NE(writer, nullptr);
  // One event outside ledger 1 refuses the whole batch, the event inside it too.
  const Transfer mixed[] = {TransferOf(1, 11, 12, 1), TransferOf(2, 21, 22, 2)};
  TransferResult results[2];
  const absl::Status status = writer->CreateTransfers(mixed, results);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "event 1 is in ledger 2")) << status;
  EXPECT_EQ(CreditsOf(*admin, 12), Amount::From(0));
  EXPECT_EQ(CreditsOf(*admin, 22), Amount::From(0));
  Account account{};
  account.id = AccountId::From(23);
  account.ledger = 2;
  account.code = 10;
  AccountResult account_result;
  EXPECT_EQ(writer->CreateAccounts(std::span(&account, 1), std::span(&account_result, 1)).code(),
            absl::StatusCode::kPermissionDenied);

  // Its own ledger books.
  ASSERT_TRUE(writer->CreateTransfers(std::span(&mixed[0], 1), std::span(&results[0], 1)).ok());
  EXPECT_EQ(results[0].status, CreateTransferResult::kOk);
  EXPECT_EQ(CreditsOf(*admin, 12), Amount::From(100));

  // Records of ledger 2 are not found; whole-ledger reads of it are refused.
  const AccountId ids[] = {AccountId::From(11), AccountId::From(21)};
  auto found = writer->LookupAccounts(ids);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, AccountId::From(11));
  ASSERT_TRUE(admin->CreateTransfers(std::span(&mixed[1], 1), std::span(&results[1], 1)).ok());
  const TransferId transfer_ids[] = {TransferId::From(1), TransferId::From(2)};
  auto transfers = writer->LookupTransfers(transfer_ids);
  ASSERT_TRUE(transfers.ok()) << transfers.status();
  EXPECT_EQ(transfers->size(), 1u);
  AccountFilter filter{};
  filter.account_id = AccountId::From(21);
  auto page = writer->GetAccountTransfers(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->records.empty());
  EXPECT_EQ(writer->GetTrialBalance(2).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(writer->GetTrialBalance(1).ok());
  EXPECT_EQ(writer->GetChanges(0, 0).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Roles, ImportingHistoryNeedsAdmin) {
  RoleServer roles(absl::StrCat("write ", kWriteToken, "\n"));
  ServerProcess& server = roles.server();
  ASSERT_TRUE(server.Start(roles.flags())) << server.log();
  auto admin = Connect(server);
  ASSERT_NE(admin, nullptr);
  CreateLedger(*admin, 1);
  CreateAccounts(*admin, 1, 11, 2);
  const AccountId debit = AccountId::From(11);
  auto accounts = admin->LookupAccounts(std::span(&debit, 1));
  ASSERT_TRUE(accounts.ok() && accounts->size() == 1) << accounts.status();

  // Booked at its own timestamp, after the accounts' and before now.
  Transfer imported = TransferOf(1, 11, 12, 1);
  imported.flags = transfer_flags::kImported;
  imported.timestamp_ns = (*accounts)[0].timestamp_ns + 1000;
  auto writer = Connect(server, kWriteToken);
  ASSERT_NE(writer, nullptr);
  TransferResult result;
  const absl::Status denied =
      writer->CreateTransfers(std::span(&imported, 1), std::span(&result, 1));
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
  EXPECT_TRUE(absl::StrContains(denied.message(), "importing needs admin")) << denied;
  EXPECT_EQ(CreditsOf(*admin, 12), Amount::From(0));
  // The same transfer booked now is the writer's to book; the import is the admin's.
  Transfer native = TransferOf(2, 11, 12, 1);
  ASSERT_TRUE(writer->CreateTransfers(std::span(&native, 1), std::span(&result, 1)).ok());
  EXPECT_EQ(result.status, CreateTransferResult::kOk);
  imported.timestamp_ns = result.timestamp_ns + 1000;
  ASSERT_TRUE(admin->CreateTransfers(std::span(&imported, 1), std::span(&result, 1)).ok());
  EXPECT_EQ(result.status, CreateTransferResult::kOk);
  EXPECT_EQ(result.timestamp_ns, imported.timestamp_ns);
  EXPECT_EQ(CreditsOf(*admin, 12), Amount::From(200));
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Roles, SighupRevocationEndsALiveSessionAndRefusesNewLogins) {
  RoleServer roles(absl::StrCat("write ", kWriteToken, "\nread ", kReadToken, "\n"));
  ServerProcess& server = roles.server();
  std::vector<std::string> flags = roles.flags();
  flags.push_back("--login-timeout-ms");  // a revoked connection is closed after it
  flags.push_back("1000");
  ASSERT_TRUE(server.Start(flags)) << server.log();
  auto writer = Connect(server, kWriteToken);
  ASSERT_NE(writer, nullptr);
  CreateLedger(*writer, 7);
  auto reader = Connect(server, kReadToken);
  ASSERT_NE(reader, nullptr);

  // The writer is revoked; the reader becomes a writer without logging in again.
  ASSERT_TRUE(roles.Reload(absl::StrCat("write ", kReadToken, "\n"), "tokens reloaded"))
      << server.log();
  EXPECT_TRUE(absl::StrContains(server.log(), "revoked 1 connections of tokens no longer listed"))
      << server.log();
  const uint32_t ledger_id = 7;
  const absl::Status revoked = writer->LookupLedgers(std::span(&ledger_id, 1)).status();
  EXPECT_EQ(revoked.code(), absl::StatusCode::kUnauthenticated) << revoked;
  EXPECT_TRUE(absl::StrContains(revoked.message(), "the token was revoked")) << revoked;
  Ledger ledger{};
  ledger.id = 8;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "EUR", 3);
  LedgerResult ledger_result;
  EXPECT_EQ(writer->CreateLedgers(std::span(&ledger, 1), std::span(&ledger_result, 1)).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(reader->LookupLedgers(std::span(&ledger_id, 1))->size(), 1u);  // ledger 8: none

  ClientOptions options;
  options.address = server.address();
  options.token = kWriteToken;
  auto again = Client::Connect(options);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnauthenticated) << again.status();

  CreateAccounts(*reader, 7, 1, 1);  // write now

  // The revoked connection is closed after the login timeout; the reader's lives on.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  absl::Status closed = revoked;
  while (closed.code() != absl::StatusCode::kUnavailable && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    closed = writer->LookupLedgers(std::span(&ledger_id, 1)).status();
  }
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable) << closed;
  EXPECT_TRUE(reader->LookupLedgers(std::span(&ledger_id, 1)).ok());
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Roles, MalformedTokensFileOnReloadKeepsTheOldTokens) {
  RoleServer roles(absl::StrCat("write ", kWriteToken, "\n"));
  ServerProcess& server = roles.server();
  ASSERT_TRUE(server.Start(roles.flags())) << server.log();
  auto writer = Connect(server, kWriteToken);
  ASSERT_NE(writer, nullptr);

  ASSERT_TRUE(roles.Reload(absl::StrCat("writer ", kReadToken, "\n"), "kept the")) << server.log();
  EXPECT_TRUE(absl::StrContains(server.log(), "line 1: unknown role 'writer'")) << server.log();
  ASSERT_TRUE(roles.Reload("", "kept the")) << server.log();
  EXPECT_TRUE(absl::StrContains(server.log(), "lists no token")) << server.log();

  CreateLedger(*writer, 7);  // the session lives on
  auto again = Connect(server, kWriteToken);
  ASSERT_NE(again, nullptr);
  CreateAccounts(*again, 7, 1, 1);
  ClientOptions options;
  options.address = server.address();
  options.token = kReadToken;  // only in the file that did not parse
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Roles, TokensFileAloneLeavesTheInitTokenOut) {
  constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
  ServerProcess server;
  const std::string tokens_file = server.data_dir() + "/../tokens";
  WriteTokenFile(tokens_file, absl::StrCat("admin ", kAdminToken, "\n"));
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.push_back("--tokens-file");
  flags.push_back(tokens_file);
  ASSERT_TRUE(server.Start(flags)) << server.log();
  ClientOptions options;
  options.address = server.address();
  options.token = server.token();  // DIR/token: not read without --token-file
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kUnauthenticated);
  auto admin = Connect(server, kAdminToken);
  ASSERT_NE(admin, nullptr);
  CreateLedger(*admin, 7);
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Roles, SighupRotatesTheAdminTokenFile) {
  constexpr char kNewToken[] = "rotated-admin-token-0123456789";
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();  // DIR/token, no tokens file
  auto old_admin = Connect(server);
  ASSERT_NE(old_admin, nullptr);
  CreateLedger(*old_admin, 7);

  WriteTokenFile(server.data_dir() + "/token", absl::StrCat(kNewToken, "\n"));
  kill(server.pid(), SIGHUP);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (server.log().find("tokens reloaded") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_NE(server.log().find("SIGHUP: tokens reloaded: 1 tokens; revoked 1"), std::string::npos)
      << server.log();
  // The old token's session ends; the new token logs in and writes.
  EXPECT_EQ(old_admin->LookupLedgers(std::vector<uint32_t>{7}).status().code(),
            absl::StatusCode::kUnauthenticated);
  ClientOptions options;
  options.address = server.address();
  options.token = server.token();
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kUnauthenticated);
  auto new_admin = Connect(server, kNewToken);
  ASSERT_NE(new_admin, nullptr);
  CreateLedger(*new_admin, 8);
  EXPECT_EQ(server.Stop(), 0);
}

// In `dir`: a CA (ca.pem), the server's self-signed certificate for localhost (server.pem), and
// client certificates with the common names `names` signed by the CA (NAME.pem, NAME.key), and
// one signed by nobody (stranger.pem).
void MakeCertificates(const std::string& dir, const std::vector<std::string>& names) {
  const std::string new_key = "openssl req -newkey rsa:2048 -nodes -days 2 ";
  ASSERT_TRUE(Shell(absl::StrCat(new_key, "-x509 -subj /CN=test-ca -keyout ", dir, "/ca.key -out ",
                                 dir, "/ca.pem")));
  ASSERT_TRUE(Shell(absl::StrCat(new_key, "-x509 -subj /CN=localhost -addext ",
                                 "subjectAltName=DNS:localhost -keyout ", dir, "/server.key -out ",
                                 dir, "/server.pem")));
  ASSERT_TRUE(Shell(absl::StrCat(new_key, "-x509 -subj /CN=reader-app -keyout ", dir,
                                 "/stranger.key -out ", dir, "/stranger.pem")));
  for (const std::string& name : names) {
    const std::string base = absl::StrCat(dir, "/", name);
    ASSERT_TRUE(Shell(
        absl::StrCat(new_key, "-subj /CN=", name, " -keyout ", base, ".key -out ", base, ".csr")));
    ASSERT_TRUE(
        Shell(absl::StrCat("openssl x509 -req -days 2 -in ", base, ".csr -CA ", dir,
                           "/ca.pem -CAkey ", dir, "/ca.key -CAcreateserial -out ", base, ".pem")));
  }
}

TEST(Roles, ClientCertificateNameMapsToARole) {
  RoleServer roles("read cert:reader-app  # the dashboard's certificate\n");
  ServerProcess& server = roles.server();
  const std::string dir = server.data_dir() + "/..";
  MakeCertificates(dir, {"reader-app", "unlisted-app"});
  std::vector<std::string> flags = roles.flags();
  flags.insert(flags.end(), {"--tls-cert", dir + "/server.pem", "--tls-key", dir + "/server.key",
                             "--tls-client-ca", dir + "/ca.pem"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  const auto options_for = [&](const std::string& name, const std::string& token) {
    ClientOptions options;
    options.address = server.address();
    options.token = token;
    options.tls_ca_file = dir + "/server.pem";
    options.tls_server_name = "localhost";
    options.tls_certificate_file = dir + "/" + name + ".pem";
    options.tls_key_file = dir + "/" + name + ".key";
    return options;
  };

  // A token still logs in (with any certificate the CA signed): the admin sets up.
  auto admin = Client::Connect(options_for("unlisted-app", server.token()));
  ASSERT_TRUE(admin.ok()) << admin.status();
  CreateLedger(**admin, 7);
  CreateAccounts(**admin, 7, 1, 2);

  // The certificate's name is the reader's login.
  auto reader = Client::Connect(options_for("reader-app", ""));
  ASSERT_TRUE(reader.ok()) << reader.status();
  const Transfer transfer = TransferOf(1, 1, 2, 7);
  TransferResult result;
  EXPECT_EQ((*reader)->CreateTransfers(std::span(&transfer, 1), std::span(&result, 1)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CreditsOf(**admin, 2), Amount::From(0));
  EXPECT_EQ(CreditsOf(**reader, 2), Amount::From(0));

  // A certificate the tokens file does not name, without a token, is a wrong login; one the
  // CA did not sign, or none, fails the handshake.
  EXPECT_EQ(Client::Connect(options_for("unlisted-app", "")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(Client::Connect(options_for("stranger", "")).ok());
  ClientOptions without = options_for("reader-app", server.token());
  without.tls_certificate_file.clear();
  without.tls_key_file.clear();
  EXPECT_FALSE(Client::Connect(without).ok());
  EXPECT_EQ(server.Stop(), 0);
}

TEST(Roles, TokensFileOpenToOthersIsRefusedAtStart) {
  RoleServer roles(absl::StrCat("read ", kReadToken, "\n"));
  std::filesystem::permissions(roles.tokens_file(), std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  ServerProcess& server = roles.server();
  EXPECT_FALSE(server.Start(roles.flags()));
  EXPECT_EQ(server.start_exit_code(), 64);
  EXPECT_TRUE(absl::StrContains(server.log(), "chmod 600")) << server.log();
}

TEST(Roles, TokensFileThatDoesNotParseIsRefusedAtStart) {
  RoleServer roles(absl::StrCat("read ", kReadToken, " ledgers=1,x\n"));
  ServerProcess& server = roles.server();
  EXPECT_FALSE(server.Start(roles.flags()));
  EXPECT_EQ(server.start_exit_code(), 64);
  EXPECT_TRUE(absl::StrContains(server.log(), "line 1: 'x' is not a ledger id")) << server.log();
}

}  // namespace
}  // namespace ledger::net
