// libFuzzer target for the log reader (wal/log_reader.h: ScanLog): segment files' bytes ->
// segment headers, group headers, entries, body checksums, chain links, op numbers and
// timestamps -> the torn-tail-or-corruption verdict; and, on request, recovery over the same
// log (replica/recovery.h: every entry replayed through a real engine).
//
// Input: byte 0 is a set of flags (below); the rest is the bytes of the log's segment files end
// to end, each kSegmentBytes long but the last, which is padded with zeros to kSegmentBytes (a
// segment is preallocated with zeros, so a log of a few entries is a short input): one or two
// segments. The directory's segments are 64 KiB (the reader takes any size; the writer's
// minimum of 4 MiB only bounds its buffers), so a scan reads little besides the input.
//
// Verdicts: ScanLog returns a result or DataLoss, never anything else, and what it returns
// must agree with what it handed out (ops dense, bodies of the size their headers say, the
// end where a group can start). A crash, a sanitizer report or a broken check is a bug.
//
// Seeds: LEDGER_FUZZ_WRITE_SEEDS=DIR log_reader_fuzz writes logs the real writer
// (wal/log_writer.h) wrote, from tests/fuzz/seed_ledger.h's batches, and exits.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/seed_ledger.h"
#include "tests/wal/memory_storage.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_reader.h"
#include "wal/log_writer.h"

