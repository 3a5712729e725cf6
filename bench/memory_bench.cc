// Memory at scale: builds a ledger of --accounts accounts, applies --transfers plain transfers
// between random accounts (every id new, so the id index keeps every one for deduplication),
// and reports the engine's bytes per account and per transfer, the process's resident memory
// and the apply rate. Then checks that sampled transfers are still found by id, deduplicated
// on retry, and listed in their accounts' histories.
//
//   build/release/bench/memory_bench --accounts 10000000 --transfers 100000000 --shards 2
//
// Defaults are small (100k accounts, 1M transfers) so a plain run is quick; the full scale
// needs about 20 GB (docs/benchmarks.md, "Memory at 10 million accounts").
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/workload.h"
#include "engine/engine.h"

namespace {

using namespace ledger;
using ledger::bench::CreateLedgerAndAccounts;
using ledger::bench::FillPlainBatch;
using ledger::bench::Random;

constexpr size_t kBatchEvents = 8190;
constexpr uint32_t kLedger = 1;
constexpr size_t kSamples = 64;  // transfers checked at the end, spread over the run

struct Options {
  uint64_t accounts = 100'000;
  uint64_t transfers = 1'000'000;
  uint64_t shards = 1;
};

bool Parse(int argc, char** argv, Options& options) {
  const ledger::bench::NumberFlag flags[] = {{"--accounts", &options.accounts, 2, UINT64_MAX},
                                             {"--transfers", &options.transfers, 1, UINT64_MAX},
                                             {"--shards", &options.shards, 1, 16}};
  return ledger::bench::ParseNumberFlags(argc, argv, flags);
}

// A field of /proc/self/smaps_rollup in GiB ("Rss"), or -1.
double ProcessMemoryGib(const std::string& field) {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stod(line.substr(field.size() + 1)) / (1024.0 * 1024.0);
    }
  }
  return -1;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The sampled transfers: found by id, a retry reports kExists and stores nothing, and each is
// in its debit account's history.
int CheckSamples(engine::Engine& ledger_engine, const std::vector<Transfer>& samples) {
  int problems = 0;
  std::vector<Transfer> history(1);
  for (const Transfer& sample : samples) {
    const std::optional<Transfer> stored = ledger_engine.LookupTransfer(sample.id);
    if (!stored || stored->amount != sample.amount) ++problems;
    CreateTransferResult result;
    const uint64_t before = ledger_engine.GetStats().transfer_count;
    ledger_engine.CreateTransfers({&sample, 1}, ledger_engine.last_timestamp_ns() + 1,
                                  {&result, 1});
    if (result != CreateTransferResult::kExists ||
        ledger_engine.GetStats().transfer_count != before) {
      ++problems;
    }
    AccountFilter filter;
    filter.account_id = sample.debit_account_id;
    filter.flags = filter_flags::kDebits;
    filter.timestamp_min_ns = stored ? stored->timestamp_ns : 0;
    filter.timestamp_max_ns = stored ? stored->timestamp_ns : 0;
    filter.limit = 1;
    if (ledger_engine.GetAccountTransfers(filter, history) != 1 || history[0].id != sample.id) {
      ++problems;
    }
  }
  return problems;
}

std::unique_ptr<engine::Engine> CommitEngine(const Options& options) {
  engine::EngineOptions engine_options;
  engine_options.accounts_capacity = options.accounts;
  engine_options.transfers_capacity = options.transfers;
  engine_options.accounts_max = options.accounts;
  engine_options.transfers_max = options.transfers + kSamples;  // the retries are looked up
  engine_options.shard_count = static_cast<uint32_t>(options.shards);
  const auto start = std::chrono::steady_clock::now();
  auto ledger_engine = std::make_unique<engine::Engine>(engine_options);
  std::printf(
      "engine committed for %llu accounts, %llu transfers, %u shards: %.1f s, rss %.2f GiB\n",
      static_cast<unsigned long long>(options.accounts),
      static_cast<unsigned long long>(options.transfers), static_cast<unsigned>(options.shards),
      SecondsSince(start), ProcessMemoryGib("Rss"));
  return ledger_engine;
}

