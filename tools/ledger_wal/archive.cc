// ledger-wal archive DIR DEST: moves the oldest segments that the ledger no longer needs out of
// the data directory, into DEST (docs/operations.md, "Archiving").
//
// A segment may go when recovery starts past it (the newest snapshot, checked, is at or after
// its last op), when its facts are all in the cold store (or there is none: the engine keeps
// every transfer in memory and the snapshot holds them), and when it is not the newest one.
// DEST becomes a data directory of its own (the identity file, the segments from the first),
// so `ledger-wal verify DEST` checks it, and DEST/ARCHIVE records for each segment its ops and
// the chain hashes at both ends: the first entry left in DIR must link to the last one there.
#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "cold/cold_store.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "tools/ledger_wal/ledger_wal.h"
#include "wal/log_reader.h"
#include "wal/snapshot_file.h"

namespace ledger::tools {

namespace {

struct SegmentSpan {
  uint64_t index = 0;
  uint64_t first_op = 0;  // 0: no entry
  uint64_t last_op = 0;
  wal::Hash128 previous_chain_hash;  // of the entry before its first
  wal::Hash128 last_chain_hash;
  uint64_t end_ns = 0;  // its last entry's timestamp + events: its facts are booked before
};

absl::StatusOr<std::vector<SegmentSpan>> ScanSegments(const wal::Directory& directory) {
  std::vector<SegmentSpan> spans;
  wal::ScanOptions options;
  options.schema = replica::LogSchema();
  options.on_segment = [&spans](uint64_t index) {
    SegmentSpan span;
    span.index = index;
    spans.push_back(span);
  };
  LEDGER_ASSIGN_OR_RETURN(
      const wal::ScanResult scan,
      wal::ScanLog(directory, options,
                   [&spans](const wal::EntryHeader& header, std::span<const std::byte>) {
                     SegmentSpan& span = spans.back();
                     if (span.first_op == 0) {
                       span.first_op = header.op;
                       span.previous_chain_hash = header.previous_chain_hash;
                     }
                     span.last_op = header.op;
                     span.last_chain_hash = header.chain_hash;
                     span.end_ns = header.timestamp_ns + header.event_count + 1;
                     return absl::OkStatus();
                   }));
  if (scan.torn_tail) {
    return absl::FailedPreconditionError(
        "the log has a torn tail: start the server once (it cuts it), then archive");
  }
  return spans;
}

// The newest snapshot that reads back whole (recovery starts there), or 0.
uint64_t NewestGoodSnapshot(const wal::Directory& directory) {
  absl::StatusOr<std::vector<uint64_t>> ops = directory.ListSnapshots();
  if (!ops.ok()) return 0;
  for (uint64_t op : *ops) {  // newest first
    if (replica::CheckSnapshotFiles(directory, op).ok()) return op;
  }
  return 0;
}

absl::Status CopyDurably(const std::string& from, const std::string& to) {
  wal::Storage& storage = wal::Storage::Posix();
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> in, storage.Open(from, {}));
  LEDGER_ASSIGN_OR_RETURN(const uint64_t size_bytes, in->Size());
  (void)storage.Remove(to + ".tmp");
  wal::TemporaryFile temporary(storage, to + ".tmp");  // gone if the destination fills up
  wal::OpenOptions create;
  create.writable = true;
  create.create_new = true;
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> out, storage.Open(temporary.path(), create));
  std::vector<std::byte> buffer(uint64_t{4} << 20);
  for (uint64_t offset = 0; offset < size_bytes; offset += buffer.size()) {
    const std::span<std::byte> piece =
        std::span(buffer).first(std::min<uint64_t>(buffer.size(), size_bytes - offset));
    LEDGER_RETURN_IF_ERROR(in->Read(offset, piece));
    LEDGER_RETURN_IF_ERROR(out->Write(offset, piece));
  }
  LEDGER_RETURN_IF_ERROR(out->Sync());
  LEDGER_RETURN_IF_ERROR(storage.Rename(temporary.path(), to));
  temporary.Keep();
  return absl::OkStatus();
}

