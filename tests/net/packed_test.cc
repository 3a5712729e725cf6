// createTransfersPacked (schema version 2): fixed 152-byte records instead of a List(Transfer).
// The client library sends every transfer batch this way, so the other server tests cover it
// end to end; here: it agrees with the list form event for event, and records that are ragged,
// too many or random bytes fail cleanly or get result codes, never more.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/client.h"
#include "net/internal/codec.h"
#include "net/ledger.capnp.h"
#include "tests/net/raw_rpc.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Connect;
using testing::Describe;
using testing::RpcConnection;
using testing::ServerProcess;

constexpr uint32_t kLedgerId = 7;

Transfer MakeTransfer(uint64_t id, uint64_t debit, uint64_t credit, uint64_t amount) {
  Transfer transfer{};
  transfer.id = TransferId::From(id);
  transfer.debit_account_id = AccountId::From(debit);
  transfer.credit_account_id = AccountId::From(credit);
  transfer.amount = Amount::From(amount);
  transfer.ledger = kLedgerId;
  transfer.code = 1;
  return transfer;
}

// Ledger 7 and accounts 1..3.
void SetUpLedger(Client& client) {
  Ledger ledger{};
  ledger.id = kLedgerId;
  std::memcpy(ledger.asset_code, "USD", 3);
  LedgerResult ledger_result;
  ASSERT_TRUE(client.CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok());
  ASSERT_EQ(ledger_result.status, CreateLedgerResult::kOk);
  std::vector<Account> accounts(3, Account{});
  for (uint64_t i = 0; i < 3; ++i) {
    accounts[i].id = AccountId::From(i + 1);
    accounts[i].ledger = kLedgerId;
    accounts[i].code = 10;
  }
  std::vector<AccountResult> results(3);
  ASSERT_TRUE(client.CreateAccounts(accounts, results).ok());
  for (const AccountResult& result : results) ASSERT_EQ(result.status, CreateAccountResult::kOk);
}

// Events that between them reach many result codes: ids start at `base`.
std::vector<Transfer> VariedEvents(uint64_t base) {
  std::vector<Transfer> events;
  events.push_back(MakeTransfer(base + 1, 1, 2, 100));  // ok
  events.push_back(MakeTransfer(base + 2, 1, 2, 0));    // amount must not be zero
  events.push_back(MakeTransfer(base + 3, 1, 9, 5));    // credit account not found
  Transfer pending = MakeTransfer(base + 4, 2, 3, 40);
  pending.flags = transfer_flags::kPending;
  events.push_back(pending);
  Transfer post = MakeTransfer(base + 5, 2, 3, 25);
  post.flags = transfer_flags::kPostPending;
  post.pending_id = TransferId::From(base + 4);
  events.push_back(post);
  Transfer linked = MakeTransfer(base + 6, 1, 3, 7);
  linked.flags = transfer_flags::kLinked;
  events.push_back(linked);
  events.push_back(MakeTransfer(base + 7, 3, 3, 7));  // same accounts: fails the chain
  Transfer reserved = MakeTransfer(base + 8, 1, 2, 1);
  reserved.flags = 1 << 15;  // not a flag
  events.push_back(reserved);
  Transfer stamped = MakeTransfer(base + 9, 1, 2, 1);
  stamped.timestamp_ns = 12345;
  events.push_back(stamped);
  events.push_back(MakeTransfer(base + 1, 1, 2, 100));  // exists
  events.push_back(MakeTransfer(base + 1, 1, 2, 101));  // exists with a different amount
  return events;
}

TEST(PackedTransfers, AgreeWithTheListFormEventForEvent) {
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(SetUpLedger(*client));

  // The list form, without the client library (which sends packed records to this server).
  const std::vector<Transfer> listed = VariedEvents(1000);
  RpcConnection raw(server.address());
  auto ledger = raw.Login(server.token()).wait(raw.wait_scope()).getLedger();
  auto request = ledger.createTransfersRequest();
  auto list = request.initTransfers(static_cast<unsigned>(listed.size()));
  for (size_t i = 0; i < listed.size(); ++i) {
    internal::EncodeTransfer(listed[i], list[static_cast<unsigned>(i)]);
  }
  auto list_response = request.send().wait(raw.wait_scope());
  auto list_results = list_response.getResults();
  ASSERT_EQ(list_results.size(), listed.size());

  const std::vector<Transfer> packed = VariedEvents(2000);
  std::vector<TransferResult> packed_results(packed.size());
  ASSERT_TRUE(client->CreateTransfers(packed, packed_results).ok());

  size_t ok_count = 0;
  for (size_t i = 0; i < packed.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(static_cast<uint16_t>(packed_results[i].status),
              static_cast<uint16_t>(list_results[static_cast<unsigned>(i)].getStatus()));
    if (packed_results[i].status != CreateTransferResult::kOk) continue;
    ++ok_count;
    auto a = client->LookupTransfers(std::vector<TransferId>{listed[i].id});
    auto b = client->LookupTransfers(std::vector<TransferId>{packed[i].id});
    ASSERT_TRUE(a.ok() && b.ok() && a->size() == 1 && b->size() == 1);
    EXPECT_EQ((*a)[0].amount, (*b)[0].amount);
    EXPECT_EQ((*a)[0].flags, (*b)[0].flags);
    EXPECT_EQ((*a)[0].debit_account_id, (*b)[0].debit_account_id);
  }
  EXPECT_GE(ok_count, 3u);  // the plain one, the reservation and its post
  auto trial = client->GetTrialBalance(kLedgerId);
  ASSERT_TRUE(trial.ok());
  EXPECT_TRUE(trial->Balanced());
  EXPECT_EQ(server.Stop(), 0);
}

