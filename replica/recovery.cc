#include "replica/recovery.h"

#include <future>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "replica/internal/apply.h"
#include "replica/internal/snapshot.h"
#include "replica/log_schema.h"
#include "wal/log_writer.h"
#include "wal/snapshot_file.h"

namespace ledger::replica {

using wal::Directory;
using wal::EntryHeader;
using wal::Hash128;
using wal::ScanResult;

namespace {

// The newest snapshot that reads and restores (each rejected one is noted), or an empty
// engine. Returns the chain hash at the snapshot's op.
absl::StatusOr<Hash128> LoadNewestSnapshot(const Directory& directory,
                                           const RecoveryOptions& options, Recovered& recovered) {
  if (options.use_snapshots) {
    LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> snapshot_ops, directory.ListSnapshots());
    for (uint64_t op : snapshot_ops) {
      absl::StatusOr<RestoredSnapshot> restored = RestoreSnapshot(directory, op, options.engine);
      if (!restored.ok()) {
        recovered.notes.push_back(
            absl::StrCat("skipped snapshot at op ", op, ": ", restored.status().message()));
        continue;
      }
      recovered.engine = std::move(restored->engine);
      recovered.snapshot_op = op;
      recovered.extent_chain = std::move(restored->extent_chain);
      return restored->header.chain_hash;
    }
  }
  recovered.engine = std::make_unique<engine::Engine>(options.engine);
  return Hash128{};
}

}  // namespace

absl::StatusOr<RestoredSnapshot> RestoreSnapshot(const Directory& directory, uint64_t op,
                                                 const engine::EngineOptions& options) {
  // The engine is built on another core while the files are read (both take about a second
  // for a server's).
  std::future<std::unique_ptr<engine::Engine>> fresh = std::async(
      std::launch::async, [&options] { return std::make_unique<engine::Engine>(options); });
  absl::StatusOr<internal::LoadedEngineSnapshot> loaded =
      internal::LoadSnapshot(directory, op, wal::BodyCheck::kLater);
  if (!loaded.ok()) {
    // Read again with each body checked first: a damaged file's checksum says why.
    const absl::Status checked = internal::LoadSnapshot(directory, op).status();
    return checked.ok() ? loaded.status() : checked;
  }
  // The files' checksums on another core while the engine restores from the same pages: the
  // restore checks every record itself, and a file that fails its checksum fails the snapshot
  // whatever the restore made of it (its error first: it says why).
  std::future<absl::Status> checked =
      std::async(std::launch::async, [&loaded] { return internal::CheckBodies(*loaded); });
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Restore(fresh.get(), loaded->sections);
  LEDGER_RETURN_IF_ERROR(checked.get());
  RestoredSnapshot restored;
  LEDGER_ASSIGN_OR_RETURN(restored.engine, std::move(engine));
  restored.header = loaded->snapshot.header;
  restored.file_bytes = sizeof(wal::SnapshotHeader) + loaded->snapshot.body.size();
  for (const wal::LoadedSnapshot& extent : loaded->extents) {
    restored.file_bytes += sizeof(wal::SnapshotHeader) + extent.body.size();
  }
  restored.extent_chain = std::move(loaded->chain);
  return restored;
}

absl::Status CheckSnapshotFiles(const Directory& directory, uint64_t op) {
  return internal::LoadSnapshot(directory, op).status();
}

absl::Status WriteSnapshot(const Directory& directory, uint64_t op, const Hash128& chain_hash,
                           const engine::Engine& engine) {
  internal::SnapshotWriter writer(directory, {});
  const std::unique_ptr<engine::EngineSnapshot> image = engine.CaptureSnapshot();
  return writer.Write(*image, op, chain_hash);
}

