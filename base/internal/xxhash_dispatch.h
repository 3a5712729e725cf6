// libxxhash's XXH3-128 with run-time dispatch (SSE2, AVX2 or AVX-512 by the CPU), in a
// translation unit of its own: the library's names and xxhash.h's inlined names (base/hash.h)
// cannot share one. Include base/hash.h, not this.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ledger::base::internal {

struct DispatchedHash128 {
  uint64_t low;
  uint64_t high;
};

DispatchedHash128 DispatchHash128(const void* data, size_t size_bytes, uint64_t seed);

// sizeof(XXH3_state_t) in xxHash 0.8 (checked where the type is known). `state` below is
// storage of this size, 64-byte aligned.
inline constexpr size_t kDispatchStateBytes = 576;
void DispatchReset(void* state);
void DispatchUpdate(void* state, const void* data, size_t size_bytes);
DispatchedHash128 DispatchDigest(const void* state);

}  // namespace ledger::base::internal
