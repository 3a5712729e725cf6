// What a transfer batch carries while it runs on several shard threads (parallel.cc,
// docs/shards.md): the batch's ids and its plan (per event, per slice, per unit). What each
// lane holds back meanwhile is in lane.h. Private to engine/.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "engine/engine.h"
#include "engine/shard.h"
#include "engine/types.h"

namespace ledger::engine::internal {

// The ids of one batch, by the seeded 32-bit hash of State::HashId: open addressing over a
// table kept between batches and emptied by bumping a generation (no clearing, no
// allocation once it has grown to the largest batch).
class BatchIds {
 public:
  void Reset(size_t event_count) {
    if (slots_.size() < 2 * event_count + 2) {
      slots_.assign(std::bit_ceil(2 * event_count + 2), {});
      filter_.assign(std::max<size_t>(1, slots_.size() * kFilterBitsPerSlot / 64), 0);
      filter_shift_ = 32 - static_cast<uint32_t>(std::bit_width(filter_.size() * 64 - 1));
    }
    std::fill(filter_.begin(), filter_.end(), 0);
    // After 2^32 batches (half a day of small ones) the generation comes round: clear for real,
    // or slots of a batch 2^32 back would look present.
    if (++generation_ == 0) {
      std::fill(slots_.begin(), slots_.end(), Slot{});
      generation_ = 1;
    }
  }
  // Records `id` for `event` unless present; returns the event recorded first.
  uint32_t Insert(const TransferId& id, uint32_t hash, uint32_t event) {
    const uint32_t bit = FilterBit(hash);
    filter_[bit / 64] |= uint64_t{1} << (bit % 64);
    for (size_t slot = hash & (slots_.size() - 1);; slot = (slot + 1) & (slots_.size() - 1)) {
      Slot& entry = slots_[slot];
      if (entry.generation != generation_) {
        entry = {id, event, generation_};
        return event;
      }
      if (entry.id == id) return entry.event;
    }
  }
  // Asked by other lanes about ids mostly absent: the filter (8 KiB for 4,096 ids, a few
  // lines to fetch from the core that wrote it) answers 97% of them without the table.
  bool Contains(const TransferId& id, uint32_t hash) const {
    const uint32_t bit = FilterBit(hash);
    if ((filter_[bit / 64] >> (bit % 64) & 1) == 0) return false;
    for (size_t slot = hash & (slots_.size() - 1);; slot = (slot + 1) & (slots_.size() - 1)) {
      const Slot& entry = slots_[slot];
      if (entry.generation != generation_) return false;
      if (entry.id == id) return true;
    }
  }

 private:
  static constexpr size_t kFilterBitsPerSlot = 8;  // 16 bits per id at most
  struct Slot {
    TransferId id;
    uint32_t event = 0;
    uint32_t generation = 0;
  };
  // Bits of the hash other than the slot's (multiplicative: the top bits of hash * odd).
  uint32_t FilterBit(uint32_t hash) const { return (hash * 0x9E3779B1u) >> filter_shift_; }
  std::vector<Slot> slots_;
  std::vector<uint64_t> filter_;  // a bit per FilterBit of the ids present
  uint32_t filter_shift_ = 32;
  uint32_t generation_ = 0;
};

// A sharded transfer batch's plan (parallel.cc, docs/shards.md). Per event: the result
// decided before any table is read (an invalid event), and whether it is global (depends on
// another event of the batch). Per slice of the batch (each written by one lane): the ids of its
// valid events, and its units (chains, or single events) sorted by the lane that applies them, or
// cross-lane.
struct BatchPlan {
  static constexpr uint8_t kUndecided = 0xff;
  struct Event {
    uint8_t decided = kUndecided;  // a CreateTransferResult, or kUndecided
    bool global = false;           // names an id that another event of the batch names
  };
  struct Unit {
    uint32_t begin, end;  // events [begin, end)
    uint16_t lanes;       // its footprint: bit per lane (every lane when global)
    bool global;          // an event of it is global
  };
  struct alignas(64) Slice {
    uint32_t begin = 0, end = 0;                  // the slice routed (events [begin, end))
    uint32_t units_begin = 0, units_end = 0;      // the units planned: those starting in here
    BatchIds ids;                                 // its valid events' ids -> first event
    std::vector<Unit> cross;                      // its cross-lane units, in order
    std::vector<Unit> own[kShardsMax];            // its other units, by the lane applying them
    std::vector<uint32_t> undecided[kShardsMax];  // those units' undecided events
  };
  std::vector<Event> events;
  std::vector<Slice> slices;  // one per lane
};

}  // namespace ledger::engine::internal
