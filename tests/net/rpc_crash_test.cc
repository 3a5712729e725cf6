// The RPC crash test: client threads post transfers to the real ledgerd through net::Client
// (Submit, single and linked chains, and CreateTransfers batches, all at once) and the server
// is killed with SIGKILL at a random moment. After each restart the ledger is held to what the
// clients were told:
//   - every acknowledged transfer (its result came back ok) is there;
//   - every transfer there is one a client sent, field for field, and nothing else appeared
//     (every account's history lists only those);
//   - a linked chain is there whole or not at all;
//   - once a transfer was seen after a restart it stays (the log does not lose it later);
//   - every account's balances equal a model summed from the transfers that are there, and the
//     trial balance holds.
// The data directory carries over from kill to kill (kKillsPerDirectory of them, then the server
// stops cleanly and a new directory begins: the checks grow with what the directory holds), so
// recovery also meets what earlier crashes left; the server snapshots every
// kSnapshotIntervalOps, so kills land in snapshot writing too.
//
//   LEDGER_SEED=<n>                  replays the workload and kill schedule (not their timing)
//   LEDGER_RPC_CRASH_ITERATIONS=<n>  kills per run (default 5)
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "net/client.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Connect;
using testing::ServerProcess;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint64_t kIterationsDefault = 5;
constexpr uint32_t kLedgerId = 3;
constexpr uint64_t kAccountCount = 8;  // ids 1..8, no balance limits: every transfer is ok
constexpr int kSubmitThreads = 3;      // share one client: Submit coalesces their transfers
constexpr int kBatchThreads = 2;       // one client each, CreateTransfers
constexpr uint64_t kBatchEventsMax = 300;
constexpr uint64_t kChainOneIn = 4;      // submissions that are linked chains of 2 or 3
constexpr int64_t kKillDelayMsMin = 20;  // from the start of the load
constexpr int64_t kKillDelayMsMax = 400;
constexpr uint64_t kSnapshotIntervalOps = 100;
// ~15,000 transfers a kill: 50 kills leave ~750,000, checked whole after each kill in ~2 s.
constexpr uint64_t kKillsPerDirectory = 50;
// Threads end at their first failed call, which follows the kill at once; past this they hang.
constexpr auto kThreadsEndTimeout = std::chrono::seconds(60);

uint64_t EnvironmentNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

// ---------------------------------------------------------------------------------------------
// The workload

// A transfer id names the iteration, thread and sequence number: distinct across the run.
TransferId MakeTransferId(uint64_t iteration, int thread, uint64_t sequence) {
  return TransferId::From((u128{iteration + 1} << 64) | (static_cast<uint64_t>(thread) << 40) |
                          sequence);
}

Transfer RandomTransfer(std::mt19937_64& random, TransferId id) {
  Transfer transfer{};
  transfer.id = id;
  const uint64_t debit = 1 + random() % kAccountCount;
  const uint64_t credit = 1 + (debit + random() % (kAccountCount - 1)) % kAccountCount;
  transfer.debit_account_id = AccountId::From(debit);
  transfer.credit_account_id = AccountId::From(credit);
  transfer.amount = Amount::From(1 + random() % 1000);
  transfer.ledger = kLedgerId;
  transfer.code = static_cast<uint16_t>(1 + random() % 3);
  transfer.user_data_128 = UserData128{random(), random()};
  transfer.user_data_64 = random();
  transfer.user_data_32 = static_cast<uint32_t>(random());
  transfer.value_time_ns = random() >> 1;  // below 2^63, as every stored time
  return transfer;
}

// 1 transfer, or a linked chain of 2 or 3.
std::vector<Transfer> RandomSubmission(std::mt19937_64& random, uint64_t iteration, int thread,
                                       uint64_t& sequence) {
  const size_t count = random() % kChainOneIn == 0 ? 2 + random() % 2 : 1;
  std::vector<Transfer> chain;
  for (size_t i = 0; i < count; ++i) {
    chain.push_back(RandomTransfer(random, MakeTransferId(iteration, thread, sequence++)));
    if (i + 1 < count) chain.back().flags |= transfer_flags::kLinked;
  }
  return chain;
}

// What one thread sent and was told.
struct ThreadLog {
  std::vector<Transfer> sent;
  std::vector<std::vector<TransferId>> chains;  // linked chains, by their ids
  std::vector<TransferId> acknowledged;
  std::string unexpected;  // a result other than ok, or a call failing before the kill
};

void Record(ThreadLog& log, std::span<const Transfer> submission) {
  log.sent.insert(log.sent.end(), submission.begin(), submission.end());
  if (submission.size() > 1) {
    log.chains.emplace_back();
    for (const Transfer& transfer : submission) log.chains.back().push_back(transfer.id);
  }
}

