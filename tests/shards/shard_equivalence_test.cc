// Sharding's oracle (docs/shards.md): the same log applied with 1, 2, 3, 4 and 8 shards, on one
// thread per shard or fewer, gives identical results for every event and an identical state: the
// state hash, every account, every transfer, every history list, the change feed and the trial
// balances.
//
// Logs come from the property tests' generator (tests/engine/property_generator.h): small id
// spaces, so accounts are hot and ids collide; chains across shards (some left open or failing
// half-way); reservations posted, voided and expired on other shards' timelines; balancing,
// closing and reversing transfers; retries; invalid events. One mix also writes batches of up to
// 300 events, so shards work through long stretches side by side.
//
// Replay: LEDGER_SEED=<printed seed> LEDGER_SHARD_LOGS=1 ./shard_test. Soak: LEDGER_SHARD_LOGS.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "engine/shard.h"
#include "engine/snapshot.h"
#include "engine/types.h"
#include "tests/engine/memory_cold_store.h"
#include "tests/engine/property_generator.h"
#include "tests/engine/reference_model.h"

namespace ledger::testing {
namespace {

using engine::Engine;
using engine::EngineOptions;

// Shard counts and the threads running them: one thread per shard, several shards per thread,
// and many shards on one thread (the single-shard loop on sharded tables). All but one keep
// their threads on every batch; 4 shards on 2 threads runs a batch mostly between threads in
// order on one thread, as a server would (EngineOptions::in_order_cross_percent).
struct Config {
  uint32_t shards, threads;
  uint32_t in_order_cross_percent = 101;  // never
};
constexpr Config kConfigs[] = {{1, 1}, {2, 2}, {3, 3}, {4, 2, 30}, {8, 8}, {8, 1}};

std::ostream& operator<<(std::ostream& out, const Config& config) {
  return out << config.shards << " shards on " << config.threads << " threads";
}
constexpr uint64_t kBatchesPerLog = 40;
constexpr uint64_t kChangeFeedCapacity = 64;

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 0);
}

// Logs per test (each applied on six engines): a thousand by default; the test presets set
// fewer (CMakePresets.json: 300 in release, 50 under ASan, 30 under TSan), to keep the suite
// within CI's half hour on two cores. Soak: LEDGER_SHARD_LOGS=N.
// Under ThreadSanitizer (the slowest build: 207 s of CI for 1,000 logs) a fifth of them: the
// shards' threads hand work over the same way in every log; the release and ASan builds run
// them all.
#if defined(__SANITIZE_THREAD__)
constexpr uint64_t kLogsDefault = 200;
#else
constexpr uint64_t kLogsDefault = 1000;
#endif
uint64_t LogCount() { return EnvU64("LEDGER_SHARD_LOGS", kLogsDefault); }

uint64_t Seed() {
  std::random_device entropy;
  const uint64_t seed = EnvU64("LEDGER_SEED", (uint64_t{entropy()} << 32) | entropy());
  std::cout << "[   SEED   ] LEDGER_SEED=" << seed << std::endl;
  return seed;
}

EngineOptions Options(Config config) {
  EngineOptions options;
  options.accounts_capacity = 16;  // small: the tables grow and rehash during a log
  options.transfers_capacity = 16;
  options.accounts_max = 1 << 16;  // small reservations: an engine per shard count per log
  options.transfers_max = 1 << 18;
  options.change_feed_capacity = kChangeFeedCapacity;
  options.shard_count = config.shards;
  options.shard_threads = config.threads;
  options.in_order_cross_percent = config.in_order_cross_percent;
  return options;
}

Mix MixFor(uint64_t log) {
  switch (log % 5) {
    case 0:
      return MixedWorkload();
    case 1:
      return ReservationHeavyWorkload();
    case 2:
      return ChainHeavyWorkload();
    case 3:
      return OverflowWorkload();
    default: {
      Mix mix = MixedWorkload();
      mix.batch_events_max = 300;
      mix.chain_batch_percent = 10;
      return mix;
    }
  }
}