struct Applied {
  std::vector<Transfer> samples;  // spread over the run, looked up again at the end
  uint64_t failures = 0;
  double apply_seconds = 0;
};

Applied ApplyTransfers(engine::Engine& ledger_engine, const Options& options) {
  Random random{2026};
  std::vector<Transfer> batch(kBatchEvents);
  std::vector<CreateTransferResult> results(kBatchEvents);
  Applied applied;
  const uint64_t sample_every = std::max<uint64_t>(1, options.transfers / kSamples);
  for (uint64_t done = 0; done < options.transfers;) {
    const size_t count = std::min<uint64_t>(kBatchEvents, options.transfers - done);
    const std::span<Transfer> events(batch.data(), count);
    FillPlainBatch(random, options.accounts, kLedger, events);
    const auto start = std::chrono::steady_clock::now();
    ledger_engine.CreateTransfers(events, ledger_engine.last_timestamp_ns() + 1,
                                  {results.data(), count});
    applied.apply_seconds += SecondsSince(start);
    for (size_t i = 0; i < count; ++i) {
      applied.failures += results[i] != CreateTransferResult::kOk;
      if ((done + i) % sample_every == 0 && applied.samples.size() < kSamples) {
        applied.samples.push_back(events[i]);
      }
    }
    done += count;
  }
  return applied;
}

void PrintMemory(const engine::EngineStats& stats) {
  const double accounts = static_cast<double>(stats.account_count);
  const double transfers = static_cast<double>(stats.transfer_count);
  std::printf(
      "bytes per account: %.1f (record %.1f + index %.1f)\n",
      static_cast<double>(stats.account_record_bytes + stats.account_index_bytes) / accounts,
      static_cast<double>(stats.account_record_bytes) / accounts,
      static_cast<double>(stats.account_index_bytes) / accounts);
  std::printf("bytes per transfer: %.1f (record %.1f + id index %.1f + history %.1f)\n",
              static_cast<double>(stats.transfer_record_bytes + stats.transfer_index_bytes +
                                  stats.history_bytes) /
                  transfers,
              static_cast<double>(stats.transfer_record_bytes) / transfers,
              static_cast<double>(stats.transfer_index_bytes) / transfers,
              static_cast<double>(stats.history_bytes) / transfers);
  std::printf("engine total: %.2f GiB; process rss: %.2f GiB\n",
              static_cast<double>(stats.account_record_bytes + stats.account_index_bytes +
                                  stats.transfer_record_bytes + stats.transfer_index_bytes +
                                  stats.history_bytes + stats.pending_bytes + stats.other_bytes +
                                  stats.change_feed_bytes) /
                  (1024.0 * 1024.0 * 1024.0),
              ProcessMemoryGib("Rss"));
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!Parse(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: memory_bench [--accounts N (>= 2)] [--transfers N] [--shards 1..16]\n");
    return 2;
  }
  std::unique_ptr<engine::Engine> ledger_engine = CommitEngine(options);
  const auto start = std::chrono::steady_clock::now();
  CreateLedgerAndAccounts(*ledger_engine, kLedger, options.accounts);
  std::printf("accounts created: %.1f s\n", SecondsSince(start));

  const Applied applied = ApplyTransfers(*ledger_engine, options);
  const engine::EngineStats stats = ledger_engine->GetStats();
  std::printf("transfers applied: %.1f s (%.2f M/s), %llu failed\n", applied.apply_seconds,
              static_cast<double>(stats.transfer_count) / applied.apply_seconds / 1e6,
              static_cast<unsigned long long>(applied.failures));
  PrintMemory(stats);
  const int problems = CheckSamples(*ledger_engine, applied.samples);
  std::printf("%zu sampled transfers found by id, deduplicated and in their histories: %s\n",
              applied.samples.size(), problems == 0 ? "ok" : "FAILED");
  return applied.failures == 0 && problems == 0 ? 0 : 1;
}
