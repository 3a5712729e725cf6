// Keyed checkpoints on the change feed, against the real ledgerd (docs/rpc-api.md, "The change
// feed"): a subscription that asks gets each checkpoint the server signs, after every change
// it covers, carrying the checkpoint file's line, which verifies with the key; a consumer
// that does not ask (one built before schema 6) gets none and goes on; `checkpoints` answers
// the same lines from what the server retains.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/client.h"
#include "replica/checkpoint.h"
#include "replica/log_schema.h"
#include "tests/net/raw_rpc.h"
#include "tests/net/server_process.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

namespace ledger::net {
namespace {

using testing::Connect;
using testing::ReadWholeFile;
using testing::RpcConnection;
using testing::ServerProcess;
using testing::WriteTokenFile;
using Clock = std::chrono::steady_clock;

constexpr char kKeyText[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
constexpr uint32_t kLedgerId = 7;
constexpr uint64_t kTransfersPerBatch = 2;
constexpr auto kWait = std::chrono::seconds(30);

std::vector<uint8_t> Key() { return *replica::ParseCheckpointKey(kKeyText); }

// Waits until `done` holds (polling); whether it did within kWait.
bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = Clock::now() + kWait;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// A server signing a checkpoint every `interval_ops` ops into a file beside its data
// directory (outside it, as ledgerd requires); none with interval 0.
class CheckpointServer {
 public:
  explicit CheckpointServer(uint64_t interval_ops, const std::string& tokens = "")
      : key_file_(server_.data_dir() + "/../checkpoint.key"),
        checkpoint_file_(server_.data_dir() + "/../checkpoints") {
    flags_ = ServerProcess::DefaultFlags();
    if (interval_ops > 0) {
      WriteTokenFile(key_file_, kKeyText);
      for (const std::string& flag :
           {std::string("--checkpoint-key-file"), key_file_, std::string("--checkpoint-file"),
            checkpoint_file_, std::string("--checkpoint-interval-ops"),
            std::to_string(interval_ops)}) {
        flags_.push_back(flag);
      }
    }
    if (!tokens.empty()) {
      const std::string tokens_file = server_.data_dir() + "/../tokens";
      WriteTokenFile(tokens_file, tokens);
      for (const std::string& flag : {std::string("--token-file"), server_.data_dir() + "/token",
                                      std::string("--tokens-file"), tokens_file}) {
        flags_.push_back(flag);
      }
    }
  }

  ServerProcess& server() { return server_; }
  bool Start() { return server_.Start(flags_); }
  // The checkpoint file's lines, without their newlines.
  std::vector<std::string> FileLines() const {
    return absl::StrSplit(ReadWholeFile(checkpoint_file_), '\n', absl::SkipEmpty());
  }

 private:
  ServerProcess server_;
  std::string key_file_;
  std::string checkpoint_file_;
  std::vector<std::string> flags_;
};

// Ops 1 and 2: the ledger and accounts 1 to 3.
void CreateBasics(Client& client) {
  Ledger ledger{};
  ledger.id = kLedgerId;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "USD", 3);
  LedgerResult ledger_result;
  ASSERT_TRUE(client.CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok());
  ASSERT_EQ(ledger_result.status, CreateLedgerResult::kOk);
  std::vector<Account> accounts(3);
  for (uint64_t i = 0; i < accounts.size(); ++i) {
    accounts[i] = Account{};
    accounts[i].id = AccountId::From(i + 1);
    accounts[i].ledger = kLedgerId;
    accounts[i].code = 10;
  }
  std::vector<AccountResult> results(accounts.size());
  ASSERT_TRUE(client.CreateAccounts(accounts, results).ok());
  for (const AccountResult& result : results) ASSERT_EQ(result.status, CreateAccountResult::kOk);
}

// Books `batches` batches of kTransfersPerBatch transfers (each one op, each transfer one
// change), ids from `first_id`; each op's booking timestamp goes into `timestamps_ns`.
void Book(Client& client, uint64_t first_id, uint64_t batches,
          std::map<uint64_t, uint64_t>* timestamps_ns = nullptr) {
  for (uint64_t batch = 0; batch < batches; ++batch) {
    std::vector<Transfer> transfers(kTransfersPerBatch);
    for (uint64_t i = 0; i < transfers.size(); ++i) {
      Transfer& transfer = transfers[i];
      transfer = Transfer{};
      transfer.id = TransferId::From(first_id + batch * kTransfersPerBatch + i);
      transfer.debit_account_id = AccountId::From(2);
      transfer.credit_account_id = AccountId::From(3);
      transfer.amount = Amount::From(10);
      transfer.ledger = kLedgerId;
      transfer.code = 1;
    }
    std::vector<TransferResult> results(transfers.size());
    ASSERT_TRUE(client.CreateTransfers(transfers, results).ok());
    for (const TransferResult& result : results)
      ASSERT_EQ(result.status, CreateTransferResult::kOk);
    if (timestamps_ns != nullptr) {
      auto info = client.GetServerInfo();
      ASSERT_TRUE(info.ok()) << info.status();
      (*timestamps_ns)[info->last_op] = results[0].timestamp_ns - 1;  // event i: batch's + 1 + i
    }
  }
}

// The feed as a consumer stores it: changes and checkpoints, in the order they came. The
// callbacks share what they record, so it outlives a client that ends its subscription late.
class Recorder {
 public:
  struct Event {
    bool checkpoint = false;
    uint64_t sequence = 0;  // a change's
    FeedCheckpoint feed_checkpoint;
  };