namespace ledger::wal {
namespace {

using fuzz::kFixChecksums;

constexpr uint64_t kSegmentBytes = 16 * kBlockBytes;  // 64 KiB
constexpr size_t kSegmentsMax = 2;

// Byte 0 of an input (kFixChecksums is bit 0).
constexpr uint8_t kRecover = 1 << 1;        // replica::Recover, not a plain ScanLog
constexpr uint8_t kArchivedStart = 1 << 2;  // the first segment is 1: older ones archived
constexpr uint8_t kTrustBodies = 1 << 3;    // ScanOptions::trusted_through_op = the from op
constexpr int kFromOpShift = 4;             // bits 4..7: ScanOptions::from_op (0..15)

Hash128 ChainHashOf(const EntryHeader& entry) {
  return HashBytes(std::as_bytes(std::span(&entry, 1)).first(offsetof(EntryHeader, chain_hash)));
}

// Recomputes the segment header's checksum, and for every block that starts with a group
// header's magic, its entries' body checksums and chain hashes and the group's checksum (not the
// chain links: a wrong link with a right chain hash is what the reader must then catch).
void FixChecksums(std::span<std::byte> segment) {
  SegmentHeader header;
  std::memcpy(&header, segment.data(), sizeof(header));
  header.checksum = HeaderChecksum(header);
  std::memcpy(segment.data(), &header, sizeof(header));
  uint64_t offset = kBlockBytes;
  while (offset + sizeof(GroupHeader) <= segment.size()) {
    GroupHeader group;
    std::memcpy(&group, segment.data() + offset, sizeof(group));
    if (group.magic != kGroupMagic) {
      offset += kBlockBytes;
      continue;
    }
    const uint64_t end = offset + std::min<uint64_t>(group.size_bytes, segment.size() - offset);
    uint64_t position = offset + sizeof(GroupHeader);
    for (uint32_t i = 0;
         i < group.entry_count && position <= end && end - position >= sizeof(EntryHeader); ++i) {
      EntryHeader entry;
      std::memcpy(&entry, segment.data() + position, sizeof(entry));
      if (entry.magic != kEntryMagic) break;
      const uint64_t body_bytes =
          std::min<uint64_t>(entry.body_size_bytes, end - position - sizeof(EntryHeader));
      entry.body_checksum = HashBytes(segment.subspan(position + sizeof(EntryHeader), body_bytes));
      entry.chain_hash = ChainHashOf(entry);
      std::memcpy(segment.data() + position, &entry, sizeof(entry));
      if (entry.entry_size_bytes < sizeof(EntryHeader)) break;
      position += entry.entry_size_bytes;
    }
    group.checksum = GroupChecksum(group, fuzz::kDirectoryId);
    std::memcpy(segment.data() + offset, &group, sizeof(group));
    offset = std::max(offset + kBlockBytes, RoundUpToBlock(end));
  }
}

// Whether the log read cleanly (no error, no torn tail): the seeds must.
bool CheckScan(const absl::StatusOr<ScanResult>& scan, uint64_t visited, uint64_t last_op) {
  if (!scan.ok()) {
    LEDGER_ASSERT(absl::IsDataLoss(scan.status()), std::string(scan.status().message()));
    return false;
  }
  LEDGER_ASSERT(scan->entry_count == visited, scan->entry_count, visited);
  if (visited > 0) {
    LEDGER_ASSERT(scan->last_op == last_op && scan->last_op - scan->first_op + 1 == visited,
                  scan->first_op, scan->last_op, last_op, visited);
  }
  LEDGER_ASSERT(scan->end.offset % kBlockBytes == 0 && scan->end.offset >= kBlockBytes &&
                    scan->end.offset <= kSegmentBytes,
                scan->end.offset);
  // Not always == end: a torn group in a segment the writer had already rolled away from ends
  // the log at the newer (empty) segment's start, where the next group goes.
  if (scan->torn_tail) {
    LEDGER_ASSERT(scan->torn_at.offset % kBlockBytes == 0 && scan->torn_at.offset >= kBlockBytes &&
                      scan->torn_at.segment_index <= scan->end.segment_index,
                  scan->torn_at.offset, scan->torn_at.segment_index, scan->end.segment_index);
  }
  return !scan->torn_tail;
}

bool Scan(const Directory& directory, uint8_t flags) {
  ScanOptions options = replica::LogScanOptions();
  options.from_op = flags >> kFromOpShift;
  if ((flags & kTrustBodies) != 0) options.trusted_through_op = options.from_op;
  options.on_group = [](const LogPosition& at, uint64_t first_op) {
    LEDGER_ASSERT(at.offset % kBlockBytes == 0 && at.offset < kSegmentBytes && first_op > 0,
                  at.offset, first_op);
  };
  uint64_t visited = 0;
  uint64_t last_op = 0;
  uint64_t timestamp_min_ns = 0;
  const absl::StatusOr<ScanResult> scan =
      ScanLog(directory, options,
              [&](const EntryHeader& header, std::span<const std::byte> body) -> absl::Status {
                LEDGER_ASSERT(IsWellFormedEntryHeader(header, options.schema));
                LEDGER_ASSERT(body.size() == header.body_size_bytes, body.size());
                LEDGER_ASSERT(visited == 0 || header.op == last_op + 1, header.op, last_op);
                LEDGER_ASSERT(header.timestamp_ns >= timestamp_min_ns, header.timestamp_ns);
                timestamp_min_ns = header.timestamp_ns + header.event_count + 1;
                last_op = header.op;
                ++visited;
                return absl::OkStatus();
              });
  return CheckScan(scan, visited, last_op);
}

bool Recover(const Directory& directory) {
  replica::RecoveryOptions options;
  options.engine = fuzz::SmallEngineOptions();
  options.cut_torn_tail = false;
  const absl::StatusOr<replica::Recovered> recovered = replica::Recover(directory, options);
  if (!recovered.ok()) return false;
  const ScanResult& log = recovered->log;
  LEDGER_ASSERT(recovered->replayed_entries == log.entry_count, recovered->replayed_entries,
                log.entry_count);
  return !log.torn_tail;
}

// One input; true when it reads as a clean log.
bool RunInput(const uint8_t* data, size_t size) {
  if (size < 1) return false;
  const uint8_t flags = data[0];
  const std::span<const std::byte> files =
      std::as_bytes(std::span(data + 1, std::min(size - 1, kSegmentsMax * kSegmentBytes)));
  testing::MemoryStorage storage;
  const std::unique_ptr<Directory> directory =
      fuzz::MakeDirectory(storage, kSegmentBytes, /*writable=*/false);
  const uint64_t first_index = (flags & kArchivedStart) != 0 ? 1 : 0;
  const size_t segment_count =
      std::max<size_t>(1, (files.size() + kSegmentBytes - 1) / kSegmentBytes);
  for (size_t i = 0; i < segment_count; ++i) {
    std::vector<std::byte> segment(kSegmentBytes);
    const size_t begin = std::min(files.size(), i * kSegmentBytes);
    const size_t length = std::min<size_t>(kSegmentBytes, files.size() - begin);
    std::copy_n(files.begin() + static_cast<ptrdiff_t>(begin), length, segment.begin());
    if ((flags & kFixChecksums) != 0) FixChecksums(segment);
    fuzz::PutFile(storage, directory->SegmentPath(first_index + i), segment);
  }
  return (flags & kRecover) != 0 ? Recover(*directory) : Scan(*directory, flags);
}

// ---------------------------------------------------------------------------------------------
// Seeds

// Appends batches [begin, end) of the seed ledger to the log at `end_position`, one group each.
void AppendSeedBatches(const Directory& directory, LogPosition at, size_t begin, size_t end,
                       Hash128& chain) {
  WriterOptions options;
  options.schema = replica::LogSchema();
  options.use_io_uring = false;
  options.buffer_bytes =
      RoundUpToBlock(sizeof(GroupHeader) + options.schema.entry_size_max_bytes());
  absl::StatusOr<std::unique_ptr<LogWriter>> writer =
      LogWriter::Open(directory, at, begin + 1, options);
  LEDGER_ASSERT(writer.ok(), std::string(writer.status().message()));
  const std::vector<fuzz::SeedBatch> batches = fuzz::SeedBatches();
  for (size_t i = begin; i < end; ++i) {
    EntryHeader header{};
    header.operation = static_cast<uint8_t>(batches[i].operation);
    header.event_count = batches[i].event_count;
    header.op = i + 1;
    header.timestamp_ns = batches[i].timestamp_ns;
    header.previous_chain_hash = chain;
    SealEntry(header, batches[i].body);
    chain = header.chain_hash;
    (*writer)->Append(header, batches[i].body);
    LEDGER_ASSERT((*writer)->WaitDurable(header.op).ok());
  }
}

// The seed ledger's log: batches [0, split) in segment 0, the rest in segment 1 (none when
// split is all of them). Returns the segments' bytes.
std::vector<std::vector<std::byte>> WriteSeedLog(size_t split) {
  testing::MemoryStorage storage;
  // The writer's buffers must take the largest entry (1.2 MB): its segments must be larger than
  // the fuzzed directory's. Nothing in a segment's bytes says its size.
  const std::unique_ptr<Directory> directory =
      fuzz::MakeDirectory(storage, kSegmentSizeMinBytes, /*writable=*/true);
  LEDGER_ASSERT(directory->CreateSegment(0).ok());
  const size_t count = fuzz::SeedBatches().size();
  Hash128 chain;
  AppendSeedBatches(*directory, {0, kBlockBytes}, 0, split, chain);
  if (split < count) {
    LEDGER_ASSERT(directory->CreateSegment(1).ok());
    AppendSeedBatches(*directory, {1, kBlockBytes}, split, count, chain);
  }
  std::vector<std::vector<std::byte>> segments;
  for (uint64_t index = 0; index < (split < count ? 2u : 1u); ++index) {
    std::vector<std::byte> bytes = fuzz::GetFile(storage, directory->SegmentPath(index));
    LEDGER_ASSERT(fuzz::TrimZeros(bytes).size() <= kSegmentBytes);
    bytes.resize(kSegmentBytes);
    segments.push_back(std::move(bytes));
  }
  return segments;
}

void WriteInputSeed(const std::string& directory, const std::string& name, uint8_t flags,
                    std::span<const std::vector<std::byte>> segments) {
  std::vector<std::byte> input = {std::byte{flags}};
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::span<const std::byte> bytes =
        i + 1 < segments.size() ? std::span(segments[i]) : fuzz::TrimZeros(segments[i]);
    input.insert(input.end(), bytes.begin(), bytes.end());
  }
  // A seed that does not read cleanly would only teach the fuzzer a refusal.
  LEDGER_ASSERT(RunInput(reinterpret_cast<const uint8_t*>(input.data()), input.size()), name);
  fuzz::WriteSeed(directory, name, input);
}

void WriteSeeds(const std::string& directory) {
  const size_t count = fuzz::SeedBatches().size();
  const auto whole = WriteSeedLog(count);
  const auto split = WriteSeedLog(3);
  WriteInputSeed(directory, "one_segment", 0, whole);
  WriteInputSeed(directory, "one_segment_fix_checksums", kFixChecksums, whole);
  WriteInputSeed(directory, "one_segment_recover", kRecover, whole);
  WriteInputSeed(directory, "two_segments", 0, split);
  WriteInputSeed(directory, "two_segments_recover", kRecover | kFixChecksums, split);
  WriteInputSeed(directory, "two_segments_from_op_4",
                 static_cast<uint8_t>((4 << kFromOpShift) | kTrustBodies), split);
  // The second segment alone: a log whose older segment was archived.
  WriteInputSeed(directory, "archived_start", kArchivedStart, std::span(split).subspan(1));
}

}  // namespace
}  // namespace ledger::wal

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("LEDGER_FUZZ_WRITE_SEEDS")) {
    ledger::wal::WriteSeeds(directory);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ledger::wal::RunInput(data, size);
  return 0;
}
