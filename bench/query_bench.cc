// Ledger-wide query latency at scale: builds a ledger of --accounts accounts (each with its own
// reference in user_data_128) and applies --transfers plain transfers between random accounts,
// each with its own reference (user_data_128), a merchant among 1,000 (user_data_32) and code 2
// for one in 1,000 (code 1 otherwise). Then times --queries queries of each kind, one at a
// time on this thread as the server runs them, and prints p50, p99 and max, with what the
// query indexes hold per record.
//
//   build/release/bench/query_bench --accounts 1000000 --transfers 10000000
//
// Defaults are small (100k accounts, 1M transfers) so a plain run is quick; the full scale
// needs about 4 GB (docs/benchmarks.md, "Ledger-wide queries").
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "bench/workload.h"
#include "engine/engine.h"

namespace {

using namespace ledger;
using ledger::bench::AccountIdOf;
using ledger::bench::FillPlainBatch;
using ledger::bench::Random;

constexpr size_t kBatchEvents = 8190;
constexpr uint32_t kLedger = 1;
constexpr uint32_t kPage = 100;  // records per listing page
constexpr uint32_t kMerchants = 1'000;

struct Options {
  uint64_t accounts = 100'000;
  uint64_t transfers = 1'000'000;
  uint64_t queries = 10'000;
  uint64_t shards = 1;
};

bool Parse(int argc, char** argv, Options& options) {
  const ledger::bench::NumberFlag flags[] = {{"--accounts", &options.accounts, 2, UINT64_MAX},
                                             {"--transfers", &options.transfers, 1, UINT64_MAX},
                                             {"--queries", &options.queries, 1, UINT64_MAX},
                                             {"--shards", &options.shards, 1, 16}};
  return ledger::bench::ParseNumberFlags(argc, argv, flags);
}

UserData128 AccountReference(uint64_t index) { return UserData128::From(u128{index} << 32 | 7); }

// The ledger, its accounts (each with its reference), and the transfers; returns each
// transfer's reference and booking timestamp, for the queries to aim at.
void Build(engine::Engine& ledger_engine, const Options& options,
           std::vector<UserData128>& references, std::vector<uint64_t>& booked_ns) {
  Ledger ledger{};
  ledger.id = kLedger;
  std::memcpy(ledger.asset_code, "USD", 3);
  CreateLedgerResult ledger_result;
  ledger_engine.CreateLedgers({&ledger, 1}, 1, {&ledger_result, 1});
  std::vector<Account> accounts(kBatchEvents);
  std::vector<CreateAccountResult> account_results(kBatchEvents);
  for (uint64_t first = 0; first < options.accounts; first += kBatchEvents) {
    const size_t count = std::min<uint64_t>(kBatchEvents, options.accounts - first);
    for (size_t i = 0; i < count; ++i) {
      accounts[i] = Account{};
      accounts[i].id = AccountIdOf(first + i);
      accounts[i].ledger = kLedger;
      accounts[i].code = 1;
      accounts[i].user_data_128 = AccountReference(first + i);
    }
    ledger_engine.CreateAccounts({accounts.data(), count}, ledger_engine.last_timestamp_ns() + 1,
                                 {account_results.data(), count});
  }
  Random random{7};
  std::vector<Transfer> batch(kBatchEvents);
  std::vector<CreateTransferResult> results(kBatchEvents);
  for (uint64_t first = 0; first < options.transfers; first += kBatchEvents) {
    const size_t count = std::min<uint64_t>(kBatchEvents, options.transfers - first);
    std::span<Transfer> events(batch.data(), count);
    FillPlainBatch(random, options.accounts, kLedger, events);
    for (Transfer& transfer : events) {
      transfer.user_data_128 = UserData128{random.Next(), random.Next()};
      transfer.user_data_32 = static_cast<uint32_t>(1 + random.Below(kMerchants));
      transfer.code = random.Below(1'000) == 0 ? 2 : 1;
    }
    const uint64_t timestamp_ns = ledger_engine.last_timestamp_ns() + 1;
    ledger_engine.CreateTransfers(events, timestamp_ns, {results.data(), count});
    for (size_t i = 0; i < count; ++i) {
      if (results[i] != CreateTransferResult::kOk) continue;
      references.push_back(events[i].user_data_128);
      booked_ns.push_back(timestamp_ns + 1 + i);
    }
  }
}

// Times `queries` runs of `query(i)` (each returns how many records it found) and prints the
// latency percentiles and the mean records per query.
void Measure(const char* name, uint64_t queries, const std::function<size_t(uint64_t)>& query) {
  std::vector<uint64_t> latencies_ns(queries);
  uint64_t records = 0;
  for (uint64_t i = 0; i < queries; ++i) {
    const uint64_t start_ns = base::MonotonicNs();
    records += query(i);
    latencies_ns[i] = base::MonotonicNs() - start_ns;
  }
  std::sort(latencies_ns.begin(), latencies_ns.end());
  const auto at = [&](double fraction) {
    return static_cast<double>(
               latencies_ns[static_cast<size_t>(fraction * static_cast<double>(queries - 1))]) /
           1e3;
  };
  std::printf("%-66s p50 %9.1f us  p99 %9.1f us  max %9.1f us  %7.1f records/query\n", name,
              at(0.5), at(0.99), at(1.0),
              static_cast<double>(records) / static_cast<double>(queries));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!Parse(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: query_bench [--accounts N] [--transfers N] [--queries N] [--shards N]\n");
    return 64;
  }
  engine::EngineOptions engine_options;
  engine_options.accounts_capacity = options.accounts;
  engine_options.transfers_capacity = options.transfers;
  engine_options.shard_count = static_cast<uint32_t>(options.shards);
  auto ledger_engine = std::make_unique<engine::Engine>(engine_options);
  std::vector<UserData128> references;
  std::vector<uint64_t> booked_ns;
  const auto build_start = std::chrono::steady_clock::now();
  Build(*ledger_engine, options, references, booked_ns);
  const double build_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();
  const engine::EngineStats stats = ledger_engine->GetStats();
  std::printf("%llu accounts, %llu transfers, %u shard(s), built in %.1f s\n",
              static_cast<unsigned long long>(stats.account_count),
              static_cast<unsigned long long>(stats.transfer_count),
              static_cast<unsigned>(options.shards), build_s);
  std::printf("query index bytes: %.1f per account, %.1f per transfer\n",
              static_cast<double>(stats.account_query_index_bytes) /
                  static_cast<double>(stats.account_count),
              static_cast<double>(stats.transfer_query_index_bytes) /
                  static_cast<double>(stats.transfer_count));
  if (references.empty()) return 1;

  Random random{11};
  std::vector<Transfer> transfers(kPage);
  std::vector<Account> accounts(kPage);
  const uint64_t first_ns = booked_ns.front();
  const uint64_t last_ns = booked_ns.back();
  const auto random_instant = [&] { return first_ns + random.Below(last_ns - first_ns + 1); };
  uint64_t misses = 0;
  Measure("transfer by its reference (user_data_128)", options.queries, [&](uint64_t) {
    QueryFilter filter;
    filter.user_data_128 = references[random.Below(references.size())];
    const size_t found = ledger_engine->QueryTransfers(filter, transfers);
    misses += found == 1 ? 0 : 1;
    return found;
  });
  Measure("account by its reference (user_data_128)", options.queries, [&](uint64_t) {
    QueryFilter filter;
    filter.user_data_128 = AccountReference(random.Below(options.accounts));
    const size_t found = ledger_engine->QueryAccounts(filter, accounts);
    misses += found == 1 ? 0 : 1;
    return found;
  });
  Measure("accounts of the ledger, a page of 100 from a random point", options.queries,
          [&](uint64_t) {
            QueryFilter filter;
            filter.ledger = kLedger;
            filter.limit = kPage;
            filter.timestamp_min_ns = 2 + random.Below(options.accounts);
            return ledger_engine->QueryAccounts(filter, accounts);
          });
  Measure("transfers of the ledger, a page of 100 from a random time", options.queries,
          [&](uint64_t) {
            QueryFilter filter;
            filter.ledger = kLedger;
            filter.limit = kPage;
            filter.timestamp_min_ns = random_instant();
            return ledger_engine->QueryTransfers(filter, transfers);
          });
  Measure("a merchant's transfers (user_data_32), a page of 100, newest first", options.queries,
          [&](uint64_t) {
            QueryFilter filter;
            filter.user_data_32 = static_cast<uint32_t>(1 + random.Below(kMerchants));
            filter.limit = kPage;
            filter.reversed = true;
            filter.timestamp_max_ns = random_instant();
            return ledger_engine->QueryTransfers(filter, transfers);
          });
  Measure("transfers of a rare code (1 in 1,000, scanned), a page of 100",
          std::max<uint64_t>(1, options.queries / 100), [&](uint64_t) {
            QueryFilter filter;
            filter.ledger = kLedger;
            filter.code = 2;
            filter.limit = kPage;
            filter.timestamp_min_ns = random_instant();
            return ledger_engine->QueryTransfers(filter, transfers);
          });
  if (misses != 0) {
    std::fprintf(stderr, "%llu reference queries did not find exactly one record\n",
                 static_cast<unsigned long long>(misses));
    return 1;
  }
  return 0;
}
