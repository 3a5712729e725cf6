// The storage seam: every byte the log, its directory and its snapshots read or write goes
// through a Storage and the Files it opens, so a simulated disk (one that tears, misdirects
// or loses writes) can stand in for the real one, as LevelDB's Env and TigerBeetle's Storage
// allow. Storage::Posix() is the real file system; the log writer's io_uring path is its fast
// way to write durably (DurableWriter), not something the writer knows.
//
// The contract is POSIX's, narrowed to what wal/ needs; an implementation must keep it
// exactly (tests/wal/storage_test.cc runs the same cases against each):
// - a write is durable only after a Sync of its file that returned ok; once a Sync fails,
//   what reached the disk is unknown (the writer stops);
// - a create, rename or remove is durable only after SyncDirectory of its directory;
// - Rename replaces its target atomically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ledger::wal {

// How a mapping will be read: all of it in order (a snapshot: read ahead, populated at once),
// or a few pages here and there (the cold store's runs: only what is touched is read).
enum class MapAccess { kSequential, kRandom };

struct OpenOptions {
  bool writable = false;
  // Create the file (writable), for its owner only (Posix: 0600 whatever the umask);
  // AlreadyExists when it exists.
  bool create_new = false;
  // Bypass the page cache where the storage can (O_DIRECT; offsets and sizes then whole
  // blocks), and quietly not where it cannot (tmpfs): durability never depends on it.
  bool direct = false;
};

class File {
 public:
  virtual ~File() = default;
  const std::string& path() const { return path_; }

  // Exactly bytes.size() bytes at offset; OutOfRange when the file ends first.
  virtual absl::Status Read(uint64_t offset, std::span<std::byte> bytes) = 0;
  // All of bytes at offset, growing the file if needed; not durable until Sync.
  virtual absl::Status Write(uint64_t offset, std::span<const std::byte> bytes) = 0;
  // Makes every write so far durable (data and the size needed to read it back).
  virtual absl::Status Sync() = 0;
  virtual absl::StatusOr<uint64_t> Size() = 0;
  // Grows the file to size_bytes with its blocks reserved, reading as zeros, so later writes
  // in place never allocate (and never find the disk full).
  virtual absl::Status Allocate(uint64_t size_bytes) = 0;
  // Cuts or grows (with zeros) the file to size_bytes; not durable until Sync.
  virtual absl::Status Truncate(uint64_t size_bytes) = 0;
  // Makes [offset, offset + length) read as zeros, size unchanged; not durable until Sync.
  virtual absl::Status Zero(uint64_t offset, uint64_t length) = 0;
  // An exclusive lock for as long as this File lives; Unavailable when another holds it.
  virtual absl::Status LockExclusive() = 0;
  // The first size_bytes of the file, read-only, valid while the pointer lives: mapped where
  // the storage can (a 1.5 GB snapshot is then neither zero-filled nor copied).
  virtual absl::StatusOr<std::shared_ptr<const std::byte>> MapReadOnly(
      uint64_t size_bytes, MapAccess access = MapAccess::kSequential) = 0;
  // A hint: the pages of `mapping` (from MapReadOnly) this process has read may leave its
  // resident memory; the mapping stays valid and reads them again from the page cache or the
  // disk. The cold store calls it so its mapped runs do not grow the process's RSS with what
  // lookups touched. The default does nothing.
  virtual void DropMappedPages(const std::byte* mapping, uint64_t size_bytes) {
    (void)mapping;
    (void)size_bytes;
  }
  // A hint: [address, address + size_bytes) of a mapping from MapReadOnly will be read soon;
  // the storage may start reading it from the disk now, so that several pages wanted together
  // are read side by side, not one after the other. The default does nothing.
  virtual void PrefetchMapped(const std::byte* address, uint64_t size_bytes) const {
    (void)address;
    (void)size_bytes;
  }

 protected:
  explicit File(std::string path) : path_(std::move(path)) {}

 private:
  std::string path_;
};

// How the log writer's groups reach the disk durably. Each write's bytes lie within one of
// the buffers the writer was created with (a storage may register them with the kernel).
class DurableWriter {
 public:
  virtual ~DurableWriter() = default;
  // For operators: "io_uring (registered buffers, RWF_DSYNC)", or "pwrite+fdatasync (why)".
  virtual const std::string& name() const = 0;
  // `file` comes from the same Storage. Returns once the bytes are durable.
  virtual absl::Status WriteDurable(File& file, uint64_t offset, std::span<const std::byte> bytes,
                                    int buffer_index) = 0;
};

