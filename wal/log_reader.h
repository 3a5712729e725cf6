// Reads and verifies the log: every segment header, group header, entry header, body
// checksum, chain link, op number and timestamp, in order.
//
// The end of the log is classified by the rule of wal/format.h: a bad group followed by a
// valid group header anywhere later is corruption (DataLoss naming the segment, offset and
// op; nothing is changed); a bad group followed by nothing valid is a torn tail, reported in
// ScanResult for recovery to cut.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/directory.h"
#include "wal/format.h"

namespace ledger::wal {

struct LogPosition {
  uint64_t segment_index = 0;
  uint64_t offset = kBlockBytes;  // where a group starts
  friend bool operator==(const LogPosition&, const LogPosition&) = default;
};

struct ScanResult {
  uint64_t first_op = 0;  // 0 when the log holds no entry
  uint64_t last_op = 0;
  Hash128 last_chain_hash;           // of last_op (zero when empty)
  uint64_t last_timestamp_ns = 0;    // last entry's timestamp + its event count
  LogPosition end;                   // where the next group goes
  bool archived_start = false;       // the first segment is not 0 (older ones archived)
  uint64_t start_segment_index = 0;  // the first segment read (ScanOptions::from_op)

  bool torn_tail = false;  // the newest group was not wholly written
  LogPosition torn_at;     // its position: end, unless the writer had left its segment
  std::string torn_reason;

  uint64_t segment_count = 0;
  uint64_t group_count = 0;
  uint64_t entry_count = 0;
  uint64_t event_count = 0;
  uint64_t entry_bytes = 0;  // headers + bodies + entry padding
};

// Called for each entry of each verified group, in op order. An error stops the scan and is
// returned as is.
using EntryVisitor = std::function<absl::Status(const EntryHeader&, std::span<const std::byte>)>;

struct ScanOptions {
  // What the entries may hold (their codes and record sizes). Required.
  EntrySchema schema;
  // Skip the body checksum of entries at or below this op (a snapshot covers them; their
  // headers and chain are still checked). 0 checks every body.
  uint64_t trusted_through_op = 0;
  // Called with bytes read so far, for progress bars (may be empty).
  std::function<void(uint64_t)> progress;
  // Called as the scan enters each segment, before its entries (may be empty).
  std::function<void(uint64_t segment_index)> on_segment;
  // Called for each verified group, with where it starts and its first op, before its entries
  // are visited (may be empty).
  std::function<void(const LogPosition& at, uint64_t first_op)> on_group;
  // Start reading at the newest segment whose first group begins at or before this op (a
  // snapshot's: what lies before it is covered, and reading it would make recovery as slow as
  // the history is long); the segments before are opened and their headers checked, not read,
  // and the first entry read is not linked to anything (as after archived segments). 0 reads
  // from the first segment.
  uint64_t from_op = 0;
  // Stop after the first group that reaches this op: nothing after it is read, so a log
  // being written beyond it (a live server's, read up to its durable op) is not mistaken for a
  // damaged one. 0 reads to the end.
  uint64_t through_op = 0;
};

absl::StatusOr<ScanResult> ScanLog(const Directory& directory, const ScanOptions& options,
                                   const EntryVisitor& visit);

// Refuses with DataLoss, saying where and why, a log that ends before the directory's durable
// mark (Directory::ReadDurableMark, read before the scan: a writer beside a read-only reader
// only raises it): its newest segment missing, or its last op (log.last_op: the scan's, or the
// snapshot's when the log holds no entry after it) below the mark, whether the entries after
// it are gone or damaged where a torn write would otherwise explain them. OK without a mark.
absl::Status CheckDurableMark(const Directory& directory, const std::optional<DurableMark>& mark,
                              const ScanResult& log);

// What can be said of a torn tail (ScanResult::torn_tail) that CheckDurableMark accepted: a
// crash mid-write leaves one, and its entries were never acknowledged, but damage to entries
// written after the mark was last recorded looks the same. For operators' messages.
std::string TornTailMeaning(const Directory& directory, const ScanResult& log);

}  // namespace ledger::wal
