// Snapshot files (wal/format.h): sections of fixed-size records handed in by the layer above
// (replica/ hands the engine's), framed, with the op they follow, that op's chain hash and
// checksums over header and body. wal/ knows nothing of what the records mean.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/directory.h"
#include "wal/format.h"

namespace ledger::wal {

// What a snapshot holds: sections, each of records of one size, streamed in order.
class SnapshotSource {
 public:
  using StartSection = absl::FunctionRef<absl::Status(uint32_t kind, uint32_t record_size_bytes,
                                                      uint64_t size_bytes)>;
  using WriteBytes = absl::FunctionRef<absl::Status(std::span<const std::byte>)>;

  virtual ~SnapshotSource() = default;
  // The state's last timestamp (kept in the header for operators' tools).
  virtual uint64_t last_timestamp_ns() const = 0;
  // For each section: start(its kind, record size, size in bytes), then its bytes through
  // write(), in pieces. An error from either stops the stream and is returned.
  virtual absl::Status Stream(StartSection start, WriteBytes write) const = 0;
};

struct SnapshotSection {
  uint32_t kind;
  uint32_t record_size_bytes;
  std::span<const std::byte> bytes;
};

// Writes snapshot-<op>.snap under a temporary name, syncs it and renames it into place, so a
// crash leaves either the whole snapshot or none. The caller must make sure the log is durable
// through `op` first: a snapshot must never be ahead of the log.
absl::Status WriteSnapshot(const Directory& directory, uint64_t op, const Hash128& chain_hash,
                           const SnapshotSource& source);

struct LoadedSnapshot {
  std::string path;
  SnapshotHeader header{};
  // The file is mapped, not read: a 1.5 GB snapshot is neither zero-filled nor copied (a
  // third of restore time when it was). `body` and `sections` point into the mapping.
  std::shared_ptr<const std::byte> mapping;
  std::span<const std::byte> body;
  std::vector<SnapshotSection> sections;
};

// Whether a read checks the body's checksum before it returns, or leaves it to CheckBody: a
// restore that checks every record itself runs it beside, on another core, over the same
// pages (a second of recovery for a window of millions of transfers).
enum class BodyCheck { kNow, kLater };

// Reads and checks snapshot-<op>.snap: header, directory id, body checksum, section framing.
// DataLoss when any of it fails (the caller then tries an older snapshot).
absl::StatusOr<LoadedSnapshot> ReadSnapshot(const Directory& directory, uint64_t op,
                                            BodyCheck check = BodyCheck::kNow);
// The body checksum of a file read with BodyCheck::kLater. DataLoss naming the file.
absl::Status CheckBody(const LoadedSnapshot& loaded);

// Extent files (extent-<op>.snap): framed, checked and written exactly as snapshots are, with
// the op and chain hash of the snapshot they were written for. The layer above puts in them
// the records a snapshot shares with later ones, and names them from its snapshot files.
// Returns the header written (its body checksum identifies the file).
absl::StatusOr<SnapshotHeader> WriteExtent(const Directory& directory, uint64_t op,
                                           const Hash128& chain_hash, const SnapshotSource& source);
absl::StatusOr<LoadedSnapshot> ReadExtent(const Directory& directory, uint64_t op,
                                          BodyCheck check = BodyCheck::kNow);

// Deletes all but the newest `keep` snapshots.
absl::Status PruneSnapshots(const Directory& directory, size_t keep);

}  // namespace ledger::wal
