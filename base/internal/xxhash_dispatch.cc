#include "base/internal/xxhash_dispatch.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t's definition, to check its size
#include "xxhash.h"
#define XXH_DISPATCH_DISABLE_REPLACE  // name the dispatched functions explicitly
#include "xxh_x86dispatch.h"

namespace ledger::base::internal {

static_assert(sizeof(XXH3_state_t) == kDispatchStateBytes && alignof(XXH3_state_t) <= 64);

DispatchedHash128 DispatchHash128(const void* data, size_t size_bytes, uint64_t seed) {
  const XXH128_hash_t hash = XXH3_128bits_withSeed_dispatch(data, size_bytes, seed);
  return {hash.low64, hash.high64};
}

void DispatchReset(void* state) { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state)); }

void DispatchUpdate(void* state, const void* data, size_t size_bytes) {
  XXH3_128bits_update_dispatch(static_cast<XXH3_state_t*>(state), data, size_bytes);
}

DispatchedHash128 DispatchDigest(const void* state) {
  const XXH128_hash_t hash = XXH3_128bits_digest(static_cast<const XXH3_state_t*>(state));
  return {hash.low64, hash.high64};
}

}  // namespace ledger::base::internal
