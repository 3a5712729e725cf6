// The small ledger the fuzz targets of files take their seeds from: a few batches of every
// operation (ledgers, accounts with and without history, posted, pending, posted-pending,
// expired, reversed and failed transfers), applied to a real engine, so the real writers (log,
// snapshot, cold store) write the seed files; and the data directory those files live in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "engine/engine.h"
#include "engine/operation.h"
#include "tests/fuzz/fuzz_util.h"
#include "wal/directory.h"
#include "wal/format.h"

namespace ledger::fuzz {

// A small engine: the seeds fit it, and so does anything an input can hold (a 128 KiB input
// holds under 900 transfers; a whole entry of 8,190 fits transfers_max).
inline engine::EngineOptions SmallEngineOptions() {
  engine::EngineOptions options;
  options.accounts_capacity = 64;
  options.transfers_capacity = 1024;
  options.accounts_max = uint64_t{1} << 14;
  options.transfers_max = uint64_t{1} << 16;
  options.change_feed_capacity = 256;
  return options;
}

// One batch as the log holds it: the operation, its timestamp and its records' bytes.
struct SeedBatch {
  engine::Operation operation;
  uint64_t timestamp_ns;
  uint32_t event_count;
  std::vector<std::byte> body;
};

inline Ledger SeedLedger(uint32_t id, const char* code) {
  Ledger ledger{};
  ledger.id = id;
  ledger.scale = 2;
  std::memcpy(ledger.asset_code, code, std::strlen(code));
  return ledger;
}

inline Account SeedAccount(uint64_t id, uint32_t ledger, uint16_t flags) {
  Account account{};
  account.id = AccountId::From(id);
  account.ledger = ledger;
  account.code = 1;
  account.flags = flags;
  return account;
}

inline Transfer SeedTransfer(uint64_t id, uint64_t debit, uint64_t credit, uint64_t amount,
                             uint16_t flags = 0, uint64_t pending_id = 0, uint32_t ledger = 1) {
  Transfer transfer{};
  transfer.id = TransferId::From(id);
  transfer.debit_account_id = AccountId::From(debit);
  transfer.credit_account_id = AccountId::From(credit);
  transfer.amount = Amount::From(amount);
  transfer.pending_id = TransferId::From(pending_id);
  transfer.ledger = ledger;
  transfer.code = 1;
  transfer.flags = flags;
  return transfer;
}

template <typename Record>
SeedBatch MakeBatch(engine::Operation operation, uint64_t timestamp_ns,
                    const std::vector<Record>& records) {
  const auto bytes = std::as_bytes(std::span(records));
  return {
      operation, timestamp_ns, static_cast<uint32_t>(records.size()), {bytes.begin(), bytes.end()}};
}

// The batches, in log order; `count` of them (at most SeedBatches().size()).
inline std::vector<SeedBatch> SeedBatches() {
  using engine::Operation;
  constexpr uint64_t kSecondNs = 1'000'000'000;
  std::vector<SeedBatch> batches;
  batches.push_back(MakeBatch(Operation::kCreateLedgers, 1 * kSecondNs,
                              std::vector<Ledger>{SeedLedger(1, "USD"), SeedLedger(2, "BTC")}));
  batches.push_back(MakeBatch(
      Operation::kCreateAccounts, 2 * kSecondNs,
      std::vector<Account>{SeedAccount(1, 1, 0),
                           SeedAccount(2, 1, account_flags::kDebitsMustNotExceedCredits),
                           SeedAccount(3, 1, account_flags::kHistory), SeedAccount(4, 1, 0),
                           SeedAccount(5, 2, account_flags::kHistory), SeedAccount(6, 2, 0)}));
  std::vector<Transfer> first = {SeedTransfer(100, 1, 3, 1000), SeedTransfer(101, 3, 4, 200),
                                 SeedTransfer(102, 1, 4, 50, transfer_flags::kPending),
                                 SeedTransfer(103, 1, 3, 70, transfer_flags::kPending),
                                 SeedTransfer(104, 5, 6, 9, 0, 0, 2)};
  first[3].timeout_s = 1;  // expires at the empty batch below
  batches.push_back(MakeBatch(Operation::kCreateTransfers, 3 * kSecondNs, first));
  std::vector<Transfer> second = {SeedTransfer(105, 1, 4, 0, transfer_flags::kPostPending, 102),
                                  SeedTransfer(106, 2, 1, 5),  // fails: 2 has no credits
                                  SeedTransfer(107, 3, 1, 200)};
  second[1].user_data_64 = 7;
  second[2].reverses_id = TransferId::From(100);
  batches.push_back(MakeBatch(Operation::kCreateTransfers, 4 * kSecondNs, second));
  // An empty batch: only time passes (the server's expiry tick); 103 expires.
  batches.push_back(MakeBatch(Operation::kCreateTransfers, 6 * kSecondNs, std::vector<Transfer>{}));
  batches.push_back(MakeBatch(
      Operation::kCreateTransfers, 7 * kSecondNs,
      std::vector<Transfer>{SeedTransfer(108, 4, 1, 25), SeedTransfer(109, 6, 5, 3, 0, 0, 2)}));
  return batches;
}

// Applies a batch to `engine`, as a replay would.
inline void ApplySeedBatch(engine::Engine& engine, const SeedBatch& batch) {
  switch (batch.operation) {
    case engine::Operation::kCreateLedgers: {
      std::vector<Ledger> events(batch.event_count);
      std::memcpy(events.data(), batch.body.data(), batch.body.size());
      std::vector<CreateLedgerResult> results(events.size());
      return engine.CreateLedgers(events, batch.timestamp_ns, results);
    }
    case engine::Operation::kCreateAccounts: {
      std::vector<Account> events(batch.event_count);
      std::memcpy(events.data(), batch.body.data(), batch.body.size());
      std::vector<CreateAccountResult> results(events.size());
      return engine.CreateAccounts(events, batch.timestamp_ns, results);
    }
    case engine::Operation::kCreateTransfers: {
      std::vector<Transfer> events(batch.event_count);
      if (!events.empty()) std::memcpy(events.data(), batch.body.data(), batch.body.size());
      std::vector<CreateTransferResult> results(events.size());
      return engine.CreateTransfers(events, batch.timestamp_ns, results);
    }
  }
}

// An engine after the first `count` seed batches.
inline std::unique_ptr<engine::Engine> SeedEngine(const engine::EngineOptions& options,
                                                  size_t count) {
  auto engine = std::make_unique<engine::Engine>(options);
  const std::vector<SeedBatch> batches = SeedBatches();
  for (size_t i = 0; i < count && i < batches.size(); ++i) ApplySeedBatch(*engine, batches[i]);
  return engine;
}

// The data directory every input is read in: a fixed directory id (the seeds' segments,
// groups and snapshots carry it), so an input needs no identity file of its own.
inline constexpr char kDirectoryPath[] = "/ledger";
inline constexpr wal::Hash128 kDirectoryId{0x0123456789abcdefULL, 0x0fedcba987654321ULL};

// Creates the directory on `storage` with its identity file (and no segment), as Directory::Init
// would but with kDirectoryId, and opens it.
inline std::unique_ptr<wal::Directory> MakeDirectory(wal::Storage& storage,
                                                     uint64_t segment_size_bytes, bool writable) {
  LEDGER_ASSERT(storage.CreateDirectory(kDirectoryPath).ok());
  wal::IdentityFile identity{};
  identity.magic = wal::kIdentityMagic;
  identity.format_version = wal::kFormatVersion;
  identity.directory_id = kDirectoryId;
  identity.segment_size_bytes = segment_size_bytes;
  identity.checksum = wal::HeaderChecksum(identity);
  PutFile(storage, std::string(kDirectoryPath) + "/LEDGER", std::as_bytes(std::span(&identity, 1)));
  absl::StatusOr<std::unique_ptr<wal::Directory>> directory =
      wal::Directory::Open(kDirectoryPath, writable, storage);
  LEDGER_ASSERT(directory.ok(), std::string(directory.status().message()));
  return *std::move(directory);
}

}  // namespace ledger::fuzz
