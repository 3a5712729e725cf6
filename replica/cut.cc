// The cut of a log's tail (recovery.h, CutLogAfter): docs/replication.md, "Sealing an epoch".
#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "wal/log_writer.h"

namespace ledger::replica {
namespace {

using wal::CutHeader;
using wal::Directory;

constexpr char kCutName[] = "CUT";

std::string CutPath(const Directory& directory) { return directory.path() + "/" + kCutName; }

// What a scan found about the cut point.
struct CutPlan {
  bool found = false;   // the log holds `op`
  bool beyond = false;  // and entries after it
  wal::Hash128 chain_hash;
  wal::LogPosition group_at;  // of the group holding op (or the first group, for op 0)
  uint64_t group_first_op = 0;
  std::vector<std::byte> kept;  // that group's entries through op
};

// damaged_after: the log is known damaged past `op`; the damage then ends the plan's scan.
absl::StatusOr<CutPlan> PlanCut(const Directory& directory, uint64_t op, bool damaged_after) {
  CutPlan plan;
  plan.found = op == 0;
  wal::LogPosition current_at;
  uint64_t current_first_op = 0;
  wal::ScanOptions options = LogScanOptions();
  options.on_group = [&](const wal::LogPosition& at, uint64_t first_op) {
    current_at = at;
    current_first_op = first_op;
    if (!plan.found || op == 0) plan.kept.clear();
    if (op == 0 && !plan.beyond) {
      plan.group_at = at;
      plan.group_first_op = first_op;
    }
  };
  const absl::StatusOr<wal::ScanResult> scanned = wal::ScanLog(
      directory, options, [&](const wal::EntryHeader& header, std::span<const std::byte> body) {
        if (header.op > op) {
          plan.beyond = true;
          return absl::CancelledError("past the cut");
        }
        const size_t at = plan.kept.size();
        plan.kept.resize(at + header.entry_size_bytes);  // zero padding
        std::memcpy(plan.kept.data() + at, &header, sizeof(header));
        std::memcpy(plan.kept.data() + at + sizeof(header), body.data(), body.size());
        if (header.op == op) {
          plan.found = true;
          plan.chain_hash = header.chain_hash;
          plan.group_at = current_at;
          plan.group_first_op = current_first_op;
        }
        return absl::OkStatus();
      });
  if (damaged_after && plan.found && absl::IsDataLoss(scanned.status())) {
    plan.beyond = true;  // the damage and whatever follows it go
  } else if (!scanned.ok() && !absl::IsCancelled(scanned.status())) {
    return scanned.status();
  }
  if (op == 0) plan.kept.clear();
  return plan;
}

absl::Status WriteCutFile(const Directory& directory, const CutHeader& header,
                          std::span<const std::byte> kept) {
  wal::Storage& storage = directory.storage();
  wal::TemporaryFile temporary(storage, CutPath(directory) + ".tmp");
  {
    LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> file,
                            storage.Open(temporary.path(), {.create_new = true}));
    LEDGER_RETURN_IF_ERROR(file->Write(0, std::as_bytes(std::span(&header, 1))));
    if (!kept.empty()) LEDGER_RETURN_IF_ERROR(file->Write(sizeof(header), kept));
    LEDGER_RETURN_IF_ERROR(file->Sync());
  }
  LEDGER_RETURN_IF_ERROR(storage.Rename(temporary.path(), CutPath(directory)));
  temporary.Keep();
  return directory.SyncDirectory();
}

// Appends the kept entries at the cut, through the log writer, and waits until durable.
absl::Status AppendKept(const Directory& directory, const CutHeader& header,
                        std::span<const std::byte> kept) {
  wal::WriterOptions options;
  options.schema = LogSchema();
  options.use_io_uring = false;
  options.buffer_bytes =
      std::min<uint64_t>(options.buffer_bytes, directory.segment_size_bytes() - wal::kBlockBytes);
  LEDGER_ASSIGN_OR_RETURN(
      std::unique_ptr<wal::LogWriter> writer,
      wal::LogWriter::Open(directory, {header.group_segment_index, header.group_offset},
                           header.kept_first_op, std::move(options)));
  while (!kept.empty()) {
    wal::EntryHeader entry;
    std::memcpy(&entry, kept.data(), sizeof(entry));
    writer->Append(entry, kept.subspan(sizeof(entry), entry.body_size_bytes));
    kept = kept.subspan(entry.entry_size_bytes);
  }
  if (header.after_op >= header.kept_first_op) {
    LEDGER_RETURN_IF_ERROR(writer->WaitDurable(header.after_op));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FinishCut(const Directory& directory) {
  wal::Storage& storage = directory.storage();
  absl::StatusOr<std::unique_ptr<wal::File>> file = storage.Open(CutPath(directory), {});
  if (absl::IsNotFound(file.status())) return absl::OkStatus();
  LEDGER_RETURN_IF_ERROR(file.status());
  if (!directory.writable()) {
    return absl::FailedPreconditionError(
        "a cut of the log is in progress: open the directory writable (start ledgerd) to finish "
        "it");
  }
  CutHeader header{};
  LEDGER_ASSIGN_OR_RETURN(const uint64_t size, (*file)->Size());
  if (size >= sizeof(header)) {
    LEDGER_RETURN_IF_ERROR((*file)->Read(0, std::as_writable_bytes(std::span(&header, 1))));
  }
  if (size < sizeof(header) || !wal::IsValid(header) ||
      header.directory_id != directory.identity().directory_id ||
      size != sizeof(header) + header.kept_bytes) {
    return absl::DataLossError(absl::StrCat(CutPath(directory), " is damaged"));
  }
  std::vector<std::byte> kept(header.kept_bytes);
  if (!kept.empty()) LEDGER_RETURN_IF_ERROR((*file)->Read(sizeof(header), kept));
  if (wal::HashBytes(kept) != header.kept_checksum) {
    return absl::DataLossError(absl::StrCat(CutPath(directory), ": its entries are damaged"));
  }
  file->reset();
  // Newest first: a crash midway leaves a log that ends earlier, never one with a hole.
  LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> segments, directory.ListSegments());
  std::sort(segments.rbegin(), segments.rend());
  for (uint64_t index : segments) {
    if (index <= header.group_segment_index) break;
    LEDGER_RETURN_IF_ERROR(storage.Remove(directory.SegmentPath(index)));
  }
  LEDGER_RETURN_IF_ERROR(directory.SyncDirectory());
  LEDGER_RETURN_IF_ERROR(
      wal::CutTail(directory, {header.group_segment_index, header.group_offset}));
  LEDGER_RETURN_IF_ERROR(AppendKept(directory, header, kept));
  LEDGER_RETURN_IF_ERROR(storage.Remove(CutPath(directory)));
  return directory.SyncDirectory();
}

namespace {

absl::Status Cut(const Directory& directory, uint64_t op, const wal::Hash128& chain_hash,
                 bool damaged_after) {
  LEDGER_RETURN_IF_ERROR(FinishCut(directory));
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> snapshots, directory.ListSnapshots());
  if (!snapshots.empty() && snapshots.front() > op) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot cut the log after op ", op, ": snapshot ", snapshots.front(), " lies past it"));
  }
  LEDGER_ASSIGN_OR_RETURN(CutPlan plan, PlanCut(directory, op, damaged_after));
  if (!plan.found) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot cut the log after op ", op, ": the log does not reach it"));
  }
  if (op != 0 && plan.chain_hash != chain_hash) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot cut the log after op ", op, ": its chain hash differs (the logs part earlier)"));
  }
  if (!plan.beyond) return absl::OkStatus();
  CutHeader header{};
  header.magic = wal::kCutMagic;
  header.format_version = wal::kFormatVersion;
  header.directory_id = directory.identity().directory_id;
  header.after_op = op;
  header.group_segment_index = plan.group_at.segment_index;
  header.group_offset = plan.group_at.offset;
  header.kept_first_op = op == 0 ? 1 : plan.group_first_op;
  header.kept_bytes = plan.kept.size();
  header.after_chain_hash = chain_hash;
  header.kept_checksum = wal::HashBytes(plan.kept);
  header.checksum = wal::HeaderChecksum(header);
  LEDGER_RETURN_IF_ERROR(WriteCutFile(directory, header, plan.kept));
  return FinishCut(directory);
}

