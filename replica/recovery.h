// Recovery: the newest valid snapshot, then every later entry of the log replayed through the
// engine, after verifying the whole log (wal/log_reader.h). A torn tail is cut (zeroed) and
// reported; corruption is refused with DataLoss and nothing is changed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "replica/internal/snapshot.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_reader.h"
#include "wal/snapshot_file.h"

namespace ledger::replica {

struct RecoveryOptions {
  engine::EngineOptions engine;
  bool use_snapshots = true;  // false: replay from genesis (the tools' `replay --full`)
  // Cut a torn tail (needs a writable directory). Read-only recovery only reports it.
  bool cut_torn_tail = true;
  std::function<void(uint64_t bytes_read)> progress;
  // Around each entry replayed (a windowed engine's cooler moves old facts out meanwhile).
  std::function<absl::Status(engine::Engine&, const wal::EntryHeader&)> before_entry;
  std::function<absl::Status(engine::Engine&, const wal::EntryHeader&)> after_entry;
  // Once the snapshot is loaded, before the log is read (a replica's cold store finishes
  // loading its ids meanwhile, on another thread).
  std::function<absl::Status()> after_snapshot;
};

struct Recovered {
  std::unique_ptr<engine::Engine> engine;
  wal::ScanResult log;       // what the scan found (end, last op, chain, torn tail)
  uint64_t snapshot_op = 0;  // 0: started from an empty engine
  uint64_t replayed_entries = 0;
  internal::ExtentChain extent_chain;  // the snapshot's extents, which the next one shares
  std::vector<std::string> notes;      // snapshots skipped, tail cut: for the operator's log
};

absl::StatusOr<Recovered> Recover(const wal::Directory& directory, const RecoveryOptions& options);

// One snapshot file read with its extents, checked and restored into an engine
// (Engine::Restore trusts nothing).
struct RestoredSnapshot {
  std::unique_ptr<engine::Engine> engine;
  wal::SnapshotHeader header{};
  uint64_t file_bytes = 0;  // the snapshot file's and its extents'
  internal::ExtentChain extent_chain;
};
absl::StatusOr<RestoredSnapshot> RestoreSnapshot(const wal::Directory& directory, uint64_t op,
                                                 const engine::EngineOptions& options);

// Reads a snapshot file and the extents it names and checks them (checksums, framing, that
// each extent is the one named), without restoring.
absl::Status CheckSnapshotFiles(const wal::Directory& directory, uint64_t op);

// A member of a replica group drops the entries a new epoch does not have
// (docs/replication.md): afterwards the log ends with `op`, whose chain hash must be
// `chain_hash` (any for op 0). Crash-safe: the entries kept from the group holding `op` wait
// in the cut file (wal/format.h) until appended again, and Recover finishes a cut it finds.
// FailedPrecondition when the log does not hold `op` with that hash or a snapshot lies past
// it; then nothing changes. Needs the directory writable and no replica open on it.
absl::Status CutLogAfter(const wal::Directory& directory, uint64_t op,
                         const wal::Hash128& chain_hash);
// A replica group's member whose log is damaged before its end (DataLoss: not a torn tail)
// keeps what lies before the damage and takes the rest from its leader again: the log is cut
// after the last op of the last intact group, as CutLogAfter does, and the op it now ends with
// returned. A log that reads back whole but ends before its durable mark (its newest entries
// lost: wal::CheckDurableMark) keeps what it holds: a torn tail is cut and the mark lowered.
// FailedPrecondition when the log is intact or a snapshot lies past the damage.
absl::StatusOr<uint64_t> CutDamagedLog(const wal::Directory& directory);
// Finishes a cut in progress, if any (Recover calls it first). FailedPrecondition when one is
// in progress and the directory is read-only; DataLoss when the cut file is damaged.
absl::Status FinishCut(const wal::Directory& directory);

// Writes a snapshot of `engine` as the state after `op`, whose chain hash is `chain_hash` (the
// log must be durable through op). For tools and tests; a replica snapshots by itself.
absl::Status WriteSnapshot(const wal::Directory& directory, uint64_t op,
                           const wal::Hash128& chain_hash, const engine::Engine& engine);

}  // namespace ledger::replica
