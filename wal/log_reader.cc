#include "wal/log_reader.h"

#include <fcntl.h>

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "wal/internal/io.h"

namespace ledger::wal {

namespace {

// A group can never be larger than this (the writer's buffers are smaller); a header that
// claims more is malformed.
constexpr uint64_t kGroupBytesMax = uint64_t{64} << 20;
constexpr uint64_t kScanChunkBytes = uint64_t{1} << 20;

struct Segment {
  uint64_t index;
  internal::FileDescriptor fd;
  std::string path;
};

bool IsAllZero(std::span<const std::byte> bytes) {
  for (std::byte b : bytes) {
    if (b != std::byte{0}) return false;
  }
  return true;
}

class LogScanner {
 public:
  LogScanner(const Directory& directory, const ScanOptions& options, const EntryVisitor& visit)
      : directory_(directory), options_(options), visit_(visit) {}

  absl::StatusOr<ScanResult> Run();

 private:
  absl::Status OpenSegments();
  // Reads and verifies the group at offset and visits its entries. Returns its size, or 0
  // when there is no good group there: `reason` says why, or stays empty for zeros.
  absl::StatusOr<uint64_t> ReadGroup(Segment& segment, uint64_t offset, std::string* reason);
  absl::Status VerifyEntries(std::span<const std::byte> entries, uint64_t first_op,
                             uint32_t entry_count, std::string* reason);
  // Whether a valid group header with first_op > result_.last_op exists after (segment
  // position, offset): in that segment only, or in the rest of the log.
  absl::StatusOr<std::optional<LogPosition>> FindLaterGroup(size_t segment_position,
                                                            uint64_t offset,
                                                            bool this_segment_only);
  absl::Status Corruption(const Segment& segment, uint64_t offset, const std::string& reason,
                          const LogPosition& later);

