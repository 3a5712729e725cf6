// Hostile clients against the real ledgerd: garbage bytes, forged segment tables, truncated and
// oversized messages, lists past the limits, calls without a login, wrong logins, idle
// connections, connection floods and clients that never read their replies.
//
// After every attack the server must (a) still serve a well-behaved client (create, transfer,
// look up, with the right balances), (b) hold exactly what it held before the attack, (c) have
// stayed within a memory bound (resident set growth, read from /proc), and (d) have logged no
// crash; at the end it must still shut down cleanly.
//
// The attackers speak raw TCP, raw Cap'n Proto RPC frames (tests that must not read replies)
// or Cap'n Proto RPC without our client library (capnp::makeRpcClient), never through it.
//
//   LEDGER_SEED=<n>  replays the random bytes of RandomBytesAndForgedFrames
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "capnp/any.h"
#include "capnp/message.h"
#include "capnp/rpc-twoparty.h"
#include "capnp/rpc.capnp.h"
#include "capnp/serialize.h"
#include "kj/async-io.h"
#include "kj/timer.h"
#include "net/client.h"
#include "net/ledger.capnp.h"
#include "tests/net/hostile_util.h"
#include "tests/net/raw_rpc.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Append;
using testing::Baseline;
using testing::BootstrapFrame;
using testing::Connect;
using testing::Describe;
using testing::EnvironmentNumber;
using testing::ExpectCleanShutdown;
using testing::ExpectStillServing;
using testing::FlagsWith;
using testing::kBaselineIds;
using testing::kCloseTimeout;
using testing::kInfoMethod;
using testing::kLedgerId;
using testing::kLoginQuestion;
using testing::kLookupAccountsMethod;
using testing::kRssGrowthBytesMax;
using testing::kStallTimeout;
using testing::LedgerCallFrame;
using testing::LoginFrame;
using testing::MakeAccount;
using testing::MakeTransfer;
using testing::RawSocket;
using testing::RpcConnection;
using testing::RssBytes;
using testing::SendOutcome;
using testing::ServerProcess;
using testing::SetUpBaseline;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Garbage on the wire

std::vector<std::byte> RandomBytes(std::mt19937_64& random, size_t size) {
  std::vector<std::byte> bytes(size);
  for (std::byte& byte : bytes) byte = static_cast<std::byte>(random() & 0xff);
  return bytes;
}

// A stream-framing segment table: segment count - 1, then each segment's size in words.
std::vector<std::byte> SegmentTable(const std::vector<uint32_t>& sizes_words) {
  std::vector<uint32_t> table = {static_cast<uint32_t>(sizes_words.size() - 1)};
  table.insert(table.end(), sizes_words.begin(), sizes_words.end());
  if (table.size() % 2 != 0) table.push_back(0);
  const auto* begin = reinterpret_cast<const std::byte*>(table.data());
  return std::vector<std::byte>(begin, begin + table.size() * sizeof(uint32_t));
}

