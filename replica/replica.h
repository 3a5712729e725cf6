// A replica: one data directory brought to life. Open recovers it (the newest snapshot, then
// the verified log replayed), starts the log writer and the sequencer, and from then on every
// state-changing batch is given an op number and a booking timestamp, logged and applied here.
// The server, the tools and the tests all open a ledger this way; what sits above adds only
// how replies wait for durability (net/ does it on its event loop).
//
// Threading: one owner at a time calls everything (it may change threads, each handing over
// with a happens-before, as the server's engine turns do), except that the log writer's thread
// calls ReplicaOptions::on_group_done, the checkpointer's thread on_checkpoint, and a snapshot
// thread writes periodic snapshots; a ColdHistory may be read on any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cold/cold_store.h"
#include "engine/engine.h"
#include "engine/operation.h"
#include "replica/checkpoint.h"
#include "replica/internal/checkpointer.h"
#include "replica/internal/commit_gate.h"
#include "replica/internal/cooler.h"
#include "replica/internal/sequencer.h"
#include "wal/directory.h"
#include "wal/log_writer.h"

namespace ledger::replica {

// A batch refused because a table is at its maximum (EngineOptions::accounts_max,
// transfers_max) carries this payload (the table's name) and a message that starts with
// kLedgerFullPrefix. Retrying will not help; a larger maximum will.
inline constexpr char kLedgerFullPayload[] = "type.ledger/ledger-full";
inline constexpr char kLedgerFullPrefix[] = "ledger full: ";
// A batch refused because the disk has no room for the log to grow (wal::LogWriter's
// room_status()) carries this payload and a message that starts with kStorageFullPrefix and
// says why. Nothing is logged or applied; reads go on, and writes are taken again by
// themselves once space is freed: retrying later will help.
inline constexpr char kStorageFullPayload[] = "type.ledger/storage-full";
inline constexpr char kStorageFullPrefix[] = "storage full: ";

struct ReplicaOptions {
  // Tables, shards, change feed window. With engine.hot_transfers > 0 the transfers beyond that
  // window live in the cold store, in the directory's "cold" folder (docs/cold-store.md);
  // engine.cold is the replica's to set.
  engine::EngineOptions engine;
  // Facts in one run of the cold store at most (a batch's are never split): about 400 bytes a
  // fact in memory while a run is written. Tests make it small.
  uint64_t cold_run_facts_max = uint64_t{1} << 20;
  // false: pwrite + fdatasync instead of io_uring (ThreadSanitizer builds, refused io_uring).
  bool use_io_uring = true;
  // Where the directory lives: the real file system unless a test hands in a simulated disk.
  // Outlives the replica.
  wal::Storage* storage = &wal::Storage::Posix();
  // The log writer's two buffers, each (wal::WriterOptions::buffer_bytes); at most a segment
  // less its header block, whatever is asked.
  uint64_t writer_buffer_bytes = uint64_t{16} << 20;
  uint64_t snapshot_interval_ops = 0;  // 0 = only when asked (SnapshotNow)
  size_t snapshots_kept = 2;
  std::function<uint64_t()> clock_ns;  // booking clock in ns; default CLOCK_REALTIME
  // Operator messages (recovery notes, the I/O backend, failed snapshots); may be empty.
  std::function<void(std::string_view)> log;
  // On the snapshot thread after each periodic snapshot, written or failed, once the next
  // one may start; when empty, a failure goes to `log`.
  std::function<void(const absl::Status&)> on_snapshot;
  // On the writer thread after each group write, durable or failed; must be quick.
  std::function<void(const wal::GroupDone&)> on_group_done;
  // On the owner's thread after each entry is sealed and handed to the log (durable later):
  // a leader copies it for its followers (docs/replication.md). The spans last for the call.
  std::function<void(const wal::EntryHeader&, std::span<const std::byte>)> on_entry;
  // Keyed checkpoints of the log's head (replica/checkpoint.h): with a key, every
  // checkpoint_interval_ops ops once committed, and at close, appended to checkpoint_file
  // (on `storage`, like the directory).
  std::vector<uint8_t> checkpoint_key;  // empty: none
  std::string checkpoint_file;
  uint64_t checkpoint_interval_ops = 100'000;
  // After each checkpoint is in checkpoint_file (synced), in op order: on the checkpointer's
  // thread, and for the last one on the thread that closes the replica; must be quick.
  std::function<void(const SignedCheckpoint&)> on_checkpoint;
  // A member of a replica group (docs/replication.md): snapshots and cold exports wait for the
  // group's committed op (NoteCommitted) as well as this log, so a new epoch's cut of entries
  // never acknowledged is a cut of the log alone.
  bool replicated = false;
};

// What one batch became.
struct BatchReceipt {
  uint64_t op = 0;
  uint64_t timestamp_ns = 0;  // the batch's; event i is booked at timestamp_ns + 1 + i
  // The change feed's next sequence after this batch: changes below it are this batch's or
  // older, and become durable with op.
  uint64_t change_sequence_next = 0;
};

// What recovery found, for the operator's log and the tools.
struct RecoverySummary {
  uint64_t snapshot_op = 0;  // 0: replayed from genesis
  uint64_t replayed_entries = 0;
  uint64_t last_op = 0;
};

// Questions that old history alone answers, on any thread, while batches apply: a server
// answers them beside the thread that applies (docs/cold-store.md, "Old history beside the
// batches"). Taken between batches, it holds the cold store's runs published then and the
// engine's cold boundary: the store holds every fact booked before it, and facts never change,
// so its answers are the engine's, and durable, for as long as it is kept (within the life of
// its replica).
class ColdHistory {
 public:
  ColdHistory(cold::PublishedRuns runs, uint64_t before_ns)
      : runs_(std::move(runs)), before_ns_(before_ns) {}

