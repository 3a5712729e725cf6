#include "base/hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "tests/base/xxhash_reference.h"

namespace ledger::base {
namespace {

std::vector<std::byte> RandomBytes(size_t size_bytes, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<std::byte> bytes(size_bytes);
  for (std::byte& b : bytes) b = static_cast<std::byte>(random());
  return bytes;
}

Hash128 Reference(std::span<const std::byte> bytes, uint64_t seed) {
  const testing::ReferenceHash hash = testing::ReferenceHash128(bytes.data(), bytes.size(), seed);
  return {hash.low, hash.high};
}

// Lengths on both sides of every path: XXH3's short-input bounds (16, 128, 240), one stripe
// block (1,024), Hasher128's buffer, and a full log entry body (8,190 transfers of 128 bytes).
constexpr size_t kSizes[] = {0,   1,    15,   16,   17,   128,  129,  239,     240,
                             241, 1023, 1024, 1025, 4095, 4096, 4097, 1048320, 1048576};

TEST(Hash, HashBytes128EqualsLibxxhashForEveryPathAndSeed) {
  for (const size_t size : kSizes) {
    const std::vector<std::byte> bytes = RandomBytes(size, size);
    for (const uint64_t seed : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) {
      EXPECT_EQ(HashBytes128(bytes, seed), Reference(bytes, seed)) << size << " " << seed;
    }
  }
}

// Logs written by earlier builds (inlined XXH3 for every length) must still verify.
TEST(Hash, HashBytes128KeepsTheValuesOfXxh3) {
  EXPECT_EQ(HashBytes128({}), (Hash128{0x6001c324468d497fULL, 0x99aa06d3014798d8ULL}));
}

TEST(Hash, HashWords64EqualsXxh3OfTheSixteenLittleEndianBytes) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 100; ++i) {
    const uint64_t words[2] = {random(), random()};
    const uint64_t seed = i % 2 == 0 ? 0 : random();
    EXPECT_EQ(HashWords64(words[0], words[1], seed),
              testing::ReferenceHash64(words, sizeof(words), seed));
  }
}

TEST(Hash, Hasher128EqualsOneShotHashWhateverTheUpdateSizes) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  std::mt19937_64 random(seed);
  for (const size_t size : kSizes) {
    const std::vector<std::byte> bytes = RandomBytes(size, size + 1);
    Hasher128 hasher;
    for (size_t offset = 0; offset < size;) {
      // Mostly field-sized updates, sometimes one past the buffer.
      const size_t take =
          std::min(size - offset, random() % 8 == 0 ? random() % 10'000 : random() % 33);
      hasher.Update(std::span(bytes).subspan(offset, take));
      offset += take;
    }
    EXPECT_EQ(hasher.Digest(), Reference(bytes, 0)) << size;
  }
}

TEST(Hash, Hasher128UpdateValueHashesTheValuesBytes) {
  Hasher128 hasher;
  const uint64_t values[3] = {1, 2, 3};
  for (const uint64_t value : values) hasher.UpdateValue(value);
  EXPECT_EQ(hasher.Digest(), Reference(std::as_bytes(std::span(values)), 0));
}

}  // namespace
}  // namespace ledger::base
