// Verifies a ledger's log as `ledger-wal verify` does and as a live server does on request
// (net: the verifyLog method): wal::ScanLog with the ledger's schema, which checks every
// segment header, group header, entry header, body checksum, chain link, op and timestamp.
//
// Read-only, and safe beside a server writing the same log when through_op is at most the
// server's durable op: the scan stops there, before anything being written. Runs on the
// caller's thread; a long log takes a while (~1-2 GB/s from the page cache), so a server runs
// it on a thread of its own and asks it to stop between entries.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

namespace ledger::replica {

// How far a verification got: its progress while it runs, what it checked when it ends.
struct LogVerifyTally {
  uint64_t first_op = 0;    // the first entry checked (0: none yet)
  uint64_t checked_op = 0;  // the last entry checked
  uint64_t entry_count = 0;
  uint64_t entry_bytes = 0;  // headers, bodies and padding of the entries checked
  wal::Hash128 chain_head;   // checked_op's chain hash
};

struct LogVerifyOptions {
  // Stop after the group holding this op (wal::ScanOptions::through_op); 0: the whole log.
  uint64_t through_op = 0;
  // Bodies at or below this op are covered by a checked snapshot: headers and chain only.
  uint64_t trusted_through_op = 0;
  // Looked at between entries: once true, the scan ends with Cancelled. May be null.
  const std::atomic<bool>* stop = nullptr;
  // After each entry checked, with the tally so far (may be empty).
  std::function<void(const LogVerifyTally&)> on_entry;
  // Bytes read so far, for progress bars (may be empty).
  std::function<void(uint64_t)> on_bytes;
  // More checks of each entry after the scan's own (a snapshot's or checkpoints' agreement
  // with the log); its error stops the scan and is returned as is. May be empty.
  wal::EntryVisitor also_check;
};

// The scan's result, or its error: DataLoss (naming the segment file, offset and op) for a
// damaged log, Cancelled when stopped, another code when the log could not be read. `tally`
// (not null) holds what was checked either way.
absl::StatusOr<wal::ScanResult> VerifyLog(const wal::Directory& directory,
                                          const LogVerifyOptions& options, LogVerifyTally* tally);

}  // namespace ledger::replica
