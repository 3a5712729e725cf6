// XXH3, the one hash of the tree: account placement, index probes, log checksums and chain
// hashes, snapshot checksums and the state hash.
//
// Short inputs (ids, headers: at most kHashShortBytesMax) hash inline with xxHash's short-input
// code, which is scalar on every CPU. Long inputs (entry bodies, snapshots) go to libxxhash's
// run-time dispatch, which picks SSE2, AVX2 or AVX-512 by the CPU the binary runs on: a
// portable build hashes a 1 MiB body as fast as one compiled with -march=native (about 69 GB/s
// on the project's AVX-512 host, against 18 GB/s for SSE2; docs/benchmarks.md). The result of
// XXH3 does not depend on the code path, so logs move between hosts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/internal/xxhash_dispatch.h"
#include "base/internal/xxhash_inline.h"

namespace ledger::base {

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
};

// Up to this many bytes XXH3 runs its scalar short-input code; past it, its vector loop.
inline constexpr size_t kHashShortBytesMax = 240;

// XXH3-64 of an id's two words, inline: placement and the index probes run it three times per
// transfer.
inline uint64_t HashWords64(uint64_t low, uint64_t high, uint64_t seed = 0) {
  const uint64_t words[2] = {low, high};
  return XXH3_64bits_withSeed(words, sizeof(words), seed);
}

// XXH3-128 of bytes of any length (short ones inline, long ones dispatched by CPU).
Hash128 HashBytes128(std::span<const std::byte> bytes, uint64_t seed = 0);

// XXH3-128 over a stream of updates: the same value as HashBytes128 of their concatenation.
// Small updates gather in a buffer and reach the library in blocks, so a stream of 8-byte
// fields costs a copy each, not a call into the library each.
class Hasher128 {
 public:
  Hasher128();
  void Update(std::span<const std::byte> bytes);
  template <typename T>
  void UpdateValue(const T& value) {
    Update(std::as_bytes(std::span(&value, 1)));
  }
  Hash128 Digest();

  static constexpr size_t kBufferBytes = 4096;

 private:
  void Flush();

  // XXH3_state_t, opaque: the library's names and the inlined ones cannot share a
  // translation unit (base/internal/xxhash_dispatch.h).
  alignas(64) std::byte state_[internal::kDispatchStateBytes];
  std::byte buffer_[kBufferBytes];
  size_t buffered_bytes_ = 0;
};

}  // namespace ledger::base
