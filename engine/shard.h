// Which shard owns an account: a stable hash of its id (XXH3 of the id's 16 little-endian
// bytes), so placement depends on nothing but the id and the shard count, and a log replays
// onto the same shards on any machine.
#pragma once

#include <cstdint>

#include "base/hash.h"
#include "engine/types.h"

namespace ledger::engine {

// Shards an engine may have: refs keep 4 bits for the shard.
inline constexpr uint32_t kShardsMax = 16;

inline uint32_t ShardOf(AccountId id, uint32_t shard_count) {
  const uint64_t hash = base::HashWords64(id.lo, id.hi);
  return static_cast<uint32_t>((u128{hash} * shard_count) >> 64);  // multiply-shift: no modulo
}

}  // namespace ledger::engine
