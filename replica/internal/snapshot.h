// Snapshots of the engine as files: a snapshot file with the state's mutable sections, and
// extent files with its append-only ones (docs/wal-format.md, "Snapshots and extents").
//
// Transfers and changes never change once booked, and a window of millions of them is most of
// a snapshot. So each snapshot writes only those booked since the previous one, into an extent
// file of its own (extent-<op>.snap), and names in its snapshot file the extents that hold the
// rest of its window, with how many of each extent's newest records belong to it. Changes go
// to the extent only while the change feed is longer than the interval between snapshots
// (otherwise no later snapshot shares them, and they go into the snapshot file). Extents are
// shared by later snapshots until the window has moved past them; a snapshot that would name
// more than extents_max writes its whole window into one new extent instead.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/snapshot.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"

namespace ledger::replica::internal {

// The snapshot file's section naming its extents (kinds below 64 are the engine's).
inline constexpr uint32_t kExtentRefsSection = 64;

// One extent a snapshot's window lies in: the newest transfer_count transfers and change_count
// changes of extent-<op>.snap belong to it (change_count 0 from engine snapshot format 4 on:
// the feed is derived at restore).
struct ExtentRef {
  uint64_t op;
  uint64_t transfer_count;
  uint64_t change_count;
  uint64_t reserved;           // zero
  wal::Hash128 body_checksum;  // the extent file's: a stale or foreign file is refused
};
static_assert(sizeof(ExtentRef) == 48);

// The extents of the newest snapshot written (or recovered), oldest first, and where they end:
// what the next capture leaves out.
struct ExtentChain {
  std::vector<ExtentRef> extents;
  uint64_t through_timestamp_ns = 0;  // they hold the transfers booked up to it
};

inline constexpr size_t kExtentsMax = 16;

// Writes snapshots with extents. Capture with NextCapture() on the engine's thread, then Write
// on any one thread at a time; the chain moves on only when a snapshot is durable.
class SnapshotWriter {
 public:
  SnapshotWriter(const wal::Directory& directory, ExtentChain chain,
                 size_t extents_max = kExtentsMax)
      : directory_(directory), chain_(std::move(chain)), extents_max_(extents_max) {}

  // What the next image may leave out: what the chain's extents hold.
  engine::CaptureOptions NextCapture() const;
  // Writes `image` (captured with NextCapture()) as the snapshot after `op`: its extent, then
  // its snapshot file. The log must be durable through op.
  absl::Status Write(const engine::EngineSnapshot& image, uint64_t op,
                     const wal::Hash128& chain_hash);
  // Deletes all but the newest `keep` snapshots, and every extent none of those names.
  absl::Status Prune(size_t keep);
  const ExtentChain& chain() const { return chain_; }

 private:
  const wal::Directory& directory_;
  ExtentChain chain_;
  size_t extents_max_;
  // The extents each kept snapshot names (by op), as written or read here: Prune reads a
  // snapshot file once, not at every snapshot (a whole read, the feed's 170 MB hashed, whose
  // large reads queued ahead of the cold store's page reads).
  std::map<uint64_t, std::vector<uint64_t>> extents_named_;
};

// A snapshot file read with its extents: the engine's sections (transfers and changes in
// pieces, from the extents), valid while this lives.
struct LoadedEngineSnapshot {
  wal::LoadedSnapshot snapshot;
  std::vector<wal::LoadedSnapshot> extents;
  std::vector<engine::SnapshotSection> sections;
  ExtentChain chain;  // empty for a snapshot written without extents
};
// DataLoss naming the file when the snapshot or an extent it names is missing, damaged, or not
// the extent it was written with. With BodyCheck::kLater, CheckBodies checks the files' bodies.
absl::StatusOr<LoadedEngineSnapshot> LoadSnapshot(const wal::Directory& directory, uint64_t op,
                                                  wal::BodyCheck check = wal::BodyCheck::kNow);
absl::Status CheckBodies(const LoadedEngineSnapshot& loaded);

}  // namespace ledger::replica::internal