template <typename T>
bool SameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// One batch on one engine; the result codes as bytes.
std::vector<uint8_t> ApplyBatch(Engine& engine, const Batch& batch) {
  std::vector<uint8_t> codes;
  auto collect = [&](const auto& results) {
    for (auto result : results) codes.push_back(static_cast<uint8_t>(result));
  };
  switch (batch.type) {
    case Batch::Type::kLedgers: {
      std::vector<CreateLedgerResult> results(batch.ledgers.size());
      engine.CreateLedgers(batch.ledgers, batch.timestamp_ns, results);
      collect(results);
      break;
    }
    case Batch::Type::kAccounts: {
      std::vector<CreateAccountResult> results(batch.accounts.size());
      engine.CreateAccounts(batch.accounts, batch.timestamp_ns, results);
      collect(results);
      break;
    }
    case Batch::Type::kTransfers: {
      std::vector<CreateTransferResult> results(batch.transfers.size());
      engine.CreateTransfers(batch.transfers, batch.timestamp_ns, results);
      collect(results);
      break;
    }
  }
  return codes;
}

// The model only steers the generator towards records that exist.
void ApplyToModel(ReferenceModel& model, const Batch& batch) {
  switch (batch.type) {
    case Batch::Type::kLedgers:
      model.CreateLedgers(batch.ledgers, batch.timestamp_ns);
      break;
    case Batch::Type::kAccounts:
      model.CreateAccounts(batch.accounts, batch.timestamp_ns);
      break;
    case Batch::Type::kTransfers:
      model.CreateTransfers(batch.transfers, batch.timestamp_ns);
      break;
  }
}

// The ids a log has named, to look everything up by.
struct Named {
  std::set<u128> accounts;
  std::set<u128> transfers;
  std::set<uint32_t> ledgers;

  void Add(const Batch& batch) {
    for (const Ledger& ledger : batch.ledgers) ledgers.insert(ledger.id);
    for (const Account& account : batch.accounts) accounts.insert(account.id.Get());
    for (const Transfer& transfer : batch.transfers) {
      transfers.insert(transfer.id.Get());
      transfers.insert(transfer.pending_id.Get());
      transfers.insert(transfer.reverses_id.Get());
    }
  }
};

// One seeded log, a batch at a time, with every id it has named.
class Log {
 public:
  Log(uint64_t seed, uint64_t index)
      : generator_(seed, MixFor(index), model_), batches_(generator_.Setup()) {}
  bool done() const { return next_ == batch_count(); }
  uint64_t index() const { return next_ - 1; }  // of the batch Next returned last
  const Named& named() const { return named_; }
  const Batch& Next() {
    if (next_ >= batches_.size()) batches_.push_back(generator_.Next(model_.last_timestamp_ns()));
    const Batch& batch = batches_[next_++];
    ApplyToModel(model_, batch);
    named_.Add(batch);
    return batch;
  }
  // A batch after the log, for engines restored from its end.
  Batch After(uint64_t last_timestamp_ns) {
    Batch batch = generator_.Next(last_timestamp_ns);
    named_.Add(batch);
    return batch;
  }

 private:
  uint64_t batch_count() const { return kSetupBatches + kBatchesPerLog; }
  static constexpr uint64_t kSetupBatches = 2;  // Generator::Setup: ledgers, then accounts

  ReferenceModel model_;  // steers the generator towards records that exist
  Generator generator_;
  std::vector<Batch> batches_;
  Named named_;
  uint64_t next_ = 0;
};

