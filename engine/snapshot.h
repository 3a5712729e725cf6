// Engine state as sections of fixed-layout records, for snapshots (wal/ frames and checksums
// them; the engine knows nothing of files).
//
// CaptureSnapshot runs on the engine's thread and is short: it copies the mutable parts
// (ledgers, accounts, reservation states, balance snapshots, the change ring) and borrows the
// append-only prefix of the transfer and failure tables, which never change once written. The
// image can then be written from another thread while the engine goes on applying batches.
// A capture may leave out the transfers and changes an earlier snapshot already wrote
// (CaptureOptions): replica/ keeps those in extent files that later snapshots share.
// With several shards the transfers section is the shards' tables merged by timestamp:
// Stream merges them as it writes; sections() merges them into memory (once, for tests and
// tools; at 100M transfers that is 15 GB, which a server must not spend).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "base/hash.h"
#include "engine/types.h"

namespace ledger::engine {

enum class SnapshotSectionKind : uint32_t {
  kMeta = 1,            // SnapshotMeta[1]
  kLedgers = 2,         // Ledger[], creation order
  kAccounts = 3,        // Account[], creation order, with balances and flags
  kTransfers = 4,       // Transfer[], the transfers in memory, booking order
  kFailures = 5,        // FailureRecord[], those in memory, in the order they were recorded
  kReservations = 6,    // ReservationRecord[], each reservation state in memory, booking order
  kBalanceHistory = 7,  // BalanceHistoryRecord[], per account in time order
  kChanges = 8,         // Change[], the change feed's retained window, oldest first
  kExpiries = 9,        // ExpiryFact[], the expiries in memory, log order
  kColdDigest = 10,     // ColdDigest[1]: what left memory for the cold store
};
inline constexpr uint32_t kSnapshotSectionCount = 10;

// The version of the engine's sections (wal/format.h versions the framing around them).
// 0: before the change feed (no kChanges section, no sequence counter): refused, since the
// feed cannot be rebuilt from it; recovery then falls back to an older snapshot or the log.
// 1: failures recorded as {id, code} only: refused, since a retry of a failed id is compared
// with the failed event, which such a snapshot lacks.
// 2: no kExpiries section: refused, since when a reservation expired (the state hash's chain of
// expiries) is not in it, nor what left memory for a cold store.
// 3: every retained change in kChanges (168 bytes each: 168 MB for a feed of 1M): read.
// 4: kChanges holds only the retained changes older than the window (none unless the feed is
// longer than the window), and the meta how many the feed retained; Restore derives the rest
// from the window's transfers and expiries, walking the balances back from the accounts'.
inline constexpr uint32_t kSnapshotFormatVersion = 4;
inline constexpr uint32_t kSnapshotFormatVersionWholeFeed = 3;

struct SnapshotMeta {
  uint64_t last_timestamp_ns;
  uint64_t expired_count;
  uint64_t change_sequence_next;  // changes since genesis (= transfers + expiries)
  uint32_t format_version;        // kSnapshotFormatVersion
  uint32_t reserved0;
  // Facts booked before it are in the cold store, not in the sections (0: none; engine/cold.h).
  uint64_t cold_before_ns;
  uint64_t retained_change_count;  // the feed's, at capture (format 3: zero, reserved)
  uint64_t reserved[2];
};

// What left memory for the cold store (engine/cold.h), as the state hash needs it: the chains
// (each digest the XXH3-128 of the previous one and the fact) over the transfers, failures and
// expiries evicted, in log order, and how many transfers and failures that was.
struct ColdDigest {
  base::Hash128 transfers, failures, expiries;
  uint64_t transfer_count = 0;
  uint64_t failure_count = 0;
};
static_assert(sizeof(ColdDigest) == 64);

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

// A reservation's state: of a pending reservation, or of one whose post, void or expiry is in
// memory. Its record is in the transfers section, or (booked before the cold boundary) cold.
struct ReservationRecord {
  TransferId id;
  Amount amount;
  uint64_t expires_at_ns;        // 0 = never
  uint64_t booked_ns;            // the reservation's timestamp
  uint32_t debit_account_slot;   // index in the accounts section
  uint32_t credit_account_slot;  // index in the accounts section
  uint32_t resolver_slot;  // the post/void transfer's index in the transfers section, or 2^32-1
  uint16_t flags;          // the reservation's transfer_flags
  uint16_t code;
  PendingStatus status;
  uint8_t reserved[15];
};

struct BalanceHistoryRecord {
  uint32_t account_slot;  // index in the accounts section
  uint32_t reserved;
  AccountBalance balance;
};

static_assert(sizeof(SnapshotMeta) == 64 && offsetof(SnapshotMeta, change_sequence_next) == 16 &&
              offsetof(SnapshotMeta, format_version) == 24 && sizeof(FailureRecord) == 160 &&
              offsetof(FailureRecord, code) == 152 && sizeof(ReservationRecord) == 80 &&
              offsetof(ReservationRecord, status) == 64 && sizeof(BalanceHistoryRecord) == 88);

// What a capture leaves out because an earlier snapshot's extents hold it (replica/). The
// image's transfers section then holds only the rest; Restore takes that section in pieces,
// in order, and the pieces together must be the whole window again.
struct CaptureOptions {
  uint64_t transfers_after_ns = 0;  // only transfers booked after it (0: all in memory)
};

// A section, or with kTransfers and kChanges one piece of it (Restore concatenates them; an
// extent written with format 3 may hold changes).
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
  EngineSnapshot() = default;
  EngineSnapshot(const EngineSnapshot&) = delete;
  EngineSnapshot& operator=(const EngineSnapshot&) = delete;
  ~EngineSnapshot() { Release(); }
  // Lets go of the engine (what it borrowed may be evicted) and keeps the buffers, so that the
  // next CaptureSnapshot may reuse this image without fresh pages. Only the buffers are left.
  void Release() {
    if (live_images_ != nullptr) live_images_->fetch_sub(1, std::memory_order_release);
    live_images_ = nullptr;
    sections_.clear();
    shard_transfers_.clear();
  }
  // Every section in memory. Not thread-safe: the first call may merge the shards' transfers.
  std::span<const SnapshotSection> sections() const;
  // Writes the sections in order: for each, start(its kind, record size and size in bytes),
  // then its bytes through write(), in pieces. Copies nothing whole. With `include`, only the
  // sections it accepts.
  using StartSection = absl::FunctionRef<absl::Status(
      SnapshotSectionKind, uint32_t record_size_bytes, uint64_t size_bytes)>;
  using WriteBytes = absl::FunctionRef<absl::Status(std::span<const std::byte>)>;
  absl::Status Stream(StartSection start, WriteBytes write) const {
    return Stream(start, write, [](SnapshotSectionKind) { return true; });
  }
  absl::Status Stream(StartSection start, WriteBytes write,
                      absl::FunctionRef<bool(SnapshotSectionKind)> include) const;
  uint64_t last_timestamp_ns() const { return meta_.last_timestamp_ns; }
  uint64_t change_sequence_next() const { return meta_.change_sequence_next; }
  // Records in this image's transfers section, and in the whole window at capture (equal
  // unless CaptureOptions left some out).
  uint64_t transfer_count() const { return transfer_count_; }
  uint64_t window_transfer_count() const { return window_transfer_count_; }
  // Changes in the changes section: the retained ones older than the window, the rest being
  // derived at restore (format 4).
  uint64_t change_count() const { return change_count_; }

