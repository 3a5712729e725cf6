// libFuzzer target for the server's request decoding path (net/internal/service.cc): bytes ->
// a Cap'n Proto message read with the server's limits -> one Ledger method's params -> the
// codec (net/internal/codec.h) -> a real engine, as the server would apply them.
//
// Input: byte 0 picks the method (kMethodCount of them); the rest is a flat message (segment
// table + segments, as on the wire) whose root is that method's params struct.
//
// A kj::Exception (Cap'n Proto refusing malformed input) is a clean refusal, as at the server's
// RPC edge. A crash, a sanitizer report or a broken check below is a bug:
//   - the engine's trial balance holds for every ledger the batch names;
//   - applying the same batch to a second engine gives the same results and state hash
//     (the engine is a deterministic function of state, batch and timestamp);
//   - a snapshot of the result restores (Restore re-derives and checks everything) to the same
//     state hash;
//   - accounts and transfers survive encode -> decode unchanged;
//   - lookups return only what was asked for, queries only what the filter selects, in order.
//
// Seeds: LEDGER_FUZZ_WRITE_SEEDS=DIR rpc_decode_fuzz writes a valid request per method (and a
// few richer batches) to DIR and exits; tests/fuzz/run.sh does this before fuzzing.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "capnp/message.h"
#include "capnp/serialize.h"
#include "engine/engine.h"
#include "kj/exception.h"
#include "net/internal/codec.h"
#include "net/ledger.capnp.h"
#include "net/server.h"
#include "tests/fuzz/seed_ledger.h"