  // The ids a batch of transfers names that may be cold (the id filter, in memory): their
  // lookups would read the disk. Appended to `ids`. A server reads them ahead
  // (Replica::ReadAhead, on another thread) before it submits the batch, so the thread that
  // applies it does not wait for the disk (a run published since only costs that wait).
  void ColdCandidates(std::span<const Transfer> events, cold::ReadAheadIds& ids) const;
  // false: the id was never stored cold (the id filter, in memory).
  bool MayHold(const TransferId& id) const { return runs_.MayHold(id); }
  // Whether the filter's time range ends below the boundary: then the engine's history and
  // balance pages are the store's (GetAccountTransfers, GetAccountBalances).
  bool Covers(const AccountFilter& filter) const {
    return filter.timestamp_max_ns != 0 && filter.timestamp_max_ns < before_ns_;
  }
  // As Engine::LookupTransfer and LookupFailedTransfer of each id in order, appending to
  // `transfers` and `failures`; false when an id is not in the history below the boundary
  // (the engine must answer: it is in the window, or was never booked).
  bool LookupTransfers(std::span<const TransferId> ids, std::vector<Transfer>& transfers,
                       std::vector<FailedTransfer>& failures) const;
  // As Engine::GetAccountTransfers and GetAccountBalances when it Covers the filter; else
  // nullopt.
  std::optional<size_t> GetAccountTransfers(const AccountFilter& filter,
                                            std::span<Transfer> out) const;
  std::optional<size_t> GetAccountBalances(const AccountFilter& filter,
                                           std::span<AccountBalance> out) const;
  uint64_t before_ns() const { return before_ns_; }

 private:
  cold::PublishedRuns runs_;
  uint64_t before_ns_;
};

class Replica {
 public:
  // Opens the data directory with its lock, recovers it and starts writing after its last op.
  static absl::StatusOr<std::unique_ptr<Replica>> Open(const std::string& data_dir,
                                                       ReplicaOptions options);
  // Stops the snapshot thread, then writes everything appended and stops the writer.
  ~Replica();