TEST(HostileInput, RandomBytesAndForgedFramesLeaveTheServerServing) {
  const uint64_t seed = EnvironmentNumber("LEDGER_SEED", std::random_device{}());
  std::printf("hostile input: LEDGER_SEED=%llu\n", static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE(absl::StrCat("LEDGER_SEED=", seed));
  std::mt19937_64 random(seed);

  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));

  // Random bytes, several connections at once, sizes from one byte to 1 MiB.
  {
    std::vector<std::unique_ptr<RawSocket>> sockets;
    for (int i = 0; i < 24; ++i) {
      auto socket = std::make_unique<RawSocket>(server.address());
      ASSERT_TRUE(socket->connected());
      const size_t size = size_t{1} << (random() % 21);
      socket->Send(RandomBytes(random, size + random() % size), milliseconds(2000));
      sockets.push_back(std::move(socket));
    }
  }  // closed mid-message, as most are

  // Forged segment tables: each must be refused at once, before the server allocates what it
  // claims (2^31 words is 16 GiB).
  const std::vector<std::vector<uint32_t>> forged = {
      {uint32_t{1} << 31},                   // one huge segment
      {0xffffffffu},                         // the largest one
      {1, 0xffffffffu, 0xffffffffu},         // sizes whose sum overflows 32 bits
      std::vector<uint32_t>(600, 1u << 20),  // too many segments, each large
  };
  for (const std::vector<uint32_t>& sizes : forged) {
    RawSocket socket(server.address());
    ASSERT_TRUE(socket.connected());
    socket.Send(SegmentTable(sizes), milliseconds(2000));
    socket.Send(RandomBytes(random, 4096), milliseconds(2000));
    EXPECT_TRUE(socket.WaitClosed(kCloseTimeout)) << "a forged segment table was not refused";
  }
  // 2^32 segments.
  {
    RawSocket socket(server.address());
    const uint32_t count_minus_one = 0xffffffffu;
    socket.Send(std::as_bytes(std::span(&count_minus_one, 1)), milliseconds(2000));
    socket.Send(RandomBytes(random, 4096), milliseconds(2000));
    EXPECT_TRUE(socket.WaitClosed(kCloseTimeout)) << "2^32 segments were not refused";
  }

  // Truncated: a valid frame header for 4096 words, then part of the body, then close.
  for (int i = 0; i < 8; ++i) {
    RawSocket socket(server.address());
    socket.Send(SegmentTable({4096}), milliseconds(2000));
    socket.Send(RandomBytes(random, random() % 4096 * 8), milliseconds(2000));
  }

  // Well-framed messages of random words: Cap'n Proto RPC messages of random kinds.
  for (int i = 0; i < 16; ++i) {
    RawSocket socket(server.address());
    const uint32_t words = 1 + static_cast<uint32_t>(random() % 512);
    socket.Send(SegmentTable({words}), milliseconds(2000));
    socket.Send(RandomBytes(random, words * 8), milliseconds(2000));
    socket.WaitClosed(milliseconds(100));  // some get an answer, some a close: either is fine
  }

  // A valid bootstrap, then garbage: the server must not trust what follows a good start.
  for (int i = 0; i < 8; ++i) {
    RawSocket socket(server.address());
    std::vector<std::byte> bytes = BootstrapFrame();
    Append(bytes, LoginFrame(kLoginQuestion, server.token()));
    Append(bytes, RandomBytes(random, 1 + random() % 65536));
    socket.Send(bytes, milliseconds(2000));
  }

  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// ---------------------------------------------------------------------------------------------
// Limits on message size and list lengths

TEST(HostileInput, MessageOverTheSizeLimitFailsAndOtherClientsKeepWorking) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(FlagsWith({"--max-message-bytes", "65536"}))) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  auto bystander = Connect(server);
  ASSERT_NE(bystander, nullptr);

  // 1,000 transfers are ~200 KB on the wire: past the 64 KiB limit, under the event limit.
  {
    RpcConnection attacker(server.address());
    auto login = attacker.Login(server.token()).wait(attacker.wait_scope());
    EXPECT_EQ(login.getInfo().getLimits().getMessageBytesMax(), 65536u);
    auto request = login.getLedger().createTransfersRequest();
    auto list = request.initTransfers(1000);
    for (uint32_t i = 0; i < list.size(); ++i) {
      list[i].initId().setLo(5000 + i);
      list[i].initDebitAccountId().setLo(1);
      list[i].initCreditAccountId().setLo(2);
      list[i].initAmount().setLo(1);
      list[i].setLedger(kLedgerId);
      list[i].setCode(1);
    }
    auto failure = attacker.Failure(request.send());
    EXPECT_NE(Describe(failure).find("too large"), std::string::npos) << Describe(failure);
  }

  auto accounts = bystander->LookupAccounts(kBaselineIds);
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  EXPECT_EQ((*accounts)[0].debits_posted, baseline.accounts[0].debits_posted);
  const std::vector<TransferId> ids = {TransferId::From(5000), TransferId::From(5999)};
  auto found = bystander->LookupTransfers(ids);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->empty()) << "a refused batch was applied";
  // A batch under the limit still goes through.
  std::vector<Transfer> small;
  for (uint64_t i = 0; i < 100; ++i) small.push_back(MakeTransfer(6000 + i, 3, 4, 1));
  std::vector<TransferResult> small_results(small.size());
  ASSERT_TRUE(bystander->CreateTransfers(small, small_results).ok());
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(small_results[i].status, CreateTransferResult::kOk);
  baseline.accounts = *bystander->LookupAccounts(kBaselineIds);
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

