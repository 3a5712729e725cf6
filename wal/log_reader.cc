#include "wal/log_reader.h"

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"

namespace ledger::wal {

namespace {

// A group can never be larger than this (the writer's buffers are smaller); a header that
// claims more is malformed.
constexpr uint64_t kGroupBytesMax = uint64_t{64} << 20;
constexpr uint64_t kScanChunkBytes = uint64_t{1} << 20;

struct Segment {
  uint64_t index;
  std::unique_ptr<File> file;
};

class LogScanner {
 public:
  LogScanner(const Directory& directory, const ScanOptions& options, const EntryVisitor& visit)
      : directory_(directory), options_(options), visit_(visit) {}

  absl::StatusOr<ScanResult> Run();

 private:
  absl::Status OpenSegments();
  // The position of the segment to start reading at (ScanOptions::from_op).
  absl::StatusOr<size_t> StartPosition();
  // What is at a group position. kTorn: something a torn write explains (a malformed group
  // header, or an entry that fails its own checks). kCorrupt: a group whose header and
  // entries check out but that does not continue the log, or has dirty padding: no crash
  // explains that.
  enum class Kind { kGood, kZeros, kTorn, kCorrupt };
  struct Verdict {
    Kind kind;
    uint64_t size_bytes = 0;  // kGood: the group's size before padding
    std::string reason;
  };
  // Reads and verifies the group at offset; visits its entries when it is good.
  absl::StatusOr<Verdict> ReadGroup(Segment& segment, uint64_t offset);
  // Each entry's own checks: well-formed header, fits, body checksum, zero padding.
  std::string CheckEntriesIntact(std::span<const std::byte> entries, uint32_t entry_count) const;
  // The entries continue the log: ops, chain links, timestamps.
  std::string CheckEntriesContinue(std::span<const std::byte> entries, uint64_t first_op,
                                   uint32_t entry_count) const;
  absl::Status VisitEntries(std::span<const std::byte> entries, uint32_t entry_count);
  // Whether a valid group header with first_op > result_.last_op exists after (segment
  // position, offset): in that segment only, or in the rest of the log.
  absl::StatusOr<std::optional<LogPosition>> FindLaterGroup(size_t segment_position,
                                                            uint64_t offset,
                                                            bool this_segment_only);
  absl::Status Corruption(const Segment& segment, uint64_t offset, const std::string& reason,
                          const std::optional<LogPosition>& later);

