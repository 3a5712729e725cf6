// The real ledgerd over loopback RPC through the client library: every method end to end,
// login, restart, graceful shutdown.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "base/thread.h"
#include "net/client.h"
#include "tests/build_path.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Connect;
using testing::HttpGet;
using testing::ReadWholeFile;
using testing::ServerProcess;
using testing::Spawn;
using testing::WaitExit;

constexpr uint32_t kLedgerId = 7;

Ledger MakeLedger() {
  Ledger ledger{};
  ledger.id = kLedgerId;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "USD", 3);
  return ledger;
}

Account MakeAccount(uint64_t id, uint16_t flags = 0) {
  Account account{};
  account.id = AccountId::From(id);
  account.ledger = kLedgerId;
  account.code = 10;
  account.flags = flags;
  return account;
}

Transfer MakeTransfer(uint64_t id, uint64_t debit, uint64_t credit, uint64_t amount,
                      uint16_t flags = 0) {
  Transfer transfer{};
  transfer.id = TransferId::From(id);
  transfer.debit_account_id = AccountId::From(debit);
  transfer.credit_account_id = AccountId::From(credit);
  transfer.amount = Amount::From(amount);
  transfer.ledger = kLedgerId;
  transfer.code = 1;
  transfer.flags = flags;
  return transfer;
}

// One ledger and accounts 1..4 (1 may not go below zero, 4 keeps history).
void CreateBasics(Client& client) {
  const Ledger ledger = MakeLedger();
  LedgerResult ledger_result;
  ASSERT_TRUE(client.CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok());
  ASSERT_EQ(ledger_result.status, CreateLedgerResult::kOk);
  const std::vector<Account> accounts = {MakeAccount(1, account_flags::kDebitsMustNotExceedCredits),
                                         MakeAccount(2), MakeAccount(3),
                                         MakeAccount(4, account_flags::kHistory)};
  std::vector<AccountResult> results(accounts.size());
  ASSERT_TRUE(client.CreateAccounts(accounts, results).ok());
  for (const AccountResult& result : results) {
    ASSERT_EQ(result.status, CreateAccountResult::kOk);
    ASSERT_GT(result.timestamp_ns, 0u);
  }
}