absl::StatusOr<Recovered> Recover(const Directory& directory, const RecoveryOptions& options) {
  LEDGER_ASSIGN_OR_RETURN(const bool installing, directory.InstallPending());
  if (installing) {
    return absl::FailedPreconditionError(
        "an install of a replica group leader's snapshot did not finish here (the INSTALL "
        "file): start the member in its group again, which clears it and installs anew");
  }
  LEDGER_RETURN_IF_ERROR(FinishCut(directory));
  LEDGER_ASSIGN_OR_RETURN(const std::optional<wal::DurableMark> durable_mark,
                          directory.ReadDurableMark());
  Recovered recovered;
  LEDGER_ASSIGN_OR_RETURN(const Hash128 snapshot_chain_hash,
                          LoadNewestSnapshot(directory, options, recovered));

  if (options.after_snapshot) LEDGER_RETURN_IF_ERROR(options.after_snapshot());
  const uint64_t snapshot_op = recovered.snapshot_op;
  wal::ScanOptions scan_options;
  scan_options.schema = LogSchema();
  scan_options.trusted_through_op = 0;  // verify every body read: cheap next to the disk read
  // From the segment holding the snapshot's op: recovery reads what the snapshot does not
  // cover, however long the history (ledger-wal verify reads the whole chain).
  scan_options.from_op = snapshot_op;
  scan_options.progress = options.progress;
  engine::Engine& engine = *recovered.engine;
  bool snapshot_linked = snapshot_op == 0;
  LEDGER_ASSIGN_OR_RETURN(
      recovered.log,
      wal::ScanLog(
          directory, scan_options,
          [&](const EntryHeader& header, std::span<const std::byte> body) -> absl::Status {
            // The snapshot must sit on the log's chain: its op's entry carries its chain
            // hash, or (when that entry's segment is archived) the next entry links to it.
            const bool at_snapshot = header.op == snapshot_op;
            const bool after_archived_snapshot =
                snapshot_op > 0 && !snapshot_linked && header.op == snapshot_op + 1;
            if (at_snapshot || after_archived_snapshot) {
              const Hash128& link = at_snapshot ? header.chain_hash : header.previous_chain_hash;
              if (link != snapshot_chain_hash) {
                return absl::DataLossError(absl::StrCat("snapshot at op ", snapshot_op,
                                                        " does not match the log's chain there"));
              }
              snapshot_linked = true;
            }
            if (header.op <= snapshot_op) return absl::OkStatus();
            ++recovered.replayed_entries;
            if (options.before_entry) LEDGER_RETURN_IF_ERROR(options.before_entry(engine, header));
            LEDGER_RETURN_IF_ERROR(internal::ApplyEntry(engine, header, body));
            return options.after_entry ? options.after_entry(engine, header) : absl::OkStatus();
          }));
  const ScanResult& log = recovered.log;
  if (log.archived_start && log.first_op > snapshot_op + 1) {
    return absl::DataLossError(absl::StrCat("segments before op ", log.first_op,
                                            " are archived and no snapshot covers them"));
  }
  // A log that starts after the snapshot (installed from a group's leader, replica/install.h,
  // or every segment archived): its first entry will link to the snapshot's op.
  if (!snapshot_linked && log.archived_start && log.entry_count == 0) {
    recovered.log.last_op = snapshot_op;
    recovered.log.last_chain_hash = snapshot_chain_hash;
    recovered.log.last_timestamp_ns = engine.last_timestamp_ns();
    snapshot_linked = true;
  }
  if (!snapshot_linked) {
    return absl::DataLossError(
        absl::StrCat("snapshot at op ", snapshot_op, " is beyond the log's last op ", log.last_op));
  }
  // A log shorter than the directory made durable is damage, however its end looks.
  LEDGER_RETURN_IF_ERROR(wal::CheckDurableMark(directory, durable_mark, log));
  if (log.torn_tail) {
    recovered.notes.push_back(absl::StrCat(
        "torn tail in ", directory.SegmentPath(log.torn_at.segment_index), " at offset ",
        log.torn_at.offset, " (", log.torn_reason, "); the log ends at op ", log.last_op, ": ",
        wal::TornTailMeaning(directory, log)));
    if (options.cut_torn_tail && directory.writable()) {
      LEDGER_RETURN_IF_ERROR(wal::CutTail(directory, log.torn_at));
      recovered.notes.back() += "; cut";
    }
  }
  return recovered;
}

}  // namespace ledger::replica