TEST(HostileInput, ListsPastTheLimitsFailClearlyAndChangeNothing) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(FlagsWith({"--max-query-ids", "100", "--max-batch-events", "50"})))
      << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);

  std::vector<AccountId> account_ids(101, AccountId::From(1));
  auto accounts = client->LookupAccounts(account_ids);
  ASSERT_FALSE(accounts.ok());
  EXPECT_NE(accounts.status().message().find("at most 100 ids, not 101"), std::string::npos)
      << accounts.status();
  std::vector<TransferId> transfer_ids(101, TransferId::From(100));
  auto transfers = client->LookupTransfers(transfer_ids);
  ASSERT_FALSE(transfers.ok());
  EXPECT_NE(transfers.status().message().find("at most 100 ids"), std::string::npos);
  std::vector<uint32_t> ledger_ids(5000, kLedgerId);
  auto ledgers = client->LookupLedgers(ledger_ids);
  ASSERT_FALSE(ledgers.ok());
  EXPECT_NE(ledgers.status().message().find("at most 100 ids"), std::string::npos);
  account_ids.pop_back();
  accounts = client->LookupAccounts(account_ids);
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  EXPECT_EQ(accounts->size(), 100u);  // the same id 100 times: found 100 times

  // Batches one past the event limit: refused whole.
  std::vector<Account> new_accounts;
  for (uint64_t i = 0; i < 51; ++i) new_accounts.push_back(MakeAccount(2000 + i));
  std::vector<AccountResult> account_results(new_accounts.size());
  absl::Status status = client->CreateAccounts(new_accounts, account_results);
  EXPECT_NE(status.message().find("createAccounts: a batch holds at most 50 events, not 51"),
            std::string::npos)
      << status;
  std::vector<Transfer> new_transfers;
  for (uint64_t i = 0; i < 51; ++i) new_transfers.push_back(MakeTransfer(3000 + i, 1, 2, 1));
  std::vector<TransferResult> transfer_results(new_transfers.size());
  status = client->CreateTransfers(new_transfers, transfer_results);
  EXPECT_NE(status.message().find("at most 50 events"), std::string::npos) << status;
  std::vector<Ledger> new_ledgers(51, Ledger{});
  for (uint32_t i = 0; i < 51; ++i) {
    new_ledgers[i].id = 100 + i;
    std::memcpy(new_ledgers[i].asset_code, "EUR", 3);
  }
  std::vector<LedgerResult> ledger_results(new_ledgers.size());
  status = client->CreateLedgers(new_ledgers, ledger_results);
  EXPECT_NE(status.message().find("at most 50 events"), std::string::npos) << status;

  auto none = client->LookupAccounts(std::vector<AccountId>{AccountId::From(2000)});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto no_transfer = client->LookupTransfers(std::vector<TransferId>{TransferId::From(3000)});
  ASSERT_TRUE(no_transfer.ok());
  EXPECT_TRUE(no_transfer->empty());
  auto no_ledger = client->LookupLedgers(std::vector<uint32_t>{100});
  ASSERT_TRUE(no_ledger.ok());
  EXPECT_TRUE(no_ledger->empty());
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// Params whose pointer section leads `depth` structs deep.
void NestDeeply(capnp::AnyPointer::Builder pointer, int depth) {
  if (depth == 0) return;
  NestDeeply(pointer.initAsAnyStruct(1, 1).getPointerSection()[0], depth - 1);
}

