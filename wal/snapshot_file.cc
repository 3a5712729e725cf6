#include "wal/snapshot_file.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/hash.h"

namespace ledger::wal {

namespace {

absl::Status Corrupt(const std::string& path, const std::string& why) {
  return absl::DataLossError(absl::StrCat("snapshot ", path, ": ", why));
}

absl::StatusOr<SnapshotHeader> WriteFramed(const Directory& directory, const std::string& path,
                                           uint64_t op, const Hash128& chain_hash,
                                           const SnapshotSource& source) {
  Storage& storage = directory.storage();
  const std::string temporary_path = path + ".tmp";
  storage.Remove(temporary_path).IgnoreError();      // a leftover of a crash
  TemporaryFile temporary(storage, temporary_path);  // gone if the disk fills half way
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<File> file,
                          storage.Open(temporary_path, {.create_new = true, .direct = true}));
  // Around the page cache, in whole blocks (BlockWriter); the header last, into the first
  // block, and the file then cut to header + body.
  BlockWriter writer(*file, BlockWriter::kBesideTheLogBytes);
  LEDGER_RETURN_IF_ERROR(writer.Put(sizeof(SnapshotHeader), {}));  // the header's place: zeros
  base::Hasher128 body_hasher;
  const auto write_body = [&](std::span<const std::byte> bytes) {
    body_hasher.Update(bytes);
    return writer.Append(bytes);
  };
  uint32_t section_count = 0;
  LEDGER_RETURN_IF_ERROR(source.Stream(
      [&](uint32_t kind, uint32_t record_size_bytes, uint64_t size_bytes) {
        ++section_count;
        const SectionHeader framing{kind, record_size_bytes, size_bytes};
        return write_body(std::as_bytes(std::span(&framing, 1)));
      },
      write_body));
  SnapshotHeader header{};
  header.magic = kSnapshotMagic;
  header.format_version = kFormatVersion;
  header.section_count = section_count;
  header.directory_id = directory.identity().directory_id;
  header.op = op;
  header.timestamp_ns = source.last_timestamp_ns();
  header.chain_hash = chain_hash;
  const uint64_t body_bytes = writer.end() - sizeof(SnapshotHeader);
  header.body_size_bytes = body_bytes;
  header.body_checksum = body_hasher.Digest();
  header.checksum = HeaderChecksum(header);
  LEDGER_RETURN_IF_ERROR(writer.Finish());
  LEDGER_RETURN_IF_ERROR(writer.RewriteFirstBlock(std::as_bytes(std::span(&header, 1))));
  LEDGER_RETURN_IF_ERROR(file->Truncate(sizeof(SnapshotHeader) + body_bytes));
  LEDGER_RETURN_IF_ERROR(file->Sync());
  file.reset();
  LEDGER_RETURN_IF_ERROR(storage.Rename(temporary_path, path));
  temporary.Keep();
  LEDGER_RETURN_IF_ERROR(directory.SyncDirectory());
  return header;
}

absl::StatusOr<LoadedSnapshot> ReadFramed(const Directory& directory, const std::string& path,
                                          uint64_t op, BodyCheck check) {
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<File> file, directory.storage().Open(path, {}));
  LEDGER_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  LoadedSnapshot loaded;
  loaded.path = path;
  if (size < sizeof(SnapshotHeader)) return Corrupt(path, "shorter than its header");
  LEDGER_ASSIGN_OR_RETURN(loaded.mapping, file->MapReadOnly(size));
  std::memcpy(&loaded.header, loaded.mapping.get(), sizeof(SnapshotHeader));
  const SnapshotHeader& header = loaded.header;
  if (!IsValid(header) || header.directory_id != directory.identity().directory_id ||
      header.op != op || header.body_size_bytes != size - sizeof(SnapshotHeader)) {
    return Corrupt(path, "header is malformed, foreign or does not match the file");
  }
  loaded.body = {loaded.mapping.get() + sizeof(SnapshotHeader), header.body_size_bytes};
  if (check == BodyCheck::kNow) LEDGER_RETURN_IF_ERROR(CheckBody(loaded));
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

}  // namespace

absl::Status WriteSnapshot(const Directory& directory, uint64_t op, const Hash128& chain_hash,
                           const SnapshotSource& source) {
  return WriteFramed(directory, directory.SnapshotPath(op), op, chain_hash, source).status();
}

absl::StatusOr<SnapshotHeader> WriteExtent(const Directory& directory, uint64_t op,
                                           const Hash128& chain_hash,
                                           const SnapshotSource& source) {
  return WriteFramed(directory, directory.ExtentPath(op), op, chain_hash, source);
}

absl::StatusOr<LoadedSnapshot> ReadSnapshot(const Directory& directory, uint64_t op,
                                            BodyCheck check) {
  return ReadFramed(directory, directory.SnapshotPath(op), op, check);
}

absl::StatusOr<LoadedSnapshot> ReadExtent(const Directory& directory, uint64_t op,
                                          BodyCheck check) {
  return ReadFramed(directory, directory.ExtentPath(op), op, check);
}

absl::Status CheckBody(const LoadedSnapshot& loaded) {
  if (HashBytes(loaded.body) != loaded.header.body_checksum) {
    return Corrupt(loaded.path, "body checksum fails");
  }
  return absl::OkStatus();
}

absl::Status PruneSnapshots(const Directory& directory, size_t keep) {
  LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> ops, directory.ListSnapshots());
  for (size_t i = keep; i < ops.size(); ++i) {
    LEDGER_RETURN_IF_ERROR(directory.storage().Remove(directory.SnapshotPath(ops[i])));
  }
  return absl::OkStatus();
}

}  // namespace ledger::wal