TEST(PackedTransfers, RaggedOrTooManyRecordsFailTheCallAndChangeNothing) {
  ServerProcess server;
  std::vector<std::string> flags = ServerProcess::DefaultFlags();
  flags.insert(flags.end(), {"--max-batch-events", "50"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(SetUpLedger(*client));

  RpcConnection raw(server.address());
  auto ledger = raw.Login(server.token()).wait(raw.wait_scope()).getLedger();
  const auto send = [&](size_t bytes, uint64_t first_id) {
    auto request = ledger.createTransfersPackedRequest();
    kj::byte* out = request.initRecords(static_cast<unsigned>(bytes)).begin();
    for (size_t offset = 0; offset + sizeof(Transfer) <= bytes; offset += sizeof(Transfer)) {
      const Transfer transfer = MakeTransfer(first_id + offset / sizeof(Transfer), 1, 2, 1);
      std::memcpy(out + offset, &transfer, sizeof(Transfer));
    }
    return raw.Failure(request.send());
  };
  EXPECT_NE(Describe(send(151, 100)).find("151 bytes are not whole records of 152"),
            std::string::npos);
  EXPECT_NE(Describe(send(2 * 152 + 1, 200)).find("are not whole records"), std::string::npos);
  EXPECT_NE(Describe(send(51 * 152, 300)).find("at most 50 events, not 51"), std::string::npos);
  EXPECT_EQ(Describe(send(0, 400)), "(no failure)") << server.log();  // an empty batch is a batch

  for (uint64_t id : {100, 200, 300, 349}) {
    auto found = client->LookupTransfers(std::vector<TransferId>{TransferId::From(id)});
    ASSERT_TRUE(found.ok());
    EXPECT_TRUE(found->empty()) << id;
  }
  EXPECT_EQ(Describe(send(50 * 152, 500)), "(no failure)");  // the limit itself is fine
  auto accounts = client->LookupAccounts(std::vector<AccountId>{AccountId::From(1)});
  ASSERT_TRUE(accounts.ok() && accounts->size() == 1);
  EXPECT_EQ((*accounts)[0].debits_posted, Amount::From(50));
  EXPECT_EQ(server.Stop(), 0);
}

TEST(PackedTransfers, RandomRecordsGetFailureCodesAndMoveNothing) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  ServerProcess server;
  ASSERT_TRUE(server.Start()) << server.log();
  auto client = Connect(server);
  ASSERT_NE(client, nullptr);
  ASSERT_NO_FATAL_FAILURE(SetUpLedger(*client));

  std::vector<Transfer> records(200);
  for (Transfer& record : records) {
    uint64_t words[sizeof(Transfer) / 8];
    for (uint64_t& word : words) word = random();
    std::memcpy(&record, words, sizeof(Transfer));
  }
  std::vector<TransferResult> results(records.size());
  ASSERT_TRUE(client->CreateTransfers(records, results).ok());
  for (size_t i = 0; i < records.size(); ++i) {
    // Random ledgers, accounts and flags: nothing can succeed.
    EXPECT_NE(results[i].status, CreateTransferResult::kOk) << i;
  }
  auto accounts = client->LookupAccounts(
      std::vector<AccountId>{AccountId::From(1), AccountId::From(2), AccountId::From(3)});
  ASSERT_TRUE(accounts.ok() && accounts->size() == 3);
  for (const Account& account : *accounts) {
    EXPECT_EQ(account.debits_posted, Amount::From(0));
    EXPECT_EQ(account.credits_posted, Amount::From(0));
  }
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace ledger::net