// Books each result; false when the call failed (the kill), and then the thread stops.
bool Acknowledge(ThreadLog& log, const absl::Status& status, std::span<const Transfer> events,
                 std::span<const TransferResult> results, const std::atomic<bool>& killed) {
  if (!status.ok()) {
    if (!killed.load() && log.unexpected.empty()) {
      log.unexpected = absl::StrCat("a call failed before the kill: ", status.ToString());
    }
    return false;
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (results[i].status == CreateTransferResult::kOk) {
      log.acknowledged.push_back(events[i].id);
    } else if (log.unexpected.empty()) {
      log.unexpected = absl::StrCat("transfer ", events[i].id.lo, " got result ",
                                    static_cast<int>(results[i].status));
    }
  }
  return true;
}

void RunSubmitThread(Client& client, uint64_t seed, uint64_t iteration, int thread,
                     const std::atomic<bool>& killed, ThreadLog& log) {
  std::mt19937_64 random(seed ^ (iteration * 1'000'003 + static_cast<uint64_t>(thread)));
  uint64_t sequence = 0;
  while (true) {
    const std::vector<Transfer> chain = RandomSubmission(random, iteration, thread, sequence);
    if (killed.load()) return;
    Record(log, chain);
    std::vector<TransferResult> results(chain.size());
    const absl::Status status = client.Submit(chain, results);
    if (!Acknowledge(log, status, chain, results, killed)) return;
  }
}

void RunBatchThread(Client& client, uint64_t seed, uint64_t iteration, int thread,
                    const std::atomic<bool>& killed, ThreadLog& log) {
  std::mt19937_64 random(seed ^ (iteration * 1'000'003 + static_cast<uint64_t>(thread)));
  uint64_t sequence = 0;
  while (true) {
    std::vector<std::vector<Transfer>> chains;
    std::vector<Transfer> batch;
    const size_t size_max = 1 + random() % kBatchEventsMax;
    while (batch.size() < size_max) {
      chains.push_back(RandomSubmission(random, iteration, thread, sequence));
      batch.insert(batch.end(), chains.back().begin(), chains.back().end());
    }
    if (killed.load()) return;
    for (const std::vector<Transfer>& chain : chains) Record(log, chain);
    std::vector<TransferResult> results(batch.size());
    const absl::Status status = client.CreateTransfers(batch, results);
    if (!Acknowledge(log, status, batch, results, killed)) return;
  }
}

// ---------------------------------------------------------------------------------------------
// The model and the checks

// Everything sent so far, across kills.
struct Model {
  std::map<TransferId, Transfer> sent;
  std::vector<std::vector<TransferId>> chains;
  std::set<TransferId> acknowledged;
  std::set<TransferId> seen;  // found after an earlier restart
};

struct Totals {
  uint64_t kills = 0;
  uint64_t sent = 0;
  uint64_t acknowledged = 0;
  uint64_t unacknowledged_found = 0;  // durable, though the kill came before the reply
  uint64_t chains = 0;
};

void CreateAccounts(Client& client) {
  Ledger ledger{};
  ledger.id = kLedgerId;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "EUR", 3);
  LedgerResult ledger_result;
  ASSERT_TRUE(client.CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok());
  ASSERT_EQ(ledger_result.status, CreateLedgerResult::kOk);
  std::vector<Account> accounts(kAccountCount);
  for (uint64_t i = 0; i < kAccountCount; ++i) {
    accounts[i] = Account{};
    accounts[i].id = AccountId::From(i + 1);
    accounts[i].ledger = kLedgerId;
    accounts[i].code = 1;
  }
  std::vector<AccountResult> results(accounts.size());
  ASSERT_TRUE(client.CreateAccounts(accounts, results).ok());
  for (const AccountResult& result : results) ASSERT_EQ(result.status, CreateAccountResult::kOk);
}

// The booking timestamp is the server's, and `linked` belongs to the batch, not the record
// (docs/data-model.md).
bool SameFields(Transfer found, Transfer sent) {
  found.timestamp_ns = 0;
  sent.timestamp_ns = 0;
  sent.flags &= static_cast<uint16_t>(~transfer_flags::kLinked);
  return std::memcmp(&found, &sent, sizeof(Transfer)) == 0;
}

// Every transfer the model sent that the restarted server holds, by id.
void LookUpEverything(Client& client, const Model& model, std::map<TransferId, Transfer>* found) {
  std::vector<TransferId> ids;
  for (const auto& [id, transfer] : model.sent) ids.push_back(id);
  const size_t ids_max = client.server_info().limits.query_ids_max;
  for (size_t at = 0; at < ids.size(); at += ids_max) {
    const size_t count = std::min(ids_max, ids.size() - at);
    auto page = client.LookupTransfers(std::span(ids).subspan(at, count));
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Transfer& transfer : *page) (*found)[transfer.id] = transfer;
  }
}

