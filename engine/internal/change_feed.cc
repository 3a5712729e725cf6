#include "engine/internal/change_feed.h"

#include <algorithm>
#include <cstring>

#include "base/assert.h"
#include "engine/engine.h"
#include "engine/internal/memory.h"

namespace ledger::engine::internal {

namespace {

// Chains of up to this many changes stage without allocating (43 KB); a longer one grows the
// buffer once, for good.
constexpr size_t kStagedChangesReserved = 256;

}  // namespace

ChangeFeed::ChangeFeed(uint64_t capacity) : capacity_(capacity) {
  LEDGER_ASSERT(capacity <= kChangeFeedCapacityMax, capacity);
  if (capacity_ == 0) return;
  ring_ = static_cast<Change*>(MapHuge(capacity_ * sizeof(Change), /*reserve_only=*/false));
  Prefault(ring_, capacity_ * sizeof(Change));
  staged_.reserve(kStagedChangesReserved);
}

ChangeFeed::~ChangeFeed() {
  if (ring_ != nullptr) UnmapHuge(ring_, capacity_ * sizeof(Change));
}

void ChangeFeed::Flush() {
  for (const Change& change : staged_) Append(/*in_chain=*/false) = change;
  staged_.clear();
}

uint64_t ChangeFeed::next_retained_sequence() const {
  if (count_ == 0) return 0;
  return ring_[head_ == 0 ? capacity_ - 1 : head_ - 1].sequence + 1;
}

size_t ChangeFeed::Get(uint64_t from_sequence, uint64_t next_sequence,
                       std::span<Change> out) const {
  if (from_sequence < next_sequence - count_ || from_sequence >= next_sequence || out.empty()) {
    return 0;
  }
  const uint64_t count = std::min<uint64_t>(out.size(), next_sequence - from_sequence);
  // next_sequence - from_sequence <= count_ <= capacity_: the sum stays in [0, 2 capacity_).
  const uint64_t first = (head_ + capacity_ - (next_sequence - from_sequence)) % capacity_;
  const uint64_t before_wrap = std::min(count, capacity_ - first);
  std::memcpy(out.data(), ring_ + first, before_wrap * sizeof(Change));
  std::memcpy(out.data() + before_wrap, ring_, (count - before_wrap) * sizeof(Change));
  return count;
}

std::span<Change> ChangeFeed::RestoreNewest(uint64_t count) {
  LEDGER_ASSERT(count_ == 0 && staged_.empty());
  count_ = std::min(count, capacity_);
  head_ = count_ == capacity_ ? 0 : count_;
  return {ring_, count_};
}

}  // namespace ledger::engine::internal
