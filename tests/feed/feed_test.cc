// ledger-feed against a real ledgerd and a real RabbitMQ: every committed change reaches a
// durable queue, in order, across a SIGKILL of the forwarder and of the broker; the duplicates
// at-least-once delivery allows carry the same message id and the same body.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "feed/amqp.h"
#include "feed/forwarder.h"
#include "tests/build_path.h"
#include "tests/feed/rabbitmq_process.h"
#include "tests/net/hostile_util.h"
#include "tests/net/server_process.h"

namespace ledger::feed {
namespace {

using net::testing::ServerProcess;
using testing::RabbitMqProcess;

constexpr char kExchange[] = "ledger.changes";
constexpr char kQueue[] = "audit";

class FeedProcess {
 public:
  FeedProcess(std::vector<std::string> flags, std::string log_path)
      : flags_(std::move(flags)), log_path_(std::move(log_path)) {}
  ~FeedProcess() { Signal(SIGKILL); }
  void Start() {
    std::vector<std::string> argv = {LEDGER_FEED_BINARY};
    argv.insert(argv.end(), flags_.begin(), flags_.end());
    pid_ = net::testing::Spawn(argv, log_path_);
  }
  int Signal(int signal) {
    if (pid_ > 0) kill(pid_, signal);
    return Wait();
  }
  // Waits for it to exit by itself; the exit code.
  int Wait() {
    if (pid_ <= 0) return -1;
    const int code = net::testing::WaitExit(pid_);
    pid_ = -1;
    return code;
  }
  std::string log() const { return net::testing::ReadWholeFile(log_path_); }

