// A replica group's state moved to a new member (docs/replication.md, "A new member"). A leader
// whose log no longer starts at op 1 (ledger-wal archive moved its old segments away) cannot
// send a member on a new directory its whole log: it sends its newest snapshot (the engine's
// sections, which say nothing of the directory they were written in) and its cold store's runs
// (facts never change: the same bytes serve every member), then the log after the snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/snapshot.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/storage.h"

namespace ledger::replica {

// XXH3-128 over sections as sent (each one's kind, record size, length and bytes): the
// receiving member checks what arrived whole before it restores it.
wal::Hash128 SectionsChecksum(std::span<const engine::SnapshotSection> sections);

// What a member sends: its newest snapshot that loads, read and checked with its extents, and
// the runs its cold store held once the snapshot was read (every fact the snapshot left out of
// memory is in them; a later run holds committed facts the log after the snapshot books again,
// which a store takes as written). Reads on any thread, one at a time.
class SnapshotImage {
 public:
  // NotFound when the directory holds no snapshot that loads; DataLoss when its cold store
  // lacks a run.
  static absl::StatusOr<std::unique_ptr<SnapshotImage>> Open(const wal::Directory& directory);
  ~SnapshotImage();

  uint64_t op() const { return op_; }
  const wal::Hash128& chain_hash() const { return chain_hash_; }
  // The engine's sections, transfers and changes in pieces (engine/snapshot.h), valid while
  // this lives.
  std::span<const engine::SnapshotSection> sections() const;

  struct ColdRun {
    uint64_t sequence;
    uint64_t size_bytes;
  };
  const std::vector<ColdRun>& cold_runs() const { return cold_runs_; }
  // Bytes of cold_runs()[index] from `offset`; OutOfRange past its end.
  absl::Status ReadColdRun(size_t index, uint64_t offset, std::span<std::byte> out) const;

 private:
  struct Loaded;
  SnapshotImage() = default;

  uint64_t op_ = 0;
  wal::Hash128 chain_hash_;
  std::unique_ptr<Loaded> loaded_;
  std::vector<ColdRun> cold_runs_;
  std::vector<std::unique_ptr<wal::File>> cold_files_;  // open: a run is never replaced
};

// An image installed on a member whose directory holds nothing yet. The directory is marked
// (INSTALL, wal/directory.h) until Finish: a crash leaves a marked directory, which
// AbandonInstall empties again. Needs the directory writable and no replica open on it.
class Installation {
 public:
  // FailedPrecondition, naming what it holds, when the directory holds a logged entry, a
  // snapshot or a cold run (an install that did not finish is cleared first).
  static absl::StatusOr<std::unique_ptr<Installation>> Begin(const wal::Directory& directory);
  ~Installation();

  // Cold run `sequence`, `size_bytes` long: its bytes in order through WriteColdRun, durable
  // and in place after EndColdRun (InvalidArgument when the sizes disagree or the sequence
  // does not follow the last).
  absl::Status StartColdRun(uint64_t sequence, uint64_t size_bytes);
  absl::Status WriteColdRun(std::span<const std::byte> bytes);
  absl::Status EndColdRun();

  // Checks `sections` against `sections_checksum` (SectionsChecksum) and every chunk of the
  // cold store written, restores `sections` over it (Restore trusts
  // nothing; `options` are the member's own), writes them as this directory's snapshot after
  // `op`, whose chain hash is `chain_hash`, starts the log after it (its first segment is
  // then 1: the entries before op are not here) and clears the mark. DataLoss when the image
  // does not hold together; the directory then stays marked.
  absl::Status Finish(uint64_t op, const wal::Hash128& chain_hash,
                      std::span<const engine::SnapshotSection> sections,
                      const wal::Hash128& sections_checksum, engine::EngineOptions options);

 private:
  explicit Installation(const wal::Directory& directory) : directory_(directory) {}

  const wal::Directory& directory_;
  uint64_t next_sequence_ = 1;
  std::unique_ptr<wal::File> run_file_;  // the run being written, under its temporary name
  uint64_t run_sequence_ = 0;
  uint64_t run_size_bytes_ = 0;
  uint64_t run_written_bytes_ = 0;
};

// Empties a directory an install did not finish in (a crash, or an image that did not hold
// together): its snapshots, extents, cold runs and later segments go, the first segment is
// empty again, and the mark is cleared. Nothing else was ever in it. OK when not marked.
absl::Status AbandonInstall(const wal::Directory& directory);

}  // namespace ledger::replica
