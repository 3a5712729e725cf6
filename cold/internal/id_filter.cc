#include "cold/internal/id_filter.h"

#include <algorithm>

#include "base/hash.h"

namespace ledger::cold::internal {
namespace {

// Odd multipliers that spread the hash's low word over each word's 64 bits (Parquet's salts,
// widened).
constexpr uint64_t kSalts[8] = {0x47b6137b44974d91ULL, 0x8824ad5ba2b7289dULL, 0x705495c72df1424bULL,
                                0x9efc49475c6bfb31ULL, 0x44974d9147b6137bULL, 0xa2b7289d8824ad5bULL,
                                0x2df1424b705495c7ULL, 0x5c6bfb319efc4947ULL};
constexpr uint64_t kSeed = 0x636f6c6466696c74ULL;  // "coldfilt": not the index's seed

uint64_t BitOf(uint64_t hash, size_t word) {
  return uint64_t{1} << ((static_cast<uint32_t>(hash) * kSalts[word]) >> 58);
}

}  // namespace

IdFilter::IdFilter(uint64_t id_capacity)
    : block_count_(BlockCountFor(id_capacity)),
      words_(std::make_unique<std::atomic<uint64_t>[]>(block_count_ * kWordsPerBlock)) {
  for (uint64_t w = 0; w < block_count_ * kWordsPerBlock; ++w) {
    words_[w].store(0, std::memory_order_relaxed);
  }
}

uint64_t IdFilter::HashOf(const TransferId& id) { return base::HashWords64(id.lo, id.hi, kSeed); }

std::atomic<uint64_t>* IdFilter::BlockOf(uint64_t hash) const {
  // The high word picks the block (multiply-shift: no division), the low word the bits.
  const uint64_t block = ((hash >> 32) * block_count_) >> 32;  // block_count_ < 2^32
  return &words_[block * kWordsPerBlock];
}

void IdFilter::Insert(const TransferId& id) {
  const uint64_t hash = HashOf(id);
  std::atomic<uint64_t>* block = BlockOf(hash);
  for (size_t w = 0; w < kWordsPerBlock; ++w) {
    const uint64_t word = block[w].load(std::memory_order_relaxed);
    block[w].store(word | BitOf(hash, w), std::memory_order_relaxed);
  }
}

bool IdFilter::MayContain(const TransferId& id) const {
  const uint64_t hash = HashOf(id);
  const std::atomic<uint64_t>* block = BlockOf(hash);
  for (size_t w = 0; w < kWordsPerBlock; ++w) {
    const uint64_t bit = BitOf(hash, w);
    if ((block[w].load(std::memory_order_relaxed) & bit) == 0) return false;
  }
  return true;
}

}  // namespace ledger::cold::internal
