#include "tests/base/xxhash_reference.h"

#include "xxhash.h"

namespace ledger::base::testing {

ReferenceHash ReferenceHash128(const void* data, size_t size_bytes, uint64_t seed) {
  const XXH128_hash_t hash = XXH3_128bits_withSeed(data, size_bytes, seed);
  return {hash.low64, hash.high64};
}

uint64_t ReferenceHash64(const void* data, size_t size_bytes, uint64_t seed) {
  return XXH3_64bits_withSeed(data, size_bytes, seed);
}

}  // namespace ledger::base::testing
