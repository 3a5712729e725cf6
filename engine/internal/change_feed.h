// The change feed's retained window (docs/data-model.md, "Change feed"): the newest `capacity`
// changes in a ring committed at construction, so the apply path writes one 168-byte record per
// change and never allocates.
//
// The sequence counter is not kept here: changes since genesis are exactly the stored transfers
// plus the expiries, so State derives it (and the next change's number) from those counts, and
// with the feed off the apply path does nothing for the feed but test enabled().
//
// Changes made inside a linked chain are staged and reach the ring only when the chain commits;
// a rollback drops them. Writing them to the ring straight away would overwrite the oldest
// retained changes, which a rollback could not bring back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/types.h"

namespace ledger::engine::internal {

class ChangeFeed {
 public:
  // capacity: changes retained (0 = none: the feed is off). The ring is mapped and pre-faulted
  // here.
  explicit ChangeFeed(uint64_t capacity);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  bool enabled() const { return capacity_ != 0; }
  uint64_t capacity() const { return capacity_; }
  uint64_t retained_count() const { return count_; }
  bool chain_empty() const { return staged_.empty(); }

  // Only when enabled(): the record for the next change, for the caller to fill in (every
  // field) at once. Inside a chain it is staged until CommitChain.
  Change& Append(bool in_chain) {
    if (in_chain) return staged_.emplace_back();
    Change& record = ring_[head_];
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
    count_ += count_ < capacity_ ? 1 : 0;
    return record;
  }
  // The chain's staged changes join the ring, in order.
  void CommitChain() {
    if (!staged_.empty()) Flush();
  }
  // The chain's staged changes are dropped.
  void RollbackChain() { staged_.clear(); }

  // Changes with sequence >= from_sequence, oldest first, at most out.size(), where
  // next_sequence is the counter; nothing when from_sequence is below the window.
  size_t Get(uint64_t from_sequence, uint64_t next_sequence, std::span<Change> out) const;
  // The newest retained change's sequence + 1 (0 when none): equals the counter when enabled.
  uint64_t next_retained_sequence() const;
  // On a fresh feed: the slots of the newest of `count` changes that fit, oldest first, for
  // the restore to fill; the feed retains them from then on.
  std::span<Change> RestoreNewest(uint64_t count);

 private:
  void Flush();

  uint64_t capacity_;
  Change* ring_ = nullptr;  // capacity_ records, owned (MapHuge)
  uint64_t head_ = 0;       // ring index of the next write
  uint64_t count_ = 0;      // retained, at most capacity_
  std::vector<Change> staged_;
};

}  // namespace ledger::engine::internal
