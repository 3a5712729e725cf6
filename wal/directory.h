// A data directory: the identity file "LEDGER", WAL segments and snapshots (wal/format.h).
//
// A directory is created explicitly (Init), so a mistyped path never silently starts an
// empty ledger, and it is held with an exclusive flock for as long as a writable Directory
// object lives, so two processes never append to one log.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/format.h"
#include "wal/internal/io.h"

namespace ledger::wal {

struct InitOptions {
  // Fixed for the directory's life. 256 MiB: a few seconds of log at full speed, so a
  // segment switch (create, preallocate, sync) is rare; large enough for any group.
  uint64_t segment_size_bytes = uint64_t{256} << 20;
};
inline constexpr uint64_t kSegmentSizeMinBytes = uint64_t{4} << 20;  // > any group

class Directory {
 public:
  // Creates `path` (it must not exist, or be an empty directory) with its identity file and
  // first segment, all synced.
  static absl::Status Init(const std::string& path, const InitOptions& options);
  // Opens an initialised directory. Writable opens take the lock (Unavailable when another
  // process holds it) and delete temporaries a crash left behind. FailedPrecondition when
  // `path` is not a data directory.
  static absl::StatusOr<std::unique_ptr<Directory>> Open(const std::string& path, bool writable);

  const std::string& path() const { return path_; }
  const IdentityFile& identity() const { return identity_; }
  uint64_t segment_size_bytes() const { return identity_.segment_size_bytes; }
  bool writable() const { return writable_; }

  // Segment indexes present, ascending, and snapshot ops present, descending.
  absl::StatusOr<std::vector<uint64_t>> ListSegments() const;
  absl::StatusOr<std::vector<uint64_t>> ListSnapshots() const;
  std::string SegmentPath(uint64_t segment_index) const;
  std::string SnapshotPath(uint64_t op) const;

  // Creates segment `segment_index`: preallocated, header written, file and directory synced.
  absl::Status CreateSegment(uint64_t segment_index) const;
  // Reads and checks a segment's header (FailedPrecondition when foreign or malformed).
  absl::Status CheckSegmentHeader(int fd, uint64_t segment_index) const;
  absl::Status SyncDirectory() const;

 private:
  Directory() = default;
  absl::Status RemoveTemporaries() const;

  std::string path_;
  IdentityFile identity_{};
  bool writable_ = false;
  internal::FileDescriptor lock_fd_;  // the identity file, flocked while writable
};

}  // namespace ledger::wal