  // slow_pushes: the first this many pushes take 100 ms each (the consumer falls behind).
  SubscribeOptions Options(uint64_t from_sequence, bool checkpoints, int slow_pushes = 0) {
    SubscribeOptions options;
    options.from_sequence = from_sequence;
    options.on_changes = [shared = shared_, slow_pushes](std::span<const FeedChange> changes) {
      std::lock_guard lock(shared->mutex);
      for (const FeedChange& change : changes) {
        shared->events.push_back({false, change.sequence, {}});
      }
      if (shared->pushes++ < slow_pushes) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    };
    if (checkpoints) {
      options.on_checkpoint = [shared = shared_](const FeedCheckpoint& checkpoint) {
        std::lock_guard lock(shared->mutex);
        shared->events.push_back({true, 0, checkpoint});
      };
    }
    options.on_end = [shared = shared_](const absl::Status& status) {
      std::lock_guard lock(shared->mutex);
      shared->end = status;
    };
    return options;
  }

  std::vector<Event> events() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->events;
  }
  std::vector<FeedCheckpoint> checkpoints() const {
    std::vector<FeedCheckpoint> found;
    for (const Event& event : events()) {
      if (event.checkpoint) found.push_back(event.feed_checkpoint);
    }
    return found;
  }
  size_t change_count() const {
    size_t count = 0;
    for (const Event& event : events()) count += event.checkpoint ? 0 : 1;
    return count;
  }
  bool WaitFor(size_t changes, size_t checkpoints) const {
    return WaitUntil(
        [&] { return change_count() >= changes && this->checkpoints().size() >= checkpoints; });
  }
  std::optional<absl::Status> end() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->end;
  }

