// Lists of refs (accounts' histories, the query index's postings) in one arena, in blocks of
// 2^k entries that double as a list grows (copying, amortised O(1)); freed blocks are reused
// through per-size free lists threaded through the blocks themselves. At most 2x slack.
// Entries are raw words (a free block's first word holds an offset, not a ref): Append takes a
// Ref, List gives the refs' bits (Ref::FromBits reads one). Private to engine/.
#pragma once

#include <cstdint>
#include <span>

#include "engine/internal/ref.h"
#include "engine/internal/virtual_array.h"

namespace ledger::engine::internal {

class ListArena {
 public:
  // Where a list lives, kept by its owner: its block's offset, its entry count and its
  // block's size (log2; 0 = no block yet).
  struct Place {
    uint32_t& offset;
    uint32_t& count;
    uint8_t& capacity_log2;
  };

  explicit ListArena(uint64_t entries_max);
  void Prefault(uint64_t entry_count) { entries_.Prefault(entry_count); }
  // Inline, with the growth out of line: two appends per transfer on the apply path.
  void Append(Place list, Ref ref) {
    if (list.capacity_log2 == 0 || list.count == uint32_t{1} << list.capacity_log2) Grow(list);
    entries_[list.offset + list.count] = ref.bits();
    ++list.count;
  }
  std::span<const uint32_t> List(uint32_t offset, uint32_t count) const {
    return {entries_.data() + offset, count};
  }
  void PrefetchEntry(uint32_t offset) const { __builtin_prefetch(entries_.data() + offset, 1); }
  uint64_t bytes() const { return entries_.used_bytes(); }

 private:
  void Grow(Place list);  // a full list (or one without a block) into a block twice the size
  uint32_t Allocate(uint8_t capacity_log2);
  void Free(uint32_t offset, uint8_t capacity_log2);

  VirtualArray<uint32_t> entries_;
  uint32_t free_heads_[33];
};

}  // namespace ledger::engine::internal
