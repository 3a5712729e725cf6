// The benchmarks' shared workload: a fast generator and plain transfers between uniformly
// random accounts, every id new (so the idempotency index grows by one entry per transfer).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/types.h"

namespace ledger::bench {

// splitmix64: fast and well mixed; ids drawn from it look like UUIDs to the index.
struct Random {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) by multiply-shift (no modulo bias worth measuring).
  uint64_t Below(uint64_t bound) { return static_cast<uint64_t>((u128{Next()} * bound) >> 64); }
};

// One numeric flag of a scale benchmark (memory_bench, query_bench): `--name N` with
// min <= N <= max, written to *value.
struct NumberFlag {
  const char* name;
  uint64_t* value;
  uint64_t min;
  uint64_t max;
};

// Parses argv as `--name N` pairs of the given flags; false on anything else.
inline bool ParseNumberFlags(int argc, char** argv, std::span<const NumberFlag> flags) {
  if (argc % 2 != 1) return false;
  for (int i = 1; i + 1 < argc; i += 2) {
    char* end = nullptr;
    const uint64_t number = std::strtoull(argv[i + 1], &end, 10);
    if (end == argv[i + 1] || *end != '\0') return false;
    const auto flag = std::find_if(flags.begin(), flags.end(), [&](const NumberFlag& f) {
      return std::string(argv[i]) == f.name;
    });
    if (flag == flags.end() || number < flag->min || number > flag->max) return false;
    *flag->value = number;
  }
  return true;
}

inline AccountId AccountIdOf(uint64_t index) {
  return AccountId::From((u128{index} << 64) | 0xACC);
}

// Plain transfers of `ledger` between two distinct random accounts of the first
// `account_count` (AccountIdOf), amounts 1 to 1,000,000.
inline void FillPlainBatch(Random& random, uint64_t account_count, uint32_t ledger,
                           std::span<Transfer> batch) {
  for (Transfer& transfer : batch) {
    transfer = Transfer{};
    transfer.id = TransferId{random.Next(), random.Next()};
    const uint64_t debit = random.Below(account_count);
    uint64_t credit = random.Below(account_count - 1);
    credit += credit >= debit ? 1 : 0;  // accounts must differ
    transfer.debit_account_id = AccountIdOf(debit);
    transfer.credit_account_id = AccountIdOf(credit);
    transfer.amount = Amount::From(1 + random.Below(1'000'000));
    transfer.ledger = ledger;
    transfer.code = 1;
  }
}

// Creates `ledger` (USD) and its accounts AccountIdOf(0 .. account_count - 1), unlimited, in
// batches of 8,190.
inline void CreateLedgerAndAccounts(engine::Engine& ledger_engine, uint32_t ledger_id,
                                    uint64_t account_count) {
  constexpr size_t kBatchEvents = 8190;
  Ledger ledger{};
  ledger.id = ledger_id;
  std::memcpy(ledger.asset_code, "USD", 3);
  CreateLedgerResult ledger_result;
  ledger_engine.CreateLedgers({&ledger, 1}, ledger_engine.last_timestamp_ns() + 1,
                              {&ledger_result, 1});
  std::vector<Account> accounts(kBatchEvents);
  std::vector<CreateAccountResult> results(kBatchEvents);
  for (uint64_t first = 0; first < account_count; first += kBatchEvents) {
    const size_t count = std::min<uint64_t>(kBatchEvents, account_count - first);
    for (size_t i = 0; i < count; ++i) {
      accounts[i] = Account{};
      accounts[i].id = AccountIdOf(first + i);
      accounts[i].ledger = ledger_id;
      accounts[i].code = 1;
    }
    ledger_engine.CreateAccounts({accounts.data(), count}, ledger_engine.last_timestamp_ns() + 1,
                                 {results.data(), count});
  }
}

}  // namespace ledger::bench