TEST(Server, ServesEveryMethodEndToEnd) {
  ServerProcess server;
  ASSERT_EQ(server.init_exit_code(), 0) << server.log();
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->server_info().schema_version, 7u);
  EXPECT_EQ(client->server_info().limits.batch_events_max, 8190u);
  CreateBasics(*client);

  // 2 -> 4 posts 500; 1 -> 2 exceeds 1's credits; a pending 3 -> 4 of 200, then posted 150.
  const std::vector<Transfer> transfers = {MakeTransfer(100, 2, 4, 500), MakeTransfer(101, 1, 2, 1),
                                           MakeTransfer(102, 3, 4, 200, transfer_flags::kPending)};
  std::vector<TransferResult> results(transfers.size());
  ASSERT_TRUE(client->CreateTransfers(transfers, results).ok());
  EXPECT_EQ(results[0].status, CreateTransferResult::kOk);
  EXPECT_EQ(results[1].status, CreateTransferResult::kExceedsCredits);
  EXPECT_EQ(results[1].timestamp_ns, 0u);
  EXPECT_EQ(results[2].status, CreateTransferResult::kOk);
  EXPECT_EQ(results[2].timestamp_ns, results[0].timestamp_ns + 2);

  Transfer post = MakeTransfer(103, 3, 4, 150, transfer_flags::kPostPending);
  post.pending_id = TransferId::From(102);
  auto posted = client->Submit(post);
  ASSERT_TRUE(posted.ok()) << posted.status();
  EXPECT_EQ(posted->status, CreateTransferResult::kOk);

  // A retry answers exists, with the original booking timestamp.
  std::vector<TransferResult> retry(1);
  ASSERT_TRUE(client->CreateTransfers({&transfers[0], 1}, retry).ok());
  EXPECT_EQ(retry[0].status, CreateTransferResult::kExists);
  EXPECT_EQ(retry[0].timestamp_ns, results[0].timestamp_ns);

  const std::vector<AccountId> ids = {AccountId::From(4), AccountId::From(99), AccountId::From(2)};
  auto accounts = client->LookupAccounts(ids);
  ASSERT_TRUE(accounts.ok());
  ASSERT_EQ(accounts->size(), 2u);  // 99 does not exist
  EXPECT_EQ((*accounts)[0].id, AccountId::From(4));
  EXPECT_EQ((*accounts)[0].credits_posted, Amount::From(650));
  EXPECT_EQ((*accounts)[0].credits_pending, Amount::From(0));
  EXPECT_EQ((*accounts)[1].debits_posted, Amount::From(500));

  const std::vector<TransferId> transfer_ids = {TransferId::From(103), TransferId::From(101)};
  std::vector<FailedTransfer> failures;
  auto found = client->LookupTransfers(transfer_ids, &failures);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);  // a failed transfer is not a transfer
  EXPECT_EQ((*found)[0].amount, Amount::From(150));
  // ... but its id is spent: a retry answers id_already_failed, and the lookup gives the failed
  // event as submitted (booked where it would have been) and the code it got.
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].code, CreateTransferResult::kExceedsCredits);
  EXPECT_EQ(failures[0].event.id, TransferId::From(101));
  EXPECT_EQ(failures[0].event.amount, transfers[1].amount);
  EXPECT_EQ(failures[0].event.debit_account_id, transfers[1].debit_account_id);
  EXPECT_EQ(failures[0].event.timestamp_ns, results[0].timestamp_ns + 1);
  ASSERT_TRUE(client->CreateTransfers({&transfers[1], 1}, retry).ok());
  EXPECT_EQ(retry[0].status, CreateTransferResult::kIdAlreadyFailed);
  EXPECT_EQ(retry[0].timestamp_ns, 0u);

  const std::vector<uint32_t> ledger_ids = {kLedgerId, 8};
  auto ledgers = client->LookupLedgers(ledger_ids);
  ASSERT_TRUE(ledgers.ok());
  ASSERT_EQ(ledgers->size(), 1u);
  EXPECT_STREQ((*ledgers)[0].asset_code, "USD");
  EXPECT_EQ((*ledgers)[0].scale, 2);

  auto trial = client->GetTrialBalance(kLedgerId);
  ASSERT_TRUE(trial.ok());
  EXPECT_TRUE(trial->Balanced());
  EXPECT_EQ(trial->account_count, 4u);
  EXPECT_EQ(trial->debits_posted.low, Amount::From(650));
}

TEST(Server, TransferStatusesSayWhatBecameOfAHoldAndItsPost) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);
  // A hold of 200 posted 150 by 103 (50 released); the post reversed in part by 104.
  ASSERT_EQ(client->Submit(MakeTransfer(102, 3, 4, 200, transfer_flags::kPending))->status,
            CreateTransferResult::kOk);
  Transfer post = MakeTransfer(103, 3, 4, 150, transfer_flags::kPostPending);
  post.pending_id = TransferId::From(102);
  ASSERT_EQ(client->Submit(post)->status, CreateTransferResult::kOk);
  Transfer reversal = MakeTransfer(104, 4, 3, 40);
  reversal.reverses_id = TransferId::From(103);
  ASSERT_EQ(client->Submit(reversal)->status, CreateTransferResult::kOk);
  const std::vector<TransferId> status_ids = {TransferId::From(102), TransferId::From(999),
                                              TransferId::From(103)};
  auto statuses = client->GetTransferStatuses(status_ids);
  ASSERT_TRUE(statuses.ok()) << statuses.status();
  ASSERT_EQ(statuses->size(), 2u);  // 999 does not exist
  EXPECT_EQ((*statuses)[0].id, TransferId::From(102));
  EXPECT_EQ((*statuses)[0].status.pending_status, PendingStatus::kPosted);
  EXPECT_EQ((*statuses)[0].status.posted_amount, Amount::From(150));
  EXPECT_EQ((*statuses)[0].status.released_amount, Amount::From(50));
  EXPECT_EQ((*statuses)[0].status.resolved_by, TransferId::From(103));
  EXPECT_EQ((*statuses)[1].status.pending_status, PendingStatus::kNone);
  EXPECT_EQ((*statuses)[1].status.reversed_amount, Amount::From(40));
  EXPECT_EQ((*statuses)[1].status.reversal_count, 1u);
  EXPECT_EQ((*statuses)[1].reversals, std::vector<TransferId>{TransferId::From(104)});
}

