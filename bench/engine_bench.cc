// Apply-path benchmarks: one thread applying batches of 8,190 transfers, as the sequencer will.
//
//   build/release/bench/engine_bench                        # all, at full scale
//   build/release/bench/engine_bench --benchmark_filter=Plain/10000
//
// Each benchmark reports transfers/s (items_per_second), ns per transfer, and the engine's
// memory per account and per transfer at the end of the run. docs/benchmarks.md records the
// figures and how to get instruction counts with callgrind.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench/workload.h"
#include "engine/engine.h"
#include "engine/shard.h"

namespace {

using ledger::bench::AccountIdOf;
using ledger::bench::CreateLedgerAndAccounts;
using ledger::bench::FillPlainBatch;
using ledger::bench::Random;

using namespace ledger;

constexpr size_t kBatchEvents = 8190;  // the industry benchmark's batch size
constexpr uint32_t kLedger = 1;

// A ledger with `account_count` unlimited accounts, tables sized for `transfer_count`.
std::unique_ptr<engine::Engine> MakeEngine(uint64_t account_count, uint64_t transfer_count,
                                           uint32_t shard_count = 1,
                                           const engine::ColdReader* cold = nullptr,
                                           uint64_t hot_transfers = 0,
                                           uint64_t change_feed_capacity = 0) {
  engine::EngineOptions options;
  options.shard_count = shard_count;
  options.change_feed_capacity = change_feed_capacity;
  options.cold = cold;
  options.hot_transfers = hot_transfers;
  options.accounts_capacity = account_count;
  options.transfers_capacity = transfer_count;
  options.accounts_max = account_count;
  options.transfers_max = transfer_count;
  auto ledger_engine = std::make_unique<engine::Engine>(options);
  CreateLedgerAndAccounts(*ledger_engine, kLedger, account_count);
  return ledger_engine;
}

// A field of /proc/self/smaps_rollup in MiB ("Rss", "AnonHugePages"), or -1.
double ProcessMemoryMib(const std::string& field) {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string line;
  while (std::getline(rollup, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024;
  }
  return -1;
}

// The machine's CPU time so far, from /proc/stat: all of it and the part stolen by the
// hypervisor (on a shared VM, time the shards did not get), in clock ticks.
struct CpuTicks {
  uint64_t total = 0;
  uint64_t stolen = 0;
};
CpuTicks ReadCpuTicks() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  uint64_t field[8] = {};  // user nice system idle iowait irq softirq steal
  stat >> cpu;
  for (uint64_t& value : field) stat >> value;
  CpuTicks ticks;
  for (uint64_t value : field) ticks.total += value;
  ticks.stolen = field[7];
  return ticks;
}

void ReportMemory(benchmark::State& state, const engine::Engine& ledger_engine) {
  state.counters["rss_MiB"] = ProcessMemoryMib("Rss");
  state.counters["huge_MiB"] = ProcessMemoryMib("AnonHugePages");
  const engine::EngineStats stats = ledger_engine.GetStats();
  const double accounts = static_cast<double>(stats.account_count);
  const double transfers = static_cast<double>(stats.transfer_count);
  state.counters["account_B"] =
      static_cast<double>(stats.account_record_bytes + stats.account_index_bytes) / accounts;
  state.counters["transfer_record_B"] =
      static_cast<double>(stats.transfer_record_bytes) / transfers;
  state.counters["transfer_index_B"] =
      static_cast<double>(stats.transfer_index_bytes + stats.history_bytes) / transfers;
  state.counters["query_index_B"] =
      static_cast<double>(stats.transfer_query_index_bytes) / transfers;
  state.counters["transfers"] = transfers;
}

// Applies state.max_iterations batches of kBatchEvents that `fill` writes (untimed), each
// followed by after_batch() (timed), and reports transfers/s and time per transfer. Every
// transfer must succeed.
template <typename Fill, typename AfterBatch>
void RunBatchesOn(benchmark::State& state, engine::Engine& ledger_engine, uint64_t account_count,
                  Fill&& fill, AfterBatch&& after_batch) {
  std::vector<Transfer> batch(kBatchEvents);
  std::vector<CreateTransferResult> results(kBatchEvents);
  uint64_t failures = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fill(account_count, std::span<Transfer>(batch));
    const uint64_t timestamp_ns = ledger_engine.last_timestamp_ns() + 1;
    state.ResumeTiming();
    ledger_engine.CreateTransfers(batch, timestamp_ns, results);
    after_batch();
    state.PauseTiming();
    for (CreateTransferResult result : results) failures += result != CreateTransferResult::kOk;
    state.ResumeTiming();
  }
  if (failures != 0) state.SkipWithError("a transfer failed");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchEvents));
  // Seconds per transfer, printed with an SI suffix ("250n" = 250 ns).
  state.counters["time_per_transfer"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatchEvents),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// RunBatchesOn an engine sized for every transfer, and its memory.
