// What the tests of hostile clients share (hostile_test.cc, overload_test.cc): a baseline set up
// by a well-behaved client, the checks that the server still serves it after an attack (same
// balances, a memory bound, no crash in its log, a clean shutdown), and raw Cap'n Proto RPC
// frames for clients that must not read their replies.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "capnp/any.h"
#include "capnp/message.h"
#include "capnp/rpc.capnp.h"
#include "capnp/serialize.h"
#include "net/client.h"
#include "net/ledger.capnp.h"
#include "tests/net/server_process.h"

namespace ledger::net::testing {

inline constexpr uint32_t kLedgerId = 7;
// Resident memory an attack may add to the server. Its own bounds are ~100 MB (two messages
// read ahead per connection, 64 MB of unsent replies, allocator caches); 300 MB cannot flake
// and still catches memory that grows with the attacker's message count.
// Under the sanitizers every allocation costs several times more (shadow memory, redzones,
// and ASan's quarantine keeps up to 256 MB of freed memory): the bound scales with it, and
// unbounded growth still reaches gigabytes. The release build holds the 300 MB line.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr uint64_t kRssGrowthBytesMax = uint64_t{1200} << 20;
#else
inline constexpr uint64_t kRssGrowthBytesMax = uint64_t{300} << 20;
#endif
// How long the server may take to drop a connection it must drop "at once".
inline constexpr auto kCloseTimeout = std::chrono::milliseconds(10'000);
// A connection the server reads nothing from for this long is one it stopped reading.
inline constexpr auto kStallTimeout = std::chrono::milliseconds(10'000);
// RPC method ordinals (net/ledger.capnp).
inline constexpr uint16_t kLoginMethod = 0;
inline constexpr uint16_t kLookupAccountsMethod = 4;
inline constexpr uint16_t kInfoMethod = 11;
// Questions of a raw RPC connection: 0 bootstraps the Gateway, 1 logs in, calls follow.
inline constexpr uint32_t kBootstrapQuestion = 0;
inline constexpr uint32_t kLoginQuestion = 1;

inline uint64_t EnvironmentNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

inline std::vector<std::string> FlagsWith(std::initializer_list<std::string> extra) {
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), extra);
  return flags;
}

// ---------------------------------------------------------------------------------------------
// The server's health

// Resident set of `pid` in bytes (VmRSS), or 0 when it cannot be read.
inline uint64_t RssBytes(pid_t pid) {
  const std::string status = testing::ReadWholeFile(absl::StrCat("/proc/", pid, "/status"));
  const size_t at = status.find("VmRSS:");
  if (at == std::string::npos) return 0;
  return std::strtoull(status.c_str() + at + 6, nullptr, 10) * 1024;
}

// Running (not exited, not a zombie), without reaping it: ServerProcess does that.
inline bool IsRunning(pid_t pid) {
  const std::string status = testing::ReadWholeFile(absl::StrCat("/proc/", pid, "/status"));
  const size_t at = status.find("State:");
  if (at == std::string::npos) return false;
  const char state = status[status.find_first_not_of(" \t", at + 6)];
  return state != 'Z' && state != 'X';
}

inline void ExpectNoCrashInLog(const std::string& log) {
  for (const char* marker :
       {"assertion failed", "precondition failed", "Sanitizer", "runtime error", "terminate called",
        "Segmentation fault", "Aborted", "uncaught exception"}) {
    EXPECT_EQ(log.find(marker), std::string::npos) << "'" << marker << "' in the log:\n" << log;
  }
}

inline Account MakeAccount(uint64_t id) {
  Account account{};
  account.id = AccountId::From(id);
  account.ledger = kLedgerId;
  account.code = 10;
  return account;
}

inline Transfer MakeTransfer(uint64_t id, uint64_t debit, uint64_t credit, uint64_t amount) {
  Transfer transfer{};
  transfer.id = TransferId::From(id);
  transfer.debit_account_id = AccountId::From(debit);
  transfer.credit_account_id = AccountId::From(credit);
  transfer.amount = Amount::From(amount);
  transfer.ledger = kLedgerId;
  transfer.code = 1;
  return transfer;
}

inline const std::vector<AccountId> kBaselineIds = {AccountId::From(1), AccountId::From(2),
                                                    AccountId::From(3), AccountId::From(4)};

// What a well-behaved client set up before the attack.
struct Baseline {
  std::vector<Account> accounts;  // 1..4, with balances
  uint64_t rss_bytes = 0;
};

// Ledger 7, accounts 1..4 and transfers between them; then the balances and the server's RSS.
inline void SetUpBaseline(const ServerProcess& server, Baseline* baseline) {
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  Ledger ledger{};
  ledger.id = kLedgerId;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "USD", 3);
  LedgerResult ledger_result;
  ASSERT_TRUE(client->CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok());
  ASSERT_EQ(ledger_result.status, CreateLedgerResult::kOk);
  std::vector<Account> accounts;
  for (const AccountId& id : kBaselineIds) accounts.push_back(MakeAccount(id.lo));
  std::vector<AccountResult> account_results(accounts.size());
  ASSERT_TRUE(client->CreateAccounts(accounts, account_results).ok());
  for (const AccountResult& result : account_results) {
    ASSERT_EQ(result.status, CreateAccountResult::kOk);
  }
  std::vector<Transfer> transfers;
  for (uint64_t i = 0; i < 12; ++i)
    transfers.push_back(MakeTransfer(100 + i, 1 + i % 4, 1 + (i + 1) % 4, 10 + i));
  std::vector<TransferResult> transfer_results(transfers.size());
  ASSERT_TRUE(client->CreateTransfers(transfers, transfer_results).ok());
  for (const TransferResult& result : transfer_results) {
    ASSERT_EQ(result.status, CreateTransferResult::kOk);
  }
  auto found = client->LookupAccounts(kBaselineIds);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), kBaselineIds.size());
  baseline->accounts = *found;
  baseline->rss_bytes = RssBytes(server.pid());
  ASSERT_GT(baseline->rss_bytes, 0u);
}

