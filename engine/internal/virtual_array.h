// An append-only array whose elements never move: it reserves address space for its maximum
// size up front and the kernel commits pages on first touch (or at Prefault), so resident
// memory follows size() while growth never copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "base/assert.h"
#include "engine/internal/memory.h"

namespace ledger::engine::internal {

template <typename T>
class VirtualArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  explicit VirtualArray(uint64_t capacity_max)
      : data_(static_cast<T*>(MapHuge(capacity_max * sizeof(T), /*reserve_only=*/true))),
        capacity_max_(capacity_max) {}
  ~VirtualArray() { UnmapHuge(data_, capacity_max_ * sizeof(T)); }
  VirtualArray(const VirtualArray&) = delete;
  VirtualArray& operator=(const VirtualArray&) = delete;

  // Commits memory for the first `count` elements now, so appends up to there never fault.
  // An array expected to fill a huge page gets huge pages over its whole reservation; a
  // smaller one keeps small pages even if it grows later (size the capacity to the load).
  void Prefault(uint64_t count) {
    const uint64_t bytes = std::min(count, capacity_max_) * sizeof(T);
    if (bytes >= kHugePageBytes) AdviseHuge(data_, capacity_max_ * sizeof(T));
    internal::Prefault(data_, bytes);
  }
  // As Prefault, from another thread while this array is appended to (memory.h).
  void PrefaultBeside(uint64_t count) const {
    const uint64_t bytes = std::min(count, capacity_max_) * sizeof(T);
    if (bytes >= kHugePageBytes) AdviseHuge(data_, capacity_max_ * sizeof(T));
    internal::PrefaultBeside(data_, bytes);
  }

  T& operator[](uint64_t index) { return data_[index]; }
  const T& operator[](uint64_t index) const { return data_[index]; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  uint64_t size() const { return size_; }
  // As RingArray's, for code over either: nothing ever leaves, so a position is its index.
  uint64_t begin_position() const { return 0; }
  uint64_t end_position() const { return size_; }
  const T& at(uint64_t position) const { return data_[position]; }
  uint64_t slot_of(uint64_t position) const { return position; }
  uint64_t capacity_max() const { return capacity_max_; }
  bool full() const { return size_ == capacity_max_; }

  // Returns the index of the new element.
  uint64_t Append(const T& value) {
    LEDGER_ASSERT(size_ < capacity_max_, size_);
    data_[size_] = value;
    return size_++;
  }
  // Grows by `count` elements (zero if never used before); returns the first index.
  uint64_t Grow(uint64_t count) {
    LEDGER_ASSERT(count <= capacity_max_ - size_, size_, count);
    const uint64_t first = size_;
    size_ += count;
    return first;
  }
  void PopBack() {
    LEDGER_ASSERT(size_ > 0);
    --size_;
  }
  uint64_t used_bytes() const { return size_ * sizeof(T); }

 private:
  T* data_;
  uint64_t capacity_max_;
  uint64_t size_ = 0;
};

}  // namespace ledger::engine::internal