TEST(HostileInput, MalformedParamsFailTheCallNotTheServer) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  RpcConnection connection(server.address());
  auto login = connection.Login(server.token()).wait(connection.wait_scope());
  rpc::Ledger::Client ledger = login.getLedger();
  const uint64_t ledger_interface = capnp::typeId<rpc::Ledger>();

  // Nested past Cap'n Proto's limit of 64: the server's size accounting walks the params.
  auto deep = ledger.typelessRequest(ledger_interface, kLookupAccountsMethod, nullptr);
  auto deep_params = deep.initAsAnyStruct(0, 2);
  deep_params.getPointerSection()[0].initAs<capnp::List<rpc::U128>>(1)[0].setLo(1);
  NestDeeply(deep_params.getPointerSection()[1], 200);
  auto failure = connection.Failure(deep.send());
  EXPECT_NE(Describe(failure).find("too deeply-nested"), std::string::npos) << Describe(failure);

  // Ids that are a struct: the wrong pointer kind.
  auto struct_ids = ledger.typelessRequest(ledger_interface, kLookupAccountsMethod, nullptr);
  struct_ids.initAsAnyStruct(0, 1).getPointerSection()[0].initAsAnyStruct(4, 4);
  failure = connection.Failure(struct_ids.send());
  EXPECT_NE(Describe(failure).find("non-list pointer"), std::string::npos) << Describe(failure);
  // Ids that are text: Cap'n Proto reads each byte as an id struct too small to hold one, so
  // every id reads as 0 and nothing is found.
  auto text_ids = ledger.typelessRequest(ledger_interface, kLookupAccountsMethod, nullptr);
  text_ids.initAsAnyStruct(0, 1).getPointerSection()[0].setAs<capnp::Text>("not a list of ids");
  auto text_found = text_ids.send().wait(connection.wait_scope());
  EXPECT_EQ(text_found.getAs<rpc::Ledger::LookupAccountsResults>().getAccounts().size(), 0u);

  // createTransfers whose list elements are far smaller than a Transfer: fields read as zero,
  // and the engine refuses each event with a result code.
  auto tiny = ledger.typelessRequest(ledger_interface, 2, nullptr);
  tiny.initAsAnyStruct(0, 1).getPointerSection()[0].initAsAnyList(capnp::ElementSize::BYTE, 10);
  auto tiny_results = tiny.send().wait(connection.wait_scope());
  auto results = tiny_results.getAs<rpc::Ledger::CreateTransfersResults>().getResults();
  ASSERT_EQ(results.size(), 10u);
  for (auto result : results) {
    EXPECT_EQ(result.getStatus(), rpc::CreateTransferStatus::ID_MUST_NOT_BE_ZERO);
  }

  // The connection still works for well-formed calls.
  auto request = ledger.lookupAccountsRequest();
  request.initIds(1)[0].setLo(1);
  auto response = request.send().wait(connection.wait_scope());
  ASSERT_EQ(response.getAccounts().size(), 1u);
  EXPECT_EQ(response.getAccounts()[0].getDebitsPosted().getLo(),
            baseline.accounts[0].debits_posted.lo);
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// ---------------------------------------------------------------------------------------------
// Login

TEST(HostileInput, GatewayAnswersOnlyLogin) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  RpcConnection connection(server.address());

  // The bootstrap capability taken for a Ledger: every Ledger method is unimplemented.
  rpc::Ledger::Client pretender = connection.gateway().castAs<rpc::Ledger>();
  auto lookup = pretender.lookupAccountsRequest();
  lookup.initIds(1)[0].setLo(1);
  auto failure = connection.Failure(lookup.send());
  KJ_IF_MAYBE (exception, failure) {
    EXPECT_EQ(exception->getType(), kj::Exception::Type::UNIMPLEMENTED) << Describe(failure);
  } else {
    ADD_FAILURE() << "the Gateway answered lookupAccounts";
  }
  auto create = pretender.createTransfersRequest();
  create.initTransfers(1);
  EXPECT_NE(connection.Failure(create.send()), nullptr) << "the Gateway answered createTransfers";
  // A method the Gateway does not have.
  auto unknown = connection.gateway().typelessRequest(capnp::typeId<rpc::Gateway>(), 1, nullptr);
  unknown.initAsAnyStruct(1, 0);
  failure = connection.Failure(unknown.send());
  KJ_IF_MAYBE (exception, failure) {
    EXPECT_EQ(exception->getType(), kj::Exception::Type::UNIMPLEMENTED) << Describe(failure);
  } else {
    ADD_FAILURE() << "the Gateway answered method 1";
  }

  // The same connection still logs in with the token.
  auto login = connection.Login(server.token()).wait(connection.wait_scope());
  auto info = login.getLedger().infoRequest().send().wait(connection.wait_scope());
  EXPECT_EQ(info.getInfo().getSchemaVersion(), rpc::SCHEMA_VERSION);
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