template <typename Fill>
void RunBatches(benchmark::State& state, Fill&& fill, uint64_t account_count) {
  const uint64_t transfer_count = static_cast<uint64_t>(state.max_iterations) * kBatchEvents;
  auto ledger_engine = MakeEngine(account_count, transfer_count);
  RunBatchesOn(state, *ledger_engine, account_count, fill, [] {});
  ReportMemory(state, *ledger_engine);
}

// A cold store that holds nothing the engine asks for: every id is new, so a run measures what
// the hot window itself costs (the export's copies, the eviction's index and list updates, a
// look in the store per new id), not a store's reads.
class EmptyColdStore : public engine::ColdReader {
 public:
  std::optional<engine::ColdTransfer> FindTransfer(const TransferId&, uint64_t) const override {
    return std::nullopt;
  }
  engine::ColdResolution FindResolution(const TransferId&, uint64_t) const override { return {}; }
  engine::ColdReversals FindReversals(const TransferId&, uint64_t,
                                      std::span<TransferId>) const override {
    return {};
  }
  size_t GetAccountTransfers(const AccountFilter&, std::span<Transfer>) const override { return 0; }
  size_t GetAccountBalances(const AccountFilter&, std::span<AccountBalance>) const override {
    return 0;
  }
  size_t QueryTransfers(const QueryFilter&, std::span<Transfer>) const override { return 0; }
};

// As BM_ApplyPlainTransfers with a hot window of 2 x range(1) batches: after each batch,
// everything booked is exported (copied out) and what is older than range(1) batches evicted,
// both timed, as a server with a cold store would do in steady state. Range: account count,
// batches kept (8: 65,520 transfers, the index in cache; 512: 4.2M, as a server's window).
void BM_ApplyWithHotWindow(benchmark::State& state) {
  const auto account_count = static_cast<uint64_t>(state.range(0));
  const auto window_batches = static_cast<uint64_t>(state.range(1));
  EmptyColdStore cold;
  auto ledger_engine = MakeEngine(account_count, kBatchEvents * 2 * window_batches, 1, &cold,
                                  kBatchEvents * 2 * window_batches);
  Random random{42};
  std::vector<uint64_t> batch_ends_ns;
  engine::ColdFacts facts;
  RunBatchesOn(
      state, *ledger_engine, account_count,
      [&](uint64_t accounts, std::span<Transfer> batch) {
        FillPlainBatch(random, accounts, kLedger, batch);
      },
      [&] {
        batch_ends_ns.push_back(ledger_engine->last_timestamp_ns() + 1);
        ledger_engine->ExportCold(batch_ends_ns.back(), facts);
        if (batch_ends_ns.size() > window_batches) {
          ledger_engine->EvictBefore(batch_ends_ns[batch_ends_ns.size() - 1 - window_batches]);
        }
      });
  state.counters["rss_MiB"] = ProcessMemoryMib("Rss");
  state.counters["hot_transfers"] = static_cast<double>(ledger_engine->hot_transfer_count());
}