  // Logs and applies one batch. `timestamps_ns`, when not empty (events.size() of them),
  // receives each event's booking timestamp: its own when ok, the stored record's when it
  // exists already, 0 otherwise. The batch is durable once durable_op() reaches the receipt's
  // op. InvalidArgument past wal::kEventsPerEntryMax events, FailedPrecondition with
  // kLedgerFullPayload when a table is at its maximum, ResourceExhausted with
  // kStorageFullPayload when the disk is full; then nothing is logged or applied.
  template <typename Event>
  absl::StatusOr<BatchReceipt> Submit(std::span<const Event> events,
                                      std::span<engine::ResultOf<Event>> results,
                                      std::span<uint64_t> timestamps_ns = {});

  // A follower's batch: `header` and `body` exactly as the leader sealed and logged them (op
  // last_op() + 1, linked to chain_hash()). Logged here as they are, and applied as replay
  // applies a logged entry, so the follower's log, chain and state are the leader's. DataLoss
  // when the entry is malformed (header, body checksum, schema) or does not follow this log's
  // head; FailedPrecondition with kLedgerFullPayload when a table is at its maximum,
  // ResourceExhausted with kStorageFullPayload when the disk is full; then nothing is logged
  // or applied. Durable once durable_op() reaches the receipt's op.
  absl::StatusOr<BatchReceipt> AppendReplicated(const wal::EntryHeader& header,
                                                std::span<const std::byte> body);

  // The group's committed op, as its leader says (replicated only; any thread).
  void NoteCommitted(uint64_t op) { commit_gate_->NoteCommitted(op); }
  // A batch waiting for the group's commit to make room in a full window (its leader may be
  // gone) is refused now, with nothing logged or applied (Unavailable). Any thread.
  void InterruptCommitWait() { commit_gate_->Interrupt(); }
  // Through which op state may go into snapshots and the cold store: durable_op(), and in a
  // group at most the group's committed op.
  uint64_t committed_op() const { return commit_gate_->committed_op(); }

  // The state after the last op. Reads see everything sequenced; a caller that must not show
  // what is not durable waits for durable_op() >= last_op() first.
  const engine::Engine& engine() const { return *engine_; }
  uint64_t last_op() const;
  const wal::Hash128& chain_hash() const;  // of last_op's entry: the log's head
  uint64_t durable_op() const { return writer_->durable_op(); }
  // Blocks until durable_op() >= op, or returns the log's failure.
  absl::Status WaitDurable(uint64_t op) { return writer_->WaitDurable(op); }
  // OK until a write fails; then nothing more is ever durable.
  absl::Status log_status() const { return writer_->status(); }
  const wal::LogWriter& log_writer() const { return *writer_; }
  const wal::Directory& directory() const { return *directory_; }
  const RecoverySummary& recovery() const { return recovery_; }
  // The cold store, when the engine keeps a window (else null).
  const cold::ColdStore* cold_store() const { return cold_store_.get(); }
  // Looks `ids` up in the cold store (into `answers`) and reads what the engine will ask it
  // about them into memory. Any thread.
  void ReadAhead(const cold::ReadAheadIds& ids, cold::ReadAheadAnswers& answers) const;
  // The engine's cold lookups take their answers from `answers` (a ReadAhead's for the batch
  // about to be submitted; null: none) until the next call.
  void UseColdAnswers(const cold::ReadAheadAnswers* answers) {
    if (cold_store_ != nullptr) cold_store_->UseAnswers(answers);
  }

  // Old history as it stands now (the owner thread, between batches), for reads on other
  // threads. Null without a window or before anything went cold.
  std::shared_ptr<const ColdHistory> TakeColdHistory() const;

  // Waits for a snapshot in progress and for the log to be durable through last_op(), then
  // writes a snapshot of the state there and prunes old ones (a graceful shutdown: the next
  // start replays nothing). Blocks the owner thread.
  absl::Status SnapshotNow();

