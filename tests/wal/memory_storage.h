// A disk in memory behind the storage seam (wal/storage.h), for tests: it keeps POSIX's
// contract (tests/wal/storage_test.cc holds it to the same cases as the real file system)
// and remembers what is durable, so Crash() can forget the rest: file bytes not synced,
// directory entries (creates, renames, removes) not made durable by SyncDirectory.
// `fault` may fail any operation before it happens; a bad sector (MarkBadSectors) fails every
// read of it, whenever it happens; SetLatency pauses each operation for a while. Thread-safe
// (the log writer, the snapshot thread and the cold store's writer use it at once).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "wal/storage.h"

namespace ledger::wal::testing {

class MemoryStorage final : public Storage {
 public:
  // Called before each operation with its name ("open", "read", "write", "sync", "allocate",
  // "zero", "list", "create directory", "rename", "remove", "sync directory") and path; a
  // status that is not ok fails the operation, which then changes nothing.
  std::function<absl::Status(std::string_view operation, const std::string& path)> fault;

  // Called before each write with its path, offset and size; a value sends the write there
  // instead (a misdirected write: the right bytes at the wrong offset, reported as done).
  std::function<std::optional<uint64_t>(const std::string& path, uint64_t offset,
                                        uint64_t size_bytes)>
      misdirect;

  // A failed "sync" (from `fault`) drops the file's unsynced pages, as Linux does after a
  // writeback error (fsyncgate): reads then see what was durable.
  bool failed_sync_drops_pages = false;

  // The machine stops: what was not durable is gone, and every operation fails (Unavailable)
  // until Restart, on files opened before the crash for ever. With `tear`, each write since
  // its file's last sync may have reached the disk in part: none, all, a random set of its
  // 512-byte sectors, or a prefix cut at any byte (a disk tears writes so).
  void Crash(std::mt19937_64* tear = nullptr);
  // The machine is back: locks are free, and the durable state is what everyone sees.
  void Restart();
  // Whether anything (file or directory) exists at path.
  bool Exists(const std::string& path) const;

  // The medium fails under [offset, offset + length) of the file at path: every 512-byte
  // sector it touches stops reading (a read touching one fails with DataLoss, as EIO; so does
  // mapping the file, where Linux would raise SIGBUS at the first touch of the page) until a
  // write or a Zero covers the sector whole (the drive remaps it) or a Truncate frees it. It
  // lasts through crashes.
  // NotFound when there is no such file. Faults and latency do not apply.
  absl::Status MarkBadSectors(const std::string& path, uint64_t offset, uint64_t length);
  // Reads and maps that failed on a bad sector so far.
  uint64_t bad_sector_reads() const { return bad_sector_reads_.load(); }
  // Bad sectors in the files that exist now.
  uint64_t bad_sector_count() const;
  // While one lives, reads on its thread see through bad sectors: a test's own view of the
  // disk (its oracle), not the system's.
  class SeeThroughBadSectors {
   public:
    SeeThroughBadSectors();
    ~SeeThroughBadSectors();
    SeeThroughBadSectors(const SeeThroughBadSectors&) = delete;
    SeeThroughBadSectors& operator=(const SeeThroughBadSectors&) = delete;
  };

  // Before each operation, a pause drawn from `seed`: up to max_ns for a sync, a quarter of
  // it for anything else (0: none, the default). The threads sharing the disk then interleave
  // differently; which pause each operation gets depends on their order.
  void SetLatency(uint64_t max_ns, uint64_t seed);

  // A file of a directory as reads see it, for tests choosing one.
  struct FileInfo {
    std::string name;
    uint64_t size_bytes = 0;
    // Past its last byte that is not zero: a preallocated block never written reads as zeros
    // without reaching the disk (an unwritten extent), so only what lies before it can meet a
    // bad sector.
    uint64_t data_end = 0;
  };
  // Faults and latency do not apply.
  std::vector<FileInfo> FilesIn(const std::string& directory) const;

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path,
                                             const OpenOptions& options) override;
  absl::StatusOr<std::vector<std::string>> List(const std::string& directory) override;
  absl::Status CreateDirectory(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status SyncDirectory(const std::string& path) override;

  struct Inode {
    std::vector<std::byte> bytes;                         // what reads see
    std::vector<std::byte> durable;                       // what survives a crash
    std::vector<std::pair<uint64_t, uint64_t>> unsynced;  // writes since the last sync
    std::set<uint64_t> bad_sectors;                       // indexes of 512-byte sectors
    bool locked = false;
  };
  struct Folder {
    std::map<std::string, std::shared_ptr<Inode>> entries;  // by name
    std::map<std::string, std::shared_ptr<Inode>> durable_entries;
  };

 private:
  friend class MemoryFile;
  static constexpr uint64_t kSectorBytes = 512;
  // Pauses (SetLatency), then asks `fault`.
  absl::Status Fault(std::string_view operation, const std::string& path) const;
  // DataLoss when [offset, offset + length) of `inode` touches a bad sector. Needs mutex_.
  absl::Status CheckReadable(const Inode& inode, const std::string& what, const std::string& path,
                             uint64_t offset, uint64_t length) const;
  // A write or Zero over [offset, offset + length) remaps the bad sectors it covers whole.
  static void Remap(Inode& inode, uint64_t offset, uint64_t length);
  // Unavailable while down, or for a file opened before the last crash. Needs mutex_.
  absl::Status Up(uint64_t generation) const;
  // The folder holding path and path's name in it; NotFound when there is no such folder.
  absl::StatusOr<std::pair<Folder*, std::string>> Locate(const std::string& path);
  // What of `inode`'s unsynced writes reached the disk at a crash. Needs mutex_.
  static void Tear(Inode& inode, std::mt19937_64& random);

  mutable std::mutex mutex_;
  bool down_ = false;
  uint64_t generation_ = 0;                // crashes so far
  std::map<std::string, Folder> folders_;  // by path; created durable (a simplification)
  mutable std::atomic<uint64_t> bad_sector_reads_{0};
  std::atomic<uint64_t> latency_max_ns_{0};
  std::atomic<uint64_t> latency_seed_{0};
  mutable std::atomic<uint64_t> latency_draws_{0};
};

}  // namespace ledger::wal::testing