 private:
  std::vector<std::string> flags_;
  std::string log_path_;
  pid_t pid_ = -1;
};

// Books `count` transfers from id `first` on, 100 a batch, between accounts 1..10 (amount = id).
void Book(net::Client& client, uint64_t first, uint64_t count) {
  for (uint64_t at = 0; at < count; at += 100) {
    std::vector<Transfer> transfers;
    for (uint64_t id = first + at; id < first + std::min(count, at + 100); ++id) {
      transfers.push_back(net::testing::MakeTransfer(id, 1 + id % 10, 1 + (id + 1) % 10, id));
    }
    std::vector<net::TransferResult> results(transfers.size());
    ASSERT_TRUE(client.CreateTransfers(transfers, results).ok());
    for (const net::TransferResult& result : results) {
      ASSERT_EQ(result.status, CreateTransferResult::kOk);
    }
  }
}

// Ledger 7 with accounts 1..10 (and the baseline's 12 transfers: changes 0..11); a client.
std::unique_ptr<net::Client> SetUpLedger(const ServerProcess& ledger) {
  net::testing::Baseline baseline;
  net::testing::SetUpBaseline(ledger, &baseline);
  auto client = net::testing::Connect(ledger);
  if (client == nullptr) return nullptr;
  std::vector<Account> accounts;
  for (uint64_t id = 5; id <= 10; ++id) accounts.push_back(net::testing::MakeAccount(id));
  std::vector<net::AccountResult> results(accounts.size());
  EXPECT_TRUE(client->CreateAccounts(accounts, results).ok());
  return client;
}

// Waits until the cursor file says `next` changes are confirmed.
bool WaitForCursor(const std::string& path, uint64_t next) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<std::optional<uint64_t>> cursor = ReadCursor(path);
    if (cursor.ok() && cursor->has_value() && **cursor >= next) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<std::string> FeedFlags(const ServerProcess& ledger, const RabbitMqProcess& rabbit,
                                   const std::string& cursor) {
  return {"--cursor-file", cursor,
          "--ledger",      ledger.address(),
          "--token-file",  ledger.data_dir() + "/token",
          "--amqp",        rabbit.address(),
          "--batch",       "256"};
}

// Calls `attempt` until it succeeds or a minute passed (a broker just restarted may refuse a
// queue it has not recovered yet); its last status.
absl::Status Retried(const std::function<absl::Status()>& attempt) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  absl::Status status = attempt();
  while (!status.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    status = attempt();
  }
  return status;
}

// The exchange, and the audit queue bound to ledger 7's changes (idempotent).
absl::Status DeclareTheQueue(const RabbitMqProcess& rabbit) {
  return Retried([&rabbit]() -> absl::Status {
    auto broker = rabbit.Connect();
    if (!broker.ok()) return broker.status();
    if (absl::Status declared = (*broker)->DeclareExchange(kExchange); !declared.ok()) {
      return declared;
    }
    return (*broker)->DeclareQueue(kQueue, kExchange, "ledger.7.#");
  });
}

// Consumes the queue until it is quiet: changes 0 .. count - 1, each change's first delivery
// after the one before it, duplicates identical to the first, the last one transfer
// `last_transfer_id` with its amount as the ledger booked it (Book's: amount = id).
void ExpectEveryChangeInOrder(const RabbitMqProcess& rabbit, uint64_t count,
                              uint64_t last_transfer_id) {
  std::unique_ptr<Broker> consumer;
  const absl::Status consuming = Retried([&]() -> absl::Status {
    auto connected = rabbit.Connect();
    if (!connected.ok()) return connected.status();
    consumer = std::move(*connected);
    return consumer->Consume(kQueue, 512);
  });
  ASSERT_TRUE(consuming.ok()) << consuming;
  std::map<uint64_t, std::string> bodies;
  uint64_t next_new = 0;
  uint64_t duplicates = 0;
  for (;;) {
    // A broker just restarted may pause its deliveries for seconds (it reads the queue back from
    // disk, on a loaded machine): wait long while changes are missing, briefly for duplicates.
    const uint64_t wait_ms = bodies.size() < count ? 60'000 : 2'000;
    absl::StatusOr<std::optional<Message>> message = consumer->Next(wait_ms);
    ASSERT_TRUE(message.ok()) << message.status();
    if (!message->has_value()) break;
    uint64_t sequence = 0;
    ASSERT_TRUE(absl::SimpleAtoi((*message)->message_id, &sequence)) << (*message)->message_id;
    EXPECT_EQ((*message)->routing_key, "ledger.7.singlePhase");
    EXPECT_NE((*message)->body.find(absl::StrCat("{\"sequence\":\"", sequence, "\"")),
              std::string::npos)
        << (*message)->body;
    const auto [at, inserted] = bodies.emplace(sequence, (*message)->body);
    if (inserted) {
      EXPECT_EQ(sequence, next_new) << "a change delivered out of order";
      next_new = sequence + 1;
    } else {
      ++duplicates;
      EXPECT_EQ(at->second, (*message)->body) << "a duplicate differs from the first";
    }
  }
  EXPECT_EQ(bodies.size(), count);
  EXPECT_EQ(next_new, count);
  ASSERT_TRUE(bodies.contains(count - 1));
  EXPECT_NE(bodies[count - 1].find(absl::StrCat("\"amount\":\"", last_transfer_id, "\"")),
            std::string::npos)
      << bodies[count - 1];
  std::printf("delivered %zu changes, %llu duplicates\n", bodies.size(),
              static_cast<unsigned long long>(duplicates));
}

// ledger-feed from `ledger` to `rabbit`, started, its cursor file and log in a directory of its
// own.
struct Forwarding {
  Forwarding(const ServerProcess& ledger, const RabbitMqProcess& rabbit)
      : cursor(directory.path() + "/cursor"),
        feed(FeedFlags(ledger, rabbit, cursor), directory.path() + "/feed.log") {
    feed.Start();
  }
  wal::testing::TemporaryDirectory directory;
  std::string cursor;
  FeedProcess feed;
};

TEST(LedgerFeed, PublishesEveryChangeInOrderAcrossCrashesOfEitherSide) {
  RabbitMqProcess rabbit;
  ASSERT_TRUE(rabbit.Start()) << rabbit.log();
  ASSERT_TRUE(DeclareTheQueue(rabbit).ok());
  ServerProcess ledger;
  ASSERT_TRUE(ledger.Start(net::testing::FlagsWith({"--transfers-capacity", "16384"})))
      << ledger.log();
  auto client = SetUpLedger(ledger);
  ASSERT_NE(client, nullptr);

  Forwarding forwarding(ledger, rabbit);
  FeedProcess& feed = forwarding.feed;
  const std::string& cursor = forwarding.cursor;
  constexpr uint64_t kRound = 1000;
  Book(*client, 1000, kRound);  // changes 12 .. 1011
  ASSERT_TRUE(WaitForCursor(cursor, 12 + kRound)) << feed.log();

  // The forwarder dies mid-stream, and starts again from its cursor.
  Book(*client, 2000, kRound);
  ASSERT_TRUE(WaitForCursor(cursor, 12 + kRound + 1)) << feed.log();
  EXPECT_EQ(feed.Signal(SIGKILL), 128 + SIGKILL);
  feed.Start();
  ASSERT_TRUE(WaitForCursor(cursor, 12 + 2 * kRound)) << feed.log();

  // The broker dies; changes committed meanwhile go once it is back.
  rabbit.Kill();
  Book(*client, 3000, kRound);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(rabbit.Start()) << rabbit.log();
  // As a consumer does at every connect: RabbitMQ 3.10 may come back from a SIGKILL with the
  // queue and its messages but not its binding (seen here; publishes then came back for
  // minutes). The daemon, publishing mandatory, waits for it rather than losing changes.
  ASSERT_TRUE(DeclareTheQueue(rabbit).ok());
  ASSERT_TRUE(WaitForCursor(cursor, 12 + 3 * kRound)) << feed.log();
  EXPECT_EQ(feed.Signal(SIGTERM), 0) << feed.log();
  EXPECT_NE(feed.log().find("the broker unavailable, retrying"), std::string::npos) << feed.log();

  ExpectEveryChangeInOrder(rabbit, 12 + 3 * kRound, 3999);
}

// A change no queue is bound for comes back from the broker (mandatory): the daemon keeps it,
// says so, and publishes it again until a queue takes it, rather than counting the broker's
// confirm as a delivery.
TEST(LedgerFeed, WaitsForAQueueRatherThanDroppingAChange) {
  RabbitMqProcess rabbit;
  ASSERT_TRUE(rabbit.Start()) << rabbit.log();
  {
    auto broker = rabbit.Connect();
    ASSERT_TRUE(broker.ok()) << broker.status();
    ASSERT_TRUE((*broker)->DeclareExchange(kExchange).ok());
    const std::vector<Message> unroutable = {{"ledger.7.posted", "1", "{}"}};
    const absl::Status returned = (*broker)->PublishConfirmed(kExchange, unroutable);
    EXPECT_TRUE(absl::IsFailedPrecondition(returned)) << returned;
    EXPECT_NE(returned.message().find("no queue is bound for routing key ledger.7.posted"),
              std::string::npos)
        << returned;
  }
  ServerProcess ledger;
  ASSERT_TRUE(ledger.Start()) << ledger.log();
  auto client = SetUpLedger(ledger);
  ASSERT_NE(client, nullptr);
  Forwarding forwarding(ledger, rabbit);
  FeedProcess& feed = forwarding.feed;
  const std::string& cursor = forwarding.cursor;
  Book(*client, 1000, 300);  // changes 12 .. 311
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         feed.log().find("no queue is bound for routing key ledger.7.singlePhase") ==
             std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_NE(feed.log().find("the routing unavailable, retrying"), std::string::npos) << feed.log();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // a few retries, all returned
  absl::StatusOr<std::optional<uint64_t>> held = ReadCursor(cursor);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->value_or(0), 0u) << "a change no queue took was counted as published";

