#include "wal/recovery.h"

#include <fcntl.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "wal/internal/apply.h"
#include "wal/internal/io.h"
#include "wal/snapshot_file.h"

namespace ledger::wal {

namespace {

// Copies the records out of the body (its bytes may be unaligned) and applies them. The
// buffers are kept per thread and event type, so a replay allocates once, not per entry.
template <typename Event>
absl::Status ApplyRecords(engine::Engine& engine, const EntryHeader& header,
                          std::span<const std::byte> body) {
  using Result = typename internal::OperationOf<Event>::Result;
  if (!internal::HasRoomFor<Event>(engine, header.event_count)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("op ", header.op, ": the engine's tables are full"));
  }
  thread_local std::vector<Event> events;
  thread_local std::vector<Result> results;
  events.resize(body.size() / sizeof(Event));
  results.resize(events.size());
  std::memcpy(events.data(), body.data(), events.size() * sizeof(Event));
  internal::Apply(engine, events, header.timestamp_ns, results);
  return absl::OkStatus();
}

// Zeroes a segment from `offset` to its end, so the cut tail can never be read again.
absl::Status CutTail(const Directory& directory, const LogPosition& at) {
  const std::string path = directory.SegmentPath(at.segment_index);
  LEDGER_ASSIGN_OR_RETURN(internal::FileDescriptor fd, internal::Open(path, O_RDWR));
  const uint64_t length = directory.segment_size_bytes() - at.offset;
  if (fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(at.offset),
                static_cast<off_t>(length)) != 0) {
    std::vector<std::byte> zeros(std::min<uint64_t>(length, uint64_t{1} << 20));
    for (uint64_t done = 0; done < length; done += zeros.size()) {
      const uint64_t take = std::min<uint64_t>(zeros.size(), length - done);
      LEDGER_RETURN_IF_ERROR(
          internal::PwriteFully(fd.get(), std::span(zeros).first(take), at.offset + done, path));
    }
  }
  return internal::Fdatasync(fd.get(), path);
}

}  // namespace

absl::Status ApplyEntry(engine::Engine& engine, const EntryHeader& header,
                        std::span<const std::byte> body) {
  if (header.timestamp_ns <= engine.last_timestamp_ns()) {
    return absl::DataLossError(absl::StrCat("entry of op ", header.op, " has timestamp ",
                                            header.timestamp_ns, ", not past the state's ",
                                            engine.last_timestamp_ns()));
  }
  switch (header.operation) {
    case Operation::kCreateLedgers:
      return ApplyRecords<Ledger>(engine, header, body);
    case Operation::kCreateAccounts:
      return ApplyRecords<Account>(engine, header, body);
    case Operation::kCreateTransfers:
      return ApplyRecords<Transfer>(engine, header, body);
  }
  return absl::DataLossError(absl::StrCat("op ", header.op, ": unknown operation"));
}

namespace {

// The newest snapshot that reads and restores (each rejected one is noted), or an empty
// engine. Returns the chain hash at the snapshot's op.
absl::StatusOr<Hash128> LoadNewestSnapshot(const Directory& directory,
                                           const RecoveryOptions& options, Recovered& recovered) {
  if (options.use_snapshots) {
    LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> snapshot_ops, directory.ListSnapshots());
    for (uint64_t op : snapshot_ops) {
      absl::StatusOr<LoadedSnapshot> loaded = ReadSnapshot(directory, op);
      absl::StatusOr<std::unique_ptr<engine::Engine>> restored =
          loaded.ok() ? engine::Engine::Restore(options.engine, loaded->sections)
                      : absl::StatusOr<std::unique_ptr<engine::Engine>>(loaded.status());
      if (!restored.ok()) {
        recovered.notes.push_back(
            absl::StrCat("skipped snapshot at op ", op, ": ", restored.status().message()));
        continue;
      }
      recovered.engine = std::move(*restored);
      recovered.snapshot_op = op;
      return loaded->header.chain_hash;
    }
  }
  recovered.engine = std::make_unique<engine::Engine>(options.engine);
  return Hash128{};
}

}  // namespace

absl::StatusOr<Recovered> Recover(const Directory& directory, const RecoveryOptions& options) {
  Recovered recovered;
  LEDGER_ASSIGN_OR_RETURN(const Hash128 snapshot_chain_hash,
                          LoadNewestSnapshot(directory, options, recovered));

  const uint64_t snapshot_op = recovered.snapshot_op;
  ScanOptions scan_options;
  scan_options.trusted_through_op = 0;  // verify every body: it is cheap next to the disk read
  scan_options.progress = options.progress;
  engine::Engine& engine = *recovered.engine;
  bool snapshot_linked = snapshot_op == 0;
  LEDGER_ASSIGN_OR_RETURN(
      recovered.log,
      ScanLog(directory, scan_options,
              [&](const EntryHeader& header, std::span<const std::byte> body) -> absl::Status {
                // The snapshot must sit on the log's chain: its op's entry carries its chain
                // hash, or (when that entry's segment is archived) the next entry links to it.
                const bool at_snapshot = header.op == snapshot_op;
                const bool after_archived_snapshot =
                    snapshot_op > 0 && !snapshot_linked && header.op == snapshot_op + 1;
                if (at_snapshot || after_archived_snapshot) {
                  const Hash128& link =
                      at_snapshot ? header.chain_hash : header.previous_chain_hash;
                  if (link != snapshot_chain_hash) {
                    return absl::DataLossError(absl::StrCat(
                        "snapshot at op ", snapshot_op, " does not match the log's chain there"));
                  }
                  snapshot_linked = true;
                }
                if (header.op <= snapshot_op) return absl::OkStatus();
                ++recovered.replayed_entries;
                return ApplyEntry(engine, header, body);
              }));
  const ScanResult& log = recovered.log;
  if (log.archived_start && log.first_op > snapshot_op + 1) {
    return absl::DataLossError(absl::StrCat("segments before op ", log.first_op,
                                            " are archived and no snapshot covers them"));
  }
  if (!snapshot_linked) {
    return absl::DataLossError(
        absl::StrCat("snapshot at op ", snapshot_op, " is beyond the log's last op ", log.last_op));
  }
  if (log.torn_tail) {
    recovered.notes.push_back(absl::StrCat(
        "torn tail in ", directory.SegmentPath(log.torn_at.segment_index), " at offset ",
        log.torn_at.offset, " (", log.torn_reason, "); the log ends at op ", log.last_op));
    if (options.cut_torn_tail && directory.writable()) {
      LEDGER_RETURN_IF_ERROR(CutTail(directory, log.torn_at));
      recovered.notes.back() += "; cut";
    }
  }
  return recovered;
}

}  // namespace ledger::wal