// Plain transfers between uniformly random accounts, every id new (the index grows by one
// entry per transfer). Range: account count.
void BM_ApplyPlainTransfers(benchmark::State& state) {
  Random random{42};
  RunBatches(
      state,
      [&](uint64_t account_count, std::span<Transfer> batch) {
        FillPlainBatch(random, account_count, kLedger, batch);
      },
      static_cast<uint64_t>(state.range(0)));
}

// As BM_ApplyPlainTransfers, with what an orchestrator puts in the user data of each transfer:
// its own reference (user_data_128, on this transfer only) and a merchant among 1,000
// (user_data_32): two query index updates per transfer, one a new value, one a list append.
void BM_ApplyReferencedTransfers(benchmark::State& state) {
  Random random{42};
  RunBatches(
      state,
      [&](uint64_t account_count, std::span<Transfer> batch) {
        FillPlainBatch(random, account_count, kLedger, batch);
        for (Transfer& transfer : batch) {
          transfer.user_data_128 = UserData128{random.Next(), random.Next()};
          transfer.user_data_32 = static_cast<uint32_t>(1 + random.Below(1'000));
        }
      },
      static_cast<uint64_t>(state.range(0)));
}

// Gives each transfer accounts on one shard, or on two for cross_percent of them; `on_shard`
// lists each shard's account indexes.
void PlaceOnShards(Random& random, const std::vector<std::vector<uint64_t>>& on_shard,
                   uint64_t cross_percent, std::span<Transfer> batch) {
  const auto shard_count = static_cast<uint32_t>(on_shard.size());
  for (Transfer& transfer : batch) {
    const uint32_t debit_shard = static_cast<uint32_t>(random.Below(shard_count));
    uint32_t credit_shard = debit_shard;
    if (shard_count > 1 && random.Below(100) < cross_percent) {
      credit_shard =
          static_cast<uint32_t>((debit_shard + 1 + random.Below(shard_count - 1)) % shard_count);
    }
    const auto& debits = on_shard[debit_shard];
    const auto& credits = on_shard[credit_shard];
    const uint64_t debit = debits[random.Below(debits.size())];
    uint64_t credit = credits[random.Below(credits.size())];
    while (credit == debit) credit = credits[random.Below(credits.size())];
    transfer.debit_account_id = AccountIdOf(debit);
    transfer.credit_account_id = AccountIdOf(credit);
  }
}

// Plain transfers on a sharded engine (docs/shards.md), 10,000 accounts. Ranges: shards, and
// the percentage of transfers whose accounts are on two shards (the others keep both
// accounts on one shard, chosen uniformly). Each batch is also applied to a single-shard
// engine, in blocks of 8 after the sharded engine's, and `vs_1_shard` is that engine's time
// over the sharded one's: a ratio measured block by block, so a busy host slows both sides
// alike (the shards:1 row is the A/A check). The reported time is the sharded engine's.
// LEDGER_BENCH_BASELINE=0 leaves the single-shard engine out (bench/callgrind_sharded.sh).
void BM_ApplySharded(benchmark::State& state) {
  constexpr uint64_t kAccounts = 10'000;
  const uint32_t shard_count = static_cast<uint32_t>(state.range(0));
  const uint64_t cross_percent = static_cast<uint64_t>(state.range(1));
  std::vector<std::vector<uint64_t>> on_shard(shard_count);
  for (uint64_t index = 0; index < kAccounts; ++index) {
    on_shard[engine::ShardOf(AccountIdOf(index), shard_count)].push_back(index);
  }
  const uint64_t transfer_count = static_cast<uint64_t>(state.max_iterations) * kBatchEvents;
  auto sharded = MakeEngine(kAccounts, transfer_count, shard_count);
  const char* baseline = std::getenv("LEDGER_BENCH_BASELINE");
  const bool compare = baseline == nullptr || std::strcmp(baseline, "0") != 0;
  auto single = MakeEngine(kAccounts, compare ? transfer_count : 1, 1);
  // Batches are applied to the sharded engine as they come, then in blocks of kBlock to the
  // single-shard one: each engine sees its batches back to back, as under load, and both
  // share the host's moods over a block (a few tens of milliseconds).
  constexpr size_t kBlock = 8;
  std::vector<std::vector<Transfer>> block(kBlock, std::vector<Transfer>(kBatchEvents));
  size_t blocked = 0;
  std::vector<CreateTransferResult> results(kBatchEvents);
  Random random{11};
  const CpuTicks ticks_before = ReadCpuTicks();
  double sharded_seconds = 0;
  double single_seconds = 0;
  uint64_t failures = 0;
  const auto apply = [&](engine::Engine& target, std::span<const Transfer> batch) {
    const auto start = std::chrono::steady_clock::now();
    target.CreateTransfers(batch, target.last_timestamp_ns() + 1, results);
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    for (CreateTransferResult result : results) failures += result != CreateTransferResult::kOk;
    return seconds.count();
  };
  const auto apply_block_to_single = [&] {
    for (size_t i = 0; i < blocked && compare; ++i) single_seconds += apply(*single, block[i]);
    blocked = 0;
  };
  for (auto _ : state) {
    std::vector<Transfer>& batch = block[blocked++];
    FillPlainBatch(random, kAccounts, kLedger, batch);
    PlaceOnShards(random, on_shard, cross_percent, batch);
    const double seconds = apply(*sharded, batch);
    sharded_seconds += seconds;
    state.SetIterationTime(seconds);
    if (blocked == kBlock) apply_block_to_single();
  }
  apply_block_to_single();
  if (failures != 0) state.SkipWithError("a transfer failed");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatchEvents));
  if (compare) state.counters["vs_1_shard"] = single_seconds / sharded_seconds;
  // Share of the machine's CPU time the hypervisor took meanwhile: the ratio above holds for
  // "both cores free" only when this is near 0.
  const CpuTicks ticks_after = ReadCpuTicks();
  state.counters["steal_percent"] =
      100.0 * static_cast<double>(ticks_after.stolen - ticks_before.stolen) /
      static_cast<double>(std::max<uint64_t>(1, ticks_after.total - ticks_before.total));
  ReportMemory(state, *sharded);
}

