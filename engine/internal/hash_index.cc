#include "engine/internal/hash_index.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "engine/internal/memory.h"

namespace ledger::engine::internal {

namespace {

// Zeroed, 2 MiB-aligned, huge pages, committed now: the index is probed at random, so every
// page gets touched anyway, and faulting it in later would stall the apply loop.
uint64_t* AllocateBuckets(uint64_t count) {
  void* memory = MapHuge(count * sizeof(uint64_t), /*reserve_only=*/false);
  Prefault(memory, count * sizeof(uint64_t));
  return static_cast<uint64_t*>(memory);
}

}  // namespace

HashIndex::HashIndex(uint64_t capacity) {
  uint64_t count =
      std::bit_ceil(std::max<uint64_t>(16, capacity * kLoadDenominator / kLoadNumerator + 1));
  entries_ = AllocateBuckets(count);
  mask_ = count - 1;
  size_max_ = count * kLoadNumerator / kLoadDenominator;
}

HashIndex::~HashIndex() { UnmapHuge(entries_, bucket_count() * sizeof(uint64_t)); }

void HashIndex::Insert(uint32_t hash, uint32_t payload) {
  LEDGER_ASSERT(payload != ~uint32_t{0}, payload);
  if (size_ == size_max_) Grow();
  Place((static_cast<uint64_t>(hash) << 32) | (uint64_t{payload} + 1));
  ++size_;
}

void HashIndex::Place(uint64_t entry) {
  uint64_t bucket = (entry >> 32) & mask_;
  while (entries_[bucket] != 0) bucket = (bucket + 1) & mask_;
  entries_[bucket] = entry;
}

void HashIndex::Erase(uint32_t hash, uint32_t payload) {
  uint64_t target = (static_cast<uint64_t>(hash) << 32) | (uint64_t{payload} + 1);
  uint64_t hole = hash & mask_;
  while (entries_[hole] != target) {
    LEDGER_ASSERT(entries_[hole] != 0, hash, payload);
    hole = (hole + 1) & mask_;
  }
  // Backward-shift deletion: pull later entries of the run into the hole when their home
  // bucket is not in (hole, current], so every entry stays reachable from its home.
  for (uint64_t current = (hole + 1) & mask_; entries_[current] != 0;
       current = (current + 1) & mask_) {
    uint64_t home = (entries_[current] >> 32) & mask_;
    bool home_in_range = ((current - home) & mask_) < ((current - hole) & mask_);
    if (!home_in_range) {
      entries_[hole] = entries_[current];
      hole = current;
    }
  }
  entries_[hole] = 0;
  --size_;
}

void HashIndex::EraseAll(std::vector<uint64_t>& entries, std::vector<uint64_t>& scratch) {
  // LSD radix sort on the home bucket, 11 bits a pass (2^32 buckets at most: three passes).
  constexpr uint32_t kDigitBits = 11;
  constexpr uint64_t kDigits = uint64_t{1} << kDigitBits;
  const uint32_t bucket_bits = static_cast<uint32_t>(std::bit_width(mask_));
  scratch.resize(entries.size());
  for (uint32_t shift = 0; shift < bucket_bits; shift += kDigitBits) {
    const auto digit = [&](uint64_t entry) {
      return ((entry >> 32) & mask_) >> shift & (kDigits - 1);
    };
    uint64_t next[kDigits] = {};
    for (uint64_t entry : entries) ++next[digit(entry)];
    uint64_t offset = 0;
    for (uint64_t& count : next) offset += std::exchange(count, offset);
    for (uint64_t entry : entries) scratch[next[digit(entry)]++] = entry;
    entries.swap(scratch);
  }
  // In bucket order the erasures of a window's step are still sparse (one per few thousand
  // buckets of a server's index): their buckets are fetched several at a time.
  constexpr size_t kFetchAhead = 16;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i + kFetchAhead < entries.size())
      Prefetch(static_cast<uint32_t>(entries[i + kFetchAhead] >> 32));
    Erase(static_cast<uint32_t>(entries[i] >> 32), static_cast<uint32_t>(entries[i]));
  }
}

void HashIndex::Replace(uint32_t hash, uint32_t payload, uint32_t new_payload) {
  LEDGER_ASSERT(new_payload != ~uint32_t{0}, new_payload);
  const uint64_t target = (static_cast<uint64_t>(hash) << 32) | (uint64_t{payload} + 1);
  uint64_t bucket = hash & mask_;
  while (entries_[bucket] != target) {
    LEDGER_ASSERT(entries_[bucket] != 0, hash, payload);
    bucket = (bucket + 1) & mask_;
  }
  entries_[bucket] = (static_cast<uint64_t>(hash) << 32) | (uint64_t{new_payload} + 1);
}

void HashIndex::Reserve(uint64_t capacity) {
  uint64_t count = mask_ + 1;
  while (count * kLoadNumerator / kLoadDenominator < capacity) count *= 2;
  if (count > mask_ + 1) Rebuild(count);
}

void HashIndex::Grow() { Rebuild((mask_ + 1) * 2); }

void HashIndex::Rebuild(uint64_t count) {
  const uint64_t old_count = mask_ + 1;
  uint64_t* old = entries_;
  LEDGER_ASSERT(count <= (uint64_t{1} << 32), count);  // the stored hash has 32 bits
  entries_ = AllocateBuckets(count);
  mask_ = count - 1;
  size_max_ = count * kLoadNumerator / kLoadDenominator;
  for (uint64_t i = 0; i < old_count; ++i) {
    if (old[i] != 0) Place(old[i]);
  }
  UnmapHuge(old, old_count * sizeof(uint64_t));
}

}  // namespace ledger::engine::internal