 private:
  struct Shared {
    std::mutex mutex;
    std::vector<Event> events;
    int pushes = 0;
    std::optional<absl::Status> end;
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

// Changes arrive dense and in order from `from`, and each checkpoint after every change below
// its change_sequence_next (exactly after the last of them when `exact`).
void ExpectOrdered(const std::vector<Recorder::Event>& events, uint64_t from, bool exact) {
  uint64_t next = from;
  for (const Recorder::Event& event : events) {
    if (!event.checkpoint) {
      ASSERT_EQ(event.sequence, next);
      ++next;
      continue;
    }
    const uint64_t position = event.feed_checkpoint.change_sequence_next;
    if (exact) {
      EXPECT_EQ(next, std::max(position, from)) << "checkpoint of op " << event.feed_checkpoint.op;
    } else {
      EXPECT_GE(next, position) << "checkpoint of op " << event.feed_checkpoint.op;
    }
  }
}

// The line verifies with the key and says what the other fields say.
void ExpectSigned(const FeedCheckpoint& checkpoint) {
  absl::StatusOr<replica::Checkpoint> parsed = replica::ParseCheckpoint(Key(), checkpoint.line);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << " " << checkpoint.line;
  EXPECT_EQ(parsed->op, checkpoint.op);
  EXPECT_EQ(parsed->chain_hash.high, checkpoint.chain_hash_high);
  EXPECT_EQ(parsed->chain_hash.low, checkpoint.chain_hash_low);
  EXPECT_EQ(parsed->timestamp_ns, checkpoint.timestamp_ns);
  EXPECT_NE(checkpoint.chain_hash_high | checkpoint.chain_hash_low, 0u);
}

std::vector<uint64_t> OpsOf(const std::vector<FeedCheckpoint>& checkpoints) {
  std::vector<uint64_t> ops;
  for (const FeedCheckpoint& checkpoint : checkpoints) ops.push_back(checkpoint.op);
  return ops;
}

// The ops of what `checkpoints` answers from `from_op`.
std::vector<uint64_t> PulledOps(Client& client, uint64_t from_op) {
  auto pulled = client.Checkpoints(from_op);
  EXPECT_TRUE(pulled.ok()) << pulled.status();
  return pulled.ok() ? OpsOf(*pulled) : std::vector<uint64_t>{};
}

// The log's chain hash and timestamp of each op, read from the stopped server's directory.
std::map<uint64_t, wal::EntryHeader> LogHeaders(const std::string& data_dir) {
  std::map<uint64_t, wal::EntryHeader> headers;
  auto directory = wal::Directory::Open(data_dir, /*writable=*/false);
  EXPECT_TRUE(directory.ok()) << directory.status();
  if (!directory.ok()) return headers;
  wal::ScanOptions options;
  options.schema = replica::LogSchema();
  auto scanned = wal::ScanLog(**directory, options,
                              [&](const wal::EntryHeader& header, std::span<const std::byte>) {
                                headers[header.op] = header;
                                return absl::OkStatus();
                              });
  EXPECT_TRUE(scanned.ok()) << scanned.status();
  return headers;
}

TEST(CheckpointFeed, ASubscriberGetsEachCheckpointAfterItsChangesWithTheFilesLine) {
  CheckpointServer checkpoints(3);
  ServerProcess& server = checkpoints.server();
  ASSERT_TRUE(checkpoints.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->server_info().schema_version, 7u);
  ASSERT_NO_FATAL_FAILURE(CreateBasics(*client));
  // Behind at first (its own connection: its pushes hold its client's thread), so checkpoints
  // are signed before their changes went to it.
  auto watcher = Connect(server);
  ASSERT_NE(watcher, nullptr);
  Recorder recorder;
  ASSERT_TRUE(watcher->Subscribe(recorder.Options(0, true, /*slow_pushes=*/3)).ok());
  std::map<uint64_t, uint64_t> timestamps_ns;
  ASSERT_NO_FATAL_FAILURE(Book(*client, 1000, 10, &timestamps_ns));  // ops 3 to 12
  ASSERT_TRUE(recorder.WaitFor(20, 4))
      << recorder.change_count() << " changes, " << recorder.checkpoints().size() << " checkpoints";

  const std::vector<FeedCheckpoint> streamed = recorder.checkpoints();
  ASSERT_EQ(OpsOf(streamed), (std::vector<uint64_t>{3, 6, 9, 12}));
  const std::vector<std::string> lines = checkpoints.FileLines();
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < streamed.size(); ++i) {
    const FeedCheckpoint& checkpoint = streamed[i];
    ASSERT_NO_FATAL_FAILURE(ExpectSigned(checkpoint));
    EXPECT_EQ(checkpoint.line, lines[i]);
    EXPECT_EQ(checkpoint.timestamp_ns, timestamps_ns.at(checkpoint.op));
    // Ops 1 and 2 change no balance; each later op makes two changes.
    EXPECT_EQ(checkpoint.change_sequence_next, kTransfersPerBatch * (checkpoint.op - 2));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectOrdered(recorder.events(), 0, /*exact=*/false));