  // When a reservation's deadline has passed by the booking clock, logs and applies an empty
  // transfer batch, which releases everything due (an expiry tick: replay does the same, and
  // the change feed shows each release at the tick's timestamp). nullopt when nothing is due.
  // A server calls it a few times a second, so holds expire on time on a quiet ledger too.
  absl::StatusOr<std::optional<BatchReceipt>> ExpireDue();

 private:
  Replica() = default;
  // The booking timestamp of the stored record an `exists` event names.
  uint64_t StoredTimestamp(const Ledger& event) const;
  uint64_t StoredTimestamp(const Account& event) const;
  uint64_t StoredTimestamp(const Transfer& event) const;
  // The timestamps of a batch's events (Submit's `timestamps_ns`).
  template <typename Event>
  void FillTimestamps(std::span<const Event> events,
                      std::span<const engine::ResultOf<Event>> results, uint64_t timestamp_ns,
                      std::span<uint64_t> timestamps_ns) const;

  // After each entry is logged and applied (the change feed moved with it): the checkpointer's
  // head.
  void NoteHead(uint64_t timestamp_ns);
  // Before a batch of transfers, when the window lacks room for it: the cooler catches up.
  absl::Status MakeRoom(uint64_t event_count);
  void AfterBatch(engine::Operation operation, uint64_t op, uint64_t event_count);

  std::unique_ptr<wal::Directory> directory_;
  std::unique_ptr<cold::ColdStore> cold_store_;  // before the engine, which reads it
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<internal::Cooler> cooler_;
  std::unique_ptr<wal::LogWriter> writer_;
  std::unique_ptr<internal::CommitGate> commit_gate_;
  std::unique_ptr<internal::Checkpointer> checkpointer_;  // with a checkpoint key
  std::unique_ptr<internal::Sequencer> sequencer_;
  RecoverySummary recovery_;
};

template <typename Event>
absl::StatusOr<BatchReceipt> Replica::Submit(std::span<const Event> events,
                                             std::span<engine::ResultOf<Event>> results,
                                             std::span<uint64_t> timestamps_ns) {
  constexpr engine::Operation kOperation = engine::kOperationOf<Event>;
  if (cooler_ != nullptr && kOperation == engine::Operation::kCreateTransfers &&
      !engine_->HasRoomFor(0, events.size())) {
    LEDGER_RETURN_IF_ERROR(MakeRoom(events.size()));
  }
  LEDGER_ASSIGN_OR_RETURN(const internal::Receipt receipt, sequencer_->Submit(events, results));
  NoteHead(receipt.timestamp_ns);
  if (cooler_ != nullptr) AfterBatch(kOperation, receipt.op, events.size());
  if (!timestamps_ns.empty()) {
    FillTimestamps<Event>(events, results, receipt.timestamp_ns, timestamps_ns);
  }
  return BatchReceipt{receipt.op, receipt.timestamp_ns, engine_->change_sequence_next()};
}

template <typename Event>
void Replica::FillTimestamps(std::span<const Event> events,
                             std::span<const engine::ResultOf<Event>> results,
                             uint64_t timestamp_ns, std::span<uint64_t> timestamps_ns) const {
  using Result = engine::ResultOf<Event>;
  LEDGER_REQUIRE(timestamps_ns.size() == events.size(), timestamps_ns.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    if (results[i] == Result::kOk) {
      // An imported event is booked at its own timestamp (only those may carry one and be ok).
      timestamps_ns[i] =
          events[i].timestamp_ns != 0 ? events[i].timestamp_ns : timestamp_ns + 1 + i;
    } else if (results[i] == Result::kExists) {
      timestamps_ns[i] = StoredTimestamp(events[i]);
    } else {
      timestamps_ns[i] = 0;
    }
  }
}

}  // namespace ledger::replica