// Everything a client can observe, compared between the single-shard engine and another.
::testing::AssertionResult SameState(const Engine& one, const Engine& other, const Named& named) {
  if (one.ComputeStateHash() != other.ComputeStateHash()) {
    return ::testing::AssertionFailure() << "state hashes differ";
  }
  if (one.last_timestamp_ns() != other.last_timestamp_ns() ||
      one.change_sequence_next() != other.change_sequence_next()) {
    return ::testing::AssertionFailure() << "timestamps or change counters differ";
  }
  for (uint32_t ledger : named.ledgers) {
    if (!SameBytes(one.GetTrialBalance(ledger), other.GetTrialBalance(ledger))) {
      return ::testing::AssertionFailure() << "trial balance of ledger " << ledger << " differs";
    }
  }
  std::vector<Transfer> one_list(64), other_list(64);
  for (u128 id : named.accounts) {
    const auto a = one.LookupAccount(AccountId::From(id));
    const auto b = other.LookupAccount(AccountId::From(id));
    if (a.has_value() != b.has_value() || (a && !SameBytes(*a, *b))) {
      return ::testing::AssertionFailure() << "account " << static_cast<uint64_t>(id) << " differs";
    }
    AccountFilter filter{};
    filter.account_id = AccountId::From(id);
    filter.flags = filter_flags::kDebits | filter_flags::kCredits;
    const size_t count = one.GetAccountTransfers(filter, one_list);
    if (count != other.GetAccountTransfers(filter, other_list) ||
        std::memcmp(one_list.data(), other_list.data(), count * sizeof(Transfer)) != 0) {
      return ::testing::AssertionFailure()
             << "history of account " << static_cast<uint64_t>(id) << " differs";
    }
  }
  for (u128 id : named.transfers) {
    const TransferId transfer_id = TransferId::From(id);
    const auto a = one.LookupTransfer(transfer_id);
    const auto b = other.LookupTransfer(transfer_id);
    if (a.has_value() != b.has_value() || (a && !SameBytes(*a, *b)) ||
        one.GetPendingStatus(transfer_id) != other.GetPendingStatus(transfer_id) ||
        one.GetPostedAmount(transfer_id) != other.GetPostedAmount(transfer_id) ||
        one.GetReversedAmount(transfer_id) != other.GetReversedAmount(transfer_id)) {
      return ::testing::AssertionFailure()
             << "transfer " << static_cast<uint64_t>(id) << " differs";
    }
  }
  // Ledger-wide queries: by each ledger, by shared and single-record user data, both orders,
  // a page of each (the shards' matches merged by timestamp).
  std::vector<QueryFilter> queries;
  for (uint32_t ledger : named.ledgers) queries.push_back({.ledger = ledger});
  for (uint64_t value = 1; value <= 2; ++value) {
    queries.push_back({.user_data_128 = UserData128::From(value)});
    queries.push_back({.user_data_64 = value, .code = 2});
  }
  if (!named.transfers.empty()) {
    queries.push_back({.user_data_128 = UserData128::From(*named.transfers.rbegin())});
  }
  std::vector<Account> one_accounts(64), other_accounts(64);
  for (QueryFilter query : queries) {
    for (bool reversed : {false, true}) {
      query.reversed = reversed;
      const size_t transfer_count = one.QueryTransfers(query, one_list);
      const size_t account_count = one.QueryAccounts(query, one_accounts);
      if (transfer_count != other.QueryTransfers(query, other_list) ||
          std::memcmp(one_list.data(), other_list.data(), transfer_count * sizeof(Transfer)) != 0 ||
          account_count != other.QueryAccounts(query, other_accounts) ||
          std::memcmp(one_accounts.data(), other_accounts.data(),
                      account_count * sizeof(Account)) != 0) {
        return ::testing::AssertionFailure() << "a ledger-wide query differs";
      }
    }
  }
  std::vector<Change> one_changes(kChangeFeedCapacity), other_changes(kChangeFeedCapacity);
  const uint64_t oldest = one.change_sequence_oldest();
  const size_t change_count = one.GetChanges(oldest, one_changes);
  if (oldest != other.change_sequence_oldest() ||
      change_count != other.GetChanges(oldest, other_changes) ||
      std::memcmp(one_changes.data(), other_changes.data(), change_count * sizeof(Change)) != 0) {
    return ::testing::AssertionFailure() << "change feeds differ";
  }
  return ::testing::AssertionSuccess();
}