TEST(Server, PaginatesHistoryAndBalances) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);
  std::vector<Transfer> transfers;
  for (uint64_t i = 0; i < 25; ++i) transfers.push_back(MakeTransfer(1000 + i, 2, 4, 1 + i));
  std::vector<TransferResult> results(transfers.size());
  ASSERT_TRUE(client->CreateTransfers(transfers, results).ok());

  for (bool reversed : {false, true}) {
    AccountFilter filter;
    filter.account_id = AccountId::From(4);
    filter.limit = 10;
    if (reversed) filter.flags |= filter_flags::kReversed;
    std::vector<Transfer> all;
    for (int page = 0; page < 10; ++page) {
      auto result = client->GetAccountTransfers(filter);
      ASSERT_TRUE(result.ok()) << result.status();
      all.insert(all.end(), result->records.begin(), result->records.end());
      if (result->next_timestamp_ns == 0) break;
      (reversed ? filter.timestamp_max_ns : filter.timestamp_min_ns) = result->next_timestamp_ns;
    }
    ASSERT_EQ(all.size(), 25u);
    for (size_t i = 0; i < all.size(); ++i) {
      const uint64_t expected = reversed ? 1024 - i : 1000 + i;
      EXPECT_EQ(all[i].id, TransferId::From(expected));
    }
  }

  AccountFilter filter;
  filter.account_id = AccountId::From(4);
  filter.limit = 30;
  auto balances = client->GetAccountBalances(filter);
  ASSERT_TRUE(balances.ok());
  ASSERT_EQ(balances->records.size(), 25u);
  EXPECT_EQ(balances->next_timestamp_ns, 0u);
  EXPECT_EQ(balances->records.back().credits_posted, Amount::From(25 * 26 / 2));
}

TEST(Server, ChangeFeedPollsAndStreamsInOrder) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);

  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<FeedChange> streamed;
  ASSERT_TRUE(client
                  ->Subscribe(
                      0,
                      [&](std::span<const FeedChange> changes) {
                        std::lock_guard lock(mutex);
                        streamed.insert(streamed.end(), changes.begin(), changes.end());
                        arrived.notify_all();
                      },
                      nullptr)
                  .ok());
  std::vector<Transfer> transfers;
  for (uint64_t i = 0; i < 10; ++i) transfers.push_back(MakeTransfer(2000 + i, 2, 3, 10));
  transfers.push_back(MakeTransfer(2100, 3, 4, 7, transfer_flags::kPending));
  std::vector<TransferResult> results(transfers.size());
  ASSERT_TRUE(client->CreateTransfers(transfers, results).ok());

  auto page = client->GetChanges(0, 0);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->changes.size(), 11u);
  EXPECT_EQ(page->next_sequence, 11u);
  EXPECT_EQ(page->oldest_sequence, 0u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(page->changes[i].sequence, i);
    EXPECT_EQ(page->changes[i].kind, ChangeKind::kSinglePhase);
    EXPECT_EQ(page->changes[i].debit_balance.debits_posted, Amount::From(10 * (i + 1)));
    EXPECT_EQ(page->changes[i].credit_balance.credits_posted, Amount::From(10 * (i + 1)));
  }
  EXPECT_EQ(page->changes[10].kind, ChangeKind::kPending);
  EXPECT_EQ(page->changes[10].credit_balance.credits_pending, Amount::From(7));

  std::unique_lock lock(mutex);
  ASSERT_TRUE(
      arrived.wait_for(lock, std::chrono::seconds(30), [&] { return streamed.size() >= 11; }));
  for (size_t i = 0; i < streamed.size(); ++i) EXPECT_EQ(streamed[i].sequence, i);
  lock.unlock();

  auto beyond = client->GetChanges(12, 0);
  EXPECT_FALSE(beyond.ok());
  client->Unsubscribe();
}

TEST(Server, RejectsWrongTokenAndUnauthenticatedCalls) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  ClientOptions options;
  options.address = server.address();
  options.token = server.token() + "x";
  auto client = Client::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnauthenticated) << client.status();
  options.token = "";
  EXPECT_FALSE(Client::Connect(options).ok());
  // The right token still works on a fresh connection, and so does the token file's text as
  // read, newline and all (a client in another language sends it so).
  EXPECT_NE(Connect(server, server.token()), nullptr);
  EXPECT_NE(Connect(server, server.token() + "\r\n"), nullptr);
  options.token = "\n" + server.token();  // only trailing whitespace is forgiven
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kUnauthenticated);
}

