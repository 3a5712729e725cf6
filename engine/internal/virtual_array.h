// An append-only array whose elements never move: it reserves address space for its maximum
// size up front (MAP_NORESERVE) and the kernel commits pages on first touch, so resident
// memory follows size() while growth never copies. Transparent huge pages are requested
// because the big tables are accessed at random (a TLB miss per access with 4 KiB pages).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "base/assert.h"

namespace ledger::engine::internal {

template <typename T>
class VirtualArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  explicit VirtualArray(uint64_t capacity_max) : capacity_max_(capacity_max) {
    reserved_bytes_ = capacity_max * sizeof(T);
    void* memory = mmap(nullptr, reserved_bytes_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    LEDGER_ASSERT(memory != MAP_FAILED, reserved_bytes_);  // address space, not memory
    madvise(memory, reserved_bytes_, MADV_HUGEPAGE);       // best effort
    data_ = static_cast<T*>(memory);
  }
  ~VirtualArray() { munmap(data_, reserved_bytes_); }
  VirtualArray(const VirtualArray&) = delete;
  VirtualArray& operator=(const VirtualArray&) = delete;

  T& operator[](uint64_t index) { return data_[index]; }
  const T& operator[](uint64_t index) const { return data_[index]; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  uint64_t size() const { return size_; }
  uint64_t capacity_max() const { return capacity_max_; }
  bool full() const { return size_ == capacity_max_; }

  // Returns the index of the new element.
  uint64_t Append(const T& value) {
    LEDGER_ASSERT(size_ < capacity_max_, size_);
    data_[size_] = value;
    return size_++;
  }
  // Grows by `count` uninitialised-but-zeroed-on-first-use elements; returns the first index.
  uint64_t Grow(uint64_t count) {
    LEDGER_ASSERT(count <= capacity_max_ - size_, size_, count);
    uint64_t first = size_;
    size_ += count;
    return first;
  }
  void PopBack() {
    LEDGER_ASSERT(size_ > 0);
    --size_;
  }
  // Bytes in use (pages touched so far, rounded to elements).
  uint64_t used_bytes() const { return size_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  uint64_t size_ = 0;
  uint64_t capacity_max_ = 0;
  uint64_t reserved_bytes_ = 0;
};

}  // namespace ledger::engine::internal