  const Directory& directory_;
  const ScanOptions& options_;
  const EntryVisitor& visit_;
  std::vector<Segment> segments_;
  std::vector<std::byte> group_;  // reused read buffer
  ScanResult result_;
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
    Segment segment{indexes[i], {}, directory_.SegmentPath(indexes[i])};
    LEDGER_ASSIGN_OR_RETURN(segment.fd, internal::Open(segment.path, O_RDONLY));
    LEDGER_RETURN_IF_ERROR(directory_.CheckSegmentHeader(segment.fd.get(), indexes[i]));
    segments_.push_back(std::move(segment));
  }
  result_.archived_start = indexes.front() != 0;
  result_.segment_count = indexes.size();
  return absl::OkStatus();
}

absl::StatusOr<ScanResult> LogScanner::Run() {
  LEDGER_RETURN_IF_ERROR(OpenSegments());
  const uint64_t segment_size = directory_.segment_size_bytes();
  result_.end = {segments_.front().index, kBlockBytes};
  for (size_t position = 0; position < segments_.size() && !result_.torn_tail; ++position) {
    Segment& segment = segments_[position];
    uint64_t offset = kBlockBytes;
    while (offset < segment_size) {
      std::string reason;
      LEDGER_ASSIGN_OR_RETURN(uint64_t group_bytes, ReadGroup(segment, offset, &reason));
      if (group_bytes > 0) {
        offset += (group_bytes + kBlockBytes - 1) / kBlockBytes * kBlockBytes;
        result_.end = {segment.index, offset};
        continue;
      }
      // No good group here. Anything valid later makes this corruption. Zeros legitimately
      // end a segment the writer rolled away from, so for zeros only this segment counts
      // (a later segment must then continue the op sequence, which ReadGroup checks).
      LEDGER_ASSIGN_OR_RETURN(std::optional<LogPosition> later,
                              FindLaterGroup(position, offset, reason.empty()));
      if (later.has_value()) return Corruption(segment, offset, reason, *later);
      if (!reason.empty()) {
        result_.torn_tail = true;
        result_.torn_at = {segment.index, offset};
        result_.torn_reason = reason;
        result_.end = result_.torn_at;
      }
      break;  // zeros: this segment's data ends here
    }
  }
  // The writer creates a segment just before its first group: a newer segment without groups
  // means the next group goes there.
  if (result_.end.segment_index != segments_.back().index) {
    result_.end = {segments_.back().index, kBlockBytes};
  }
  return result_;
}

absl::StatusOr<uint64_t> LogScanner::ReadGroup(Segment& segment, uint64_t offset,
                                               std::string* reason) {
  const uint64_t segment_size = directory_.segment_size_bytes();
  GroupHeader header;
  LEDGER_RETURN_IF_ERROR(internal::PreadFully(
      segment.fd.get(), std::as_writable_bytes(std::span(&header, 1)), offset, segment.path));
  if (IsAllZero(std::as_bytes(std::span(&header, 1)))) return 0;  // reason stays empty
  const uint64_t expected_op = result_.last_op + 1;
  if (!IsValid(header)) {
    *reason = "group header is malformed";
    return 0;
  }
  if (header.segment_index != segment.index || header.segment_offset != offset ||
      header.size_bytes < sizeof(GroupHeader) || header.size_bytes > kGroupBytesMax ||
      header.size_bytes > segment_size - offset || header.entry_count == 0 ||
      (result_.entry_count > 0 && header.first_op != expected_op)) {
    *reason = absl::StrCat("group header does not fit here (expected op ", expected_op, ")");
    return 0;
  }
  group_.resize(header.size_bytes);
  LEDGER_RETURN_IF_ERROR(internal::PreadFully(segment.fd.get(), group_, offset, segment.path));
  bytes_read_ += header.size_bytes;
  if (options_.progress) options_.progress(bytes_read_);
  const std::span<const std::byte> entries = std::span(group_).subspan(sizeof(GroupHeader));
  LEDGER_RETURN_IF_ERROR(VerifyEntries(entries, header.first_op, header.entry_count, reason));
  if (!reason->empty()) return 0;
  // The whole group is good: only now hand its entries out.
  if (result_.entry_count == 0) result_.first_op = header.first_op;
  uint64_t position = 0;
  for (uint32_t i = 0; i < header.entry_count; ++i) {
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
  ++result_.group_count;
  return header.size_bytes;
}

absl::Status LogScanner::VerifyEntries(std::span<const std::byte> entries, uint64_t first_op,
                                       uint32_t entry_count, std::string* reason) {
  uint64_t op = first_op;
  Hash128 chain = result_.last_chain_hash;
  uint64_t timestamp_min_ns = result_.last_timestamp_ns + 1;
  const bool first_entry_of_log = result_.entry_count == 0;
  uint64_t position = 0;
  for (uint32_t i = 0; i < entry_count; ++i, ++op) {
    EntryHeader entry;
    if (entries.size() - position < sizeof(entry)) {
      *reason = absl::StrCat("entry of op ", op, " is cut short");
      return absl::OkStatus();
    }
    std::memcpy(&entry, entries.data() + position, sizeof(entry));
    if (!IsWellFormedEntryHeader(entry) || entry.op != op ||
        entry.entry_size_bytes > entries.size() - position) {
      *reason = absl::StrCat("entry header of op ", op, " is malformed");
      return absl::OkStatus();
    }
    // The very first entry of a log whose older segments were archived cannot be linked.
    const bool link_known = !(first_entry_of_log && i == 0 && result_.archived_start);
    if (link_known && entry.previous_chain_hash != chain) {
      *reason = absl::StrCat("entry of op ", op, " does not link to the previous entry");
      return absl::OkStatus();
    }
    if (entry.timestamp_ns < timestamp_min_ns) {
      *reason = absl::StrCat("entry of op ", op, " has a timestamp that goes backwards");
      return absl::OkStatus();
    }
    const auto body = entries.subspan(position + sizeof(EntryHeader), entry.body_size_bytes);
    if (op > options_.trusted_through_op && HashBytes(body) != entry.body_checksum) {
      *reason = absl::StrCat("body of op ", op, " fails its checksum");
      return absl::OkStatus();
    }
    chain = entry.chain_hash;
    timestamp_min_ns = entry.timestamp_ns + entry.event_count + 1;
    position += entry.entry_size_bytes;
  }
  if (position != entries.size()) *reason = "group holds bytes after its last entry";
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
      LEDGER_RETURN_IF_ERROR(internal::PreadFully(segment.fd.get(), std::span(chunk).first(length),
                                                  start, segment.path));
      for (uint64_t block = 0; block < length; block += kBlockBytes) {
        GroupHeader header;
        std::memcpy(&header, chunk.data() + block, sizeof(header));
        if (IsValid(header) && header.segment_index == segment.index &&
            header.segment_offset == start + block && header.first_op > result_.last_op) {
          return LogPosition{segment.index, start + block};
        }
      }
      start += length;
    }
  }
  return std::nullopt;
}

absl::Status LogScanner::Corruption(const Segment& segment, uint64_t offset,
                                    const std::string& reason, const LogPosition& later) {
  return absl::DataLossError(absl::StrCat(
      "WAL corruption in ", segment.path, " at offset ", offset, " (op ", result_.last_op + 1,
      "): ", reason.empty() ? "a hole of zeros" : reason, "; a valid group follows in segment ",
      later.segment_index, " at offset ", later.offset,
      ", so this is not a torn tail. Nothing was changed; inspect with `ledger-wal verify`"));
}

}  // namespace

absl::StatusOr<ScanResult> ScanLog(const Directory& directory, const ScanOptions& options,
                                   const EntryVisitor& visit) {
  LogScanner scanner(directory, options, visit);
  return scanner.Run();
}

}  // namespace ledger::wal
