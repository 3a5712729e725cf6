// A data directory: the identity file "LEDGER", WAL segments, snapshots and their extents
// (wal/format.h), on a Storage (wal/storage.h; the real file system unless a test hands in
// another).
//
// A directory is created explicitly (Init), so a mistyped path never silently starts an
// empty ledger, and it is held with an exclusive lock (flock) as long as a writable Directory
// object lives, so two processes never append to one log.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/format.h"
#include "wal/storage.h"

namespace ledger::wal {

struct InitOptions {
  // Fixed for the directory's life. 256 MiB: a few seconds of log at full speed, so a
  // segment switch (create, preallocate, sync) is rare; large enough for any group.
  uint64_t segment_size_bytes = uint64_t{256} << 20;
};
inline constexpr uint64_t kSegmentSizeMinBytes = uint64_t{4} << 20;  // > any group

// How far the log was made durable in a directory (the DURABLE file, wal/format.h).
struct DurableMark {
  uint64_t segment_index = 0;  // the newest segment created
  uint64_t op = 0;             // every op through this one was durable in the log
  friend bool operator==(const DurableMark&, const DurableMark&) = default;
};

class Directory {
 public:
  // Creates `path` (it must not exist, or be an empty directory) with its identity file and
  // first segment, all synced.
  static absl::Status Init(const std::string& path, const InitOptions& options,
                           Storage& storage = Storage::Posix());
  // Opens an initialised directory. Writable opens take the lock (Unavailable when another
  // process holds it) and delete temporaries a crash left behind. FailedPrecondition when
  // `path` is not a data directory (no identity file), DataLoss when its identity file is
  // damaged or of another format version.
  static absl::StatusOr<std::unique_ptr<Directory>> Open(const std::string& path, bool writable,
                                                         Storage& storage = Storage::Posix());

  const std::string& path() const { return path_; }
  const IdentityFile& identity() const { return identity_; }
  uint64_t segment_size_bytes() const { return identity_.segment_size_bytes; }
  bool writable() const { return writable_; }
  // Where every file of the directory is read and written; outlives the Directory.
  Storage& storage() const { return storage_; }

  // Segment indexes present, ascending, and snapshot ops present, descending; extent ops
  // (snapshot_file.h), ascending.
  absl::StatusOr<std::vector<uint64_t>> ListSegments() const;
  absl::StatusOr<std::vector<uint64_t>> ListSnapshots() const;
  absl::StatusOr<std::vector<uint64_t>> ListExtents() const;
  std::string SegmentPath(uint64_t segment_index) const;
  std::string SnapshotPath(uint64_t op) const;
  std::string ExtentPath(uint64_t op) const;

  // Creates segment `segment_index`: preallocated, header written, file and directory synced.
  // PrepareSegment then PublishSegment.
  absl::Status CreateSegment(uint64_t segment_index) const;
  // Builds segment `segment_index` under its temporary name ("wal-<index>.seg.tmp", which
  // readers never see and a writable open removes), preallocated with its header, synced: the
  // log writer keeps the next segment prepared so that the disk filling up never fails a
  // group (wal/log_writer.h). Nothing is left behind when it fails.
  absl::Status PrepareSegment(uint64_t segment_index) const;
  // Renames a prepared segment into place and syncs the directory: no space needed.
  absl::Status PublishSegment(uint64_t segment_index) const;
  // Reads and checks a segment's header (FailedPrecondition when foreign or malformed).
  absl::Status CheckSegmentHeader(File& segment, uint64_t segment_index) const;
  absl::Status SyncDirectory() const;

  // The highest epoch of a replica group this member has seen (the epoch file, wal/format.h);
  // 0 when none. DataLoss when the file is damaged or another directory's.
  absl::StatusOr<uint64_t> ReadEpoch() const;
  // Replaces it, durably (writable directories only).
  absl::Status WriteEpoch(uint64_t epoch) const;

  // How far the log was made durable here: recovery and verify refuse a log that ends before
  // it (CheckDurableMark, wal/log_reader.h). nullopt when the directory has none (made before
  // it existed); DataLoss when both slots are damaged or another directory's.
  absl::StatusOr<std::optional<DurableMark>> ReadDurableMark() const;
  // Records `mark` durably in the slot after the newest (writable directories only), and
  // returns that record's sequence. The log writer raises it; only a cut of the log lowers it.
  absl::StatusOr<uint64_t> WriteDurableMark(const DurableMark& mark) const;
  // For the one writer that raises the mark before every group (the log writer), with the
  // file held open and its sequence known: fills `slot` (kBlockBytes) with record `sequence`
  // holding `mark`, and returns the slot's offset in the file, where it is written in place
  // and synced. A torn write spoils that slot only; the other keeps the mark before.
  uint64_t FillDurableSlot(uint64_t sequence, const DurableMark& mark,
                           std::span<std::byte> slot) const;
  std::string DurableMarkPath() const;

  // A replica group's member whose damaged log was cut (replica::CutDamagedLog) lacks entries
  // its group committed: the REPAIR file, while it exists, keeps it from leading until it has
  // caught up. Set and cleared durably (writable directories only).
  absl::StatusOr<bool> RepairPending() const;
  absl::Status SetRepairPending(bool pending) const;

  // A member installing its leader's snapshot and cold store (replica/install.h) marks its
  // directory first: the INSTALL file, while it exists, says what the directory holds is an
  // install that did not finish, to be cleared (replica::AbandonInstall), never recovered.
  absl::StatusOr<bool> InstallPending() const;
  absl::Status SetInstallPending(bool pending) const;

 private:
  explicit Directory(Storage& storage) : storage_(storage) {}
  absl::Status RemoveTemporaries() const;
  // The empty marker files (REPAIR, INSTALL): present or not, set durably.
  absl::StatusOr<bool> MarkPresent(const char* name) const;
  absl::Status SetMark(const char* name, bool present) const;
  // The valid slot of the DURABLE file with the higher sequence; nullopt when there is no
  // file.
  absl::StatusOr<std::optional<DurableRecord>> ReadDurableRecord() const;

  Storage& storage_;
  std::string path_;
  IdentityFile identity_{};
  bool writable_ = false;
  std::unique_ptr<File> identity_file_;  // locked while writable
};

}  // namespace ledger::wal