 private:
  friend class internal::State;
  // The transfers of each shard at capture (its window, in booking order: at most two pieces
  // of its ring), merged by timestamp into the transfers section as it is written.
  struct ShardTransfers {
    std::span<const Transfer> pieces[2];
    size_t count() const { return pieces[0].size() + pieces[1].size(); }
    const Transfer& operator[](size_t i) const {
      return i < pieces[0].size() ? pieces[0][i] : pieces[1][i - pieces[0].size()];
    }
  };
  // Calls write() with the next merged pieces of the transfers section, until it is done.
  absl::Status MergeTransfers(
      absl::FunctionRef<absl::Status(std::span<const Transfer>)> write) const;

  SnapshotMeta meta_{};
  std::vector<Ledger> ledgers_;
  std::vector<Account> accounts_;
  std::vector<ShardTransfers> shard_transfers_;  // empty when the section borrows one piece
  uint64_t transfer_count_ = 0;
  uint64_t window_transfer_count_ = 0;
  mutable std::vector<Transfer> merged_transfers_;  // sections() with several shards
  std::vector<ReservationRecord> reservations_;
  std::vector<BalanceHistoryRecord> balance_history_;
  std::vector<Change> changes_;  // the first change_count_ are this image's (a reused buffer)
  uint64_t change_count_ = 0;
  std::vector<ExpiryFact> expiries_;
  std::vector<FailureRecord> failures_;  // a copy when the ring wraps (else the section borrows)
  // The engine's count of images alive: an image borrows the window from
  // CaptureOptions::transfers_after_ns on, which the engine must not evict while it is
  // (Engine::evictable_before_ns).
  std::atomic<uint32_t>* live_images_ = nullptr;
  ColdDigest cold_digest_;
  mutable std::vector<SnapshotSection> sections_;
};

}  // namespace ledger::engine
