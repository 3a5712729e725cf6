// Lists of refs (accounts' histories, the query index's postings) in one arena, in blocks of
// 2^k entries that double as a list grows (copying, amortised O(1)); freed blocks are reused
// through per-size free lists threaded through the blocks themselves. A list also loses its
// oldest entries when the hot window moves past them (PopFront): a block is aligned to its size,
// so the list's offset may move into it and its start is still known. At most 4x slack.
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
    uint32_t& offset;  // of the oldest entry, within the block
    uint32_t& count;
    uint8_t& capacity_log2;
  };

  explicit ListArena(uint64_t entries_max);
  void Prefault(uint64_t entry_count) { entries_.Prefault(entry_count); }
  void PrefaultBeside(uint64_t entry_count) const { entries_.PrefaultBeside(entry_count); }
  // Inline, with the growth out of line: two appends per transfer on the apply path.
  void Append(Place list, Ref ref) {
    if (list.capacity_log2 == 0 || InBlock(list) + list.count == uint32_t{1}
                                                                     << list.capacity_log2) {
      Grow(list);
    }
    entries_[list.offset + list.count] = ref.bits();
    ++list.count;
  }
  // Drops the oldest entry, which must be `ref`.
  void PopFront(Place list, [[maybe_unused]] Ref ref) {
    LEDGER_ASSERT(list.count > 0, list.count);
#if defined(LEDGER_EXPENSIVE_CHECKS)
    // Only there: reading the entry is a cache miss per eviction that nothing else needs.
    LEDGER_ASSERT(entries_[list.offset] == ref.bits(), list.offset, ref.bits());
#endif
    --list.count;
    list.offset = list.count == 0 ? list.offset - InBlock(list) : list.offset + 1;
  }
  // Gives the list's block back (the list must be empty).
  void Release(Place list) {
    LEDGER_ASSERT(list.count == 0, list.count);
    if (list.capacity_log2 != 0) Free(list.offset - InBlock(list), list.capacity_log2);
    list.capacity_log2 = 0;
  }
  std::span<const uint32_t> List(uint32_t offset, uint32_t count) const {
    return {entries_.data() + offset, count};
  }
  void PrefetchEntry(uint32_t offset) const { __builtin_prefetch(entries_.data() + offset, 1); }
  uint64_t bytes() const { return entries_.used_bytes(); }

 private:
  // Where the oldest entry sits in its block.
  static uint32_t InBlock(Place list) {
    return list.offset & ((uint32_t{1} << list.capacity_log2) - 1);
  }
  // A full block (or none) for a block that holds twice the entries (or as many again, when
  // most of the old one had been popped).
  void Grow(Place list);
  uint32_t Allocate(uint8_t capacity_log2);
  void Free(uint32_t offset, uint8_t capacity_log2);

  VirtualArray<uint32_t> entries_;
  uint32_t free_heads_[33];
};

}  // namespace ledger::engine::internal
