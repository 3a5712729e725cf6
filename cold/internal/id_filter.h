// Decides "this id was never stored cold" in memory, for every id of all history: a split-block
// Bloom filter (as Apache Parquet's): an id picks one 64-byte block (one cache line) and sets one
// bit in each of its eight 64-bit words. At 16 bits per id about 0.1% of new ids are "maybe"s,
// at 10.7 (the store grows its filter by half before it gets sparser) about 1%; a "maybe" costs
// one lookup in the runs, a "no" costs one cache miss.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "engine/types.h"

namespace ledger::cold::internal {

class IdFilter {
 public:
  // Room for id_capacity ids at 16 bits each (at least 64 KiB).
  explicit IdFilter(uint64_t id_capacity);
  // The word_count() of IdFilter(id_capacity), without building it.
  static uint64_t WordCountFor(uint64_t id_capacity) {
    return BlockCountFor(id_capacity) * kWordsPerBlock;
  }

  // One writer at a time (the store's writer thread, or whoever builds a new filter), safe
  // against any number of MayContain: bits are only ever set, each word by a plain load and
  // store (a locked read-modify-write per word cost the writer a tenth of the server's time).
  void Insert(const TransferId& id);
  // false: the id was never inserted. true: it may have been.
  bool MayContain(const TransferId& id) const;
  // Brings the id's block towards the cache, for a MayContain or Insert a few ids later (a
  // probe is one cache miss; a batch's probes overlap when prefetched ahead).
  void Prefetch(const TransferId& id) const { __builtin_prefetch(BlockOf(HashOf(id))); }
  // Inserts them all, prefetching ahead.
  template <typename Item, typename IdOf>
  void InsertAll(std::span<const Item> items, IdOf&& id_of) {
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i + kAhead < items.size()) Prefetch(id_of(items[i + kAhead]));
      Insert(id_of(items[i]));
    }
  }

  uint64_t size_bytes() const { return block_count_ * kBlockBytes; }

  // Its bits as 64-bit words, to save and load them (filter_file.h): Word while inserts may
  // run (the writer's thread), SetWord only before any reader.
  uint64_t word_count() const { return block_count_ * kWordsPerBlock; }
  uint64_t Word(uint64_t index) const { return words_[index].load(std::memory_order_relaxed); }
  void SetWord(uint64_t index, uint64_t word) {
    words_[index].store(word, std::memory_order_relaxed);
  }

 private:
  static constexpr uint64_t kBlockBytes = 64;
  static constexpr uint64_t kWordsPerBlock = 8;

  static uint64_t BlockCountFor(uint64_t id_capacity) {
    return id_capacity * 2 / kBlockBytes > 1024 ? id_capacity * 2 / kBlockBytes : 1024;
  }
  static uint64_t HashOf(const TransferId& id);
  std::atomic<uint64_t>* BlockOf(uint64_t hash) const;

  uint64_t block_count_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
};

}  // namespace ledger::cold::internal