TEST(ShardEquivalence, RandomLogsGiveIdenticalResultsAndStateOnEveryShardCount) {
  const uint64_t seed = Seed();
  for (uint64_t number = 0; number < LogCount(); ++number) {
    const uint64_t log_seed = seed + number;
    Log log(log_seed, number);
    std::vector<std::unique_ptr<Engine>> engines;
    for (const Config& config : kConfigs) {
      engines.push_back(std::make_unique<Engine>(Options(config)));
    }
    while (!log.done()) {
      const Batch& batch = log.Next();
      const std::vector<uint8_t> expected = ApplyBatch(*engines[0], batch);
      for (size_t e = 1; e < engines.size(); ++e) {
        ASSERT_EQ(ApplyBatch(*engines[e], batch), expected)
            << kConfigs[e] << ", batch " << log.index() << "; replay with LEDGER_SEED=" << log_seed
            << " LEDGER_SHARD_LOGS=1";
      }
      if (log.index() % 10 == 9 || log.done()) {
        for (size_t e = 1; e < engines.size(); ++e) {
          ASSERT_TRUE(SameState(*engines[0], *engines[e], log.named()))
              << kConfigs[e] << ", after batch " << log.index()
              << "; replay with LEDGER_SEED=" << log_seed << " LEDGER_SHARD_LOGS=1";
        }
      }
    }
  }
}

// History beyond memory (engine/cold.h): on every shard count, an engine that keeps only the
// last two batches' transfers in memory and the rest in a cold store answers exactly as the
// all-hot single-shard engine does. A quarter of the logs: each runs twelve engines.
TEST(ShardEquivalence, TinyHotWindowGivesIdenticalResultsAndStateOnEveryShardCount) {
  constexpr uint64_t kHotTransfers = 4096;  // rings that hold two batches of 300 and the next
  constexpr size_t kWindowBatches = 2;
  const uint64_t seed = Seed();
  for (uint64_t number = 0; number < std::max<uint64_t>(1, LogCount() / 4); ++number) {
    const uint64_t log_seed = seed + number;
    Log log(log_seed, number);
    Engine all_hot(Options(kConfigs[0]));
    std::vector<std::unique_ptr<engine::testing::MemoryColdStore>> stores;
    std::vector<std::unique_ptr<Engine>> engines;
    for (const Config& config : kConfigs) {
      stores.push_back(std::make_unique<engine::testing::MemoryColdStore>());
      EngineOptions options = Options(config);
      options.hot_transfers = kHotTransfers;
      options.cold = stores.back().get();
      engines.push_back(std::make_unique<Engine>(options));
    }
    std::vector<uint64_t> batch_ends_ns;
    while (!log.done()) {
      const Batch& batch = log.Next();
      const std::vector<uint8_t> expected = ApplyBatch(all_hot, batch);
      batch_ends_ns.push_back(all_hot.last_timestamp_ns() + 1);
      const uint64_t boundary_ns = batch_ends_ns.size() > kWindowBatches
                                       ? batch_ends_ns[batch_ends_ns.size() - 1 - kWindowBatches]
                                       : 0;
      for (size_t e = 0; e < engines.size(); ++e) {
        ASSERT_EQ(ApplyBatch(*engines[e], batch), expected)
            << kConfigs[e] << " with a cold store, batch " << log.index()
            << "; replay with LEDGER_SEED=" << log_seed << " LEDGER_SHARD_LOGS=4";
        engine::ColdFacts facts;
        engines[e]->ExportCold(std::max(boundary_ns, engines[e]->exported_before_ns()), facts);
        stores[e]->Add(facts);
        engines[e]->EvictBefore(std::max(boundary_ns, engines[e]->cold_before_ns()));
      }
      if (log.index() % 10 == 9 || log.done()) {
        for (size_t e = 0; e < engines.size(); ++e) {
          ASSERT_TRUE(SameState(all_hot, *engines[e], log.named()))
              << kConfigs[e] << " with a cold store, after batch " << log.index()
              << "; replay with LEDGER_SEED=" << log_seed << " LEDGER_SHARD_LOGS=4";
        }
      }
    }
    // Each engine's snapshot (its window) with its store restores onto the next shard count.
    for (size_t e = 0; e < engines.size(); ++e) {
      const Config& other = kConfigs[(e + 1) % engines.size()];
      EngineOptions options = Options(other);
      options.hot_transfers = kHotTransfers;
      options.cold = stores[e].get();
      const auto image = engines[e]->CaptureSnapshot();
      auto restored = Engine::Restore(options, image->sections());
      ASSERT_TRUE(restored.ok()) << restored.status() << "; " << kConfigs[e] << " onto " << other
                                 << "; replay with LEDGER_SEED=" << log_seed;
      ASSERT_TRUE(SameState(all_hot, **restored, log.named()))
          << kConfigs[e] << " restored onto " << other << "; replay with LEDGER_SEED=" << log_seed;
    }
  }
}

