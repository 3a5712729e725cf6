// Snapshot files (wal/format.h): the engine's sections framed, with the op they follow, that
// op's chain hash and checksums over header and body.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/snapshot.h"
#include "wal/directory.h"
#include "wal/format.h"

namespace ledger::wal {

// Writes snapshot-<op>.snap under a temporary name, syncs it and renames it into place, so a
// crash leaves either the whole snapshot or none. The caller must make sure the log is durable
// through `op` first: a snapshot must never be ahead of the log.
absl::Status WriteSnapshot(const Directory& directory, uint64_t op, const Hash128& chain_hash,
                           const engine::EngineSnapshot& image);

struct LoadedSnapshot {
  SnapshotHeader header{};
  // The file is mapped, not read: a 1.5 GB snapshot is neither zero-filled nor copied (a
  // third of restore time when it was). `body` and `sections` point into the mapping.
  std::shared_ptr<const std::byte> mapping;
  std::span<const std::byte> body;
  std::vector<engine::SnapshotSection> sections;
};

// Reads and checks snapshot-<op>.snap: header, directory id, body checksum, section framing.
// DataLoss when any of it fails (the caller then tries an older snapshot).
absl::StatusOr<LoadedSnapshot> ReadSnapshot(const Directory& directory, uint64_t op);

// Deletes all but the newest `keep` snapshots.
absl::Status PruneSnapshots(const Directory& directory, size_t keep);

}  // namespace ledger::wal
