// A secondary index for ledger-wide queries (Engine::QueryAccounts, QueryTransfers): from a
// field's value to the records of one shard holding it, oldest first. Values are hashed with
// their field, so one index serves several fields; the caller confirms a candidate by reading
// the record (matches(ref bits)), as with the id indexes.
//
// An orchestrator's reference is usually on one record, so an entry of the hash index holds
// that record's ref itself (8 bytes per indexed value, nothing else); when a second record
// takes the value, the entry points to a list in an arena instead.
#pragma once

#include <cstdint>
#include <span>

#include "engine/internal/hash_index.h"
#include "engine/internal/list_arena.h"
#include "engine/internal/ref.h"
#include "engine/internal/virtual_array.h"

namespace ledger::engine::internal {

// The records holding one value, oldest first (refs' bits): one inline, or a list.
class Postings {
 public:
  Postings() = default;
  explicit Postings(uint32_t single) : single_(single), list_(&single_, 1) {}
  explicit Postings(std::span<const uint32_t> list) : list_(list) {}
  Postings(const Postings& other) { *this = other; }
  Postings& operator=(const Postings& other) {
    single_ = other.single_;
    list_ =
        other.list_.data() == &other.single_ ? std::span<const uint32_t>(&single_, 1) : other.list_;
    return *this;
  }
  std::span<const uint32_t> refs() const { return list_; }

 private:
  uint32_t single_ = 0;
  std::span<const uint32_t> list_;
};

class QueryIndex {
 public:
  // capacity: values expected (the table starts that large); entries_max: list entries at most.
  QueryIndex(uint64_t capacity, uint64_t entries_max);

  // Adds the record at `ref`, newer than every record already indexed under its value.
  template <typename Matches>
  void Add(uint32_t hash, Ref ref, Matches&& matches) {
    const uint32_t payload = Find(hash, matches);
    if (payload == HashIndex::kNotFound) {
      index_.Insert(hash, ref.bits());
    } else if ((payload & kListBit) != 0) {
      AppendTo(payload & ~kListBit, ref);
    } else {
      index_.Replace(hash, payload, NewList(Ref::FromBits(payload), ref) | kListBit);
    }
  }

  // Undoes the newest Add of this value (a rolled-back chain), which added `ref`.
  template <typename Matches>
  void RemoveNewest(uint32_t hash, Ref ref, Matches&& matches) {
    const uint32_t payload = Find(hash, matches);
    LEDGER_ASSERT(payload != HashIndex::kNotFound, hash, ref.bits());
    if ((payload & kListBit) == 0) {
      LEDGER_ASSERT(payload == ref.bits(), payload, ref.bits());
      index_.Erase(hash, payload);
    } else if (PopFrom(payload & ~kListBit, ref)) {
      index_.Erase(hash, payload);  // emptied: no entry may name a list without a record
    }
  }

  // Drops the oldest record of this value (the hot window moved past it), which is `ref`.
  template <typename Matches>
  void RemoveOldest(uint32_t hash, Ref ref, Matches&& matches) {
    const uint32_t payload = Find(hash, matches);
    LEDGER_ASSERT(payload != HashIndex::kNotFound, hash, ref.bits());
    if ((payload & kListBit) == 0) {
      LEDGER_ASSERT(payload == ref.bits(), payload, ref.bits());
      index_.Erase(hash, payload);
    } else if (PopOldestFrom(payload & ~kListBit, ref)) {
      index_.Erase(hash, payload);
    }
  }

  template <typename Matches>
  Postings Get(uint32_t hash, Matches&& matches) const {
    const uint32_t payload = Find(hash, matches);
    if (payload == HashIndex::kNotFound) return Postings();
    if ((payload & kListBit) == 0) return Postings(payload);
    const ListHead& list = lists_[payload & ~kListBit];
    return Postings(arena_.List(list.offset, list.count));
  }

  uint64_t bytes() const { return index_.bytes() + lists_.used_bytes() + arena_.bytes(); }

 private:
  // Payloads: a ref's bits (below 2^31), or this bit and an index into lists_.
  static constexpr uint32_t kListBit = uint32_t{1} << 31;
  static constexpr uint32_t kNoList = ~uint32_t{0};
  struct ListHead {
    uint32_t offset = 0;
    uint32_t count = 0;
    uint8_t capacity_log2 = 0;
  };

  template <typename Matches>
  uint32_t Find(uint32_t hash, Matches&& matches) const {
    return index_.Find(hash, [&](uint32_t payload) { return matches(OldestOf(payload)); });
  }
  uint32_t OldestOf(uint32_t payload) const {
    if ((payload & kListBit) == 0) return payload;
    return arena_.List(lists_[payload & ~kListBit].offset, 1)[0];
  }
  void AppendTo(uint32_t list_index, Ref ref);
  uint32_t NewList(Ref oldest, Ref newest);
  bool PopFrom(uint32_t list_index, Ref ref);  // true when the list is left empty (and freed)
  // As PopFrom, for the oldest entry.
  bool PopOldestFrom(uint32_t list_index, Ref ref);
  void FreeList(uint32_t list_index);  // an empty list's block and head, for reuse

  HashIndex index_;
  VirtualArray<ListHead> lists_;
  uint32_t free_list_head_ = kNoList;  // freed heads, chained through their offset
  ListArena arena_;
};

}  // namespace ledger::engine::internal
