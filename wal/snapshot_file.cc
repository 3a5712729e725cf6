#include "wal/snapshot_file.h"

#include <cstring>
#include <memory>
#include <new>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/hash.h"

namespace ledger::wal {

namespace {

constexpr uint64_t kWriteChunkBytes = uint64_t{4} << 20;
constexpr uint64_t kDirectBlockBytes = 4096;

struct AlignedFree {
  void operator()(std::byte* bytes) const {
    ::operator delete[](bytes, std::align_val_t{kDirectBlockBytes});
  }
};
using AlignedBytes = std::unique_ptr<std::byte[], AlignedFree>;

AlignedBytes AllocateAligned(uint64_t size_bytes) {
  return AlignedBytes(
      static_cast<std::byte*>(::operator new[](size_bytes, std::align_val_t{kDirectBlockBytes})));
}

// Writes the file front to back in whole aligned blocks (so it can go around the page cache:
// copying a 1.5 GB snapshot into fresh cache pages was a fifth of a busy server's CPU), hashing
// the body as it goes. The header goes last, into the first block, kept aside for it; the file
// is then cut to header + body.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(File& file)
      : file_(file),
        buffer_(AllocateAligned(kWriteChunkBytes)),
        first_block_(AllocateAligned(kDirectBlockBytes)) {
    std::memset(buffer_.get(), 0, sizeof(SnapshotHeader));  // the header's place, for now
    filled_ = sizeof(SnapshotHeader);
  }
  absl::Status Write(std::span<const std::byte> bytes) {
    hasher_.Update(bytes);
    body_bytes_ += bytes.size();
    while (!bytes.empty()) {
      const size_t take = std::min(bytes.size(), kWriteChunkBytes - filled_);
      std::memcpy(buffer_.get() + filled_, bytes.data(), take);
      filled_ += take;
      bytes = bytes.subspan(take);
      if (filled_ == kWriteChunkBytes) LEDGER_RETURN_IF_ERROR(Flush());
    }
    return absl::OkStatus();
  }
  uint64_t body_bytes() const { return body_bytes_; }
  Hash128 Digest() { return hasher_.Digest(); }
  // The rest of the body, then the header in the first block, then the file cut to size.
  absl::Status Finish(const SnapshotHeader& header) {
    const uint64_t padded =
        (filled_ + kDirectBlockBytes - 1) / kDirectBlockBytes * kDirectBlockBytes;
    std::memset(buffer_.get() + filled_, 0, padded - filled_);
    filled_ = padded;
    LEDGER_RETURN_IF_ERROR(Flush());
    std::memcpy(first_block_.get(), &header, sizeof(header));
    LEDGER_RETURN_IF_ERROR(file_.Write(0, std::span(first_block_.get(), kDirectBlockBytes)));
    return file_.Truncate(sizeof(SnapshotHeader) + body_bytes_);
  }

 private:
  absl::Status Flush() {
    if (offset_ == 0) std::memcpy(first_block_.get(), buffer_.get(), kDirectBlockBytes);
    LEDGER_RETURN_IF_ERROR(file_.Write(offset_, std::span(buffer_.get(), filled_)));
    offset_ += filled_;
    filled_ = 0;
    return absl::OkStatus();
  }

  File& file_;
  AlignedBytes buffer_;       // file bytes [offset_, offset_ + filled_)
  AlignedBytes first_block_;  // the file's first block as written, for the header
  uint64_t offset_ = 0;
  uint64_t filled_ = 0;
  uint64_t body_bytes_ = 0;
  base::Hasher128 hasher_;
};

absl::Status Corrupt(const std::string& path, const std::string& why) {
  return absl::DataLossError(absl::StrCat("snapshot ", path, ": ", why));
}

}  // namespace

absl::Status WriteSnapshot(const Directory& directory, uint64_t op, const Hash128& chain_hash,
                           const SnapshotSource& source) {
  Storage& storage = directory.storage();
  const std::string path = directory.SnapshotPath(op);
  const std::string temporary = path + ".tmp";
  storage.Remove(temporary).IgnoreError();  // a leftover of an earlier failed attempt
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<File> file,
                          storage.Open(temporary, {.create_new = true, .direct = true}));
  SnapshotWriter body(*file);
  uint32_t section_count = 0;
  LEDGER_RETURN_IF_ERROR(source.Stream(
      [&](uint32_t kind, uint32_t record_size_bytes, uint64_t size_bytes) {
        ++section_count;
        const SectionHeader framing{kind, record_size_bytes, size_bytes};
        return body.Write(std::as_bytes(std::span(&framing, 1)));
      },
      [&](std::span<const std::byte> bytes) { return body.Write(bytes); }));
  SnapshotHeader header{};
  header.magic = kSnapshotMagic;
  header.format_version = kFormatVersion;
  header.section_count = section_count;
  header.directory_id = directory.identity().directory_id;
  header.op = op;
  header.timestamp_ns = source.last_timestamp_ns();
  header.chain_hash = chain_hash;
  header.body_size_bytes = body.body_bytes();
  header.body_checksum = body.Digest();
  header.checksum = HeaderChecksum(header);
  LEDGER_RETURN_IF_ERROR(body.Finish(header));
  LEDGER_RETURN_IF_ERROR(file->Sync());
  file.reset();
  LEDGER_RETURN_IF_ERROR(storage.Rename(temporary, path));
  return directory.SyncDirectory();
}

absl::StatusOr<LoadedSnapshot> ReadSnapshot(const Directory& directory, uint64_t op) {
  const std::string path = directory.SnapshotPath(op);
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<File> file, directory.storage().Open(path, {}));
  LEDGER_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  LoadedSnapshot loaded;
  if (size < sizeof(SnapshotHeader)) return Corrupt(path, "shorter than its header");
  LEDGER_ASSIGN_OR_RETURN(loaded.mapping, file->MapReadOnly(size));
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
    LEDGER_RETURN_IF_ERROR(directory.storage().Remove(directory.SnapshotPath(ops[i])));
  }
  return absl::OkStatus();
}

}  // namespace ledger::wal
