#include "replica/internal/commit_gate.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/assert.h"

namespace ledger::replica::internal {

void CommitGate::NoteCommitted(uint64_t op) {
  if (!replicated_) return;
  {
    std::lock_guard lock(mutex_);
    if (op <= group_committed_op_) return;
    group_committed_op_ = op;
  }
  advanced_.notify_all();
}

uint64_t CommitGate::committed_op() const {
  const uint64_t durable_op = log_.durable_op();
  if (!replicated_) return durable_op;
  std::lock_guard lock(mutex_);
  return std::min(durable_op, group_committed_op_);
}

absl::Status CommitGate::Wait(uint64_t op) {
  LEDGER_RETURN_IF_ERROR(log_.WaitDurable(op));
  if (!replicated_) return absl::OkStatus();
  std::unique_lock lock(mutex_);
  const uint64_t interrupts = interrupts_;
  const bool advanced = advanced_.wait_for(
      lock, std::chrono::milliseconds(kGroupCommitWaitMaxMs),
      [&] { return stopped_ || interrupts_ != interrupts || group_committed_op_ >= op; });
  if (group_committed_op_ >= op) return absl::OkStatus();
  if (stopped_) {
    return absl::CancelledError(absl::StrCat("closing before the group committed op ", op,
                                             " (committed: ", group_committed_op_, ")"));
  }
  const std::string committed = absl::StrCat(" (committed: ", group_committed_op_, ")");
  if (!advanced) {
    return absl::UnavailableError(absl::StrCat("the group's commit of op ", op,
                                               " did not come within ", kGroupCommitWaitMaxMs,
                                               " ms", committed));
  }
  return absl::UnavailableError(
      absl::StrCat("the group's commit of op ", op, " is no longer awaited", committed));
}

void CommitGate::Interrupt() {
  {
    std::lock_guard lock(mutex_);
    ++interrupts_;
  }
  advanced_.notify_all();
}

void CommitGate::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  advanced_.notify_all();
}

}  // namespace ledger::replica::internal
