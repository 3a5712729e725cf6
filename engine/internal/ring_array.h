// A window of an unbounded sequence of records: positions [begin_position(), end_position()),
// position p in slot p & (capacity - 1) of an array whose address space is reserved up front
// (capacity a power of two). Appends go at the end; the oldest records leave from the front
// (DropFront), and the whole 2 MiB pages they leave are given back to the kernel, so resident
// memory follows size() however far end_position() has gone. Unless the array is within an
// eighth of the capacity asked for: then the pages stay, since every slot is written again one
// lap later, and a page given back comes back zeroed by the kernel (a tenth of a windowed
// server's time went there) to save at most an eighth. A slot names a record while it is in
// the window; positions are 64 bits and never wrap.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <span>
#include <type_traits>

#include "base/assert.h"
#include "engine/internal/memory.h"

namespace ledger::engine::internal {

template <typename T>
class RingArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // capacity_min: records the window may hold at once (rounded up to a power of two).
  explicit RingArray(uint64_t capacity_min)
      : capacity_(std::bit_ceil(std::max<uint64_t>(capacity_min, 1))),
        mask_(capacity_ - 1),
        keeps_pages_(capacity_ - std::max<uint64_t>(capacity_min, 1) <= capacity_ / 8),
        data_(static_cast<T*>(MapHuge(capacity_ * sizeof(T), /*reserve_only=*/true))) {}
  ~RingArray() { UnmapHuge(data_, capacity_ * sizeof(T)); }
  RingArray(const RingArray&) = delete;
  RingArray& operator=(const RingArray&) = delete;

  // As VirtualArray::Prefault, for the first `count` slots.
  void Prefault(uint64_t count) {
    const uint64_t bytes = std::min(count, capacity_) * sizeof(T);
    if (bytes >= kHugePageBytes) AdviseHuge(data_, capacity_ * sizeof(T));
    internal::Prefault(data_, bytes);
  }
  // As Prefault, from another thread while this ring is appended to (memory.h).
  void PrefaultBeside(uint64_t count) const {
    const uint64_t bytes = std::min(count, capacity_) * sizeof(T);
    if (bytes >= kHugePageBytes) AdviseHuge(data_, capacity_ * sizeof(T));
    internal::PrefaultBeside(data_, bytes);
  }

  T& operator[](uint64_t slot) { return data_[slot]; }
  const T& operator[](uint64_t slot) const { return data_[slot]; }
  T& at(uint64_t position) { return data_[position & mask_]; }
  const T& at(uint64_t position) const { return data_[position & mask_]; }
  uint64_t slot_of(uint64_t position) const { return position & mask_; }
  // The position of the record in `slot`, which must be in the window.
  uint64_t position_of(uint64_t slot) const { return begin_ + ((slot - begin_) & mask_); }

  uint64_t begin_position() const { return begin_; }
  uint64_t end_position() const { return end_; }
  uint64_t size() const { return end_ - begin_; }
  uint64_t capacity() const { return capacity_; }
  bool full() const { return size() == capacity_; }
  uint64_t used_bytes() const { return size() * sizeof(T); }
  // The records in position order: the window's one or two runs of slots (the second empty
  // unless the window wraps round the array's end).
  std::array<std::span<const T>, 2> pieces() const {
    const uint64_t first = begin_ & mask_;
    const uint64_t first_count = std::min(size(), capacity_ - first);
    return {std::span<const T>(data_ + first, first_count),
            std::span<const T>(data_, size() - first_count)};
  }

  // Returns the slot of the new record.
  uint64_t Append(const T& value) {
    LEDGER_ASSERT(!full(), begin_, end_);
    const uint64_t slot = end_++ & mask_;
    data_[slot] = value;
    return slot;
  }
  void PopBack() {
    LEDGER_ASSERT(end_ > begin_, end_);
    --end_;
  }
  // Drops the records before `position` (at most end_position()). The pages are given back once the
  // records dropped since the last time fill two of them (a page half dropped stays).
  void DropFront(uint64_t position) {
    LEDGER_ASSERT(position >= begin_ && position <= end_, position, begin_, end_);
    begin_ = position;
    // Slots of positions below end_ - capacity_ hold live records again.
    released_ = std::max(released_, end_ > capacity_ ? end_ - capacity_ : 0);
    if (keeps_pages_ || position <= released_ ||
        (position - released_) * sizeof(T) < 2 * kHugePageBytes)
      return;
    for (uint64_t from = released_; from < position;) {  // at most two pieces: it may wrap
      const uint64_t slot = from & mask_;
      const uint64_t count = std::min(position - from, capacity_ - slot);
      Release(data_ + slot, count * sizeof(T));
      from += count;
    }
    // The last page may hold live records: it is tried again next time.
    released_ = position - std::min(position, kHugePageBytes / sizeof(T) + 1);
  }

 private:
  uint64_t capacity_;
  uint64_t mask_;
  bool keeps_pages_;
  T* data_;
  uint64_t begin_ = 0;
  uint64_t end_ = 0;
  uint64_t released_ = 0;  // records before it have had their whole pages released
};

}  // namespace ledger::engine::internal
