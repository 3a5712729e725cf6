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
  // Blocks until committed_op() >= op. The log's failure, Cancelled once stopped, and in a
  // group Unavailable when interrupted or when the commit has not come within
  // kGroupCommitWaitMaxMs (the leader may be gone: the caller must not hold the engine
  // forever).
  absl::Status Wait(uint64_t op);
  // Ends the Waits in progress with Unavailable (a member stops following). Any thread.
  void Interrupt();
  // Ends every Wait now and to come (the replica closes).
  void Stop();

  static constexpr int64_t kGroupCommitWaitMaxMs = 5000;

 private:
  wal::LogWriter& log_;
  const bool replicated_;
  mutable std::mutex mutex_;
  std::condition_variable advanced_;
  uint64_t group_committed_op_ = 0;
  uint64_t interrupts_ = 0;  // Waits end when it changes
  bool stopped_ = false;
};

}  // namespace ledger::replica::internal
