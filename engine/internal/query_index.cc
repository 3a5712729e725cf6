#include "engine/internal/query_index.h"

namespace ledger::engine::internal {

QueryIndex::QueryIndex(uint64_t capacity, uint64_t entries_max)
    : index_(capacity), lists_(entries_max / 2 + 1), arena_(entries_max) {}

void QueryIndex::AppendTo(uint32_t list_index, Ref ref) {
  ListHead& list = lists_[list_index];
  arena_.Append({list.offset, list.count, list.capacity_log2}, ref);
}

uint32_t QueryIndex::NewList(Ref oldest, Ref newest) {
  uint32_t list_index = free_list_head_;
  if (list_index != kNoList) {
    free_list_head_ = lists_[list_index].offset;
    lists_[list_index] = ListHead{};
  } else {
    list_index = static_cast<uint32_t>(lists_.Append(ListHead{}));
  }
  LEDGER_ASSERT(list_index < kListBit, list_index);
  AppendTo(list_index, oldest);
  AppendTo(list_index, newest);
  return list_index;
}

bool QueryIndex::PopFrom(uint32_t list_index, Ref ref) {
  ListHead& list = lists_[list_index];
  LEDGER_ASSERT(list.count > 0 && arena_.List(list.offset, list.count).back() == ref.bits(),
                list.count, ref.bits());
  --list.count;
  if (list.count > 0) return false;
  FreeList(list_index);
  return true;
}

bool QueryIndex::PopOldestFrom(uint32_t list_index, Ref ref) {
  ListHead& list = lists_[list_index];
  const ListArena::Place place{list.offset, list.count, list.capacity_log2};
  arena_.PopFront(place, ref);
  if (list.count > 0) return false;
  FreeList(list_index);
  return true;
}

void QueryIndex::FreeList(uint32_t list_index) {
  ListHead& list = lists_[list_index];
  arena_.Release({list.offset, list.count, list.capacity_log2});
  list.offset = free_list_head_;
  free_list_head_ = list_index;
}

}  // namespace ledger::engine::internal
