// The oracle for base/hash.h: libxxhash's plain XXH3-128 (not inlined, not dispatched), in a
// translation unit of its own (its names and base/hash.h's inlined ones cannot share one).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ledger::base::testing {

struct ReferenceHash {
  uint64_t low;
  uint64_t high;
};
ReferenceHash ReferenceHash128(const void* data, size_t size_bytes, uint64_t seed);
uint64_t ReferenceHash64(const void* data, size_t size_bytes, uint64_t seed);

}  // namespace ledger::base::testing