  // The pull call answers the same, from the op asked for.
  auto pulled = client->Checkpoints(0);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  ASSERT_EQ(OpsOf(*pulled), OpsOf(streamed));
  for (size_t i = 0; i < pulled->size(); ++i) {
    EXPECT_EQ((*pulled)[i].line, lines[i]);
    EXPECT_EQ((*pulled)[i].change_sequence_next, streamed[i].change_sequence_next);
  }
  EXPECT_EQ(PulledOps(*client, 7), (std::vector<uint64_t>{9, 12}));
  EXPECT_EQ(PulledOps(*client, 12), (std::vector<uint64_t>{12}));
  EXPECT_EQ(PulledOps(*client, 13), (std::vector<uint64_t>{}));

  // What was signed is the log's: each op's entry has the chain hash and timestamp signed.
  watcher.reset();
  client.reset();
  ASSERT_EQ(server.Stop(), 0) << server.log();
  EXPECT_EQ(checkpoints.FileLines().size(), 4u) << "op 12 was signed already at shutdown";
  const std::map<uint64_t, wal::EntryHeader> headers = LogHeaders(server.data_dir());
  for (const FeedCheckpoint& checkpoint : streamed) {
    ASSERT_TRUE(headers.contains(checkpoint.op)) << checkpoint.op;
    const wal::EntryHeader& header = headers.at(checkpoint.op);
    EXPECT_EQ(header.chain_hash.high, checkpoint.chain_hash_high) << checkpoint.op;
    EXPECT_EQ(header.chain_hash.low, checkpoint.chain_hash_low) << checkpoint.op;
    EXPECT_EQ(header.timestamp_ns, checkpoint.timestamp_ns) << checkpoint.op;
  }
}

TEST(CheckpointFeed, ASubscriberFromAnOldCursorGetsTheRetainedOnesRightAfterTheirChanges) {
  CheckpointServer checkpoints(3);
  ServerProcess& server = checkpoints.server();
  ASSERT_TRUE(checkpoints.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateBasics(*client));
  ASSERT_NO_FATAL_FAILURE(Book(*client, 1000, 10));  // ops 3 to 12, changes 0 to 19
  ASSERT_TRUE(WaitUntil([&] { return PulledOps(*client, 0).size() == 4; }));

  Recorder replay;
  ASSERT_TRUE(client->Subscribe(replay.Options(0, true)).ok());
  ASSERT_TRUE(replay.WaitFor(20, 4));
  EXPECT_EQ(OpsOf(replay.checkpoints()), (std::vector<uint64_t>{3, 6, 9, 12}));
  ASSERT_NO_FATAL_FAILURE(ExpectOrdered(replay.events(), 0, /*exact=*/true));
  for (const FeedCheckpoint& checkpoint : replay.checkpoints()) ExpectSigned(checkpoint);

  // From change 8 on: op 6's checkpoint (at 8) first, op 3's (at 2) is behind the cursor.
  auto other = Connect(server);
  ASSERT_NE(other, nullptr);
  Recorder resumed;
  ASSERT_TRUE(other->Subscribe(resumed.Options(8, true)).ok());
  ASSERT_TRUE(resumed.WaitFor(12, 3));
  EXPECT_EQ(OpsOf(resumed.checkpoints()), (std::vector<uint64_t>{6, 9, 12}));
  ASSERT_FALSE(resumed.events().empty());
  EXPECT_TRUE(resumed.events().front().checkpoint);
  ASSERT_NO_FATAL_FAILURE(ExpectOrdered(resumed.events(), 8, /*exact=*/true));

  // Both go on with what is signed next.
  ASSERT_NO_FATAL_FAILURE(Book(*client, 2000, 3));  // ops 13 to 15
  ASSERT_TRUE(replay.WaitFor(26, 5));
  ASSERT_TRUE(resumed.WaitFor(18, 4));
  EXPECT_EQ(replay.checkpoints().back().op, 15u);
  EXPECT_EQ(replay.checkpoints().back().line, checkpoints.FileLines().back());
  EXPECT_EQ(resumed.checkpoints().back().op, 15u);
  ASSERT_NO_FATAL_FAILURE(ExpectOrdered(replay.events(), 0, /*exact=*/false));
  EXPECT_FALSE(replay.end().has_value());
}

// A consumer built before schema 6: push and end only, so a checkpoint call would fail (and
// the server would end the subscription).
class ConsumerBeforeCheckpoints final : public rpc::ChangeConsumer::Server {
 public:
  ConsumerBeforeCheckpoints(uint64_t& changes, std::string& ended)
      : changes_(changes), ended_(ended) {}

