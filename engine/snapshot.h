// Engine state as sections of fixed-layout records, for snapshots (wal/ frames and checksums
// them; the engine knows nothing of files).
//
// CaptureSnapshot runs on the engine's thread and is short: it copies the mutable parts
// (ledgers, accounts, reservation states, balance snapshots, the change ring) and borrows the
// append-only prefix of the transfer and failure tables, which never change once written. The
// image can then be written from another thread while the engine goes on applying batches.
// With several shards the transfers section is the shards' tables merged by timestamp:
// Stream merges them as it writes; sections() merges them into memory (once, for tests and
// tools; at 100M transfers that is 15 GB, which a server must not spend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
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
  kExpiries = 9,        // ExpiryFact[] (engine/cold.h), every expiry in log order
};
inline constexpr uint32_t kSnapshotSectionCount = 9;

// The version of the engine's sections (wal/format.h versions the framing around them).
// 0: before the change feed (no kChanges section, no sequence counter): refused, since the
// feed cannot be rebuilt from it; recovery then falls back to an older snapshot or the log.
// 1: failures recorded as {id, code} only: refused, since a retry of a failed id is compared
// with the failed event, which such a snapshot lacks.
// 2: no kExpiries section: refused, since when a reservation expired (the state hash's chain of
// expiries) is not in it.
inline constexpr uint32_t kSnapshotFormatVersion = 3;

struct SnapshotMeta {
  uint64_t last_timestamp_ns;
  uint64_t expired_count;
  uint64_t change_sequence_next;  // changes since genesis (= transfers + expiries)
  uint32_t format_version;        // kSnapshotFormatVersion
  uint32_t reserved0;
  uint64_t reserved[4];
};

// An expiry (the release of a reservation at a batch's timestamp). Also in engine/cold.h.
struct ExpiryFact {
  TransferId id;
  uint64_t timestamp_ns;
  uint64_t reserved;  // zero
};
static_assert(sizeof(ExpiryFact) == 32);

// A recorded failure (FailedTransfer): the event as submitted, with the booking timestamp it
// would have had and without kLinked, and its code. Also the engine's in-memory record.
struct FailureRecord {
  Transfer event;
  CreateTransferResult code;
  uint8_t reserved[7];  // zero
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
              offsetof(SnapshotMeta, format_version) == 24 && sizeof(FailureRecord) == 160 &&
              offsetof(FailureRecord, code) == 152 && sizeof(ReservationRecord) == 24 &&
              sizeof(BalanceHistoryRecord) == 88);

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
  // Every section in memory. Not thread-safe: the first call may merge the shards' transfers.
  std::span<const SnapshotSection> sections() const;
  // Writes the sections in order: for each, start(its kind, record size and size in bytes),
  // then its bytes through write(), in pieces. Copies nothing whole.
  absl::Status Stream(absl::FunctionRef<absl::Status(
                          SnapshotSectionKind, uint32_t record_size_bytes, uint64_t size_bytes)>
                          start,
                      absl::FunctionRef<absl::Status(std::span<const std::byte>)> write) const;
  uint64_t last_timestamp_ns() const { return meta_.last_timestamp_ns; }

 private:
  friend class internal::State;
  // With several shards: the transfers of each shard at capture (a prefix of its table, in
  // booking order), merged by timestamp into the transfers section as it is written.
  struct ShardTransfers {
    const Transfer* records;
    size_t count;
  };
  // Calls write() with the next merged pieces of the transfers section, until it is done.
  absl::Status MergeTransfers(
      absl::FunctionRef<absl::Status(std::span<const Transfer>)> write) const;

  SnapshotMeta meta_{};
  std::vector<Ledger> ledgers_;
  std::vector<Account> accounts_;
  std::vector<ShardTransfers> shard_transfers_;  // empty with one shard (the section borrows)
  uint64_t transfer_count_ = 0;
  mutable std::vector<Transfer> merged_transfers_;  // sections() with several shards
  std::vector<ReservationRecord> reservations_;
  std::vector<BalanceHistoryRecord> balance_history_;
  std::vector<Change> changes_;
  std::vector<ExpiryFact> expiries_;
  mutable std::vector<SnapshotSection> sections_;
};

}  // namespace ledger::engine