class Storage {
 public:
  // The real file system (shared, stateless).
  static Storage& Posix();

  virtual ~Storage() = default;
  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path,
                                                     const OpenOptions& options) = 0;
  // The names in a directory, without "." and ".."; NotFound when it is not a directory.
  virtual absl::StatusOr<std::vector<std::string>> List(const std::string& directory) = 0;
  // For its owner only (Posix: 0700 whatever the umask). AlreadyExists when something exists
  // at path.
  virtual absl::Status CreateDirectory(const std::string& path) = 0;
  // Replaces `to` atomically.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // NotFound when absent.
  virtual absl::Status Remove(const std::string& path) = 0;
  // Makes the creates, renames and removes in a directory durable.
  virtual absl::Status SyncDirectory(const std::string& path) = 0;
  // The log writer's way to the disk over `buffers`; `fast_path` false asks for the plain
  // Write + Sync that every storage has (the default). A storage with no faster way ignores
  // it.
  virtual std::unique_ptr<DurableWriter> NewDurableWriter(
      std::span<const std::span<std::byte>> buffers, bool fast_path);
};

// A failed system call on a file as a Status naming it: "read PATH: Input/output error". The
// medium's errors (EIO, and a file system's own checksum failures) are DataLoss, as the
// simulated disk's bad sectors are, so recovery refuses them as damage, naming the file; a full
// disk is ResourceExhausted; a missing file NotFound.
absl::Status ErrnoStatus(const std::string& what, const std::string& path, int error);

// Write + Sync, named `name`: what any storage can do.
std::unique_ptr<DurableWriter> NewSyncingWriter(std::string name);

// A file built under a temporary name and renamed into place once whole: removed when the
// guard goes out of scope unless Keep() was called, so a build that failed (the disk full
// half way through a snapshot) leaves nothing behind to fill it further.
class TemporaryFile {
 public:
  TemporaryFile(Storage& storage, std::string path) : storage_(storage), path_(std::move(path)) {}
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile();

  const std::string& path() const { return path_; }
  void Keep() { kept_ = true; }

 private:
  Storage& storage_;
  std::string path_;
  bool kept_ = false;
};

// Writes a file front to back in whole 4 KiB blocks from an aligned buffer, so the file can be
// opened with OpenOptions::direct and written around the page cache (copying a cold run or a
// snapshot into fresh cache pages cost a sixth of a busy server's CPU). Put places bytes at or
// past the end of what was put before (a gap reads as zeros); Finish pads the last block with
// zeros and writes it. The first block is kept as written, for a header known only at the end
// (RewriteFirstBlock).
class BlockWriter {
 public:
  static constexpr uint64_t kBlockBytes = 4096;
  // The write size for files written beside the log while it takes batches (snapshots and
  // their extents, the cold store's runs and filter). The log's group writes, which every
  // acknowledgement waits on, queue behind whatever is in flight on the disk: with 1 and
  // 4 MiB writes here, a 16M-transfer window with a snapshot every 2M transfers booked 13% to
  // 28% less than with 256 KiB (docs/benchmarks.md, "Writes beside the log").
  static constexpr uint64_t kBesideTheLogBytes = uint64_t{256} << 10;
  // buffer_bytes: a multiple of kBlockBytes, the size of each write.
  BlockWriter(File& file, uint64_t buffer_bytes);
  ~BlockWriter();
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  absl::Status Put(uint64_t offset, std::span<const std::byte> bytes);
  absl::Status Append(std::span<const std::byte> bytes) { return Put(end(), bytes); }
  absl::Status Finish();
  // After Finish: writes the first block again, with `bytes` over its start.
  absl::Status RewriteFirstBlock(std::span<const std::byte> bytes);
  uint64_t end() const { return flushed_ + filled_; }

 private:
  absl::Status Fill(uint64_t size, std::span<const std::byte> bytes);  // zeros when empty
  absl::Status Flush();

  File& file_;
  uint64_t buffer_bytes_;
  std::byte* buffer_;       // aligned; file bytes [flushed_, flushed_ + filled_)
  std::byte* first_block_;  // aligned; the file's first block as written
  uint64_t flushed_ = 0;
  uint64_t filled_ = 0;
};

}  // namespace ledger::wal
