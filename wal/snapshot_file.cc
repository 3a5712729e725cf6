#include "wal/snapshot_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/hash.h"
#include "wal/internal/io.h"

namespace ledger::wal {

namespace {

constexpr uint64_t kWriteChunkBytes = uint64_t{4} << 20;

// Buffers writes into large chunks and hashes everything it writes.
class HashingWriter {
 public:
  HashingWriter(int fd, uint64_t offset, std::string path)
      : fd_(fd), offset_(offset), path_(std::move(path)) {
    buffer_.reserve(kWriteChunkBytes);
  }
  absl::Status Write(std::span<const std::byte> bytes) {
    hasher_.Update(bytes);
    while (!bytes.empty()) {
      const size_t take = std::min(bytes.size(), kWriteChunkBytes - buffer_.size());
      buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + static_cast<long>(take));
      bytes = bytes.subspan(take);
      if (buffer_.size() == kWriteChunkBytes) LEDGER_RETURN_IF_ERROR(Flush());
    }
    return absl::OkStatus();
  }
  absl::Status Flush() {
    LEDGER_RETURN_IF_ERROR(internal::PwriteFully(fd_, buffer_, offset_, path_));
    offset_ += buffer_.size();
    written_ += buffer_.size();
    buffer_.clear();
    return absl::OkStatus();
  }
  Hash128 Digest() { return hasher_.Digest(); }
  uint64_t written() const { return written_; }

 private:
  int fd_;
  uint64_t offset_;
  std::string path_;
  std::vector<std::byte> buffer_;
  base::Hasher128 hasher_;
  uint64_t written_ = 0;
};

absl::Status Corrupt(const std::string& path, const std::string& why) {
  return absl::DataLossError(absl::StrCat("snapshot ", path, ": ", why));
}

}  // namespace

absl::Status WriteSnapshot(const Directory& directory, uint64_t op, const Hash128& chain_hash,
                           const SnapshotSource& source) {
  const std::string path = directory.SnapshotPath(op);
  const std::string temporary = path + ".tmp";
  unlink(temporary.c_str());
  LEDGER_ASSIGN_OR_RETURN(internal::FileDescriptor fd,
                          internal::Open(temporary, O_WRONLY | O_CREAT | O_EXCL));
  HashingWriter body(fd.get(), sizeof(SnapshotHeader), temporary);
  uint32_t section_count = 0;
  LEDGER_RETURN_IF_ERROR(source.Stream(
      [&](uint32_t kind, uint32_t record_size_bytes, uint64_t size_bytes) {
        ++section_count;
        const SectionHeader framing{kind, record_size_bytes, size_bytes};
        return body.Write(std::as_bytes(std::span(&framing, 1)));
      },
      [&](std::span<const std::byte> bytes) { return body.Write(bytes); }));
  LEDGER_RETURN_IF_ERROR(body.Flush());
  SnapshotHeader header{};
  header.magic = kSnapshotMagic;
  header.format_version = kFormatVersion;
  header.section_count = section_count;
  header.directory_id = directory.identity().directory_id;
  header.op = op;
  header.timestamp_ns = source.last_timestamp_ns();
  header.chain_hash = chain_hash;
  header.body_size_bytes = body.written();
  header.body_checksum = body.Digest();
  header.checksum = HeaderChecksum(header);
  LEDGER_RETURN_IF_ERROR(
      internal::PwriteFully(fd.get(), std::as_bytes(std::span(&header, 1)), 0, temporary));
  LEDGER_RETURN_IF_ERROR(internal::Fdatasync(fd.get(), temporary));
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    return internal::ErrnoStatus("rename", temporary, errno);
  }
  return directory.SyncDirectory();
}

absl::StatusOr<LoadedSnapshot> ReadSnapshot(const Directory& directory, uint64_t op) {
  const std::string path = directory.SnapshotPath(op);
  LEDGER_ASSIGN_OR_RETURN(internal::FileDescriptor fd, internal::Open(path, O_RDONLY));
  LEDGER_ASSIGN_OR_RETURN(uint64_t size, internal::FileSize(fd.get(), path));
  LoadedSnapshot loaded;
  if (size < sizeof(SnapshotHeader)) return Corrupt(path, "shorter than its header");
  void* mapped = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
  if (mapped == MAP_FAILED) return internal::ErrnoStatus("map", path, errno);
  madvise(mapped, size, MADV_SEQUENTIAL);
  loaded.mapping = std::shared_ptr<const std::byte>(
      static_cast<const std::byte*>(mapped),
      [size](const std::byte* memory) { munmap(const_cast<std::byte*>(memory), size); });
  std::memcpy(&loaded.header, loaded.mapping.get(), sizeof(SnapshotHeader));
  const SnapshotHeader& header = loaded.header;
  if (!IsValid(header) || header.directory_id != directory.identity().directory_id ||
      header.op != op || header.body_size_bytes != size - sizeof(SnapshotHeader)) {
    return Corrupt(path, "header is malformed, foreign or does not match the file");
  }
  loaded.body = {loaded.mapping.get() + sizeof(SnapshotHeader), header.body_size_bytes};
  if (HashBytes(loaded.body) != header.body_checksum) return Corrupt(path, "body checksum fails");
  uint64_t position = 0;
  for (uint32_t i = 0; i < header.section_count; ++i) {
    SectionHeader framing;
    if (loaded.body.size() - position < sizeof(framing)) return Corrupt(path, "section cut short");
    std::memcpy(&framing, loaded.body.data() + position, sizeof(framing));
    position += sizeof(framing);
    if (framing.size_bytes > loaded.body.size() - position) {
      return Corrupt(path, "section larger than the file");
    }
    loaded.sections.push_back({framing.kind, framing.record_size_bytes,
                               loaded.body.subspan(position, framing.size_bytes)});
    position += framing.size_bytes;
  }
  if (position != loaded.body.size()) return Corrupt(path, "bytes after the last section");
  return loaded;
}

absl::Status PruneSnapshots(const Directory& directory, size_t keep) {
  LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> ops, directory.ListSnapshots());
  for (size_t i = keep; i < ops.size(); ++i) {
    const std::string path = directory.SnapshotPath(ops[i]);
    if (unlink(path.c_str()) != 0) return internal::ErrnoStatus("delete", path, errno);
  }
  return absl::OkStatus();
}

}  // namespace ledger::wal
