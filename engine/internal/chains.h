// The linked-chain driver shared by account and transfer batches (docs/data-model.md,
// "Linked chains"). Included by the files that apply batches.
#pragma once

#include "engine/internal/state.h"

namespace ledger::engine::internal {

// apply(i) applies event i and returns its result. Inside a chain every mutation is logged in
// undo_ (and changes for the feed are staged), so a failing event rolls back the chain's
// earlier events; outside a chain an event checks everything before it mutates anything, so a
// failure needs no undo.
template <typename Result, typename Event, typename Apply>
void State::RunChains(std::span<const Event> events, std::span<Result> results,
                      uint16_t linked_flag, Apply&& apply) {
  const size_t count = events.size();
  // A trailing run of linked events never closes: the open chain fails as a whole.
  size_t open_chain_start = count;
  if (count > 0 && (events[count - 1].flags & linked_flag) != 0) {
    open_chain_start = count - 1;
    while (open_chain_start > 0 && (events[open_chain_start - 1].flags & linked_flag) != 0) {
      --open_chain_start;
    }
  }
  size_t chain_start = 0;
  bool chain_failed = false;
  for (size_t i = 0; i < open_chain_start; ++i) {
    const bool linked = (events[i].flags & linked_flag) != 0;
    if (linked && !in_chain_) {
      in_chain_ = true;
      chain_start = i;
      chain_failed = false;
      undo_.clear();
      chain_start_timestamp_ns_ = last_timestamp_ns_;
      BeginChainChanges();
    }
    if (chain_failed) {
      results[i] = Result::kLinkedEventFailed;
    } else {
      const Result result = apply(i);
      results[i] = result;
      if (in_chain_ && result != Result::kOk && result != Result::kExists) {
        chain_failed = true;
        Rollback();
        for (size_t j = chain_start; j < i; ++j) results[j] = Result::kLinkedEventFailed;
      }
    }
    if (!linked && in_chain_) {
      in_chain_ = false;
      chain_failed = false;
      undo_.clear();
      CommitChainChanges();  // nothing staged if the chain failed (Rollback dropped it)
    }
  }
  for (size_t i = open_chain_start; i < count; ++i) {
    results[i] = i + 1 == count ? Result::kLinkedEventChainOpen : Result::kLinkedEventFailed;
  }
}

}  // namespace ledger::engine::internal