namespace ledger::net {
namespace {

using internal::DecodeU128;

// The limits the server applies (ServerLimits' defaults).
const ServerLimits kLimits;

enum class Method : uint8_t {
  kCreateLedgers,
  kCreateAccounts,
  kCreateTransfers,
  kLookupLedgers,
  kLookupAccounts,
  kLookupTransfers,
  kGetAccountTransfers,
  kGetAccountBalances,
  kTrialBalance,
  kCreateTransfersPacked,
};
constexpr uint8_t kMethodCount = 10;

// The state every input starts from: two ledgers, accounts with limits and history, posted
// and pending transfers (one of which expires when the fuzzed batch is applied).
constexpr uint32_t kLedgerA = 1;
constexpr uint32_t kLedgerB = 2;
constexpr uint64_t kSetUpTimestampNs = 1'000'000'000;
// The fuzzed batch comes 5 s later: past the 1 s timeout of reservation 204.
constexpr uint64_t kBatchTimestampNs = kSetUpTimestampNs + 5'000'000'000;

engine::EngineOptions Options() {
  engine::EngineOptions options;
  options.accounts_capacity = 64;
  options.transfers_capacity = 1024;
  options.accounts_max = uint64_t{1} << 14;
  options.transfers_max = uint64_t{1} << 16;  // a full batch of 8,190 always fits
  options.change_feed_capacity = 256;
  return options;
}

const std::vector<Ledger>& SetUpLedgers() {
  static const std::vector<Ledger> ledgers = {fuzz::SeedLedger(kLedgerA, "USD"),
                                              fuzz::SeedLedger(kLedgerB, "BTC")};
  return ledgers;
}

const std::vector<Account>& SetUpAccounts() {
  static const std::vector<Account> accounts = {
      fuzz::SeedAccount(1, kLedgerA, 0),
      fuzz::SeedAccount(2, kLedgerA, account_flags::kDebitsMustNotExceedCredits),
      fuzz::SeedAccount(3, kLedgerA, account_flags::kCreditsMustNotExceedDebits),
      fuzz::SeedAccount(4, kLedgerA, account_flags::kHistory),
      fuzz::SeedAccount(5, kLedgerA,
                        account_flags::kHistory | account_flags::kDebitsMustNotExceedCredits),
      fuzz::SeedAccount(6, kLedgerA, 0),
      fuzz::SeedAccount(7, kLedgerB, 0),
      fuzz::SeedAccount(8, kLedgerB, account_flags::kHistory),
  };
  return accounts;
}

const std::vector<Transfer>& SetUpTransfers() {
  static const std::vector<Transfer> transfers = [] {
    std::vector<Transfer> list = {
        fuzz::SeedTransfer(200, 1, 2, 1000),
        fuzz::SeedTransfer(201, 1, 4, 500),
        fuzz::SeedTransfer(202, 4, 5, 300),
        fuzz::SeedTransfer(203, 1, 6, 200, transfer_flags::kPending),
        fuzz::SeedTransfer(204, 6, 4, 50, transfer_flags::kPending),  // expires (timeout below)
        fuzz::SeedTransfer(205, 3, 1, 100),
        fuzz::SeedTransfer(206, 1, 5, 70, transfer_flags::kPending),
        fuzz::SeedTransfer(207, 7, 8, 900, 0, 0, kLedgerB),
        fuzz::SeedTransfer(208, 1, 2, 30, transfer_flags::kLinked),
        fuzz::SeedTransfer(209, 2, 4, 10),
    };
    list[4].timeout_s = 1;
    return list;
  }();
  return transfers;
}

template <typename Result>
void RequireAllOk(std::span<const Result> results) {
  for (const Result result : results) {
    LEDGER_ASSERT(result == Result::kOk, static_cast<int>(result));
  }
}

std::unique_ptr<engine::Engine> SetUpEngine() {
  auto engine = std::make_unique<engine::Engine>(Options());
  std::vector<CreateLedgerResult> ledger_results(SetUpLedgers().size());
  engine->CreateLedgers(SetUpLedgers(), kSetUpTimestampNs, ledger_results);
  RequireAllOk<CreateLedgerResult>(ledger_results);
  std::vector<CreateAccountResult> account_results(SetUpAccounts().size());
  engine->CreateAccounts(SetUpAccounts(), kSetUpTimestampNs + 100, account_results);
  RequireAllOk<CreateAccountResult>(account_results);
  std::vector<CreateTransferResult> transfer_results(SetUpTransfers().size());
  engine->CreateTransfers(SetUpTransfers(), kSetUpTimestampNs + 200, transfer_results);
  RequireAllOk<CreateTransferResult>(transfer_results);
  return engine;
}

// ---------------------------------------------------------------------------------------------
// Checks

void CheckTrialBalances(const engine::Engine& engine, std::span<const uint32_t> ledgers) {
  for (const uint32_t ledger : ledgers) {
    LEDGER_ASSERT(engine.GetTrialBalance(ledger).Balanced(), ledger);
  }
}

void CheckSnapshotRoundTrip(const engine::Engine& engine) {
  const std::unique_ptr<engine::EngineSnapshot> image = engine.CaptureSnapshot();
  auto restored = engine::Engine::Restore(Options(), image->sections());
  if (!restored.ok()) {
    std::fprintf(stderr, "a snapshot of a live engine does not restore: %s\n",
                 restored.status().ToString().c_str());
    std::abort();
  }
  LEDGER_ASSERT((*restored)->ComputeStateHash() == engine.ComputeStateHash());
}

void CheckRoundTrip(const Account& account) {
  capnp::MallocMessageBuilder message;
  auto builder = message.initRoot<rpc::Account>();
  internal::EncodeAccount(account, builder);
  const Account again = internal::DecodeAccount(builder.asReader());
  LEDGER_ASSERT(std::memcmp(&again, &account, sizeof(Account)) == 0);
}

void CheckRoundTrip(const Transfer& transfer) {
  capnp::MallocMessageBuilder message;
  auto builder = message.initRoot<rpc::Transfer>();
  internal::EncodeTransfer(transfer, builder);
  const Transfer again = internal::DecodeTransfer(builder.asReader());
  LEDGER_ASSERT(std::memcmp(&again, &transfer, sizeof(Transfer)) == 0);
}

void CheckRoundTrip(const Ledger&) {}  // the asset code is normalised on decode: not symmetric

uint32_t LedgerOf(const Ledger& ledger) { return ledger.id; }
uint32_t LedgerOf(const Account& account) { return account.ledger; }
uint32_t LedgerOf(const Transfer& transfer) { return transfer.ledger; }

void Apply(engine::Engine& engine, std::span<const Ledger> events,
           std::span<CreateLedgerResult> results) {
  engine.CreateLedgers(events, kBatchTimestampNs, results);
}
void Apply(engine::Engine& engine, std::span<const Account> events,
           std::span<CreateAccountResult> results) {
  engine.CreateAccounts(events, kBatchTimestampNs, results);
}
void Apply(engine::Engine& engine, std::span<const Transfer> events,
           std::span<CreateTransferResult> results) {
  engine.CreateTransfers(events, kBatchTimestampNs, results);
}

constexpr uint8_t ResultCount(CreateLedgerResult) { return kCreateLedgerResultCount; }
constexpr uint8_t ResultCount(CreateAccountResult) { return kCreateAccountResultCount; }
constexpr uint8_t ResultCount(CreateTransferResult) { return kCreateTransferResultCount; }

// ---------------------------------------------------------------------------------------------
// The methods, as LedgerImpl (net/internal/service.cc) runs them

// Decodes every event as LedgerImpl::Create does, refusing a batch over the limit, then
// applies it to `engine` and to a twin and checks the invariants.
template <typename Event, typename Result>
void ApplyAndCheck(engine::Engine& engine, std::span<const Event> events);

template <typename Event, typename Result, typename List, typename Decode>
void Create(engine::Engine& engine, List list, Decode decode) {
  if (list.size() > kLimits.batch_events_max) return;  // refused: "a batch holds at most"
  std::vector<Event> events(list.size());
  for (uint32_t i = 0; i < list.size(); ++i) events[i] = decode(list[i]);
  ApplyAndCheck<Event, Result>(engine, events);
}

// createTransfersPacked: whole 152-byte records only, then as createTransfers.
void CreatePacked(engine::Engine& engine, capnp::Data::Reader records) {
  if (records.size() % sizeof(Transfer) != 0) return;  // refused: "not whole records"
  const size_t count = records.size() / sizeof(Transfer);
  if (count > kLimits.batch_events_max) return;
  std::vector<Transfer> scratch(count);
  const std::span<Transfer> events = internal::DecodePackedTransfers(records, scratch);
  ApplyAndCheck<Transfer, CreateTransferResult>(engine, events);
}

template <typename Event, typename Result>
void ApplyAndCheck(engine::Engine& engine, std::span<const Event> events) {
  const uint64_t accounts = std::is_same_v<Event, Account> ? events.size() : 0;
  const uint64_t transfers = std::is_same_v<Event, Transfer> ? events.size() : 0;
  if (!engine.HasRoomFor(accounts, transfers)) return;  // refused: "tables are full"
  for (const Event& event : events) CheckRoundTrip(event);

  std::vector<Result> results(events.size());
  Apply(engine, events, results);
  for (const Result result : results) {
    LEDGER_ASSERT(static_cast<uint8_t>(result) < ResultCount(Result{}), static_cast<int>(result));
  }
  std::vector<uint32_t> ledgers = {kLedgerA, kLedgerB};
  for (const Event& event : events) ledgers.push_back(LedgerOf(event));
  CheckTrialBalances(engine, ledgers);

  const std::unique_ptr<engine::Engine> twin = SetUpEngine();
  std::vector<Result> twin_results(events.size());
  Apply(*twin, events, twin_results);
  LEDGER_ASSERT(twin_results == results);
  LEDGER_ASSERT(twin->ComputeStateHash() == engine.ComputeStateHash());
  CheckSnapshotRoundTrip(engine);
}

// Looks every id up as LedgerImpl::lookup* does; what is found must be what was asked for.
template <typename List, typename Decode, typename Lookup, typename IdOf>
void LookUp(List ids, Decode decode, Lookup lookup, IdOf id_of) {
  if (ids.size() > kLimits.query_ids_max) return;  // refused: "a lookup takes at most"
  for (const auto id : ids) {
    const auto wanted = decode(id);
    if (const auto found = lookup(wanted)) LEDGER_ASSERT(id_of(*found) == wanted);
  }
}

template <typename Record>
void CheckPage(const AccountFilter& filter, std::span<const Record> page, uint32_t limit) {
  LEDGER_ASSERT(page.size() <= size_t{limit} + 1, page.size(), limit);
  const bool reversed = (filter.flags & filter_flags::kReversed) != 0;
  for (size_t i = 0; i < page.size(); ++i) {
    const uint64_t at = page[i].timestamp_ns;
    LEDGER_ASSERT(at >= filter.timestamp_min_ns, at, filter.timestamp_min_ns);
    LEDGER_ASSERT(filter.timestamp_max_ns == 0 || at <= filter.timestamp_max_ns, at);
    if (i > 0) {
      const uint64_t before = page[i - 1].timestamp_ns;
      LEDGER_ASSERT(reversed ? before > at : before < at, before, at);
    }
  }
}

void GetAccountTransfers(const engine::Engine& engine, rpc::AccountFilter::Reader in) {
  AccountFilter filter = internal::DecodeFilter(in, kLimits.query_results_max);
  const uint32_t limit = filter.limit;
  LEDGER_ASSERT(limit >= 1 && limit <= kLimits.query_results_max, limit);
  filter.limit = limit + 1;  // as the server does: one more tells whether another page follows
  std::vector<Transfer> page(size_t{limit} + 1);
  page.resize(engine.GetAccountTransfers(filter, page));
  CheckPage<Transfer>(filter, page, limit);
  for (const Transfer& transfer : page) {
    const bool debit = transfer.debit_account_id == filter.account_id;
    const bool credit = transfer.credit_account_id == filter.account_id;
    LEDGER_ASSERT((debit && (filter.flags & filter_flags::kDebits) != 0) ||
                  (credit && (filter.flags & filter_flags::kCredits) != 0));
    LEDGER_ASSERT(filter.code == 0 || transfer.code == filter.code, transfer.code, filter.code);
  }
}

void GetAccountBalances(const engine::Engine& engine, rpc::AccountFilter::Reader in) {
  AccountFilter filter = internal::DecodeFilter(in, kLimits.query_results_max);
  const uint32_t limit = filter.limit;
  filter.limit = limit + 1;
  std::vector<AccountBalance> page(size_t{limit} + 1);
  page.resize(engine.GetAccountBalances(filter, page));
  CheckPage<AccountBalance>(filter, page, limit);
}

void Run(Method method, capnp::MessageReader& message) {
  const std::unique_ptr<engine::Engine> engine = SetUpEngine();
  switch (method) {
    case Method::kCreateLedgers: {
      auto params = message.getRoot<rpc::Ledger::CreateLedgersParams>();
      (void)params.totalSize();  // LedgerImpl::Admit counts the request's words
      return Create<Ledger, CreateLedgerResult>(*engine, params.getLedgers(),
                                                internal::DecodeLedger);
    }
    case Method::kCreateAccounts: {
      auto params = message.getRoot<rpc::Ledger::CreateAccountsParams>();
      (void)params.totalSize();
      return Create<Account, CreateAccountResult>(*engine, params.getAccounts(),
                                                  internal::DecodeAccount);
    }
    case Method::kCreateTransfers: {
      auto params = message.getRoot<rpc::Ledger::CreateTransfersParams>();
      (void)params.totalSize();
      return Create<Transfer, CreateTransferResult>(*engine, params.getTransfers(),
                                                    internal::DecodeTransfer);
    }
    case Method::kCreateTransfersPacked:
      return CreatePacked(*engine,
                          message.getRoot<rpc::Ledger::CreateTransfersPackedParams>().getRecords());
    case Method::kLookupLedgers: {
      auto params = message.getRoot<rpc::Ledger::LookupLedgersParams>();
      (void)params.totalSize();
      return LookUp(
          params.getIds(), [](uint32_t id) { return id; },
          [&](uint32_t id) { return engine->LookupLedger(id); },
          [](const Ledger& ledger) { return ledger.id; });
    }
    case Method::kLookupAccounts: {
      auto params = message.getRoot<rpc::Ledger::LookupAccountsParams>();
      (void)params.totalSize();
      return LookUp(
          params.getIds(), DecodeU128<AccountIdTag>,
          [&](AccountId id) { return engine->LookupAccount(id); },
          [](const Account& account) { return account.id; });
    }
    case Method::kLookupTransfers: {
      auto params = message.getRoot<rpc::Ledger::LookupTransfersParams>();
      (void)params.totalSize();
      return LookUp(
          params.getIds(), DecodeU128<TransferIdTag>,
          [&](TransferId id) { return engine->LookupTransfer(id); },
          [](const Transfer& transfer) { return transfer.id; });
    }
    case Method::kGetAccountTransfers: {
      auto params = message.getRoot<rpc::Ledger::GetAccountTransfersParams>();
      (void)params.totalSize();
      return GetAccountTransfers(*engine, params.getFilter());
    }
    case Method::kGetAccountBalances: {
      auto params = message.getRoot<rpc::Ledger::GetAccountBalancesParams>();
      (void)params.totalSize();
      return GetAccountBalances(*engine, params.getFilter());
    }
    case Method::kTrialBalance: {
      auto params = message.getRoot<rpc::Ledger::TrialBalanceParams>();
      (void)params.totalSize();
      const TrialBalance balance = engine->GetTrialBalance(params.getLedger());
      LEDGER_ASSERT(balance.Balanced(), params.getLedger());
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds

std::string Serialise(Method method, capnp::MessageBuilder& message) {
  const kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  const auto bytes = words.asBytes();
  std::string input(1, static_cast<char>(method));
  input.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return input;
}

int RunInput(const uint8_t* data, size_t size, bool* refused);

void WriteSeed(const std::string& directory, const std::string& name, const std::string& bytes) {
  // A seed Cap'n Proto refuses would only teach the fuzzer the refusal.
  bool refused = false;
  RunInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &refused);
  LEDGER_ASSERT(!refused);
  const std::string path = directory + "/" + name;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LEDGER_ASSERT(fd >= 0);
  LEDGER_ASSERT(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  close(fd);
}

template <typename Params, typename Fill>
void WriteParamsSeed(const std::string& directory, const std::string& name, Method method,
                     Fill fill) {
  capnp::MallocMessageBuilder message;
  fill(message.initRoot<Params>());
  WriteSeed(directory, name, Serialise(method, message));
}

std::vector<Transfer> SeedTransfers() {
  std::vector<Transfer> transfers = {
      fuzz::SeedTransfer(300, 1, 2, 10),
      fuzz::SeedTransfer(301, 2, 3, 2000),                                  // exceeds 2's credits
      fuzz::SeedTransfer(302, 1, 6, 0, transfer_flags::kPostPending, 203),  // post 203 in part
      fuzz::SeedTransfer(303, 1, 5, 0, transfer_flags::kVoidPending, 206),  // void 206
      fuzz::SeedTransfer(304, 6, 4, 0, transfer_flags::kPostPending, 204),  // 204 expired
      fuzz::SeedTransfer(305, 4, 5, 100, transfer_flags::kLinked),
      fuzz::SeedTransfer(306, 5, 1, 1000, transfer_flags::kLinked),  // fails: the chain rolls back
      fuzz::SeedTransfer(307, 1, 4, 1),
      fuzz::SeedTransfer(308, 2, 1, 999, transfer_flags::kBalancingDebit),
      fuzz::SeedTransfer(309, 1, 3, 5, transfer_flags::kPending | transfer_flags::kClosingDebit),
      fuzz::SeedTransfer(310, 4, 1, 100),  // reversal of 201 (below)
      fuzz::SeedTransfer(311, 7, 8, 1, 0, 0, kLedgerB),
      fuzz::SeedTransfer(312, 1, 7, 1),                           // accounts of different ledgers
      fuzz::SeedTransfer(200, 1, 2, 1000),                        // exists
      fuzz::SeedTransfer(313, 1, 2, 5, transfer_flags::kLinked),  // chain left open
  };
  transfers[2].amount = Amount::From(150);
  transfers[10].reverses_id = TransferId::From(201);
  return transfers;
}

void WriteSeeds(const std::string& directory) {
  WriteParamsSeed<rpc::Ledger::CreateLedgersParams>(
      directory, "create_ledgers", Method::kCreateLedgers, [](auto params) {
        auto list = params.initLedgers(3);
        internal::EncodeLedger(fuzz::SeedLedger(3, "EUR"), list[0]);
        internal::EncodeLedger(fuzz::SeedLedger(kLedgerA, "USD"), list[1]);
        list[2].setId(4);
        list[2].setAssetCode("lower-case?");
      });
  WriteParamsSeed<rpc::Ledger::CreateAccountsParams>(
      directory, "create_accounts", Method::kCreateAccounts, [](auto params) {
        const std::vector<Account> accounts = {
            fuzz::SeedAccount(20, kLedgerA, account_flags::kLinked),
            fuzz::SeedAccount(21, kLedgerA, 0), fuzz::SeedAccount(1, kLedgerA, 0),
            fuzz::SeedAccount(22, 9, 0), fuzz::SeedAccount(23, kLedgerB, account_flags::kClosed)};
        auto list = params.initAccounts(static_cast<unsigned>(accounts.size()));
        for (unsigned i = 0; i < accounts.size(); ++i) {
          internal::EncodeAccount(accounts[i], list[i]);
        }
      });
  WriteParamsSeed<rpc::Ledger::CreateTransfersPackedParams>(
      directory, "create_transfers_packed", Method::kCreateTransfersPacked, [](auto params) {
        const std::vector<Transfer> transfers = SeedTransfers();
        const size_t bytes = transfers.size() * sizeof(Transfer);
        std::memcpy(params.initRecords(static_cast<unsigned>(bytes)).begin(), transfers.data(),
                    bytes);
      });
  WriteParamsSeed<rpc::Ledger::CreateTransfersParams>(
      directory, "create_transfers", Method::kCreateTransfers, [](auto params) {
        const std::vector<Transfer> transfers = SeedTransfers();
        auto list = params.initTransfers(static_cast<unsigned>(transfers.size()));
        for (unsigned i = 0; i < transfers.size(); ++i) {
          internal::EncodeTransfer(transfers[i], list[i]);
        }
      });
  WriteParamsSeed<rpc::Ledger::LookupLedgersParams>(directory, "lookup_ledgers",
                                                    Method::kLookupLedgers, [](auto params) {
                                                      auto ids = params.initIds(3);
                                                      ids.set(0, kLedgerA);
                                                      ids.set(1, kLedgerB);
                                                      ids.set(2, 77);
                                                    });
  WriteParamsSeed<rpc::Ledger::LookupAccountsParams>(directory, "lookup_accounts",
                                                     Method::kLookupAccounts, [](auto params) {
                                                       auto ids = params.initIds(3);
                                                       ids[0].setLo(1);
                                                       ids[1].setLo(8);
                                                       ids[2].setHi(1);
                                                     });
  WriteParamsSeed<rpc::Ledger::LookupTransfersParams>(directory, "lookup_transfers",
                                                      Method::kLookupTransfers, [](auto params) {
                                                        auto ids = params.initIds(2);
                                                        ids[0].setLo(200);
                                                        ids[1].setLo(204);
                                                      });
  for (const bool reversed : {false, true}) {
    const std::string suffix = reversed ? "_reversed" : "";
    AccountFilter filter;
    filter.account_id = AccountId::From(4);
    filter.limit = 2;
    if (reversed) filter.flags |= filter_flags::kReversed;
    WriteParamsSeed<rpc::Ledger::GetAccountTransfersParams>(
        directory, "account_transfers" + suffix, Method::kGetAccountTransfers,
        [&](auto params) { internal::EncodeFilter(filter, params.initFilter()); });
    WriteParamsSeed<rpc::Ledger::GetAccountBalancesParams>(
        directory, "account_balances" + suffix, Method::kGetAccountBalances,
        [&](auto params) { internal::EncodeFilter(filter, params.initFilter()); });
  }
  WriteParamsSeed<rpc::Ledger::TrialBalanceParams>(directory, "trial_balance",
                                                   Method::kTrialBalance,
                                                   [](auto params) { params.setLedger(kLedgerA); });
}

// One input; `refused`: Cap'n Proto threw (malformed), as the server's RPC edge would.
int RunInput(const uint8_t* data, size_t size, bool* refused) {
  *refused = false;
  if (size < 1 + sizeof(capnp::word)) return 0;
  const auto method = static_cast<Method>(data[0] % kMethodCount);
  // Word-aligned, as the server's reader gets it; a trailing partial word is dropped.
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>((size - 1) / sizeof(capnp::word));
  std::memcpy(words.begin(), data + 1, words.size() * sizeof(capnp::word));
  capnp::ReaderOptions options;  // as the server's Listener sets them
  options.traversalLimitInWords = kLimits.message_bytes_max / sizeof(capnp::word);
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                 capnp::FlatArrayMessageReader message(words, options);
                 Run(method, message);
               })) {
    (void)exception;
    *refused = true;
  }
  return 0;
}

}  // namespace
}  // namespace ledger::net

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("LEDGER_FUZZ_WRITE_SEEDS")) {
    ledger::net::WriteSeeds(directory);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bool refused = false;
  return ledger::net::RunInput(data, size, &refused);
}
