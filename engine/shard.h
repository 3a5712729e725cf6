// Which shard owns an account: a stable hash of its id (XXH3 of the id's 16 little-endian
// bytes), so placement depends on nothing but the id and the shard count, and a log replays
// onto the same shards on any machine.
#pragma once

#include <cstdint>

#include "engine/types.h"

#define XXH_INLINE_ALL  // header-only: no library to link, and the hash inlines
#include "xxhash.h"

namespace ledger::engine {

// Shards an engine may have: refs keep 4 bits for the shard.
inline constexpr uint32_t kShardsMax = 16;

inline uint32_t ShardOf(AccountId id, uint32_t shard_count) {
  const uint64_t words[2] = {id.lo, id.hi};
  const uint64_t hash = XXH3_64bits(words, sizeof(words));
  return static_cast<uint32_t>((u128{hash} * shard_count) >> 64);  // multiply-shift: no modulo
}

}  // namespace ledger::engine
