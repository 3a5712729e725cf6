#include "net/internal/checkpoint_ring.h"

#include <algorithm>

#include "base/assert.h"

namespace ledger::net::internal {

CheckpointRing::Entry CheckpointRing::MakeEntry() {
  Entry entry;
  entry.line.reserve(kCheckpointLineBytesMax);
  return entry;
}

CheckpointRing::CheckpointRing(size_t capacity) {
  LEDGER_REQUIRE(capacity > 0);
  slots_.reserve(capacity);
  for (size_t i = 0; i < capacity; ++i) slots_.push_back(MakeEntry());
}

void CheckpointRing::Append(const replica::SignedCheckpoint& checkpoint) {
  std::lock_guard lock(mutex_);
  Entry& slot = slots_[next_ % slots_.size()];
  slot.checkpoint = checkpoint.checkpoint;
  slot.line.assign(checkpoint.line);
  slot.change_sequence_next = checkpoint.change_sequence_next;
  ++next_;
}

uint64_t CheckpointRing::next() const {
  std::lock_guard lock(mutex_);
  return next_;
}

uint64_t CheckpointRing::oldest() const {
  std::lock_guard lock(mutex_);
  return OldestLocked();
}

bool CheckpointRing::Read(uint64_t number, Entry& out) const {
  std::lock_guard lock(mutex_);
  if (number < OldestLocked() || number >= next_) return false;
  const Entry& slot = slots_[number % slots_.size()];
  out.checkpoint = slot.checkpoint;
  out.line.assign(slot.line);
  out.change_sequence_next = slot.change_sequence_next;
  return true;
}

uint64_t CheckpointRing::FirstAtOrAfter(uint64_t sequence) const {
  std::lock_guard lock(mutex_);
  uint64_t number = OldestLocked();
  // Positions rise with ops, and checkpoints come in op order.
  while (number < next_ && slots_[number % slots_.size()].change_sequence_next < sequence) {
    ++number;
  }
  return number;
}

}  // namespace ledger::net::internal
