// Helpers for the WAL tests: temporary data directories and a deterministic workload whose
// batch for op N is a function of (seed, N), so a test can say what every entry must hold.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/types.h"

namespace ledger::wal::testing {

// A fresh directory under the system's temporary directory, removed with its contents.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ledger-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TemporaryDirectory() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline constexpr uint32_t kTestLedger = 1;
inline constexpr uint64_t kTestAccounts = 16;

inline Ledger TestLedger() {
  Ledger ledger{};
  ledger.id = kTestLedger;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, "USD", 3);
  return ledger;
}

inline std::vector<Account> TestAccounts() {
  std::vector<Account> accounts(kTestAccounts);
  for (uint64_t i = 0; i < kTestAccounts; ++i) {
    accounts[i] = Account{};
    accounts[i].id = AccountId::From(i + 1);
    accounts[i].ledger = kTestLedger;
    accounts[i].code = 1;
    if (i % 3 == 0) accounts[i].flags = account_flags::kDebitsMustNotExceedCredits;
  }
  return accounts;
}

// The transfers of op `op` (ops 1 and 2 create the ledger and accounts). Mixed kinds, ids
// unique per op so nothing depends on what failed before.
inline std::vector<Transfer> TestTransfers(uint64_t seed, uint64_t op, size_t count_max = 8) {
  std::mt19937_64 random(seed * 1'000'003 + op);
  std::vector<Transfer> batch(1 + random() % count_max);
  for (size_t i = 0; i < batch.size(); ++i) {
    Transfer& transfer = batch[i];
    transfer = Transfer{};
    transfer.id = TransferId::From((u128{op} << 32) | i);
    const uint64_t debit = 1 + random() % kTestAccounts;
    transfer.debit_account_id = AccountId::From(debit);
    transfer.credit_account_id = AccountId::From(debit % kTestAccounts + 1);
    transfer.amount = Amount::From(1 + random() % 500);
    transfer.ledger = kTestLedger;
    transfer.code = 1;
    if (random() % 4 == 0) {
      transfer.flags = transfer_flags::kPending;
      transfer.timeout_s = static_cast<uint32_t>(random() % 3);
    }
    if (i + 1 < batch.size() && random() % 6 == 0) transfer.flags |= transfer_flags::kLinked;
  }
  return batch;
}

}  // namespace ledger::wal::testing