TEST(HostileInput, ThreeWrongLoginsCloseTheConnection) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  {
    RpcConnection connection(server.address());
    for (int attempt = 0; attempt < 3; ++attempt) {
      const auto started = Clock::now();
      auto failure = connection.Failure(connection.Login(server.token() + "x"));
      EXPECT_NE(failure, nullptr) << "a wrong token logged in";
      if (attempt < 2) {
        EXPECT_NE(Describe(failure).find("login failed"), std::string::npos) << Describe(failure);
        EXPECT_GE(Clock::now() - started, milliseconds(150)) << "a wrong login was not delayed";
      }
    }
    // The right token on the same connection: too late, it is closed.
    auto failure = connection.Failure(connection.Login(server.token()));
    KJ_IF_MAYBE (exception, failure) {
      EXPECT_EQ(exception->getType(), kj::Exception::Type::DISCONNECTED) << Describe(failure);
    } else {
      ADD_FAILURE() << "the connection outlived three wrong logins";
    }
  }
  // Thousands of wrong logins pipelined at once: the connection still closes, the server's
  // memory stays bounded.
  {
    RawSocket socket(server.address());
    std::vector<std::byte> bytes = BootstrapFrame();
    const std::string wrong(server.token().size(), 'x');
    for (uint32_t i = 0; i < 20'000; ++i) Append(bytes, LoginFrame(kLoginQuestion + i, wrong));
    socket.Send(bytes, milliseconds(5000));
    EXPECT_TRUE(socket.WaitClosed(kCloseTimeout));
  }
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// --login-timeout-ms shortens ServerLimits::login_timeout_ms (10 s) for the test.
TEST(HostileInput, UnauthenticatedConnectionsAreClosedAfterTheLoginTimeout) {
  constexpr auto kLoginTimeout = milliseconds(500);
  ServerProcess server;
  ASSERT_TRUE(
      server.Start(FlagsWith({"--login-timeout-ms", std::to_string(kLoginTimeout.count())})))
      << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  auto logged_in = Connect(server);
  ASSERT_NE(logged_in, nullptr);
  const auto started = Clock::now();
  RawSocket silent(server.address());            // says nothing at all
  RpcConnection bootstrapped(server.address());  // takes the Gateway, never logs in
  auto gateway = bootstrapped.gateway().whenResolved();
  EXPECT_EQ(bootstrapped.Failure(kj::mv(gateway)), nullptr);
  // The server accepted it before its Gateway answered: its deadline is past by then.
  const auto bootstrapped_deadline = Clock::now() + kLoginTimeout;

  EXPECT_TRUE(silent.WaitClosed(kLoginTimeout + kCloseTimeout)) << "an idle connection stayed open";
  EXPECT_GE(Clock::now() - started, kLoginTimeout - milliseconds(50))
      << "closed before the timeout";
  // The second connection came a little later (much later under a sanitizer): wait for its own
  // deadline, with time for the server to act on it.
  std::this_thread::sleep_until(bootstrapped_deadline + milliseconds(200));
  // Past the timeout the Gateway is gone with its connection: the token no longer helps.
  auto failure = bootstrapped.Failure(bootstrapped.Login(server.token()));
  KJ_IF_MAYBE (exception, failure) {
    EXPECT_EQ(exception->getType(), kj::Exception::Type::DISCONNECTED) << Describe(failure);
  } else {
    ADD_FAILURE() << "a connection logged in after the login timeout";
  }
  // A logged-in connection idle as long is not closed.
  auto accounts = logged_in->LookupAccounts(kBaselineIds);
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// ---------------------------------------------------------------------------------------------
// Floods

TEST(HostileInput, ConnectionsPastTheLimitAreClosedAtOnce) {
  constexpr int kConnectionsMax = 8;
  ServerProcess server;
  ASSERT_TRUE(server.Start(FlagsWith({"--max-connections", std::to_string(kConnectionsMax)})))
      << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));

  // Wait for the server to see the set-up client's connection gone.
  std::vector<std::unique_ptr<Client>> clients;
  const auto deadline = Clock::now() + kCloseTimeout;
  while (clients.size() < kConnectionsMax && Clock::now() < deadline) {
    ClientOptions options;
    options.address = server.address();
    options.token = server.token();
    auto client = Client::Connect(options);
    if (client.ok()) {
      clients.push_back(std::move(*client));
    } else {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  ASSERT_EQ(clients.size(), static_cast<size_t>(kConnectionsMax));

  // 200 more connections: each dropped at once, before any byte is read.
  std::vector<std::unique_ptr<RawSocket>> flood;
  for (int i = 0; i < 200; ++i) {
    flood.push_back(std::make_unique<RawSocket>(server.address()));
    ASSERT_TRUE(flood.back()->connected());
  }
  for (auto& socket : flood) EXPECT_TRUE(socket->WaitClosed(kCloseTimeout));
  ClientOptions options;
  options.address = server.address();
  options.token = server.token();
  EXPECT_FALSE(Client::Connect(options).ok()) << "a connection past the limit logged in";

  // Those in place keep working.
  for (auto& client : clients) {
    auto accounts = client->LookupAccounts(kBaselineIds);
    ASSERT_TRUE(accounts.ok()) << accounts.status();
    EXPECT_EQ((*accounts)[1].credits_posted, baseline.accounts[1].credits_posted);
  }
  // Closing them makes room again (ExpectStillServing connects a new one).
  clients.clear();
  bool accepted = false;
  for (const auto retry_until = Clock::now() + kCloseTimeout;
       !accepted && Clock::now() < retry_until;) {
    accepted = Client::Connect(options).ok();
    if (!accepted) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(accepted) << "no connection was accepted after the others closed";
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// Makes the frame of a call, given its question id and the server's token.
using CallMaker =
    std::function<std::vector<std::byte>(uint32_t question, const std::string& token)>;

// Whether a flooding client reads the server's replies (and drops them) or never does.
enum class Replies { kNeverRead, kReadAndDropped };

struct Flood {
  SendOutcome outcome = SendOutcome::kSent;
  uint64_t calls_sent = 0;
  uint64_t rss_bytes_max = 0;
};

// A client that logs in, then sends calls made by `call` without ever finishing one (no Finish
// message, so the server keeps each answer) until the server closes the connection or stops
// reading it, `calls_max` went out, or the server's RSS passed the bound (flooding on would
// prove nothing more).
// reply_bytes_min (reading only): when not 0, each round of calls waits until the replies of
// all but the round before have been read, taking each to be at least this long. A reader
// starved on a loaded machine then leaves at most two rounds unsent in the server, so what
// the server holds is what the client read and never finished, not what it has yet to read.
Flood FloodCalls(const ServerProcess& server, const Baseline& baseline, uint64_t calls_max,
                 Replies replies, const CallMaker& call, uint64_t reply_bytes_min = 0) {
  constexpr uint64_t kCallsPerSend = 64;
  Flood flood;
  // Never reading: a small receive buffer, so unread replies back up into the server sooner.
  // Reading: the usual one, so the replies leave as fast as the server sends them.
  RawSocket socket(server.address(), replies == Replies::kNeverRead ? 4096 : 0);
  std::atomic<bool> done{false};
  std::atomic<bool> closed{false};
  std::atomic<uint64_t> bytes_read{0};
  std::thread reader;
  if (replies == Replies::kReadAndDropped) {
    reader = std::thread([&] {
      while (!done.load()) {
        if (socket.WaitClosed(milliseconds(50), nullptr, &bytes_read)) {
          closed.store(true);
          return;
        }
      }
    });
  }
  auto wait_for_reader = [&] {
    if (reply_bytes_min == 0 || flood.calls_sent <= kCallsPerSend) return;
    const uint64_t wanted = (flood.calls_sent - kCallsPerSend) * reply_bytes_min;
    const auto deadline = Clock::now() + kStallTimeout;
    while (bytes_read.load() < wanted && !closed.load() && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(1));
    }
  };
  std::vector<std::byte> opening = BootstrapFrame();
  Append(opening, LoginFrame(kLoginQuestion, server.token()));
  flood.outcome = socket.Send(opening, milliseconds(5000));
  while (flood.outcome == SendOutcome::kSent && flood.calls_sent < calls_max &&
         flood.rss_bytes_max < baseline.rss_bytes + kRssGrowthBytesMax) {
    wait_for_reader();
    std::vector<std::byte> bytes;
    for (uint64_t i = 0; i < kCallsPerSend; ++i) {
      const auto question = static_cast<uint32_t>(kLoginQuestion + 1 + flood.calls_sent + i);
      Append(bytes, call(question, server.token()));
    }
    // A server slowed down by sanitizers may take seconds to read on: only taking nothing for
    // this long counts as having stopped reading.
    flood.outcome = socket.Send(bytes, kStallTimeout);
    flood.calls_sent += kCallsPerSend;
    flood.rss_bytes_max = std::max(flood.rss_bytes_max, RssBytes(server.pid()));
  }
  // The server may still be working through what was sent: measure once its RSS settles.
  const auto settle_deadline = Clock::now() + milliseconds(5000);
  for (uint64_t last = 0; Clock::now() < settle_deadline;) {
    std::this_thread::sleep_for(milliseconds(250));
    const uint64_t rss_bytes = RssBytes(server.pid());
    flood.rss_bytes_max = std::max(flood.rss_bytes_max, rss_bytes);
    if (rss_bytes <= last) break;
    last = rss_bytes;
  }
  done.store(true);
  if (reader.joinable()) reader.join();
  std::printf("flooding client (%s): %llu calls sent, server RSS %llu MB at most, %s\n",
              replies == Replies::kNeverRead ? "never reads" : "reads",
              static_cast<unsigned long long>(flood.calls_sent),
              static_cast<unsigned long long>(flood.rss_bytes_max >> 20),
              flood.outcome == SendOutcome::kClosed    ? "closed by the server"
              : flood.outcome == SendOutcome::kStalled ? "no longer read by the server"
                                                       : "still open");
  return flood;
}

TEST(HostileInput, ClientThatNeverReadsLargeRepliesIsCutOff) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  // Each call looks account 1 up 8,190 times: a ~1.4 MB reply for a ~130 KB request, so the
  // 64 MB of unsent replies the server allows are reached after ~50 calls.
  const Flood flood = FloodCalls(
      server, baseline, 4000, Replies::kNeverRead, [](uint32_t question, const std::string&) {
        return LedgerCallFrame(
            question, kLookupAccountsMethod, [](capnp::AnyPointer::Builder params) {
              auto ids = params.initAs<rpc::Ledger::LookupAccountsParams>().initIds(8190);
              for (auto id : ids) id.setLo(1);
            });
      });
  EXPECT_NE(flood.outcome, SendOutcome::kSent) << "the server answered 4,000 unread calls";
  EXPECT_LT(flood.rss_bytes_max, baseline.rss_bytes + kRssGrowthBytesMax);
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// Replies read by the client but never finished: Cap'n Proto keeps each answer's results until
// the client's Finish, so they stay in the server though they left. The server counts what it
// holds for the client, sent or not, and closes it past a limit, saying which (`limit_named`
// in its log). The limits are set low (`flags`), so they trip long before the 64 MiB of unsent
// replies a reader starved on a busy machine could leave (the flood also waits for its reader,
// taking each reply to be at least 64 KiB). Each call looks account 1 up 512 times: a ~90 KB
// reply, so a few MiB are reached after tens of calls of 4,000; without the limits the server
// holds them all (~360 MB).
void ExpectUnfinishedRepliesCutOff(std::initializer_list<std::string> flags,
                                   const std::string& limit_named) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(FlagsWith(flags))) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  const Flood flood = FloodCalls(
      server, baseline, 4000, Replies::kReadAndDropped,
      [](uint32_t question, const std::string&) {
        return LedgerCallFrame(
            question, kLookupAccountsMethod, [](capnp::AnyPointer::Builder params) {
              auto ids = params.initAs<rpc::Ledger::LookupAccountsParams>().initIds(512);
              for (auto id : ids) id.setLo(1);
            });
      },
      /*reply_bytes_min=*/64 << 10);
  EXPECT_EQ(flood.outcome, SendOutcome::kClosed) << "the server answered 4,000 unfinished calls";
  EXPECT_LT(flood.rss_bytes_max, baseline.rss_bytes + kRssGrowthBytesMax);
  EXPECT_NE(server.log().find(limit_named), std::string::npos) << server.log();
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

// Its own limit (4 MiB here).
TEST(HostileInput, ClientThatReadsLargeRepliesButNeverFinishesIsCutOff) {
  ExpectUnfinishedRepliesCutOff({"--max-unfinished-reply-bytes", "4194304"},
                                "does not finish its calls");
}

// The server-wide limit: the client's own (64 MiB) is far off, but all connections' replies
// together pass --max-reply-bytes-total (8 MiB here), and the connection holding 1 MiB or more
// of them is closed.
TEST(HostileInput, RepliesHeldPastTheServersTotalCloseTheConnectionHoldingThem) {
  ExpectUnfinishedRepliesCutOff({"--max-reply-bytes-total", "8388608"},
                                "(--max-reply-bytes-total)");
}

// Small replies: the server's limit on unsent replies must bound its memory, not only the
// bytes the replies will take on the wire. 100,000 calls is ~10 MB of replies on the wire.
constexpr uint64_t kSmallCallsMax = 100'000;

// A server flooded with `call`s by a client that never finishes them stays within the bound.
void ExpectFloodBounded(Replies replies, const CallMaker& call) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  Baseline baseline;
  ASSERT_NO_FATAL_FAILURE(SetUpBaseline(server, &baseline));
  const Flood flood = FloodCalls(server, baseline, kSmallCallsMax, replies, call);
  EXPECT_LT(flood.rss_bytes_max, baseline.rss_bytes + kRssGrowthBytesMax)
      << "the server holds ~" << (flood.rss_bytes_max - baseline.rss_bytes) / flood.calls_sent
      << " bytes per call";
  ExpectStillServing(server, baseline, 1000);
  ExpectCleanShutdown(server);
}

std::vector<std::byte> LookUpUnknownAccount(uint32_t question, const std::string&) {
  return LedgerCallFrame(question, kLookupAccountsMethod, [](capnp::AnyPointer::Builder params) {
    params.initAs<rpc::Ledger::LookupAccountsParams>().initIds(1)[0].setLo(999);
  });
}

std::vector<std::byte> Info(uint32_t question, const std::string&) {
  return LedgerCallFrame(question, kInfoMethod,
                         [](capnp::AnyPointer::Builder params) { params.initAsAnyStruct(0, 0); });
}

TEST(HostileInput, ClientThatNeverReadsSmallRepliesStaysBounded) {
  ExpectFloodBounded(Replies::kNeverRead, LookUpUnknownAccount);  // an empty reply each
}

TEST(HostileInput, ClientThatNeverReadsInfoRepliesStaysBounded) {
  ExpectFloodBounded(Replies::kNeverRead, Info);
}

TEST(HostileInput, ClientThatNeverReadsLoginRepliesStaysBounded) {
  ExpectFloodBounded(Replies::kNeverRead, LoginFrame);
}

// Reading its replies, but logging in again and again on one connection: each answer carries a
// new Ledger capability, which the server keeps for as long as the answer is not finished.
TEST(HostileInput, ClientThatLogsInAgainAndAgainStaysBounded) {
  ExpectFloodBounded(Replies::kReadAndDropped, LoginFrame);
}

}  // namespace
}  // namespace ledger::net
