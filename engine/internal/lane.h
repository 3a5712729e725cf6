// A lane's side of a sharded batch (parallel.cc, docs/shards.md): what a lane's view holds
// back while the lanes run side by side. It writes its own shards' tables directly, but index
// inserts (other lanes read the indexes), recorded failures and changes (numbered in log order)
// wait until every lane is idle, when the owner applies them in log order. Private to engine/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/internal/ref.h"
#include "engine/shard.h"
#include "engine/snapshot.h"
#include "engine/types.h"

namespace ledger::engine::internal {

// What a view holds back while shards run side by side, applied in log order afterwards:
// index entries go to the shard that holds the id's entry, failures and changes are
// numbered in log order.
struct Deferred {
  struct Insert {
    uint32_t hash;
    Ref ref;  // the new transfer
  };
  struct Failure {
    uint32_t event_index;
    uint32_t hash;
    FailureRecord record;  // the failed event, booked, and its code
  };
  std::vector<Insert> inserts[kShardsMax];  // by the shard holding the id's index entry
  std::vector<Failure> failures;            // in this view's log order
  size_t failures_flushed = 0;              // those before it are in failures_ already
  std::vector<Change> changes;              // in this view's log order
  size_t chain_changes_begin = 0;           // where the open chain's changes start
  void Clear() {
    for (auto& list : inserts) list.clear();
    failures.clear();
    failures_flushed = 0;
    changes.clear();
    chain_changes_begin = 0;
  }
};

}  // namespace ledger::engine::internal