// A snapshot is in creation order whatever the shard count, so it restores onto any count.
TEST(ShardEquivalence, SnapshotTakenWithSomeShardsRestoresOntoAnyOther) {
  const uint64_t seed = Seed();
  for (uint64_t number = 0; number < std::max<uint64_t>(1, LogCount() / 20); ++number) {
    Log log(seed + number, number);
    const Config from = kConfigs[number % std::size(kConfigs)];
    Engine source(Options(from));
    while (!log.done()) ApplyBatch(source, log.Next());
    const std::unique_ptr<engine::EngineSnapshot> image = source.CaptureSnapshot();
    // Streamed as the log writes it (merging the shards' transfers on the fly) and merged in
    // memory: the same sections, byte for byte.
    std::vector<std::pair<engine::SnapshotSectionKind, std::vector<std::byte>>> streamed;
    ASSERT_TRUE(image
                    ->Stream(
                        [&](engine::SnapshotSectionKind kind, uint32_t, uint64_t size_bytes) {
                          streamed.push_back({kind, {}});
                          streamed.back().second.reserve(size_bytes);
                          return absl::OkStatus();
                        },
                        [&](std::span<const std::byte> bytes) {
                          streamed.back().second.insert(streamed.back().second.end(), bytes.begin(),
                                                        bytes.end());
                          return absl::OkStatus();
                        })
                    .ok());
    ASSERT_EQ(streamed.size(), image->sections().size());
    for (size_t i = 0; i < streamed.size(); ++i) {
      const engine::SnapshotSection& section = image->sections()[i];
      ASSERT_EQ(streamed[i].first, section.kind);
      ASSERT_TRUE(std::equal(streamed[i].second.begin(), streamed[i].second.end(),
                             section.bytes.begin(), section.bytes.end()))
          << "section " << static_cast<int>(section.kind) << " from " << from;
    }
    for (const Config& to : kConfigs) {
      auto restored = Engine::Restore(Options(to), image->sections());
      ASSERT_TRUE(restored.ok()) << restored.status() << " from " << from << " to " << to
                                 << ", LEDGER_SEED=" << seed + number;
      ASSERT_TRUE(SameState(source, **restored, log.named()))
          << "from " << from << " to " << to << ", LEDGER_SEED=" << seed + number;
    }
    // And restored engines go on alike.
    auto one = Engine::Restore(Options(kConfigs[0]), image->sections());
    auto many =
        Engine::Restore(Options(kConfigs[(number + 1) % std::size(kConfigs)]), image->sections());
    ASSERT_TRUE(one.ok() && many.ok());
    for (int i = 0; i < 5; ++i) {
      const Batch next = log.After((*one)->last_timestamp_ns());
      ASSERT_EQ(ApplyBatch(**one, next), ApplyBatch(**many, next))
          << "LEDGER_SEED=" << seed + number;
    }
    ASSERT_TRUE(SameState(**one, **many, log.named())) << "LEDGER_SEED=" << seed + number;
  }
}

