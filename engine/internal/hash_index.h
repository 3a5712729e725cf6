// Open-addressing index from a 128-bit id to a 31-bit payload (a record's slot or ref, plus one
// flag bit), with linear probing over 8-byte entries: eight entries per cache line, so a lookup
// is usually one cache miss. Each entry keeps 32 bits of the id's hash; the home bucket is
// derived from them, so growth and deletion never touch the records. The caller confirms a
// hit by comparing the record's id (Find takes a predicate).
//
// Layout depends on the hash seed; results never do (no one iterates an index).
#pragma once

#include <cstdint>
#include <vector>

#include "base/assert.h"

namespace ledger::engine::internal {

class HashIndex {
 public:
  static constexpr uint32_t kNotFound = ~uint32_t{0};

  // capacity: expected entries; the table starts large enough to hold them.
  explicit HashIndex(uint64_t capacity);
  ~HashIndex();
  HashIndex(const HashIndex&) = delete;
  HashIndex& operator=(const HashIndex&) = delete;

  // 32 bits of the id's hash (see HashId in state.h). Prefetch before Find/Insert when the
  // id is known a few events ahead.
  void Prefetch(uint32_t hash) const { __builtin_prefetch(&entries_[hash & mask_]); }

  // Calls visit(payload) for every entry whose stored hash matches: the candidates Find would
  // test. Used to prefetch their records before the real lookup.
  template <typename Visit>
  void ForEachCandidate(uint32_t hash, Visit&& visit) const {
    for (uint64_t bucket = hash & mask_;; bucket = (bucket + 1) & mask_) {
      uint64_t entry = entries_[bucket];
      if (entry == 0) return;
      if (static_cast<uint32_t>(entry >> 32) == hash) visit(static_cast<uint32_t>(entry) - 1);
    }
  }

  // Returns the payload whose record matches (matches(payload) == true), or kNotFound.
  template <typename Matches>
  uint32_t Find(uint32_t hash, Matches&& matches) const {
    for (uint64_t bucket = hash & mask_;; bucket = (bucket + 1) & mask_) {
      uint64_t entry = entries_[bucket];
      if (entry == 0) return kNotFound;
      if (static_cast<uint32_t>(entry >> 32) == hash) {
        uint32_t payload = static_cast<uint32_t>(entry) - 1;
        if (matches(payload)) return payload;
      }
    }
  }

  // The id must not be present. payload < 2^32 - 1.
  void Insert(uint32_t hash, uint32_t payload);
  // Room for `capacity` entries in all, grown to now (a restore that knows its count: growing
  // as it inserts would place every entry again at each doubling, at random).
  void Reserve(uint64_t capacity);
  // Removes the entry with this hash and payload (it must be present).
  void Erase(uint32_t hash, uint32_t payload);
  // An entry for EraseAll.
  static uint64_t Erasure(uint32_t hash, uint32_t payload) {
    return (static_cast<uint64_t>(hash) << 32) | payload;
  }
  // Erase for each of `entries` (Erasure(hash, payload)), in bucket order: a window's eviction
  // erases a quarter of the index at once, and in bucket order the table is read front to back
  // instead of a cache miss per entry. `entries` is reordered; `scratch` is kept to reuse.
  void EraseAll(std::vector<uint64_t>& entries, std::vector<uint64_t>& scratch);
  // Gives the entry with this hash and payload (it must be present) another payload.
  void Replace(uint32_t hash, uint32_t payload, uint32_t new_payload);

  uint64_t size() const { return size_; }
  uint64_t bucket_count() const { return mask_ + 1; }
  uint64_t bytes() const { return bucket_count() * sizeof(uint64_t); }

 private:
  // Grow at 70% load: linear probing's expected miss probe count is ~6 there, still mostly
  // within one or two cache lines.
  static constexpr uint64_t kLoadNumerator = 7, kLoadDenominator = 10;

  void Grow();
  void Rebuild(uint64_t bucket_count);  // every entry placed again in that many buckets
  void Place(uint64_t entry);

  uint64_t* entries_ = nullptr;  // 0 = empty; else hash << 32 | (payload + 1)
  uint64_t mask_ = 0;
  uint64_t size_ = 0;
  uint64_t size_max_ = 0;
};

}  // namespace ledger::engine::internal