 protected:
  kj::Promise<void> push(PushContext context) override {
    changes_ += context.getParams().getChanges().size();
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext context) override {
    ended_ = context.getParams().getReason().cStr();
    return kj::READY_NOW;
  }

 private:
  uint64_t& changes_;
  std::string& ended_;
};

TEST(CheckpointFeed, ASubscriberThatDidNotAskGetsNoCheckpointAndGoesOn) {
  CheckpointServer checkpoints(3);
  ServerProcess& server = checkpoints.server();
  ASSERT_TRUE(checkpoints.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateBasics(*client));
  Recorder witness;  // asks: shows when the server has pushed each checkpoint
  ASSERT_TRUE(client->Subscribe(witness.Options(0, true)).ok());

  uint64_t changes = 0;  // the consumer's, which lives as long as the connection
  std::string ended;
  RpcConnection rpc(server.address());
  auto login = rpc.Login(server.token()).wait(rpc.wait_scope());
  rpc::Ledger::Client ledger = login.getLedger();
  auto request = ledger.subscribeRequest();
  request.setFromSequence(0);
  request.setConsumer(kj::heap<ConsumerBeforeCheckpoints>(changes, ended));
  auto subscribed = request.send().wait(rpc.wait_scope());
  rpc::Subscription::Client subscription = subscribed.getSubscription();

  ASSERT_NO_FATAL_FAILURE(Book(*client, 1000, 10));  // ops 3 to 12: signed at 3, 6, 9, 12
  ASSERT_TRUE(witness.WaitFor(20, 4));
  ASSERT_NO_FATAL_FAILURE(Book(*client, 2000, 1));  // op 13: after every checkpoint went out
  ASSERT_TRUE(witness.WaitFor(22, 4));
  const auto deadline = Clock::now() + kWait;
  while (changes < 22 && ended.empty() && Clock::now() < deadline) {
    rpc.wait_scope().poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(changes, 22u);
  EXPECT_EQ(ended, "");

  // The client library's consumer without on_checkpoint asks for none either.
  auto other = Connect(server);
  ASSERT_NE(other, nullptr);
  Recorder plain;
  ASSERT_TRUE(other->Subscribe(plain.Options(0, false)).ok());
  ASSERT_TRUE(plain.WaitFor(22, 0));
  ASSERT_NO_FATAL_FAILURE(Book(*client, 3000, 3));  // op 15 is signed
  ASSERT_TRUE(witness.WaitFor(28, 5));
  ASSERT_TRUE(plain.WaitFor(28, 0));
  EXPECT_TRUE(plain.checkpoints().empty());
  EXPECT_FALSE(plain.end().has_value());
}

TEST(CheckpointFeed, AServerWithoutAKeyTakesTheFlagAndSendsNone) {
  CheckpointServer checkpoints(0);
  ServerProcess& server = checkpoints.server();
  ASSERT_TRUE(checkpoints.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateBasics(*client));
  Recorder recorder;
  ASSERT_TRUE(client->Subscribe(recorder.Options(0, true)).ok());
  ASSERT_NO_FATAL_FAILURE(Book(*client, 1000, 10));
  ASSERT_TRUE(recorder.WaitFor(20, 0));
  auto pulled = client->Checkpoints(0);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_TRUE(pulled->empty());
  EXPECT_TRUE(recorder.checkpoints().empty());
  EXPECT_FALSE(recorder.end().has_value());
  ASSERT_NO_FATAL_FAILURE(ExpectOrdered(recorder.events(), 0, /*exact=*/false));
}

TEST(CheckpointFeed, ThePullCallAnswersTheNewest64) {
  CheckpointServer checkpoints(1);
  ServerProcess& server = checkpoints.server();
  ASSERT_TRUE(checkpoints.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateBasics(*client));
  ASSERT_NO_FATAL_FAILURE(Book(*client, 1000, 68));  // ops 1 to 70, each signed
  ASSERT_TRUE(WaitUntil([&] {
    auto pulled = client->Checkpoints(0);
    return pulled.ok() && !pulled->empty() && pulled->back().op == 70;
  }));
  auto pulled = client->Checkpoints(0);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  ASSERT_EQ(pulled->size(), 64u);
  const std::vector<std::string> lines = checkpoints.FileLines();
  ASSERT_EQ(lines.size(), 70u);
  for (size_t i = 0; i < pulled->size(); ++i) {
    EXPECT_EQ((*pulled)[i].op, 7 + i);
    EXPECT_EQ((*pulled)[i].line, lines[6 + i]);
  }
  // A subscriber from the start gets the retained ones at their places, then what comes.
  Recorder recorder;
  ASSERT_TRUE(client->Subscribe(recorder.Options(0, true)).ok());
  ASSERT_TRUE(recorder.WaitFor(136, 64));
  EXPECT_EQ(recorder.checkpoints().front().op, 7u);
  ASSERT_NO_FATAL_FAILURE(ExpectOrdered(recorder.events(), 0, /*exact=*/true));
}

constexpr char kReadToken[] = "read-token-0123456789abcdef";
constexpr char kLimitedToken[] = "limited-read-0123456789abcdef";

TEST(CheckpointFeed, ReadTokensMayAskForThemALedgerLimitedOneMayNot) {
  CheckpointServer checkpoints(
      3, absl::StrCat("read ", kReadToken, "\nread ", kLimitedToken, " ledgers=7\n"));
  ServerProcess& server = checkpoints.server();
  ASSERT_TRUE(checkpoints.Start()) << server.log();
  auto admin = Connect(server);
  ASSERT_NE(admin, nullptr);
  ASSERT_NO_FATAL_FAILURE(CreateBasics(*admin));
  auto reader = Connect(server, kReadToken);
  ASSERT_NE(reader, nullptr);
  Recorder recorder;
  ASSERT_TRUE(reader->Subscribe(recorder.Options(0, true)).ok());
  ASSERT_NO_FATAL_FAILURE(Book(*admin, 1000, 4));  // ops 3 to 6
  ASSERT_TRUE(recorder.WaitFor(8, 2));
  EXPECT_EQ(OpsOf(recorder.checkpoints()), (std::vector<uint64_t>{3, 6}));
  auto pulled = reader->Checkpoints(0);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(OpsOf(*pulled), (std::vector<uint64_t>{3, 6}));

  // Like the feed, checkpoints span every ledger.
  auto limited = Connect(server, kLimitedToken);
  ASSERT_NE(limited, nullptr);
  EXPECT_EQ(limited->Checkpoints(0).status().code(), absl::StatusCode::kPermissionDenied);
  Recorder refused;
  EXPECT_EQ(limited->Subscribe(refused.Options(0, true)).code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace ledger::net