  ASSERT_TRUE(DeclareTheQueue(rabbit).ok());
  ASSERT_TRUE(WaitForCursor(cursor, 312)) << feed.log();
  EXPECT_EQ(feed.Signal(SIGTERM), 0) << feed.log();
  EXPECT_NE(feed.log().find("the routing is back"), std::string::npos) << feed.log();
  ExpectEveryChangeInOrder(rabbit, 312, 1299);
}

TEST(LedgerFeed, StopsWhenTheCursorIsOlderThanTheLedgerRetains) {
  ServerProcess ledger;
  ASSERT_TRUE(ledger.Start({"--feed-retention", "100", "--snapshot-interval-ops", "0"}))
      << ledger.log();
  auto client = SetUpLedger(ledger);
  ASSERT_NE(client, nullptr);
  Book(*client, 1000, 300);
  wal::testing::TemporaryDirectory directory;
  FeedProcess feed(
      {"--cursor-file", directory.path() + "/cursor", "--from", "0", "--ledger", ledger.address(),
       "--token-file", ledger.data_dir() + "/token", "--amqp", "127.0.0.1:1"},
      directory.path() + "/feed.log");
  feed.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline &&
         feed.log().find("cannot go on") == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(feed.Wait(), 65) << feed.log();
  EXPECT_NE(feed.log().find("cannot go on from change 0: remote exception: change 0 is no longer "
                            "retained; the oldest is"),
            std::string::npos)
      << feed.log();
}

TEST(LedgerFeed, RefusesWrongFlags) {
  wal::testing::TemporaryDirectory directory;
  for (const std::vector<std::string>& flags : {std::vector<std::string>{},
                                                {"--cursor-file"},
                                                {"--cursor-file", "c", "--batch", "0"},
                                                {"--cursor-file", "c", "--amqp", "nohost"},
                                                {"--cursor-file", "c", "--nonsense", "1"}}) {
    FeedProcess feed(flags, directory.path() + "/feed.log");
    feed.Start();
    EXPECT_EQ(feed.Wait(), 64) << feed.log();
  }
}

}  // namespace
}  // namespace ledger::feed
