// The sequencer: one log, one order. It gives each state-changing batch the next op number
// and a booking timestamp (from the clock, but strictly increasing even when the clock steps
// back), appends it to the log and applies it to the engine. Execution runs while the write is
// in flight; the caller acknowledges only once WaitDurable(op) returns, so a reply always
// waits for both.
//
// It also takes snapshots every `snapshot_interval_ops`: the image is captured here (short)
// and written by a background thread once the log is durable through its op, so a snapshot is
// never ahead of the log. Each writes only what is new since the previous one into an extent
// (replica/internal/snapshot.h).
//
// Threading: all methods from one thread, except that the background snapshot thread is
// internal. The engine, log and directory must outlive the sequencer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "engine/engine.h"
#include "engine/operation.h"
#include "replica/internal/apply.h"
#include "replica/internal/commit_gate.h"
#include "replica/internal/snapshot.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_writer.h"

namespace ledger::replica::internal {

using wal::Directory;
using wal::Hash128;
using wal::LogWriter;

struct SequencerOptions {
  std::function<uint64_t()> clock_ns;  // wall clock in ns; default CLOCK_REALTIME
  uint64_t snapshot_interval_ops = 0;  // 0 = never
  size_t snapshots_kept = 2;
  std::function<void(const absl::Status&)> on_snapshot;  // after each snapshot attempt
  // The log's last entry's timestamp + its event count (wal::ScanResult, from recovery): the
  // next entry's timestamp must exceed it, whatever the engine's last timestamp is.
  uint64_t log_last_timestamp_ns = 0;
  // The extents of the snapshot recovery started from: the next snapshot shares them.
  ExtentChain extent_chain;
  // After each entry is sealed and handed to the log (not yet durable), on the calling
  // thread: a leader copies it for its followers. May be empty.
  std::function<void(const wal::EntryHeader&, std::span<const std::byte>)> on_entry;
};

struct Receipt {
  uint64_t op = 0;
  uint64_t timestamp_ns = 0;  // the batch's; event i is booked at timestamp_ns + 1 + i
};

class Sequencer {
 public:
  // Continues after `last_op` whose chain hash is `chain_hash` (from recovery). Snapshots are
  // written once `commit_gate` has passed their op.
  Sequencer(engine::Engine& engine, LogWriter& log, CommitGate& commit_gate,
            const Directory& directory, uint64_t last_op, const Hash128& chain_hash,
            SequencerOptions options);
  ~Sequencer();  // waits for a snapshot in progress

  // Logs and applies one batch of any operation. InvalidArgument for more than
  // kEventsPerEntryMax events, LedgerFull (apply.h) when the engine's tables are full; then
  // nothing is logged or applied; StorageFull (apply.h) while the log cannot reserve room.
  template <typename Event>
  absl::StatusOr<Receipt> Submit(std::span<const Event> events,
                                 std::span<engine::ResultOf<Event>> results);  // below

  // A follower's batch: an entry the leader sealed, logged and applied here exactly as there.
  // The header must be well formed and the body match it (the caller checks both against the
  // log's schema); here it must follow the log's head (next op, chain link, timestamp rule)
  // and fit the engine's tables. DataLoss when it does not follow, LedgerFull when it does not
  // fit; then nothing is logged or applied.
  absl::Status AppendSealed(const wal::EntryHeader& header, std::span<const std::byte> body);

  // Writes a snapshot of the current state now (after waiting for one in progress and for the
  // log to be durable through last_op()), then prunes old ones. For a graceful shutdown, so
  // the next start replays nothing. Blocks the calling (owner) thread. FailedPrecondition when
  // the group has not committed last_op() (a snapshot never holds what a new epoch may cut).
  absl::Status SnapshotNow();
  // Waits until no snapshot is being written (its image, which borrows the engine, is gone).
  void WaitSnapshotIdle();

  uint64_t last_op() const { return last_op_; }
  uint64_t clock_ns() const { return options_.clock_ns(); }  // the booking clock, now
  const Hash128& chain_hash() const { return chain_hash_; }

 private:
  absl::StatusOr<Receipt> Append(engine::Operation operation, uint32_t event_count,
                                 std::span<const std::byte> body);
  // Hands a sealed entry that follows the head to the log and makes it the head.
  void Logged(const wal::EntryHeader& header, std::span<const std::byte> body);
  void MaybeSnapshot();
  void RunSnapshots();

  engine::Engine& engine_;
  LogWriter& log_;
  CommitGate& commit_gate_;
  const Directory& directory_;
  SequencerOptions options_;
  uint64_t last_op_;
  Hash128 chain_hash_;
  uint64_t log_timestamp_min_ns_;   // the log's rule: past the last entry's timestamp + events
  SnapshotWriter snapshot_writer_;  // used by one snapshot at a time (snapshot_busy_)

  // Handoff to the snapshot thread: at most one image at a time.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;  // a background snapshot finished
  std::unique_ptr<engine::EngineSnapshot> pending_image_;
  std::unique_ptr<engine::EngineSnapshot> spare_image_;  // let go of, its buffers kept for reuse
  uint64_t pending_op_ = 0;
  Hash128 pending_chain_hash_;
  bool snapshot_busy_ = false;
  bool stopping_ = false;
  std::thread snapshot_thread_;
};

template <typename Event>
absl::StatusOr<Receipt> Sequencer::Submit(std::span<const Event> events,
                                          std::span<engine::ResultOf<Event>> results) {
  constexpr engine::Operation kOperation = engine::kOperationOf<Event>;
  if (events.size() > wal::kEventsPerEntryMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a batch holds at most ", wal::kEventsPerEntryMax, " events, not ", events.size()));
  }
  if (!HasRoomFor(engine_, kOperation, events.size())) return LedgerFull(kOperation, events.size());
  if (!log_.has_room()) return StorageFull(log_.room_status());
  LEDGER_ASSIGN_OR_RETURN(Receipt receipt, Append(kOperation, static_cast<uint32_t>(events.size()),
                                                  std::as_bytes(events)));
  Apply<Event>(engine_, events, receipt.timestamp_ns, results);
  MaybeSnapshot();
  return receipt;
}

}  // namespace ledger::replica::internal
