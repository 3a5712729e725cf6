// The log's length held to the directory's durable mark (log_reader.h, CheckDurableMark).
#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "wal/log_reader.h"

namespace ledger::wal {

absl::Status CheckDurableMark(const Directory& directory, const std::optional<DurableMark>& mark,
                              const ScanResult& log) {
  if (!mark) return absl::OkStatus();
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> segments, directory.ListSegments());
  const uint64_t newest_segment = segments.empty() ? 0 : segments.back();
  if (segments.empty() || newest_segment < mark->segment_index) {
    return absl::DataLossError(
        absl::StrCat(directory.SegmentPath(mark->segment_index),
                     " is missing, but the log was made durable "
                     "there (the DURABLE file: through op ",
                     mark->op, "; the log here ends at op ", log.last_op,
                     "). Nothing was changed; restore the segment from a copy, or start this "
                     "member of a replica group again to take the rest from its leader"));
  }
  if (log.last_op >= mark->op) return absl::OkStatus();
  if (log.torn_tail) {
    return absl::DataLossError(absl::StrCat(
        directory.SegmentPath(log.torn_at.segment_index), " at offset ", log.torn_at.offset,
        " does not read back (", log.torn_reason, "), but ops through ", mark->op,
        " were made durable (the DURABLE file): the log ends at op ", log.last_op,
        " and acknowledged entries after it are damaged, not torn by a crash. Nothing was "
        "changed; inspect with `ledger-wal verify`"));
  }
  return absl::DataLossError(absl::StrCat(
      "the log ends at op ", log.last_op, " in ", directory.SegmentPath(newest_segment),
      ", but ops through ", mark->op,
      " were made durable (the DURABLE file): acknowledged "
      "entries are gone (a newest segment replaced by an older copy, or cut). Nothing was "
      "changed; restore the segments from a copy, or start this member of a replica group "
      "again to take the rest from its leader"));
}

std::string TornTailMeaning(const Directory& directory, const ScanResult& log) {
  const absl::StatusOr<std::optional<DurableMark>> mark = directory.ReadDurableMark();
  const std::string durable =
      mark.ok() && mark->has_value()
          ? absl::StrCat("the directory last recorded op ", (*mark)->op, " as durable")
          : std::string("the directory records no durable point");
  return absl::StrCat("the group after op ", log.last_op,
                      " was not wholly written: a crash mid-write leaves this, and then it was "
                      "never acknowledged; ",
                      durable, ", so damage to later entries cannot be told apart");
}

}  // namespace ledger::wal