// Every transfer in `account`'s history, which must all be in `found`.
void CheckHistory(Client& client, AccountId account, const std::map<TransferId, Transfer>& found,
                  uint64_t* listed) {
  AccountFilter filter;
  filter.account_id = account;
  while (true) {
    auto page = client.GetAccountTransfers(filter);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Transfer& transfer : page->records) {
      EXPECT_TRUE(found.contains(transfer.id))
          << "account " << account.lo << " lists transfer " << transfer.id.hi << ":"
          << transfer.id.lo << ", which no client sent";
      ++*listed;
    }
    if (page->next_timestamp_ns == 0) return;
    filter.timestamp_min_ns = page->next_timestamp_ns;
  }
}

void CheckRecovered(Client& client, Model& model, Totals& totals) {
  std::map<TransferId, Transfer> found;
  ASSERT_NO_FATAL_FAILURE(LookUpEverything(client, model, &found));
  for (const TransferId& id : model.acknowledged) {
    EXPECT_TRUE(found.contains(id))
        << "acknowledged transfer " << id.hi << ":" << id.lo << " was lost";
  }
  for (const TransferId& id : model.seen) {
    EXPECT_TRUE(found.contains(id)) << "transfer " << id.hi << ":" << id.lo
                                    << " was there after an earlier restart, and is gone";
  }
  for (const auto& [id, transfer] : found) {
    EXPECT_TRUE(SameFields(transfer, model.sent.at(id)))
        << "transfer " << id.hi << ":" << id.lo << " differs from what was sent";
    if (!model.acknowledged.contains(id) && !model.seen.contains(id)) {
      ++totals.unacknowledged_found;
    }
    model.seen.insert(id);
  }
  for (const std::vector<TransferId>& chain : model.chains) {
    const auto present = std::count_if(chain.begin(), chain.end(),
                                       [&](const TransferId& id) { return found.contains(id); });
    EXPECT_TRUE(present == 0 || present == static_cast<long>(chain.size()))
        << "a linked chain of " << chain.size() << " is there in part: " << present;
  }

  // Nothing else: each found transfer is listed twice (debit and credit), nothing more.
  uint64_t listed = 0;
  std::vector<AccountId> account_ids;
  for (uint64_t i = 1; i <= kAccountCount; ++i) {
    account_ids.push_back(AccountId::From(i));
    ASSERT_NO_FATAL_FAILURE(CheckHistory(client, AccountId::From(i), found, &listed));
  }
  EXPECT_EQ(listed, 2 * found.size());

  std::map<uint64_t, u128> debits, credits;
  u128 total = 0;
  for (const auto& [id, transfer] : found) {
    debits[transfer.debit_account_id.lo] += transfer.amount.Get();
    credits[transfer.credit_account_id.lo] += transfer.amount.Get();
    total += transfer.amount.Get();
  }
  auto accounts = client.LookupAccounts(account_ids);
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  ASSERT_EQ(accounts->size(), kAccountCount);
  for (const Account& account : *accounts) {
    EXPECT_EQ(account.debits_posted, Amount::From(debits[account.id.lo])) << account.id.lo;
    EXPECT_EQ(account.credits_posted, Amount::From(credits[account.id.lo])) << account.id.lo;
    EXPECT_TRUE(account.debits_pending.IsZero() && account.credits_pending.IsZero());
  }
  auto trial = client.GetTrialBalance(kLedgerId);
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_TRUE(trial->Balanced());
  EXPECT_EQ(trial->account_count, kAccountCount);
  EXPECT_EQ(trial->debits_posted.low, Amount::From(total));
  EXPECT_EQ(trial->debits_posted.carries, 0u);
}

// ---------------------------------------------------------------------------------------------
// One kill