// The turns on a core of this process's threads named `name`, in nanoseconds (sched_getattr).
std::vector<uint64_t> SlicesOfThreadsNamed(const std::string& name) {
  std::vector<uint64_t> slices_ns;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm = ReadWholeFile(task.path() / "comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if (comm != name) continue;
    slices_ns.push_back(base::ThreadSliceNs(std::stoi(task.path().filename().string())));
  }
  return slices_ns;
}

TEST(Server, AClientsThreadTakesTheTurnsItAsksFor) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  const std::vector<uint64_t> before_ns = SlicesOfThreadsNamed("ledger-client");
  ASSERT_TRUE(before_ns.empty());
  ClientOptions options;
  options.address = server.address();
  options.token = server.token();
  options.io_slice_ns = 300'000;
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->GetServerInfo().ok());
  const std::vector<uint64_t> slices_ns = SlicesOfThreadsNamed("ledger-client");
  ASSERT_EQ(slices_ns.size(), 1u);
  if (slices_ns[0] == 0) GTEST_SKIP() << "this kernel has no per-thread turns (before 6.12)";
  EXPECT_EQ(slices_ns[0], 300'000u);
  // Without the option the thread keeps the kernel's turn.
  client->reset();
  auto plain = Connect(server, server.token());
  ASSERT_NE(plain, nullptr);
  const std::vector<uint64_t> plain_ns = SlicesOfThreadsNamed("ledger-client");
  ASSERT_EQ(plain_ns.size(), 1u);
  EXPECT_NE(plain_ns[0], 300'000u);
}

TEST(Server, RefusesBatchesOverTheLimitAndChangesNothing) {
  ServerProcess server;
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--max-batch-events", "100"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);
  std::vector<Transfer> transfers;
  for (uint64_t i = 0; i < 101; ++i) transfers.push_back(MakeTransfer(3000 + i, 2, 3, 1));
  std::vector<TransferResult> results(transfers.size());
  const absl::Status status = client->CreateTransfers(transfers, results);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("at most 100 events"), std::string::npos) << status;
  auto accounts = client->LookupAccounts(std::vector<AccountId>{AccountId::From(2)});
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ((*accounts)[0].debits_posted, Amount::From(0));
  transfers.pop_back();
  results.pop_back();
  EXPECT_TRUE(client->CreateTransfers(transfers, results).ok());
}

TEST(Server, RestartFindsEverythingAndShutsDownCleanly) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  {
    auto client = Connect(server, server.token());
    ASSERT_NE(client, nullptr);
    CreateBasics(*client);
    std::vector<Transfer> transfers;
    for (uint64_t i = 0; i < 50; ++i) transfers.push_back(MakeTransfer(4000 + i, 2, 3, 2));
    std::vector<TransferResult> results(transfers.size());
    ASSERT_TRUE(client->CreateTransfers(transfers, results).ok());
  }
  EXPECT_EQ(server.Stop(), 0) << server.log();
  EXPECT_NE(server.log().find("snapshot written"), std::string::npos) << server.log();
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  auto accounts = client->LookupAccounts(std::vector<AccountId>{AccountId::From(3)});
  ASSERT_TRUE(accounts.ok());
  ASSERT_EQ(accounts->size(), 1u);
  EXPECT_EQ((*accounts)[0].credits_posted, Amount::From(100));
  auto feed = client->GetChanges(0, 0);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->changes.size(), 50u);  // the feed survives the restart
}

