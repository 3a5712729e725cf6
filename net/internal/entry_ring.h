// A leader's recent sealed entries, for its followers (docs/replication.md): whole entries as
// the log holds them (header, body, zero padding: wal/format.h), in op order, in a ring of
// bytes allocated once. Followers that fall further behind than the ring holds catch up from
// the log on disk.
//
// Threading: one writer (the apply thread, while it holds the engine's turn) appends past the
// end, into space no reader looks at; the loop reads what is published and makes room by
// dropping the oldest entries, only while it holds the turn and the writer does not run. The
// turn's hand-over to the apply thread and back orders the two, so nothing here is atomic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "wal/format.h"

namespace ledger::net::internal {

// The leader sends a follower its entries in chunks of about this many bytes (one more entry
// at most); a follower's ring makes room for a whole chunk at once, so it holds two at least.
inline constexpr uint64_t kReplicationChunkBytesMax = uint64_t{4} << 20;
// The smallest entry: its header and one record, padded. A ring of N bytes indexes N / this.
inline constexpr uint64_t kSmallestEntryBytes = sizeof(wal::EntryHeader) + wal::kEntryAlignBytes;

class EntryRing {
 public:
  // capacity_bytes: the ring; it must take at least two of the largest entries.
  // entries_max: how many entries it indexes at most (oldest dropped first).
  // last_op: the log's head; the first entry appended is the next op.
  EntryRing(uint64_t capacity_bytes, uint64_t entries_max, uint64_t last_op);

  // Loop, holding the turn: room for `entries` more entries of `bytes` in all (sizes, padding
  // included) by dropping the oldest entries, and their index slots.
  void MakeRoom(uint64_t bytes, uint64_t entries = 1);
  // Writer: one sealed entry following the last appended (op order). Requires the room.
  void Append(const wal::EntryHeader& header, std::span<const std::byte> body);
  // Loop, once the writer has handed the turn back: what it appended becomes readable.
  void Publish();

  // Loop: the published entries from `op` on, whole and contiguous, at most about
  // `bytes_max` (always at least one entry when there is one). Empty when `op` is past the
  // last published or was dropped (older than first_op()).
  std::span<const std::byte> EntriesFrom(uint64_t op, uint64_t bytes_max) const;
  // The chain hash of a published entry still held; nullopt otherwise.
  std::optional<wal::Hash128> ChainHashAt(uint64_t op) const;
  // The published range: first_op() > last_op() when empty.
  uint64_t first_op() const;
  uint64_t last_op() const { return last_published_op_; }
  uint64_t entry_count() const { return published_count_; }

 private:
  struct Slot {
    uint64_t op;
    uint64_t offset;  // in bytes_
    uint64_t size_bytes;
  };
  const Slot& SlotAt(uint64_t index) const { return slots_[(first_slot_ + index) % slots_max_]; }
  // The offset where `bytes` more go after the last appended entry, if they fit now.
  std::optional<uint64_t> PlaceFor(uint64_t bytes) const;
  void DropOldest();

  const uint64_t capacity_bytes_;
  const uint64_t slots_max_;
  std::unique_ptr<std::byte[]> bytes_;
  std::unique_ptr<Slot[]> slots_;
  // Loop's: the oldest slot and the published count.
  uint64_t first_slot_ = 0;
  uint64_t published_count_ = 0;
  uint64_t last_published_op_;  // stays when every entry was dropped
  // Both published and appended (the writer's, during its turn).
  uint64_t count_ = 0;
  uint64_t end_offset_ = 0;  // past the last appended entry
  uint64_t last_appended_op_;
};

}  // namespace ledger::net::internal
