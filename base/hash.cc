#include "base/hash.h"

#include <cstring>

namespace ledger::base {

Hash128 HashBytes128(std::span<const std::byte> bytes, uint64_t seed) {
  if (bytes.size() <= kHashShortBytesMax) {
    const XXH128_hash_t hash = XXH3_128bits_withSeed(bytes.data(), bytes.size(), seed);
    return {hash.low64, hash.high64};
  }
  const internal::DispatchedHash128 hash =
      internal::DispatchHash128(bytes.data(), bytes.size(), seed);
  return {hash.low, hash.high};
}

Hasher128::Hasher128() { internal::DispatchReset(state_); }

void Hasher128::Update(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  if (bytes.size() > kBufferBytes - buffered_bytes_) {
    Flush();
    if (bytes.size() >= kBufferBytes) {
      internal::DispatchUpdate(state_, bytes.data(), bytes.size());
      return;
    }
  }
  std::memcpy(buffer_ + buffered_bytes_, bytes.data(), bytes.size());
  buffered_bytes_ += bytes.size();
}

void Hasher128::Flush() {
  if (buffered_bytes_ == 0) return;
  internal::DispatchUpdate(state_, buffer_, buffered_bytes_);
  buffered_bytes_ = 0;
}

Hash128 Hasher128::Digest() {
  Flush();
  const internal::DispatchedHash128 hash = internal::DispatchDigest(state_);
  return {hash.low, hash.high};
}

}  // namespace ledger::base