TEST(Server, RunsADirectoryOfTheSmallestSegmentsAcrossManyOfThem) {
  ServerProcess server({"--segment-size-mib", "4"});
  ASSERT_EQ(server.init_exit_code(), 0) << server.log();
  ASSERT_TRUE(server.Start({"--accounts-capacity", "1024", "--transfers-capacity", "131072",
                            "--snapshot-interval-ops", "0"}))
      << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);
  // 30 batches of 4,000 transfers of 152 bytes: about 18 MB of log, five segments of 4 MiB.
  for (uint64_t batch = 0; batch < 30; ++batch) {
    std::vector<Transfer> transfers;
    for (uint64_t i = 0; i < 4000; ++i)
      transfers.push_back(MakeTransfer((batch << 32 | i) + 1, 2, 3, 1));
    std::vector<TransferResult> results(transfers.size());
    ASSERT_TRUE(client->CreateTransfers(transfers, results).ok());
  }
  auto accounts = client->LookupAccounts(std::vector<AccountId>{AccountId::From(3)});
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ((*accounts)[0].credits_posted, Amount::From(120'000));
  EXPECT_TRUE(std::filesystem::exists(server.data_dir() + "/wal-00000000000000000004.seg"));
}

// Nothing is sent after the hold: the server's own tick releases it, through the log (the
// release survives a restart) and the change feed.
TEST(Server, AHoldExpiresOnAQuietLedgerWithinASecondOfItsDeadline) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);
  Transfer hold = MakeTransfer(700, 2, 3, 25, transfer_flags::kPending);
  hold.timeout_s = 1;
  TransferResult result;
  ASSERT_TRUE(client->CreateTransfers({&hold, 1}, {&result, 1}).ok());
  ASSERT_EQ(result.status, CreateTransferResult::kOk);
  const uint64_t deadline_ns = result.timestamp_ns + 1'000'000'000;
  // Reads only (they book nothing), until the release shows, for at most a few seconds.
  std::vector<FeedChange> changes;
  for (int polls = 0; polls < 100; ++polls) {
    auto page = client->GetChanges(0, 0);
    ASSERT_TRUE(page.ok()) << page.status();
    changes = page->changes;
    if (changes.size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[1].kind, ChangeKind::kExpired);
  EXPECT_EQ(changes[1].transfer.id, TransferId::From(700));
  EXPECT_GE(changes[1].timestamp_ns, deadline_ns);
  EXPECT_LT(changes[1].timestamp_ns, deadline_ns + 1'000'000'000);  // within a second
  auto accounts = client->LookupAccounts(std::vector<AccountId>{AccountId::From(3)});
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ((*accounts)[0].credits_pending, Amount::From(0));
  client.reset();
  ASSERT_EQ(server.Stop(), 0) << server.log();
  ASSERT_TRUE(server.Start()) << server.log();
  auto again = Connect(server, server.token());
  ASSERT_NE(again, nullptr);
  auto page = again->GetChanges(1, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->changes.size(), 1u);
  EXPECT_EQ(page->changes[0].kind, ChangeKind::kExpired);
  EXPECT_EQ(page->changes[0].timestamp_ns, changes[1].timestamp_ns);
}

TEST(Server, CoalescesConcurrentSubmissionsAndAnswersEachCaller) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t id = 10'000 + static_cast<uint64_t>(t * kPerThread + i);
        auto result = client->Submit(MakeTransfer(id, 2, 3, 1));
        if (result.ok() && result->status == CreateTransferResult::kOk) ++ok;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  auto accounts = client->LookupAccounts(std::vector<AccountId>{AccountId::From(3)});
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ((*accounts)[0].credits_posted, Amount::From(kThreads * kPerThread));
  // A submission ending with a linked transfer would link to a stranger's: refused.
  EXPECT_EQ(client->Submit(MakeTransfer(99'999, 2, 3, 1, transfer_flags::kLinked)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A self-signed certificate and its key beside the server's data directory.
void MakeCertificate(const ServerProcess& server, const std::string& alt_names) {
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext "
      "subjectAltName=" +
      alt_names + " -keyout " + server.data_dir() + "/../key.pem -out " + server.data_dir() +
      "/../cert.pem >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
}

TEST(Server, ServesOverTls) {
  ServerProcess server;
  const std::string certificate = server.data_dir() + "/../cert.pem";
  const std::string key = server.data_dir() + "/../key.pem";
  MakeCertificate(server, "DNS:localhost");
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(),
               {"--tls-cert", certificate, "--tls-key", key, "--metrics", "127.0.0.1:0"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  ClientOptions options;
  options.address = server.address();
  options.token = server.token();
  options.tls_ca_file = certificate;
  options.tls_server_name = "localhost";
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  CreateBasics(**client);
  auto trial = (*client)->GetTrialBalance(kLedgerId);
  ASSERT_TRUE(trial.ok());
  EXPECT_EQ(trial->account_count, 4u);
  // Without TLS the server does not answer, and logs one line for it (no stack trace).
  options.tls_ca_file.clear();
  EXPECT_FALSE(Client::Connect(options).ok());
  for (int waited_ms = 0;
       server.log().find("TLS handshake failed") == std::string::npos && waited_ms < 5000;
       waited_ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(server.log().find("TLS handshake failed: wrong version number"), std::string::npos)
      << server.log();
  EXPECT_EQ(server.log().find("stack:"), std::string::npos) << server.log();
  EXPECT_NE(
      HttpGet(server.metrics_address(), "/metrics").find("ledger_tls_handshakes_failed_total 1\n"),
      std::string::npos);
  // Dialled by address, a certificate that holds only the name is refused as such.
  options.tls_ca_file = certificate;
  options.tls_server_name.clear();
  auto by_address = Client::Connect(options);
  ASSERT_FALSE(by_address.ok());
  EXPECT_TRUE(by_address.status().GetPayload(kTlsFailurePayload).has_value())
      << by_address.status();
  EXPECT_NE(by_address.status().message().find("hostname mismatch"), std::string::npos)
      << by_address.status();
}

TEST(Server, TlsByAddressChecksTheCertificatesAddresses) {
  ServerProcess server;
  MakeCertificate(server, "DNS:localhost,IP:127.0.0.1");
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--tls-cert", server.data_dir() + "/../cert.pem", "--tls-key",
                             server.data_dir() + "/../key.pem"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  ASSERT_EQ(server.address().rfind("127.0.0.1:", 0), 0u) << server.address();
  ClientOptions options;
  options.address = server.address();
  options.token = server.token();
  options.tls_ca_file = server.data_dir() + "/../cert.pem";
  auto client = Client::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto found = (*client)->LookupAccounts(std::vector<AccountId>{AccountId::From(1)});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->empty());
  // A certificate trusted for another authority is still refused by address.
  ServerProcess other;
  MakeCertificate(other, "IP:127.0.0.1");
  options.tls_ca_file = other.data_dir() + "/../cert.pem";
  auto untrusted = Client::Connect(options);
  ASSERT_FALSE(untrusted.ok());
  EXPECT_TRUE(untrusted.status().GetPayload(kTlsFailurePayload).has_value()) << untrusted.status();
  // And a name that the certificate does not hold is refused even though the address is.
  options.tls_ca_file = server.data_dir() + "/../cert.pem";
  options.tls_server_name = "ledger.example";
  EXPECT_FALSE(Client::Connect(options).ok());
}

TEST(Server, ExportsPrometheusMetrics) {
  ServerProcess server;
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--metrics", "127.0.0.1:0"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  ASSERT_FALSE(server.metrics_address().empty());
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);
  const std::vector<Transfer> transfers = {MakeTransfer(100, 2, 4, 5), MakeTransfer(101, 1, 2, 1),
                                           MakeTransfer(102, 2, 4, 5)};
  std::vector<TransferResult> results(transfers.size());
  ASSERT_TRUE(client->CreateTransfers(transfers, results).ok());
  ASSERT_TRUE(client->LookupAccounts(std::vector<AccountId>{AccountId::From(2)}).ok());

  const std::string text = HttpGet(server.metrics_address(), "/metrics");
  EXPECT_NE(text.find("200 OK"), std::string::npos) << text;
  for (const char* line :
       {"ledger_events_total{operation=\"create_transfers\",result=\"ok\"} 2\n",
        "ledger_events_total{operation=\"create_transfers\",result=\"exceeds_credits\"} 1\n",
        "ledger_events_total{operation=\"create_accounts\",result=\"ok\"} 4\n",
        "ledger_batches_total{operation=\"create_transfers\",outcome=\"ok\"} 1\n",
        "ledger_queries_total{method=\"lookup_accounts\"} 1\n", "ledger_accounts 4\n",
        "ledger_transfers 2\n", "ledger_last_op 3\n", "ledger_durable_op 3\n",
        "ledger_connections 1\n", "ledger_wal_entries_total 3\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
  }
  EXPECT_NE(HttpGet(server.metrics_address(), "/other").find("404"), std::string::npos);
}

TEST(Server, AFullTableRefusesWithItsOwnCodeAndChangesNothing) {
  ServerProcess server;
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--accounts-max", "4", "--transfers-max", "3", "--hot-transfers", "0",
                             "--metrics", "127.0.0.1:0"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  auto client = Connect(server, server.token());
  ASSERT_NE(client, nullptr);
  CreateBasics(*client);  // a ledger and accounts 1 to 4
  std::vector<Account> more = {MakeAccount(5)};
  std::vector<AccountResult> account_results(1);
  const absl::Status full = client->CreateAccounts(more, account_results);
  EXPECT_EQ(full.code(), absl::StatusCode::kFailedPrecondition) << full;
  EXPECT_TRUE(full.GetPayload(kLedgerFullPayload).has_value()) << full;
  EXPECT_NE(full.message().find("accounts table"), std::string::npos) << full;
  // Transfers: three fit, a batch of two more is refused whole.
  std::vector<Transfer> three = {MakeTransfer(1, 2, 3, 1), MakeTransfer(2, 2, 3, 1),
                                 MakeTransfer(3, 2, 3, 1)};
  std::vector<TransferResult> results(3);
  ASSERT_TRUE(client->CreateTransfers(three, results).ok());
  std::vector<Transfer> two = {MakeTransfer(4, 2, 3, 1), MakeTransfer(5, 2, 3, 1)};
  results.resize(2);
  EXPECT_TRUE(client->CreateTransfers(two, results).GetPayload(kLedgerFullPayload).has_value());
  auto accounts =
      client->LookupAccounts(std::vector<AccountId>{AccountId::From(3), AccountId::From(5)});
  ASSERT_TRUE(accounts.ok());
  ASSERT_EQ(accounts->size(), 1u);  // account 5 was not created
  EXPECT_EQ((*accounts)[0].credits_posted, Amount::From(3));
  const std::string text = HttpGet(server.metrics_address(), "/metrics");
  EXPECT_NE(text.find("ledger_requests_rejected_total{reason=\"engine_full\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ledger_accounts_max 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ledger_transfers_max 3\n"), std::string::npos) << text;
}

TEST(Server, InitRefusesWhatItCannotCreateWithItsOwnCode) {
  wal::testing::TemporaryDirectory temporary;
  const std::string log = temporary.Sub("init.log");
  const pid_t parentless =
      Spawn({LEDGERD_BINARY, "init", "--data-dir", temporary.Sub("no/parent")}, log);
  EXPECT_EQ(WaitExit(parentless), 73) << ReadWholeFile(log);
  EXPECT_NE(ReadWholeFile(log).find("cannot initialise"), std::string::npos) << ReadWholeFile(log);
  ServerProcess server;
  ASSERT_EQ(server.init_exit_code(), 0);
  const pid_t again = Spawn({LEDGERD_BINARY, "init", "--data-dir", server.data_dir()}, log);
  EXPECT_EQ(WaitExit(again), 73) << ReadWholeFile(log);
  // A damaged identity file: refused as damage (74), not as a missing directory.
  std::fstream identity(server.data_dir() + "/LEDGER", std::ios::in | std::ios::out);
  identity.seekp(8);
  identity.write("garbage", 7);
  identity.close();
  EXPECT_FALSE(server.Start());
  EXPECT_NE(server.log().find("not a valid identity file"), std::string::npos) << server.log();
}

TEST(Server, RejectsBadFlags) {
  ServerProcess server;
  EXPECT_FALSE(server.Start({"--shards", "0"}));
  EXPECT_NE(server.log().find("--shards must be"), std::string::npos) << server.log();
  EXPECT_FALSE(server.Start({"--shards", "2", "--shard-threads", "3"}));
  EXPECT_NE(server.log().find("shard threads must be"), std::string::npos) << server.log();
  EXPECT_FALSE(server.Start({"--no-such-flag"}));
  EXPECT_NE(server.log().find("unknown flag --no-such-flag"), std::string::npos);
  EXPECT_FALSE(server.Start({"--hot-transfers", "lots"}));
  EXPECT_NE(server.log().find("--hot-transfers must be auto or a whole number"), std::string::npos)
      << server.log();
  // Smaller than four batches per shard: the cooler could not keep a batch's room.
  EXPECT_FALSE(server.Start({"--hot-transfers", "1000"}));
  EXPECT_NE(server.log().find("at least 32760 (4 batches of 8190 per shard), not 1000"),
            std::string::npos)
      << server.log();
}

}  // namespace
}  // namespace ledger::net