// Per-shard hashes: equal for the same log on the same shard count, and a divergence shows in
// exactly the shards it touched (a transfer's two accounts' shards; its record lives on the
// debit account's).
TEST(ShardEquivalence, ShardHashesTellWhichShardsDiverge) {
  constexpr uint32_t kShards = 4;
  constexpr uint64_t kAccounts = 64;
  const auto account_id = [](uint64_t index) { return AccountId::From(u128{index} + 1); };
  std::vector<std::unique_ptr<Engine>> engines;
  for (int copy = 0; copy < 2; ++copy) {
    engines.push_back(std::make_unique<Engine>(Options({kShards, 2})));
    Ledger ledger{};
    ledger.id = 1;
    std::memcpy(ledger.asset_code, "USD", 3);
    CreateLedgerResult ledger_result;
    engines.back()->CreateLedgers({&ledger, 1}, 1, {&ledger_result, 1});
    std::vector<Account> accounts(kAccounts);
    for (uint64_t i = 0; i < kAccounts; ++i) {
      accounts[i].id = account_id(i);
      accounts[i].ledger = 1;
      accounts[i].code = 1;
    }
    std::vector<CreateAccountResult> results(kAccounts);
    engines.back()->CreateAccounts(accounts, engines.back()->last_timestamp_ns() + 1, results);
  }
  uint64_t next_id = 1;
  const auto transfer = [&](uint64_t debit, uint64_t credit) {
    Transfer event{};
    event.id = TransferId::From(next_id++);
    event.debit_account_id = account_id(debit);
    event.credit_account_id = account_id(credit);
    event.amount = Amount::From(7);
    event.ledger = 1;
    event.code = 1;
    return event;
  };
  std::vector<Transfer> batch;
  for (uint64_t i = 0; i < 200; ++i)
    batch.push_back(transfer(i % kAccounts, (i * 7 + 1) % kAccounts));
  for (auto& ledger_engine : engines) {
    std::vector<CreateTransferResult> results(batch.size());
    ledger_engine->CreateTransfers(batch, ledger_engine->last_timestamp_ns() + 1, results);
  }
  ASSERT_EQ(engines[0]->ComputeShardStateHashes(), engines[1]->ComputeShardStateHashes());
  ASSERT_EQ(engines[0]->ComputeShardStateHashes().size(), kShards);

  // One more transfer on the first engine only, between accounts on two different shards.
  uint64_t debit = 0;
  uint64_t credit = 1;
  while (engine::ShardOf(account_id(credit), kShards) ==
         engine::ShardOf(account_id(debit), kShards)) {
    ++credit;
  }
  const Transfer extra = transfer(debit, credit);
  CreateTransferResult result;
  engines[0]->CreateTransfers({&extra, 1}, engines[0]->last_timestamp_ns() + 1, {&result, 1});
  ASSERT_EQ(result, CreateTransferResult::kOk);
  const std::vector<engine::StateHash> diverged = engines[0]->ComputeShardStateHashes();
  const std::vector<engine::StateHash> same = engines[1]->ComputeShardStateHashes();
  for (uint32_t shard = 0; shard < kShards; ++shard) {
    const bool touched = shard == engine::ShardOf(account_id(debit), kShards) ||
                         shard == engine::ShardOf(account_id(credit), kShards);
    EXPECT_EQ(diverged[shard] != same[shard], touched) << "shard " << shard;
  }
}

}  // namespace
}  // namespace ledger::testing
