// Engine state as sections of fixed-layout records, for snapshots (wal/ frames and checksums
// them; the engine knows nothing of files).
//
// CaptureSnapshot runs on the engine's thread and is short: it copies the mutable parts
// (ledgers, accounts, reservation states, balance snapshots, the change ring) and borrows the
// append-only prefix of the transfer and failure tables, which never change once written. The
// image can then be written from another thread while the engine goes on applying batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/types.h"

namespace ledger::engine {

enum class SnapshotSectionKind : uint32_t {
  kMeta = 1,            // SnapshotMeta[1]
  kLedgers = 2,         // Ledger[], creation order
  kAccounts = 3,        // Account[], creation order, with balances and flags
  kTransfers = 4,       // Transfer[], booking order
  kFailures = 5,        // FailureRecord[], in the order they were recorded
  kReservations = 6,    // ReservationRecord[], one per pending transfer, booking order
  kBalanceHistory = 7,  // BalanceHistoryRecord[], per account in time order
  kChanges = 8,         // Change[], the change feed's retained window, oldest first
};
inline constexpr uint32_t kSnapshotSectionCount = 8;

// The version of the engine's sections (wal/format.h versions the framing around them).
// 0: before the change feed (no kChanges section, no sequence counter): refused, since the
// feed cannot be rebuilt from it; recovery then falls back to an older snapshot or the log.
inline constexpr uint32_t kSnapshotFormatVersion = 1;

struct SnapshotMeta {
  uint64_t last_timestamp_ns;
  uint64_t expired_count;
  uint64_t change_sequence_next;  // changes since genesis (= transfers + expiries)
  uint32_t format_version;        // kSnapshotFormatVersion
  uint32_t reserved0;
  uint64_t reserved[4];
};

struct FailureRecord {
  TransferId id;
  CreateTransferResult code;
  uint8_t reserved[7];
};

struct ReservationRecord {
  uint64_t expires_at_ns;  // 0 = never
  uint32_t transfer_slot;  // index in the transfers section
  uint32_t resolver_slot;  // the post/void transfer's index, or 2^32-1
  PendingStatus status;
  uint8_t reserved[7];
};

struct BalanceHistoryRecord {
  uint32_t account_slot;  // index in the accounts section
  uint32_t reserved;
  AccountBalance balance;
};

static_assert(sizeof(SnapshotMeta) == 64 && offsetof(SnapshotMeta, change_sequence_next) == 16 &&
              offsetof(SnapshotMeta, format_version) == 24 && sizeof(FailureRecord) == 24 &&
              sizeof(ReservationRecord) == 24 && sizeof(BalanceHistoryRecord) == 88);

struct SnapshotSection {
  SnapshotSectionKind kind;
  uint32_t record_size_bytes;
  std::span<const std::byte> bytes;
};

namespace internal {
class State;
}

// A consistent image of the engine at one moment. Borrows from the engine that made it: the
// engine must outlive it.
class EngineSnapshot {
 public:
  std::span<const SnapshotSection> sections() const { return sections_; }
  uint64_t last_timestamp_ns() const { return meta_.last_timestamp_ns; }

 private:
  friend class internal::State;
  SnapshotMeta meta_{};
  std::vector<Ledger> ledgers_;
  std::vector<Account> accounts_;
  std::vector<Transfer> transfers_;  // with several shards: their tables merged (one borrows)
  std::vector<ReservationRecord> reservations_;
  std::vector<BalanceHistoryRecord> balance_history_;
  std::vector<Change> changes_;
  std::vector<SnapshotSection> sections_;
};

}  // namespace ledger::engine
