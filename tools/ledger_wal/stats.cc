// ledger-wal stats: what the directory holds and how well group commit batched.
//
// The log is read through ScanLog like verify (so a corrupt log is reported, exit 2), but the
// output is about shape, not verdicts: segments, groups, entries and events by operation,
// bytes, and the snapshots present. Snapshots are listed with a header check only (verify
// --from-snapshot checks them fully).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/ledger_wal/ledger_wal.h"
#include "wal/log_reader.h"

namespace ledger::tools {

namespace {

struct SnapshotInfo {
  uint64_t op = 0;
  uint64_t file_bytes = 0;
  bool header_ok = false;
  uint64_t timestamp_ns = 0;
};

SnapshotInfo InspectSnapshot(const wal::Directory& directory, uint64_t op) {
  SnapshotInfo info{op};
  const std::string path = directory.SnapshotPath(op);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return info;
  struct stat file;
  wal::SnapshotHeader header{};
  if (fstat(fd, &file) == 0) info.file_bytes = static_cast<uint64_t>(file.st_size);
  if (pread(fd, &header, sizeof(header), 0) == static_cast<ssize_t>(sizeof(header))) {
    info.header_ok = wal::IsValid(header) && header.op == op &&
                     header.directory_id == directory.identity().directory_id &&
                     header.body_size_bytes == info.file_bytes - sizeof(header);
    info.timestamp_ns = header.timestamp_ns;
  }
  close(fd);
  return info;
}

// The first op of each segment, from its first group header (0: no group yet), so an operator
// can see which ops a segment holds before archiving it (docs/operations.md).
std::vector<uint64_t> SegmentFirstOps(const wal::Directory& directory,
                                      const std::vector<uint64_t>& segments) {
  std::vector<uint64_t> first_ops;
  for (uint64_t index : segments) {
    wal::GroupHeader header{};
    const int fd = open(directory.SegmentPath(index).c_str(), O_RDONLY | O_CLOEXEC);
    const bool read = fd >= 0 && pread(fd, &header, sizeof(header), wal::kBlockBytes) ==
                                     static_cast<ssize_t>(sizeof(header));
    if (fd >= 0) close(fd);
    first_ops.push_back(
        read && wal::IsValid(header, directory.identity().directory_id) ? header.first_op : 0);
  }
  return first_ops;
}

void PrintSegments(const wal::Directory& directory, const wal::ScanResult& log) {
  absl::StatusOr<std::vector<uint64_t>> segments = directory.ListSegments();
  if (!segments.ok()) return;
  const std::vector<uint64_t> first_ops = SegmentFirstOps(directory, *segments);
  for (size_t i = 0; i < segments->size(); ++i) {
    const uint64_t next = i + 1 < first_ops.size() ? first_ops[i + 1] : 0;
    const uint64_t last_op = next != 0 ? next - 1 : log.last_op;
    if (first_ops[i] == 0 || last_op < first_ops[i]) {
      std::printf("  %s  no entries\n", directory.SegmentPath((*segments)[i]).c_str());
    } else {
      std::printf("  %s  ops %" PRIu64 " to %" PRIu64 "\n",
                  directory.SegmentPath((*segments)[i]).c_str(), first_ops[i], last_op);
    }
  }
}

double Ratio(uint64_t numerator, uint64_t denominator) {
  return denominator == 0 ? 0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

void PrintDirectory(const wal::Directory& directory, const wal::ScanResult& log) {
  const wal::IdentityFile& identity = directory.identity();
  std::printf("directory        %s\n", directory.path().c_str());
  std::printf("  id             %s (format version %u, created %s)\n",
              HashText(identity.directory_id).c_str(), unsigned{identity.format_version},
              TimeText(identity.created_at_ns).c_str());
  const uint64_t first_segment = log.end.segment_index + 1 - log.segment_count;
  std::printf("segments         %" PRIu64 " (%" PRIu64 " to %" PRIu64 ") of %s: %s on disk%s\n",
              log.segment_count, first_segment, log.end.segment_index,
              ByteText(identity.segment_size_bytes).c_str(),
              ByteText(log.segment_count * identity.segment_size_bytes).c_str(),
              log.archived_start ? "; older segments archived" : "");
  std::printf("  log end        segment %" PRIu64 " offset %" PRIu64 " (%.1f%% of it used)\n",
              log.end.segment_index, log.end.offset,
              100 * Ratio(log.end.offset, identity.segment_size_bytes));
  PrintSegments(directory, log);
}

void PrintLog(const wal::ScanResult& log, const LogTally& tally, uint64_t bytes_read) {
  std::printf("groups           %" PRIu64 "\n", log.group_count);
  if (log.entry_count == 0) {
    std::printf("entries          0 (the log is empty)\n");
  } else {
    std::printf("entries          %" PRIu64 " (ops %" PRIu64 " to %" PRIu64 ")\n", log.entry_count,
                log.first_op, log.last_op);
  }
  for (const engine::OperationInfo& info : engine::kOperations) {
    const size_t index = engine::OperationIndex(info.operation);
    std::printf("  %-16s %10" PRIu64 " entries %12" PRIu64 " events\n",
                std::string(info.name).c_str(), tally.entries[index], tally.events[index]);
  }
  std::printf("events           %" PRIu64 " (%.1f per entry)\n", log.event_count,
              Ratio(log.event_count, log.entry_count));
  std::printf("bytes            %" PRIu64 " read (%s): %" PRIu64 " in entries, %" PRIu64
              " of them event bodies\n",
              bytes_read, ByteText(bytes_read).c_str(), log.entry_bytes, tally.body_bytes);
  std::printf("group commit     %.2f entries per group (%.1f events, %s per write)\n",
              Ratio(log.entry_count, log.group_count), Ratio(log.event_count, log.group_count),
              ByteText(log.group_count == 0 ? 0 : bytes_read / log.group_count).c_str());
  if (log.torn_tail) {
    std::printf("tail             torn at segment %" PRIu64 " offset %" PRIu64
                " (%s); cut at the server's next start\n",
                log.torn_at.segment_index, log.torn_at.offset, log.torn_reason.c_str());
  } else {
    std::printf("tail             clean\n");
  }
}

absl::Status PrintSnapshots(const wal::Directory& directory) {
  absl::StatusOr<std::vector<uint64_t>> ops = directory.ListSnapshots();
  if (!ops.ok()) return ops.status();
  std::printf("snapshots        %zu\n", ops->size());
  for (uint64_t op : *ops) {
    const SnapshotInfo info = InspectSnapshot(directory, op);
    std::printf("  op %-12" PRIu64 " %12" PRIu64 " bytes (%s)  %s\n", op, info.file_bytes,
                ByteText(info.file_bytes).c_str(),
                info.header_ok ? absl::StrCat("state at ", TimeText(info.timestamp_ns)).c_str()
                               : "HEADER DAMAGED");
  }
  // What the snapshots share (docs/wal-format.md): each extent holds the transfers and changes
  // booked between two snapshots.
  absl::StatusOr<std::vector<uint64_t>> extents = directory.ListExtents();
  if (!extents.ok()) return extents.status();
  uint64_t extent_bytes = 0;
  for (uint64_t op : *extents) {
    std::error_code error;
    extent_bytes += std::filesystem::file_size(directory.ExtentPath(op), error);
  }
  std::printf("extents          %zu, %" PRIu64 " bytes (%s)\n", extents->size(), extent_bytes,
              ByteText(extent_bytes).c_str());
  return absl::OkStatus();
}

}  // namespace

int RunStats(const StatsArgs& args) {
  absl::StatusOr<std::unique_ptr<wal::Directory>> opened = OpenReadOnly(args.dir);
  if (!opened.ok()) return Fail(opened.status());
  const wal::Directory& directory = **opened;
  ProgressBar bar("stats", LogCapacityBytes(directory));
  wal::ScanOptions options;
  options.schema = replica::LogSchema();
  options.progress = bar.Callback();
  LogTally tally;
  absl::StatusOr<wal::ScanResult> scan = wal::ScanLog(
      directory, options, [&](const wal::EntryHeader& entry, std::span<const std::byte>) {
        tally.Add(entry);
        return absl::OkStatus();
      });
  bar.Clear();
  if (!scan.ok()) return Fail(scan.status());
  PrintDirectory(directory, *scan);
  PrintLog(*scan, tally, bar.bytes_read());
  if (absl::Status status = PrintSnapshots(directory); !status.ok()) return Fail(status);
  return kExitOk;
}

}  // namespace ledger::tools