// Reservations then their posts, half the batch each: the side maps' cost.
void BM_ApplyPendingThenPost(benchmark::State& state) {
  Random random{7};
  RunBatches(
      state,
      [&](uint64_t account_count, std::span<Transfer> batch) {
        FillPlainBatch(random, account_count, kLedger, batch);
        const size_t half = batch.size() / 2;
        for (size_t i = 0; i < half; ++i) {
          batch[i].flags = transfer_flags::kPending;
          Transfer& post = batch[half + i];
          post = Transfer{};
          post.id = TransferId{random.Next(), random.Next()};
          post.pending_id = batch[i].id;
          post.amount = Amount::Max();
          post.flags = transfer_flags::kPostPending;
        }
      },
      static_cast<uint64_t>(state.range(0)));
}

// An engine with `batch_count` batches of plain transfers booked among `account_count`.
std::unique_ptr<engine::Engine> MakeBookedEngine(uint64_t account_count, uint64_t batch_count,
                                                 uint64_t change_feed_capacity = 0) {
  auto ledger_engine =
      MakeEngine(account_count, batch_count * kBatchEvents, 1, nullptr, 0, change_feed_capacity);
  std::vector<Transfer> batch(kBatchEvents);
  std::vector<CreateTransferResult> results(kBatchEvents);
  Random random{42};
  for (uint64_t i = 0; i < batch_count; ++i) {
    FillPlainBatch(random, account_count, kLedger, batch);
    ledger_engine->CreateTransfers(batch, ledger_engine->last_timestamp_ns() + 1, results);
  }
  return ledger_engine;
}

