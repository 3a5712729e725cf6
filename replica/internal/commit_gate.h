// How far state may be made permanent beyond the log (snapshots, cold exports): through the
// log's durable op alone, or, in a replica group, also only through the group's committed op
// (docs/replication.md). Then nothing a new epoch may cut from this member's log (entries
// never acknowledged) is ever in a snapshot or in the cold store, and the cut is one of the log
// alone.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/status/status.h"
#include "wal/log_writer.h"

namespace ledger::replica::internal {

class CommitGate {
 public:
  // log: borrowed for the gate's lifetime.
  CommitGate(wal::LogWriter& log, bool replicated) : log_(log), replicated_(replicated) {}

  // The group's committed op, as its leader says; never goes back. Any thread. Ignored
  // unless replicated.
  void NoteCommitted(uint64_t op);
  // The log's durable op, and in a group at most the group's committed op.
  uint64_t committed_op() const;
  // Blocks until committed_op() >= op. The log's failure, or Cancelled once stopped.
  absl::Status Wait(uint64_t op);
  // Ends every Wait now and to come (the replica closes).
  void Stop();

 private:
  wal::LogWriter& log_;
  const bool replicated_;
  mutable std::mutex mutex_;
  std::condition_variable advanced_;
  uint64_t group_committed_op_ = 0;
  bool stopped_ = false;
};

}  // namespace ledger::replica::internal
