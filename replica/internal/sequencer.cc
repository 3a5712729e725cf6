#include "replica/internal/sequencer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "base/thread.h"
#include "replica/internal/apply.h"
#include "replica/internal/snapshot.h"

namespace ledger::replica::internal {

using wal::EntryHeader;
using wal::kEventsPerEntryMax;

Sequencer::Sequencer(engine::Engine& engine, LogWriter& log, CommitGate& commit_gate,
                     const Directory& directory, uint64_t last_op, const Hash128& chain_hash,
                     SequencerOptions options)
    : engine_(engine),
      log_(log),
      commit_gate_(commit_gate),
      directory_(directory),
      options_(std::move(options)),
      last_op_(last_op),
      chain_hash_(chain_hash),
      log_timestamp_min_ns_(options_.log_last_timestamp_ns + 1),
      snapshot_writer_(directory, std::move(options_.extent_chain)) {
  if (!options_.clock_ns) options_.clock_ns = base::RealtimeNs;
  if (options_.snapshot_interval_ops > 0)
    snapshot_thread_ = std::thread([this] {
      base::NameThisThread("snapshots");
      RunSnapshots();
    });
}

Sequencer::~Sequencer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

absl::StatusOr<Receipt> Sequencer::Append(engine::Operation operation, uint32_t event_count,
                                          std::span<const std::byte> body) {
  // Strictly increasing: past the engine's last event timestamp even if the clock stepped back,
  // and past the last entry's timestamp + its event count (the log's rule, wal/log_reader.cc).
  // The two differ after an import batch: its events carry timestamps below its own, and the
  // engine's last timestamp is the last imported one.
  const uint64_t timestamp_ns =
      std::max({options_.clock_ns(), engine_.last_timestamp_ns() + 1, log_timestamp_min_ns_});
  EntryHeader header{};
  header.operation = static_cast<uint8_t>(operation);
  header.event_count = event_count;
  header.op = last_op_ + 1;
  header.timestamp_ns = timestamp_ns;
  header.previous_chain_hash = chain_hash_;
  SealEntry(header, body);
  Logged(header, body);
  return Receipt{header.op, timestamp_ns};
}

void Sequencer::Logged(const EntryHeader& header, std::span<const std::byte> body) {
  log_.Append(header, body);
  last_op_ = header.op;
  chain_hash_ = header.chain_hash;
  log_timestamp_min_ns_ = header.timestamp_ns + header.event_count + 1;
  if (options_.on_entry) options_.on_entry(header, body);
}

absl::Status Sequencer::AppendSealed(const EntryHeader& header, std::span<const std::byte> body) {
  if (header.op != last_op_ + 1 || header.previous_chain_hash != chain_hash_) {
    return absl::DataLossError(
        absl::StrCat("entry of op ", header.op, " does not follow this log's head, op ", last_op_));
  }
  // The log's timestamp rule (which the leader kept), and past the state's last timestamp
  // (which replay requires: ApplyEntry).
  if (header.timestamp_ns < log_timestamp_min_ns_ ||
      header.timestamp_ns <= engine_.last_timestamp_ns()) {
    return absl::DataLossError(
        absl::StrCat("entry of op ", header.op, " has a timestamp that goes backwards"));
  }
  // As the log's reader: a sum past the last timestamp that wraps would stop the engine.
  if (header.timestamp_ns >= ~uint64_t{0} - header.event_count) {
    return absl::DataLossError(
        absl::StrCat("entry of op ", header.op, " has a timestamp at the end of time"));
  }
  const auto operation = static_cast<engine::Operation>(header.operation);
  if (!HasRoomFor(engine_, operation, header.event_count)) {
    return LedgerFull(operation, header.event_count);
  }
  // A follower whose disk is full refuses too, rather than block its thread in the log: its
  // leader sends the entry again later.
  if (!log_.has_room()) return StorageFull(log_.room_status());
  Logged(header, body);
  const absl::Status applied = ApplyEntry(engine_, header, body);
  LEDGER_ASSERT(applied.ok(), header.op, applied.ToString());  // checked above, before logging
  MaybeSnapshot();
  return absl::OkStatus();
}

void Sequencer::MaybeSnapshot() {
  if (options_.snapshot_interval_ops == 0 || last_op_ % options_.snapshot_interval_ops != 0) {
    return;
  }
  std::lock_guard lock(mutex_);
  if (snapshot_busy_) return;  // the previous one is still being written: skip this one
  pending_image_ = engine_.CaptureSnapshot(snapshot_writer_.NextCapture(), std::move(spare_image_));
  pending_op_ = last_op_;
  pending_chain_hash_ = chain_hash_;
  snapshot_busy_ = true;
  wake_.notify_one();
}

void Sequencer::RunSnapshots() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || pending_image_ != nullptr; });
    if (pending_image_ == nullptr) return;
    std::unique_ptr<engine::EngineSnapshot> image = std::move(pending_image_);
    const uint64_t op = pending_op_;
    const Hash128 chain_hash = pending_chain_hash_;
    lock.unlock();
    // Never ahead of the log (nor of the group): wait until the entry it follows is durable
    // (and committed).
    absl::Status status = commit_gate_.Wait(op);
    if (status.ok()) status = snapshot_writer_.Write(*image, op, chain_hash);
    image->Release();  // eviction may go on
    if (status.ok()) status = snapshot_writer_.Prune(options_.snapshots_kept);
    lock.lock();
    spare_image_ = std::move(image);
    snapshot_busy_ = false;
    idle_.notify_all();
    // Told only once the next snapshot may start, so whoever waits for this one can count on
    // the next interval being taken.
    if (options_.on_snapshot) {
      lock.unlock();
      options_.on_snapshot(status);
      lock.lock();
    }
  }
}

void Sequencer::WaitSnapshotIdle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !snapshot_busy_; });
}

absl::Status Sequencer::SnapshotNow() {
  // Checked first: a snapshot in progress may be waiting for the group too.
  LEDGER_RETURN_IF_ERROR(log_.WaitDurable(last_op_));
  if (commit_gate_.committed_op() < last_op_) {
    return absl::FailedPreconditionError(absl::StrCat("no snapshot: the group has committed op ",
                                                      commit_gate_.committed_op(),
                                                      ", not the last op ", last_op_));
  }
  WaitSnapshotIdle();
  std::unique_ptr<engine::EngineSnapshot> image =
      engine_.CaptureSnapshot(snapshot_writer_.NextCapture());
  LEDGER_RETURN_IF_ERROR(snapshot_writer_.Write(*image, last_op_, chain_hash_));
  image.reset();
  return snapshot_writer_.Prune(options_.snapshots_kept);
}

}  // namespace ledger::replica::internal