// (a)-(d) of the file comment. `fresh_id` names two new accounts and a transfer (fresh_id and
// fresh_id + 1): unique per call.
inline void ExpectStillServing(const ServerProcess& server, const Baseline& baseline,
                               uint64_t fresh_id,
                               uint64_t rss_growth_bytes_max = kRssGrowthBytesMax) {
  ASSERT_TRUE(IsRunning(server.pid())) << server.log();
  const uint64_t rss_bytes = RssBytes(server.pid());
  EXPECT_LT(rss_bytes, baseline.rss_bytes + rss_growth_bytes_max)
      << "the server grew from " << baseline.rss_bytes << " to " << rss_bytes << " bytes";
  auto client = Connect(server);
  ASSERT_NE(client, nullptr) << server.log();
  auto found = client->LookupAccounts(kBaselineIds);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), baseline.accounts.size());
  for (size_t i = 0; i < found->size(); ++i) {
    EXPECT_EQ(std::memcmp(&(*found)[i], &baseline.accounts[i], sizeof(Account)), 0)
        << "account " << baseline.accounts[i].id.lo << " changed";
  }
  const std::vector<Account> accounts = {MakeAccount(fresh_id), MakeAccount(fresh_id + 1)};
  std::vector<AccountResult> account_results(accounts.size());
  ASSERT_TRUE(client->CreateAccounts(accounts, account_results).ok());
  EXPECT_EQ(account_results[0].status, CreateAccountResult::kOk);
  EXPECT_EQ(account_results[1].status, CreateAccountResult::kOk);
  auto booked = client->Submit(MakeTransfer(fresh_id, fresh_id, fresh_id + 1, 5));
  ASSERT_TRUE(booked.ok()) << booked.status();
  EXPECT_EQ(booked->status, CreateTransferResult::kOk);
  const std::vector<AccountId> fresh = {AccountId::From(fresh_id), AccountId::From(fresh_id + 1)};
  auto fresh_found = client->LookupAccounts(fresh);
  ASSERT_TRUE(fresh_found.ok()) << fresh_found.status();
  ASSERT_EQ(fresh_found->size(), 2u);
  EXPECT_EQ((*fresh_found)[0].debits_posted, Amount::From(5));
  EXPECT_EQ((*fresh_found)[1].credits_posted, Amount::From(5));
  auto trial = client->GetTrialBalance(kLedgerId);
  ASSERT_TRUE(trial.ok()) << trial.status();
  EXPECT_TRUE(trial->Balanced());
  ExpectNoCrashInLog(server.log());
}

inline void ExpectCleanShutdown(ServerProcess& server) {
  EXPECT_EQ(server.Stop(), 0) << server.log();
  ExpectNoCrashInLog(server.log());
}

// ---------------------------------------------------------------------------------------------
// Raw Cap'n Proto RPC frames, for clients that must not read their replies

inline std::vector<std::byte> Frame(capnp::MessageBuilder& message) {
  const kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  const auto* begin = reinterpret_cast<const std::byte*>(bytes.begin());
  return std::vector<std::byte>(begin, begin + bytes.size());
}

inline std::vector<std::byte> BootstrapFrame() {
  capnp::MallocMessageBuilder message;
  message.initRoot<capnp::rpc::Message>().initBootstrap().setQuestionId(kBootstrapQuestion);
  return Frame(message);
}

// A call whose target is the answer to `target_question` (its results' pointer `field`, or the
// answer itself when field < 0), params filled by `fill`.
inline std::vector<std::byte> CallFrame(
    uint32_t question, uint32_t target_question, int field, uint64_t interface_id, uint16_t method,
    const std::function<void(capnp::AnyPointer::Builder)>& fill) {
  capnp::MallocMessageBuilder message;
  auto call = message.initRoot<capnp::rpc::Message>().initCall();
  call.setQuestionId(question);
  call.setInterfaceId(interface_id);
  call.setMethodId(method);
  auto target = call.initTarget().initPromisedAnswer();
  target.setQuestionId(target_question);
  if (field >= 0) target.initTransform(1)[0].setGetPointerField(static_cast<uint16_t>(field));
  fill(call.initParams().initContent());
  return Frame(message);
}

inline std::vector<std::byte> LoginFrame(uint32_t question, const std::string& token) {
  return CallFrame(question, kBootstrapQuestion, -1, capnp::typeId<rpc::Gateway>(), kLoginMethod,
                   [&](capnp::AnyPointer::Builder params) {
                     params.initAs<rpc::Gateway::LoginParams>().setToken(kj::arrayPtr(
                         reinterpret_cast<const kj::byte*>(token.data()), token.size()));
                   });
}

// A call on the Ledger capability that the login (question kLoginQuestion) returns.
inline std::vector<std::byte> LedgerCallFrame(
    uint32_t question, uint16_t method,
    const std::function<void(capnp::AnyPointer::Builder)>& fill) {
  return CallFrame(question, kLoginQuestion, 0, capnp::typeId<rpc::Ledger>(), method, fill);
}

inline void Append(std::vector<std::byte>& out, const std::vector<std::byte>& frame) {
  out.insert(out.end(), frame.begin(), frame.end());
}

}  // namespace ledger::net::testing