// DEST as a data directory of the same ledger: created with a copy of the identity file, or
// checked to be one.
absl::Status PrepareDestination(const wal::Directory& directory, const std::string& dest) {
  const std::string identity = dest + "/LEDGER";
  if (std::filesystem::exists(identity)) {
    LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::Directory> archive,
                            wal::Directory::Open(dest, /*writable=*/false));
    if (archive->identity().directory_id != directory.identity().directory_id) {
      return absl::InvalidArgumentError(
          absl::StrCat(dest, " holds the archive of another ledger directory"));
    }
    return absl::OkStatus();
  }
  std::error_code error;
  std::filesystem::create_directories(dest, error);
  if (error) return absl::InternalError(absl::StrCat("create ", dest, ": ", error.message()));
  LEDGER_RETURN_IF_ERROR(CopyDurably(directory.path() + "/LEDGER", identity));
  return wal::Storage::Posix().SyncDirectory(dest);
}

absl::Status AppendManifest(const std::string& dest, const SegmentSpan& span,
                            const std::string& name) {
  const std::string line = absl::StrCat(name, " ops ", span.first_op, "-", span.last_op,
                                        " previous_chain ", HashText(span.previous_chain_hash),
                                        " last_chain ", HashText(span.last_chain_hash), "\n");
  const std::string path = dest + "/ARCHIVE";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       fdatasync(fd) == 0;
  const int saved_errno = errno;
  close(fd);
  if (!written) {
    return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(saved_errno)));
  }
  return absl::OkStatus();
}

}  // namespace

int RunArchive(const ArchiveArgs& args) {
  // Writable: takes the directory's lock, so no server runs on it meanwhile.
  absl::StatusOr<std::unique_ptr<wal::Directory>> opened =
      wal::Directory::Open(args.dir, /*writable=*/true);
  if (!opened.ok()) return Fail(opened.status());
  const wal::Directory& directory = **opened;
  absl::StatusOr<std::vector<SegmentSpan>> spans = ScanSegments(directory);
  if (!spans.ok()) return Fail(spans.status());
  const uint64_t snapshot_op = NewestGoodSnapshot(directory);
  absl::StatusOr<std::unique_ptr<cold::ColdStore>> store =
      cold::ColdStore::OpenReadOnly(args.dir + "/cold", wal::Storage::Posix());
  if (!store.ok() && !absl::IsNotFound(store.status())) return Fail(store.status());
  const uint64_t cold_end_ns = store.ok() ? (*store)->end_ns() : UINT64_MAX;

  std::vector<SegmentSpan> going;
  for (size_t i = 0; i + 1 < spans->size(); ++i) {  // never the newest
    const SegmentSpan& span = (*spans)[i];
    if (span.first_op == 0 || span.last_op > snapshot_op || span.end_ns > cold_end_ns) break;
    going.push_back(span);
  }
  if (going.empty()) {
    std::printf(
        "nothing to archive: the oldest segment is still needed (newest snapshot at op %" PRIu64
        ", cold store up to %s)\n",
        snapshot_op, store.ok() ? TimeText(cold_end_ns).c_str() : "none: all in memory");
    return kExitOk;
  }
  if (const absl::Status prepared = PrepareDestination(directory, args.dest); !prepared.ok()) {
    return Fail(prepared);
  }
  for (const SegmentSpan& span : going) {
    const std::string from = directory.SegmentPath(span.index);
    const std::string name = std::filesystem::path(from).filename().string();
    absl::Status status = CopyDurably(from, args.dest + "/" + name);
    if (status.ok()) status = wal::Storage::Posix().SyncDirectory(args.dest);
    if (status.ok()) status = AppendManifest(args.dest, span, name);
    if (status.ok()) status = wal::Storage::Posix().Remove(from);
    if (status.ok()) status = directory.SyncDirectory();
    if (!status.ok()) return Fail(status);
    std::printf("archived %s (ops %" PRIu64 " to %" PRIu64 ")\n", name.c_str(), span.first_op,
                span.last_op);
  }
  std::printf("%zu segments moved to %s; the log now starts at op %" PRIu64
              ", whose entry links to chain hash %s (ARCHIVE's last line)\n",
              going.size(), args.dest.c_str(), going.back().last_op + 1,
              HashText(going.back().last_chain_hash).c_str());
  return kExitOk;
}

}  // namespace ledger::tools
