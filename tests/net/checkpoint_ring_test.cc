// The ring that hands keyed checkpoints from the checkpointer's thread to the server's loop.
#include "net/internal/checkpoint_ring.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"

namespace ledger::net::internal {
namespace {

replica::SignedCheckpoint CheckpointOf(uint64_t op) {
  replica::SignedCheckpoint signed_checkpoint;
  signed_checkpoint.checkpoint.op = op;
  signed_checkpoint.checkpoint.chain_hash = {op * 3, op * 5};
  signed_checkpoint.checkpoint.timestamp_ns = op * 1000;
  signed_checkpoint.line = absl::StrCat("checkpoint v1 op=", op);
  signed_checkpoint.change_sequence_next = op * 2;
  return signed_checkpoint;
}

TEST(CheckpointRing, KeepsTheNewestAndNumbersThemInOrder) {
  CheckpointRing ring(4);
  CheckpointRing::Entry entry = CheckpointRing::MakeEntry();
  EXPECT_EQ(ring.next(), 0u);
  EXPECT_EQ(ring.oldest(), 0u);
  EXPECT_FALSE(ring.Read(0, entry));
  for (uint64_t op = 10; op <= 60; op += 10) ring.Append(CheckpointOf(op));  // numbers 0 to 5
  EXPECT_EQ(ring.next(), 6u);
  EXPECT_EQ(ring.oldest(), 2u);
  EXPECT_FALSE(ring.Read(1, entry));  // dropped
  EXPECT_FALSE(ring.Read(6, entry));  // not yet
  for (uint64_t number = 2; number < 6; ++number) {
    ASSERT_TRUE(ring.Read(number, entry));
    const uint64_t op = (number + 1) * 10;
    EXPECT_EQ(entry.checkpoint.op, op);
    EXPECT_EQ(entry.checkpoint.chain_hash, (wal::Hash128{op * 3, op * 5}));
    EXPECT_EQ(entry.checkpoint.timestamp_ns, op * 1000);
    EXPECT_EQ(entry.line, absl::StrCat("checkpoint v1 op=", op));
    EXPECT_EQ(entry.change_sequence_next, op * 2);
  }
  // Positions 60, 80, 100, 120 are retained.
  EXPECT_EQ(ring.FirstAtOrAfter(0), 2u);
  EXPECT_EQ(ring.FirstAtOrAfter(60), 2u);
  EXPECT_EQ(ring.FirstAtOrAfter(61), 3u);
  EXPECT_EQ(ring.FirstAtOrAfter(120), 5u);
  EXPECT_EQ(ring.FirstAtOrAfter(121), 6u);
}

TEST(CheckpointRing, AReaderOnAnotherThreadSeesWholeCheckpoints) {
  CheckpointRing ring(2);
  std::thread writer([&] {
    for (uint64_t op = 1; op <= 20'000; ++op) ring.Append(CheckpointOf(op));
  });
  CheckpointRing::Entry entry = CheckpointRing::MakeEntry();
  uint64_t seen = 0;
  while (seen < 20'000) {
    const uint64_t next = ring.next();
    if (next == 0 || !ring.Read(next - 1, entry)) continue;
    ASSERT_EQ(entry.checkpoint.op, next);
    ASSERT_EQ(entry.line, absl::StrCat("checkpoint v1 op=", next));
    ASSERT_EQ(entry.change_sequence_next, next * 2);
    seen = next;
  }
  writer.join();
}

}  // namespace
}  // namespace ledger::net::internal
