// The newest keyed checkpoints the replica signed (replica/checkpoint.h), for the change feed:
// the checkpointer's thread appends each once it is in the checkpoint file, the loop reads
// them for subscribers and the `checkpoints` call. Checkpoints are numbered from 0 in the order
// signed since the server started; the ring keeps the newest `capacity`.
//
// Threading: Append on any thread, the rest on any other; a mutex orders them (a checkpoint
// comes every N ops, so it is never contended). Each slot's line keeps its room, and readers
// copy into an Entry whose line has room (MakeEntry): nothing is allocated once warm.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "replica/checkpoint.h"

namespace ledger::net::internal {

// What the server retains: enough for a consumer that reconnects or polls now and then (with
// the default interval of 100,000 ops, 6.4 million ops); the checkpoint file holds them all.
inline constexpr size_t kCheckpointsRetained = 64;
// A checkpoint line's longest: the fields at their widest (two 20-digit numbers) and the HMAC.
inline constexpr size_t kCheckpointLineBytesMax = 192;

class CheckpointRing {
 public:
  struct Entry {
    replica::Checkpoint checkpoint;
    std::string line;  // the file's, without its newline
    uint64_t change_sequence_next = 0;
  };
  // An Entry whose line has room for any checkpoint's.
  static Entry MakeEntry();

  explicit CheckpointRing(size_t capacity = kCheckpointsRetained);

  void Append(const replica::SignedCheckpoint& checkpoint);
  // How many were appended: the number the next one gets.
  uint64_t next() const;
  // The oldest number retained (next() when none is).
  uint64_t oldest() const;
  // Copies checkpoint `number` into `out`: false when it is not retained (dropped, or not yet
  // appended).
  bool Read(uint64_t number, Entry& out) const;
  // The number of the oldest retained checkpoint whose change_sequence_next is at least
  // `sequence`, or next() when there is none.
  uint64_t FirstAtOrAfter(uint64_t sequence) const;

 private:
  uint64_t OldestLocked() const { return next_ - std::min<uint64_t>(next_, slots_.size()); }

  mutable std::mutex mutex_;
  std::vector<Entry> slots_;  // number n in slots_[n % size]
  uint64_t next_ = 0;
};

}  // namespace ledger::net::internal