// The state hash (XXH3-128 streamed over every record, 8 to 152 bytes an update) of a ledger
// of 10,000 accounts and 1,000,000 transfers: what replay and verification compute.
void BM_StateHash(benchmark::State& state) {
  constexpr uint64_t kAccounts = 10'000;
  constexpr uint64_t kBatches = 122;
  auto ledger_engine = MakeBookedEngine(kAccounts, kBatches);
  for (auto _ : state) benchmark::DoNotOptimize(ledger_engine->ComputeStateHash());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatches * kBatchEvents));
}

// Batches per run: 1,222 x 8,190 = 10,008,180 transfers (at least 10 million, as the issue
// asks). LEDGER_BENCH_BATCHES overrides it, e.g. for a short run under callgrind.
int64_t BatchCount(int64_t full_scale) {
  const char* batches = std::getenv("LEDGER_BENCH_BATCHES");
  return batches == nullptr ? full_scale : std::max<int64_t>(1, std::atoll(batches));
}

// Restore of a snapshot of 10,000 accounts and 977 batches (8,001,630 transfers, the hot
// window bench/history_run.sh serves): the sections as a snapshot file holds them, restored
// into a fresh engine, timed alone; what recovery spends before it replays the log. With
// ledgerd's default change feed: its window of 1M changes is checked against the state.
void BM_Restore(benchmark::State& state) {
  constexpr uint64_t kAccounts = 10'000;
  const auto batch_count = static_cast<uint64_t>(BatchCount(977));
  constexpr uint64_t kFeedRetention = uint64_t{1} << 20;  // ledgerd's --feed-retention
  auto source = MakeBookedEngine(kAccounts, batch_count, kFeedRetention);
  const std::unique_ptr<engine::EngineSnapshot> image = source->CaptureSnapshot();
  // As a server restores: its tables sized by its options (ledgerd's default, 1M transfers),
  // not by the snapshot's, and grown as the restore fills them.
  engine::EngineOptions options;
  options.accounts_capacity = options.accounts_max = kAccounts;
  options.transfers_capacity = uint64_t{1} << 20;
  options.transfers_max = batch_count * kBatchEvents;
  options.change_feed_capacity = kFeedRetention;
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<engine::Engine>> restored =
        engine::Engine::Restore(options, image->sections());
    if (!restored.ok()) {
      state.SkipWithError(std::string(restored.status().message()).c_str());
      break;
    }
    state.PauseTiming();
    restored->reset();  // its pages go back while untimed
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch_count * kBatchEvents));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("BM_ApplyPlainTransfers", BM_ApplyPlainTransfers)
      ->Arg(10'000)
      ->Arg(1'000'000)
      ->Iterations(BatchCount(1222))
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_ApplyWithHotWindow", BM_ApplyWithHotWindow)
      ->Args({10'000, 8})
      ->Args({1'000'000, 8})
      ->Args({10'000, 512})
      ->Iterations(BatchCount(1222))
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_ApplyReferencedTransfers", BM_ApplyReferencedTransfers)
      ->Arg(10'000)
      ->Arg(1'000'000)
      ->Iterations(BatchCount(1222))
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_ApplySharded", BM_ApplySharded)
      ->ArgNames({"shards", "cross_percent"})
      ->Args({1, 0})
      ->Args({2, 0})
      ->Args({2, 10})
      ->Args({2, 50})
      ->Args({4, 0})
      ->Args({4, 10})
      ->Args({4, 50})
      ->Iterations(BatchCount(244))
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_ApplyPendingThenPost", BM_ApplyPendingThenPost)
      ->Arg(10'000)
      ->Iterations(BatchCount(244))
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_StateHash", BM_StateHash)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Restore", BM_Restore)
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
