#include "engine/internal/list_arena.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>

#include "base/assert.h"

namespace ledger::engine::internal {

namespace {
constexpr uint32_t kNoBlock = ~uint32_t{0};  // an empty free list
}  // namespace

ListArena::ListArena(uint64_t entries_max) : entries_(entries_max) {
  std::fill(std::begin(free_heads_), std::end(free_heads_), kNoBlock);
}

uint32_t ListArena::Allocate(uint8_t capacity_log2) {
  uint32_t& head = free_heads_[capacity_log2];
  if (head != kNoBlock) {
    uint32_t offset = head;
    head = entries_[offset];
    return offset;
  }
  // Aligned to its size: the gap before it becomes smaller aligned blocks, free for reuse
  // (every block is at least 4 entries, so the arena's end is a multiple of 4).
  const uint64_t size = uint64_t{1} << capacity_log2;
  while (entries_.size() % size != 0) {
    const uint64_t piece = entries_.size() & (~entries_.size() + 1);  // the lowest set bit
    Free(static_cast<uint32_t>(entries_.Grow(piece)),
         static_cast<uint8_t>(std::countr_zero(piece)));
  }
  return static_cast<uint32_t>(entries_.Grow(size));
}

void ListArena::Free(uint32_t offset, uint8_t capacity_log2) {
  entries_[offset] = free_heads_[capacity_log2];
  free_heads_[capacity_log2] = offset;
}

void ListArena::Grow(Place list) {
  // Start at 4 entries (16 bytes): most accounts in a big ledger see few transfers. A block
  // at most half full of live entries (the rest popped) is replaced by one of the same size.
  const uint8_t grown_log2 = list.capacity_log2 == 0 ? 2
                             : list.count <= (uint32_t{1} << list.capacity_log2) / 2
                                 ? list.capacity_log2
                                 : static_cast<uint8_t>(list.capacity_log2 + 1);
  LEDGER_ASSERT(grown_log2 <= 31, grown_log2);
  const uint32_t grown = Allocate(grown_log2);
  if (list.count > 0) {
    std::memcpy(&entries_[grown], &entries_[list.offset], list.count * sizeof(uint32_t));
  }
  if (list.capacity_log2 != 0) Free(list.offset - InBlock(list), list.capacity_log2);
  list.offset = grown;
  list.capacity_log2 = grown_log2;
}

}  // namespace ledger::engine::internal
