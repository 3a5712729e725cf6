// The engine's snapshot image as wal/ writes and reads snapshot files: sections of records.
#pragma once

#include <span>
#include <vector>

#include "engine/snapshot.h"
#include "wal/snapshot_file.h"

namespace ledger::replica::internal {

// Streams an engine image into a snapshot file. Borrows `image` for its lifetime.
class EngineSnapshotSource final : public wal::SnapshotSource {
 public:
  explicit EngineSnapshotSource(const engine::EngineSnapshot& image) : image_(image) {}
  uint64_t last_timestamp_ns() const override { return image_.last_timestamp_ns(); }
  absl::Status Stream(StartSection start, WriteBytes write) const override {
    return image_.Stream(
        [&](engine::SnapshotSectionKind kind, uint32_t record_size_bytes, uint64_t size_bytes) {
          return start(static_cast<uint32_t>(kind), record_size_bytes, size_bytes);
        },
        write);
  }

 private:
  const engine::EngineSnapshot& image_;
};

// A snapshot file's sections as the engine restores them (kinds the engine does not know are
// passed on: Restore refuses them).
inline std::vector<engine::SnapshotSection> EngineSections(
    std::span<const wal::SnapshotSection> sections) {
  std::vector<engine::SnapshotSection> out;
  out.reserve(sections.size());
  for (const wal::SnapshotSection& section : sections) {
    out.push_back({static_cast<engine::SnapshotSectionKind>(section.kind),
                   section.record_size_bytes, section.bytes});
  }
  return out;
}

}  // namespace ledger::replica::internal
