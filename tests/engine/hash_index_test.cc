// The id index under the engine: inserts, lookups, growth and backward-shift deletion,
// checked against std::map after every step.
#include "engine/internal/hash_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <vector>

namespace ledger::engine::internal {
namespace {

// Keys collide on purpose: a 12-bit hash space makes long probe runs and wrap-arounds common.
uint32_t SmallHash(uint64_t key) {
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ULL) >> 52);
}

TEST(HashIndex, MatchesMapUnderRandomInsertsAndErasesWithCollisions) {
  const uint64_t seed = std::random_device{}();
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 random(seed);
  HashIndex index(4);
  std::map<uint64_t, uint32_t> model;     // key -> payload
  std::vector<uint64_t> keys_by_payload;  // payload -> key
  for (int step = 0; step < 20000; ++step) {
    const bool erase = !model.empty() && random() % 3 == 0;
    if (erase) {
      auto it = model.begin();
      std::advance(it, static_cast<long>(random() % model.size()));
      index.Erase(SmallHash(it->first), it->second);
      model.erase(it);
    } else {
      const uint64_t key = random() % 100000;
      if (model.contains(key)) continue;
      const uint32_t payload = static_cast<uint32_t>(keys_by_payload.size());
      keys_by_payload.push_back(key);
      index.Insert(SmallHash(key), payload);
      model[key] = payload;
    }
    ASSERT_EQ(index.size(), model.size());
    if (step % 97 == 0) {
      for (const auto& [key, payload] : model) {
        const uint32_t found =
            index.Find(SmallHash(key), [&](uint32_t p) { return keys_by_payload[p] == key; });
        ASSERT_EQ(found, payload) << "key " << key << " step " << step;
      }
      const uint64_t absent = 100000 + random() % 1000;
      ASSERT_EQ(
          index.Find(SmallHash(absent), [&](uint32_t p) { return keys_by_payload[p] == absent; }),
          HashIndex::kNotFound);
    }
  }
  EXPECT_GT(index.bucket_count(), 16u);  // it grew
}

// EraseAll (an eviction's erasures, in bucket order) leaves exactly the entries not named, with
// colliding hashes (wrap-arounds) and with full 32-bit ones (several radix passes).
TEST(HashIndex, EraseAllLeavesExactlyTheOthers) {
  const uint64_t seed = std::random_device{}();
  std::cout << "seed " << seed << "\n";
  std::mt19937_64 random(seed);
  for (const bool colliding : {true, false}) {
    const auto hash_of = [colliding](uint64_t key) {
      return colliding ? SmallHash(key)
                       : static_cast<uint32_t>((key * 0xD6E8FEB86659FD93ULL) >> 32);
    };
    HashIndex index(16);
    std::vector<uint64_t> keys;
    for (uint32_t payload = 0; payload < 50000; ++payload) {
      keys.push_back(random());
      index.Insert(hash_of(keys.back()), payload);
    }
    std::vector<uint64_t> erasures, scratch;
    std::vector<bool> erased(keys.size());
    for (uint32_t payload = 0; payload < keys.size(); ++payload) {
      if (random() % 3 != 0) continue;
      erased[payload] = true;
      erasures.push_back(HashIndex::Erasure(hash_of(keys[payload]), payload));
    }
    const uint64_t erased_count = erasures.size();
    index.EraseAll(erasures, scratch);
    ASSERT_EQ(index.size(), keys.size() - erased_count);
    for (uint32_t payload = 0; payload < keys.size(); ++payload) {
      const uint32_t found =
          index.Find(hash_of(keys[payload]), [&](uint32_t p) { return keys[p] == keys[payload]; });
      ASSERT_EQ(found, erased[payload] ? HashIndex::kNotFound : payload)
          << "payload " << payload << (colliding ? " colliding" : "");
    }
  }
}

TEST(HashIndex, KeepsLoadBelowSeventyPercent) {
  HashIndex index(1000);
  for (uint32_t i = 0; i < 100000; ++i) index.Insert(SmallHash(i) ^ i, i);
  EXPECT_LE(index.size() * 10, index.bucket_count() * 7);
  EXPECT_EQ(index.size(), 100000u);
}

TEST(HashIndex, ReserveGrowsOnceAndKeepsWhatItHolds) {
  const auto WideHash = [](uint64_t key) {
    return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ULL) >> 32);
  };
  HashIndex index(100);
  for (uint32_t i = 0; i < 50; ++i) index.Insert(WideHash(i), i);
  index.Reserve(100000);
  const uint64_t buckets = index.bucket_count();
  EXPECT_GE(buckets * 7, uint64_t{100000} * 10) << "room for all at the load bound";
  EXPECT_LT(buckets * 7, uint64_t{200000} * 10) << "not twice the room";
  index.Reserve(10);  // already there: nothing moves
  EXPECT_EQ(index.bucket_count(), buckets);
  for (uint32_t i = 50; i < 100000; ++i) index.Insert(WideHash(i), i);
  EXPECT_EQ(index.bucket_count(), buckets) << "no growth up to the reserved count";
  EXPECT_EQ(index.size(), 100000u);
  for (uint32_t i = 0; i < 100000; i += 7) {
    EXPECT_EQ(index.Find(WideHash(i), [&](uint32_t payload) { return payload == i; }), i);
  }
}

}  // namespace
}  // namespace ledger::engine::internal