// A log whose every group reads back but which ends before its durable mark: the member
// keeps it as it is (a torn tail cut) and takes the rest from its leader.
absl::StatusOr<uint64_t> LowerDurableMark(const Directory& directory,
                                          const std::optional<wal::DurableMark>& mark,
                                          const wal::ScanResult& log) {
  if (!absl::IsDataLoss(wal::CheckDurableMark(directory, mark, log))) {
    return absl::FailedPreconditionError("the log is intact: nothing to cut");
  }
  if (log.torn_tail) LEDGER_RETURN_IF_ERROR(wal::CutTail(directory, log.torn_at));
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> segments, directory.ListSegments());
  LEDGER_RETURN_IF_ERROR(
      directory
          .WriteDurableMark(
              {.segment_index = segments.empty() ? 0 : segments.back(), .op = log.last_op})
          .status());
  return log.last_op;
}

}  // namespace

absl::Status CutLogAfter(const Directory& directory, uint64_t op, const wal::Hash128& chain_hash) {
  return Cut(directory, op, chain_hash, /*damaged_after=*/false);
}

absl::StatusOr<uint64_t> CutDamagedLog(const Directory& directory) {
  LEDGER_RETURN_IF_ERROR(FinishCut(directory));
  LEDGER_ASSIGN_OR_RETURN(const std::optional<wal::DurableMark> mark, directory.ReadDurableMark());
  uint64_t last_op = 0;  // of the last intact group: a group's entries come once it is verified
  wal::Hash128 last_chain_hash{};
  const absl::StatusOr<wal::ScanResult> scanned = wal::ScanLog(
      directory, LogScanOptions(), [&](const wal::EntryHeader& header, std::span<const std::byte>) {
        last_op = header.op;
        last_chain_hash = header.chain_hash;
        return absl::OkStatus();
      });
  if (scanned.ok()) return LowerDurableMark(directory, mark, *scanned);
  if (!absl::IsDataLoss(scanned.status())) return scanned.status();
  if (last_op == 0) {
    return absl::FailedPreconditionError(
        "the log's first group is damaged: start this member on a new data directory");
  }
  LEDGER_RETURN_IF_ERROR(Cut(directory, last_op, last_chain_hash, /*damaged_after=*/true));
  return last_op;
}

}  // namespace ledger::replica