// Runs the load until the kill, `delay` after it started; returns every thread's log.
void LoadAndKill(ServerProcess& server, uint64_t seed, uint64_t iteration, milliseconds delay,
                 std::vector<ThreadLog>* logs) {
  auto submit_client = Connect(server);
  ASSERT_NE(submit_client, nullptr);
  std::vector<std::unique_ptr<Client>> batch_clients;
  for (int i = 0; i < kBatchThreads; ++i) {
    batch_clients.push_back(Connect(server));
    ASSERT_NE(batch_clients.back(), nullptr);
  }
  logs->assign(kSubmitThreads + kBatchThreads, ThreadLog{});
  std::atomic<bool> killed{false};
  std::mutex mutex;
  std::condition_variable ended;
  int running = kSubmitThreads + kBatchThreads;
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitThreads + kBatchThreads; ++t) {
    threads.emplace_back([&, t] {
      if (t < kSubmitThreads) {
        RunSubmitThread(*submit_client, seed, iteration, t, killed, (*logs)[t]);
      } else {
        RunBatchThread(*batch_clients[t - kSubmitThreads], seed, iteration, t, killed, (*logs)[t]);
      }
      std::lock_guard lock(mutex);
      --running;
      ended.notify_all();
    });
  }
  std::this_thread::sleep_for(delay);
  // Stops the threads' loops; the calls in flight fail with the kill.
  killed.store(true);
  const int code = server.Kill();
  {
    std::unique_lock lock(mutex);
    if (!ended.wait_for(lock, kThreadsEndTimeout, [&] { return running == 0; })) {
      // A call that never returns: the threads cannot be stopped, so the test cannot go on.
      std::fprintf(stderr, "rpc crash test: a client call hung after the server died\n");
      std::abort();
    }
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(code, 128 + SIGKILL) << "the server died before the kill: " << server.log();
}

TEST(RpcCrash, AcknowledgedTransfersSurviveSigkillAndNothingElseAppears) {
  const uint64_t seed = EnvironmentNumber("LEDGER_SEED", std::random_device{}());
  const uint64_t iterations = EnvironmentNumber("LEDGER_RPC_CRASH_ITERATIONS", kIterationsDefault);
  std::printf("%s\n", absl::StrCat("rpc crash test: LEDGER_SEED=", seed,
                                   " LEDGER_RPC_CRASH_ITERATIONS=", iterations)
                          .c_str());
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 random(seed);
  const auto started = Clock::now();

  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--snapshot-interval-ops", std::to_string(kSnapshotIntervalOps),
                             "--transfers-capacity", "65536"});
  std::unique_ptr<ServerProcess> server;
  Model model;
  Totals totals;
  for (uint64_t iteration = 0; iteration < iterations && !HasFailure(); ++iteration) {
    SCOPED_TRACE(absl::StrCat("LEDGER_SEED=", seed, " kill ", iteration));
    if (iteration % kKillsPerDirectory == 0) {
      // A new directory: the one before stops cleanly first.
      if (server != nullptr) {
        EXPECT_EQ(server->Stop(), 0) << server->log();
        std::printf("rpc crash test: %lu kills, %.0f s\n", static_cast<unsigned long>(iteration),
                    std::chrono::duration<double>(Clock::now() - started).count());
        std::fflush(stdout);
      }
      server = std::make_unique<ServerProcess>();
      model = Model{};
      ASSERT_EQ(server->init_exit_code(), 0) << server->log();
      ASSERT_TRUE(server->Start(flags)) << server->log();
      auto client = Connect(*server);
      ASSERT_NE(client, nullptr);
      ASSERT_NO_FATAL_FAILURE(CreateAccounts(*client));
    }
    const auto delay = milliseconds(
        kKillDelayMsMin + static_cast<int64_t>(random() % (kKillDelayMsMax - kKillDelayMsMin + 1)));
    std::vector<ThreadLog> logs;
    ASSERT_NO_FATAL_FAILURE(LoadAndKill(*server, seed, iteration, delay, &logs));
    for (const ThreadLog& log : logs) {
      EXPECT_EQ(log.unexpected, "");
      for (const Transfer& transfer : log.sent) model.sent[transfer.id] = transfer;
      model.chains.insert(model.chains.end(), log.chains.begin(), log.chains.end());
      model.acknowledged.insert(log.acknowledged.begin(), log.acknowledged.end());
      totals.sent += log.sent.size();
      totals.acknowledged += log.acknowledged.size();
      totals.chains += log.chains.size();
    }
    ++totals.kills;

    ASSERT_TRUE(server->Start(flags)) << server->log();
    auto checker = Connect(*server);
    ASSERT_NE(checker, nullptr);
    ASSERT_NO_FATAL_FAILURE(CheckRecovered(*checker, model, totals));
  }
  if (server != nullptr) {
    EXPECT_EQ(server->Stop(), 0) << server->log();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("%s\n",
              absl::StrCat("rpc crash test: ", totals.kills, " kills in ", absl::SixDigits(seconds),
                           " s; ", totals.sent, " transfers sent (", totals.chains,
                           " linked chains), ", totals.acknowledged, " acknowledged, ",
                           totals.unacknowledged_found, " more durable though unacknowledged")
                  .c_str());
}

}  // namespace
}  // namespace ledger::net