  const Directory& directory_;
  const ScanOptions& options_;
  const EntryVisitor& visit_;
  std::vector<Segment> segments_;
  std::vector<std::byte> group_;  // reused read buffer
  ScanResult result_;
  bool unlinked_start_ = false;  // the first entry read links to nothing read before it
  uint64_t bytes_read_ = 0;
};

absl::Status LogScanner::OpenSegments() {
  LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> indexes, directory_.ListSegments());
  if (indexes.empty()) {
    return absl::DataLossError(absl::StrCat(directory_.path(), ": no WAL segment"));
  }
  for (size_t i = 0; i < indexes.size(); ++i) {
    if (i > 0 && indexes[i] != indexes[i - 1] + 1) {
      return absl::DataLossError(absl::StrCat(directory_.path(), ": segment ", indexes[i - 1] + 1,
                                              " is missing (", indexes[i - 1], " and ", indexes[i],
                                              " exist)"));
    }
    Segment segment{indexes[i], {}};
    LEDGER_ASSIGN_OR_RETURN(segment.file,
                            directory_.storage().Open(directory_.SegmentPath(indexes[i]), {}));
    LEDGER_RETURN_IF_ERROR(directory_.CheckSegmentHeader(*segment.file, indexes[i]));
    segments_.push_back(std::move(segment));
  }
  result_.archived_start = indexes.front() != 0;
  result_.segment_count = indexes.size();
  return absl::OkStatus();
}

absl::StatusOr<size_t> LogScanner::StartPosition() {
  if (options_.from_op == 0) return 0;
  for (size_t position = segments_.size(); position-- > 0;) {
    GroupHeader header;
    LEDGER_RETURN_IF_ERROR(
        segments_[position].file->Read(kBlockBytes, std::as_writable_bytes(std::span(&header, 1))));
    if (IsValid(header, directory_.identity().directory_id) &&
        header.segment_index == segments_[position].index && header.segment_offset == kBlockBytes &&
        header.first_op <= options_.from_op) {
      return position;
    }
  }
  return 0;
}

absl::StatusOr<ScanResult> LogScanner::Run() {
  LEDGER_RETURN_IF_ERROR(OpenSegments());
  LEDGER_ASSIGN_OR_RETURN(const size_t start, StartPosition());
  unlinked_start_ = result_.archived_start || start > 0;
  result_.start_segment_index = segments_[start].index;
  const uint64_t segment_size = directory_.segment_size_bytes();
  result_.end = {segments_[start].index, kBlockBytes};
  const auto reached = [this] {
    return options_.through_op != 0 && result_.entry_count > 0 &&
           result_.last_op >= options_.through_op;
  };
  for (size_t position = start; position < segments_.size() && !result_.torn_tail && !reached();
       ++position) {
    Segment& segment = segments_[position];
    if (options_.on_segment) options_.on_segment(segment.index);
    uint64_t offset = kBlockBytes;
    while (offset < segment_size) {
      LEDGER_ASSIGN_OR_RETURN(Verdict verdict, ReadGroup(segment, offset));
      if (verdict.kind == Kind::kGood) {
        offset += RoundUpToBlock(verdict.size_bytes);
        result_.end = {segment.index, offset};
        if (reached()) break;
        continue;
      }
      if (verdict.kind == Kind::kCorrupt) {
        return Corruption(segment, offset, verdict.reason, std::nullopt);
      }
      // Zeros or a torn group: anything valid later makes it corruption. Zeros legitimately
      // end a segment the writer rolled away from, so for zeros only this segment counts (a
      // later segment must then continue the op sequence, which ReadGroup checks).
      const bool zeros = verdict.kind == Kind::kZeros;
      LEDGER_ASSIGN_OR_RETURN(std::optional<LogPosition> later,
                              FindLaterGroup(position, offset, zeros));
      if (later.has_value()) {
        return Corruption(segment, offset, zeros ? "a hole of zeros" : verdict.reason, later);
      }
      if (!zeros) {
        result_.torn_tail = true;
        result_.torn_at = {segment.index, offset};
        result_.torn_reason = verdict.reason;
        result_.end = result_.torn_at;
      }
      break;  // this segment's data ends here
    }
  }
  // The writer creates a segment just before its first group: a newer segment without groups
  // means the next group goes there.
  if (result_.end.segment_index != segments_.back().index && !reached()) {
    result_.end = {segments_.back().index, kBlockBytes};
  }
  return result_;
}

absl::StatusOr<LogScanner::Verdict> LogScanner::ReadGroup(Segment& segment, uint64_t offset) {
  const uint64_t segment_size = directory_.segment_size_bytes();
  GroupHeader header;
  LEDGER_RETURN_IF_ERROR(segment.file->Read(offset, std::as_writable_bytes(std::span(&header, 1))));
  if (IsAllZero(std::as_bytes(std::span(&header, 1)))) return Verdict{Kind::kZeros, 0, {}};
  if (!IsValid(header, directory_.identity().directory_id)) {
    return Verdict{Kind::kTorn, 0, "group header is malformed"};
  }
  // The header checks out, so it was written whole: from here on only a torn entry is a crash.
  if (header.segment_index != segment.index || header.segment_offset != offset) {
    return Verdict{Kind::kCorrupt, 0,
                   absl::StrCat("group was written for segment ", header.segment_index, " offset ",
                                header.segment_offset, " (a misdirected write)")};
  }
  if (header.size_bytes < sizeof(GroupHeader) + sizeof(EntryHeader) ||
      header.size_bytes > kGroupBytesMax || header.size_bytes > segment_size - offset ||
      header.entry_count == 0) {
    return Verdict{Kind::kCorrupt, 0, "group header claims an impossible size"};
  }
  const uint64_t padded = std::min(
      (header.size_bytes + kBlockBytes - 1) / kBlockBytes * kBlockBytes, segment_size - offset);
  group_.resize(padded);
  LEDGER_RETURN_IF_ERROR(segment.file->Read(offset, group_));
  bytes_read_ += padded;
  if (options_.progress) options_.progress(bytes_read_);
  const std::span<const std::byte> entries =
      std::span(group_).subspan(sizeof(GroupHeader), header.size_bytes - sizeof(GroupHeader));
  std::string reason = CheckEntriesIntact(entries, header.entry_count);
  if (!reason.empty()) return Verdict{Kind::kTorn, 0, reason};
  if (!IsAllZero(std::span(group_).subspan(header.size_bytes))) {
    return Verdict{Kind::kCorrupt, 0, "group padding is not zero"};
  }
  reason = CheckEntriesContinue(entries, header.first_op, header.entry_count);
  if (!reason.empty()) return Verdict{Kind::kCorrupt, 0, reason};
  // The whole group is good: only now hand its entries out.
  if (options_.on_group) options_.on_group({segment.index, offset}, header.first_op);
  LEDGER_RETURN_IF_ERROR(VisitEntries(entries, header.entry_count));
  ++result_.group_count;
  return Verdict{Kind::kGood, header.size_bytes, {}};
}

std::string LogScanner::CheckEntriesIntact(std::span<const std::byte> entries,
                                           uint32_t entry_count) const {
  uint64_t position = 0;
  for (uint32_t i = 0; i < entry_count; ++i) {
    EntryHeader entry;
    if (entries.size() - position < sizeof(entry)) {
      return absl::StrCat("entry ", i, " of the group is cut short");
    }
    std::memcpy(&entry, entries.data() + position, sizeof(entry));
    if (!IsWellFormedEntryHeader(entry, options_.schema) ||
        entry.entry_size_bytes > entries.size() - position) {
      return absl::StrCat("entry ", i, " of the group has a malformed header");
    }
    const auto body = entries.subspan(position + sizeof(EntryHeader), entry.body_size_bytes);
    if (entry.op > options_.trusted_through_op && HashBytes(body) != entry.body_checksum) {
      return absl::StrCat("body of op ", entry.op, " fails its checksum");
    }
    const auto padding =
        entries.subspan(position + sizeof(EntryHeader) + entry.body_size_bytes,
                        entry.entry_size_bytes - sizeof(EntryHeader) - entry.body_size_bytes);
    if (!IsAllZero(padding)) return absl::StrCat("padding of op ", entry.op, " is not zero");
    position += entry.entry_size_bytes;
  }
  if (position != entries.size()) return "group holds bytes after its last entry";
  return {};
}

std::string LogScanner::CheckEntriesContinue(std::span<const std::byte> entries, uint64_t first_op,
                                             uint32_t entry_count) const {
  const bool log_empty = result_.entry_count == 0;
  // From genesis the log starts at op 1; after archived or unread segments anywhere, unlinked.
  const uint64_t expected_first =
      log_empty ? (unlinked_start_ ? first_op : 1) : result_.last_op + 1;
  if (first_op != expected_first) {
    return absl::StrCat("group starts at op ", first_op, ", expected op ", expected_first);
  }
  Hash128 chain = result_.last_chain_hash;
  uint64_t timestamp_min_ns = result_.last_timestamp_ns + 1;
  uint64_t position = 0;
  for (uint32_t i = 0; i < entry_count; ++i) {
    EntryHeader entry;
    std::memcpy(&entry, entries.data() + position, sizeof(entry));
    const uint64_t op = first_op + i;
    if (entry.op != op) return absl::StrCat("entry holds op ", entry.op, ", expected op ", op);
    const bool link_known = !(log_empty && i == 0 && unlinked_start_);
    if (link_known && entry.previous_chain_hash != chain) {
      return absl::StrCat("entry of op ", op, " does not link to the previous entry");
    }
    if (entry.timestamp_ns < timestamp_min_ns) {
      return absl::StrCat("entry of op ", op, " has a timestamp that goes backwards");
    }
    // Its events are booked up to timestamp_ns + event_count, and the next entry starts past
    // that: a sum that wraps would let any timestamp follow (and stops an engine replaying it).
    if (entry.timestamp_ns >= ~uint64_t{0} - entry.event_count) {
      return absl::StrCat("entry of op ", op, " has a timestamp at the end of time");
    }
    chain = entry.chain_hash;
    timestamp_min_ns = entry.timestamp_ns + entry.event_count + 1;
    position += entry.entry_size_bytes;
  }
  return {};
}

absl::Status LogScanner::VisitEntries(std::span<const std::byte> entries, uint32_t entry_count) {
  if (result_.entry_count == 0) {
    EntryHeader first;
    std::memcpy(&first, entries.data(), sizeof(first));
    result_.first_op = first.op;
  }
  uint64_t position = 0;
  for (uint32_t i = 0; i < entry_count; ++i) {
    EntryHeader entry;
    std::memcpy(&entry, entries.data() + position, sizeof(entry));
    const auto body = entries.subspan(position + sizeof(EntryHeader), entry.body_size_bytes);
    if (visit_) LEDGER_RETURN_IF_ERROR(visit_(entry, body));
    result_.last_op = entry.op;
    result_.last_chain_hash = entry.chain_hash;
    result_.last_timestamp_ns = entry.timestamp_ns + entry.event_count;
    result_.event_count += entry.event_count;
    result_.entry_bytes += entry.entry_size_bytes;
    ++result_.entry_count;
    position += entry.entry_size_bytes;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<LogPosition>> LogScanner::FindLaterGroup(size_t segment_position,
                                                                      uint64_t offset,
                                                                      bool this_segment_only) {
  const uint64_t segment_size = directory_.segment_size_bytes();
  std::vector<std::byte> chunk(kScanChunkBytes);
  const size_t end = this_segment_only ? segment_position + 1 : segments_.size();
  for (size_t position = segment_position; position < end; ++position) {
    Segment& segment = segments_[position];
    uint64_t start = position == segment_position ? offset + kBlockBytes : kBlockBytes;
    while (start < segment_size) {
      const uint64_t length = std::min<uint64_t>(kScanChunkBytes, segment_size - start);
      LEDGER_RETURN_IF_ERROR(segment.file->Read(start, std::span(chunk).first(length)));
      for (uint64_t block = 0; block < length; block += kBlockBytes) {
        GroupHeader header;
        std::memcpy(&header, chunk.data() + block, sizeof(header));
        // Wherever it was meant to go: a group written here for another place (a misdirected
        // write, reported done) is as much a sign of damage as one in its place. No crash
        // leaves a valid header past the log's end: segments are preallocated zeros, never
        // reused, and a cut tail is zeroed to the segment's end.
        if (IsValid(header, directory_.identity().directory_id) &&
            header.first_op > result_.last_op) {
          return LogPosition{segment.index, start + block};
        }
      }
      start += length;
    }
  }
  return std::nullopt;
}

absl::Status LogScanner::Corruption(const Segment& segment, uint64_t offset,
                                    const std::string& reason,
                                    const std::optional<LogPosition>& later) {
  const std::string why =
      later.has_value() ? absl::StrCat("a valid group follows in segment ", later->segment_index,
                                       " at offset ", later->offset, ", so this is not a torn tail")
                        : std::string("the group is whole, so no crash explains it");
  return absl::DataLossError(
      absl::StrCat("WAL corruption in ", segment.file->path(), " at offset ", offset, " (op ",
                   result_.last_op + 1, "): ", reason, "; ", why,
                   ". Nothing was changed; inspect with `ledger-wal verify`"));
}

}  // namespace

absl::StatusOr<ScanResult> ScanLog(const Directory& directory, const ScanOptions& options,
                                   const EntryVisitor& visit) {
  if (options.schema.entry_size_max_bytes() == EntrySizeBytes(0)) {
    return absl::InvalidArgumentError("the scan's schema names no operation");
  }
  LogScanner scanner(directory, options, visit);
  return scanner.Run();
}

}  // namespace ledger::wal
