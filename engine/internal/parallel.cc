// Transfer batches on several shards (docs/shards.md has the protocol and why it is equivalent
// to applying the batch on one shard, event by event, in log order).
//
// Phases, each run by every shard's thread (ShardPool::Run returns when all are done):
//   0. route:  each shard hashes a slice of the batch: every event's hashes and shards.
//   1. ids:    each shard looks up the ids whose index entries it holds: an invalid event or a
//              retry of a stored id is decided here; a new id is noted for the batch.
//   2. shards: for each post, void or reversal, the shards whose tables it will touch (a
//              reservation's, a reversed transfer's), or "global" when it names an id that is
//              new in this batch (its outcome depends on an earlier event of the batch).
//   (serial)   the batch is cut into units: chains, or single events. A unit whose events all
//              touch one shard belongs to that shard; any other unit is cross-shard.
//   3. apply:  each shard applies its units in log order; at a cross-shard unit every shard
//              stops and shard 0 applies it alone (Rendezvous). Index inserts, failures and
//              changes are held back (Deferred).
//   (serial)   results gathered; failures and changes numbered in log order.
//   4. index:  each shard inserts the new ids whose index entries it holds.
#include <algorithm>
#include <bit>

#include "engine/internal/chains.h"
#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {

using R = CreateTransferResult;
// Look-ahead in the apply phase, in events of the shard's own (as transfers.cc's loop).
constexpr size_t kProbeAhead = 12;
constexpr size_t kResolveAhead = 6;
constexpr uint16_t kResolveFlags = transfer_flags::kPostPending | transfer_flags::kVoidPending;

uint16_t Bit(uint32_t shard) { return static_cast<uint16_t>(1u << shard); }

}  // namespace

void State::CreateTransfersSharded(std::span<const Transfer> events, uint64_t timestamp_ns,
                                   std::span<CreateTransferResult> results) {
  BeginBatch(timestamp_ns, events.size());  // expiries: serial, numbered into the feed
  batch_change_base_ = change_sequence_next();
  plan_.events.resize(events.size());
  for (BatchIds& ids : plan_.batch_ids) ids.Reset(events.size());
  if (routes_.size() < events.size()) routes_.resize(events.size());
  for (auto& view : views_) {
    view->deferred_.Clear();
    if (view->prepared_.size() < events.size()) view->prepared_.resize(events.size());
    view->planned_.assign(events.size(), {});
    if (view->results_.size() < events.size()) view->results_.resize(events.size());
  }
  auto route = [&](uint32_t shard) { views_[shard]->RouteRange(events, shard); };
  pool_->Run(route);
  auto plan_ids = [&](uint32_t shard) { views_[shard]->PlanIds(events, shard); };
  pool_->Run(plan_ids);
  auto plan_shards = [&](uint32_t shard) { views_[shard]->PlanShards(events, shard); };
  pool_->Run(plan_shards);
  FormUnits(events);
  rendezvous_->Reset();
  auto apply = [&](uint32_t shard) {
    State& view = *views_[shard];
    view.ApplyUnits(events, timestamp_ns, std::span(view.results_).first(events.size()), shard);
  };
  pool_->Run(apply);
  // Results from the views that applied each unit (each wrote its own array: in one shared
  // array the shards' neighbouring results would fight over cache lines).
  for (const BatchPlan::Unit& unit : plan_.units) {
    const std::vector<CreateTransferResult>& applied = views_[std::max(unit.owner, 0)]->results_;
    std::copy(applied.begin() + unit.begin, applied.begin() + unit.end,
              results.begin() + unit.begin);
  }
  FlushDeferredFailures();
  MergeDeferredChanges();
  auto index = [&](uint32_t shard) { InsertDeferred(shard); };
  pool_->Run(index);
  EndBatch();
}

// Phase 0: the ids' hashes and shards, each shard a slice of the batch.
void State::RouteRange(std::span<const Transfer> events, uint32_t shard) {
  const size_t begin = events.size() * shard / shard_count_;
  const size_t end = events.size() * (shard + 1) / shard_count_;
  for (size_t i = begin; i < end; ++i) Route(events, i);
  std::copy(prepared_.begin() + begin, prepared_.begin() + end, owner_->routes_.begin() + begin);
}

// Phase 1, on the shard holding the ids' index entries: CreateTransfer's steps up to the
// lookup, which read nothing a batch changes (stored records are immutable).
void State::PlanIds(std::span<const Transfer> events, uint32_t shard) {
  BatchPlan& plan = owner_->plan_;
  const std::vector<Prepared>& routes = owner_->routes_;
  auto& batch_ids = plan.batch_ids[shard];
  // This shard's events, with their hashes; the index buckets are fetched kAhead early.
  constexpr size_t kAhead = 16;
  mine_.clear();
  references_.clear();
  for (uint32_t i = 0; i < events.size(); ++i) {
    if (routes[i].id_home == shard) mine_.push_back(i);
  }
  const auto fetch = [&](size_t k) {
    shards_[shard]->transfer_index.Prefetch(routes[mine_[k]].id_hash);
  };
  for (size_t k = 0; k < std::min(kAhead, mine_.size()); ++k) fetch(k);
  for (size_t k = 0; k < mine_.size(); ++k) {
    if (k + kAhead < mine_.size()) fetch(k + kAhead);
    const uint32_t i = mine_[k];
    const Transfer& event = events[i];
    BatchPlan::Event& planned = planned_[i];
    if (R result = ValidateTransfer(event); result != R::kOk) {
      planned.decided = static_cast<uint8_t>(result);
      continue;
    }
    const uint32_t payload = FindTransferPayloadIn(shard, event.id, routes[i].id_hash);
    if (payload != HashIndex::kNotFound) {
      const R result = (payload & kFailedBit) != 0 ? failures_[payload & ~kFailedBit].code
                                                   : CompareExisting(event, transfer(payload));
      planned.decided = static_cast<uint8_t>(result);
      continue;
    }
    // An id new to the index, named again in this batch: the second event's outcome is the
    // first one's (exists, its failure, or new again after a rollback).
    planned.global = batch_ids.Insert(event.id, routes[i].id_hash, i) != i;
    if ((event.flags & kResolveFlags) != 0 || !event.reverses_id.IsZero()) {
      references_.push_back(i);  // its shards depend on another transfer: phase 2
    } else {
      planned.shards = Bit(routes[i].debit_home) | Bit(routes[i].credit_home);
    }
  }
}

// Phase 2: the shards a post, void or reversal will touch, which depend on the transfer it
// names. Reads other shards' indexes and records, which nothing changes during phases 0 to 2.
void State::PlanShards(std::span<const Transfer> events, uint32_t shard) {
  BatchPlan& plan = owner_->plan_;
  const std::vector<Prepared>& routes = owner_->routes_;
  const auto new_in_batch = [&](const TransferId& id) {
    return plan.batch_ids[HomeOf(id)].Contains(id, HashId(id.lo, id.hi));
  };
  for (uint32_t i : references_) {
    const Transfer& event = events[i];
    BatchPlan::Event& planned = planned_[i];
    if (planned.global) continue;
    if ((event.flags & kResolveFlags) != 0) {
      if (new_in_batch(event.pending_id)) {
        planned.global = true;
        continue;
      }
      const uint32_t reservation = FindTransfer(event.pending_id);
      // Not found: the event fails on its own; found: it moves the reservation's accounts.
      planned.shards = reservation == kNoSlot
                           ? Bit(shard)
                           : Bit(reservation >> slot_bits_) |
                                 Bit(HomeOf(transfer(reservation).credit_account_id));
      continue;
    }
    planned.shards = Bit(routes[i].debit_home) | Bit(routes[i].credit_home);
    if (!event.reverses_id.IsZero()) {
      if (new_in_batch(event.reverses_id)) {
        planned.global = true;
        continue;
      }
      // The reversal sums live with the reversed transfer.
      const uint32_t reversed = FindTransfer(event.reverses_id);
      if (reversed != kNoSlot) planned.shards |= Bit(reversed >> slot_bits_);
    }
  }
}

void State::FormUnits(std::span<const Transfer> events) {
  // Each event's plan from the shard that made it (each wrote its own array: writing one
  // shared array, the shards' neighbouring entries would fight over cache lines).
  for (uint32_t i = 0; i < events.size(); ++i) {
    plan_.events[i] = views_[routes_[i].id_home]->planned_[i];
  }
  plan_.units.clear();
  for (uint32_t begin = 0; begin < events.size();) {
    uint32_t end = begin;
    while (end < events.size() && (events[end].flags & transfer_flags::kLinked) != 0) ++end;
    end = std::min<uint32_t>(end + 1, static_cast<uint32_t>(events.size()));
    uint16_t shards = 0;
    bool global = false;
    for (uint32_t i = begin; i < end; ++i) {
      shards |= plan_.events[i].shards;
      global = global || plan_.events[i].global;
    }
    // A unit decided in phase 1 touches no table: its id's shard reports it.
    if (shards == 0) shards = Bit(routes_[begin].id_home);
    const bool cross = global || std::popcount(shards) > 1;
    plan_.units.push_back({begin, end, cross ? -1 : std::countr_zero(shards), global});
    begin = end;
  }
}

void State::ApplyUnits(std::span<const Transfer> events, uint64_t timestamp_ns,
                       std::span<CreateTransferResult> results, uint32_t shard) {
  Rendezvous& rendezvous = *owner_->rendezvous_;
  const BatchPlan& plan = owner_->plan_;
  // This shard's own undecided events, worked on ahead as one shard's batch loop does.
  mine_.clear();
  for (const BatchPlan::Unit& unit : plan.units) {
    if (unit.owner != static_cast<int32_t>(shard)) continue;
    for (uint32_t i = unit.begin; i < unit.end; ++i) {
      if (plan.events[i].decided == BatchPlan::kUndecided) mine_.push_back(i);
    }
  }
  const std::vector<Prepared>& plan_routes = owner_->routes_;
  size_t probed = 0;
  size_t resolved = 0;
  size_t applied = 0;  // of mine_
  uint32_t step = 0;
  for (const BatchPlan::Unit& unit : plan.units) {
    if (unit.owner >= 0) {
      if (static_cast<uint32_t>(unit.owner) != shard) continue;
      while (applied < mine_.size() && mine_[applied] < unit.end) ++applied;
      for (; probed < std::min(mine_.size(), applied + kProbeAhead); ++probed) {
        prepared_[mine_[probed]] = plan_routes[mine_[probed]];
        PrefetchAccounts(mine_[probed]);
      }
      for (; resolved < std::min(mine_.size(), applied + kResolveAhead); ++resolved) {
        Resolve(events, mine_[resolved]);
      }
      ApplyUnit(events, timestamp_ns, results, unit, /*resolved=*/true);
      continue;
    }
    if (shard != 0) {
      rendezvous.ArriveAndWait(step++);
      continue;
    }
    rendezvous.AwaitOthers(step);
    // Every shard is idle here, and has applied every unit before this one.
    if (unit.global) {
      // Its outcome hangs on ids new in this batch: make the index exact, then apply it as
      // one shard would, with its own inserts and failures immediate.
      owner_->FlushDeferredFailures();
      owner_->FlushDeferredInserts();
      defer_index_ = false;
    }
    ApplyUnit(events, timestamp_ns, results, unit, /*resolved=*/false);
    defer_index_ = true;
    rendezvous.Release(step++);
  }
}

void State::ApplyUnit(std::span<const Transfer> events, uint64_t timestamp_ns,
                      std::span<CreateTransferResult> results, const BatchPlan::Unit& unit,
                      bool resolved) {
  const BatchPlan& plan = owner_->plan_;
  RunChains(events.subspan(unit.begin, unit.end - unit.begin),
            results.subspan(unit.begin, unit.end - unit.begin), transfer_flags::kLinked,
            [&](size_t offset) {
              const uint32_t i = unit.begin + static_cast<uint32_t>(offset);
              const uint8_t decided = plan.events[i].decided;
              if (decided != BatchPlan::kUndecided) return static_cast<R>(decided);
              event_index_ = i;
              if (!resolved) {
                prepared_[i] = owner_->routes_[i];
                Resolve(events, i);
              }
              // A global event's id may be in the (now exact) index; any other's is new.
              return unit.global ? CreateTransfer(events[i], timestamp_ns + 1 + i, prepared_[i])
                                 : CreateNewTransfer(events[i], timestamp_ns + 1 + i, prepared_[i]);
            });
}

// Phase 4, on the shard holding the index entries: the batch's new ids.
void State::InsertDeferred(uint32_t shard) {
  HashIndex& ids = shards_[shard]->transfer_index;
  constexpr size_t kAhead = 16;  // buckets fetched ahead, as in phase 1
  for (auto& view : views_) {
    std::vector<Deferred::Insert>& inserts = view->deferred_.inserts[shard];
    for (size_t k = 0; k < inserts.size(); ++k) {
      if (k + kAhead < inserts.size()) ids.Prefetch(inserts[k + kAhead].hash);
      ids.Insert(inserts[k].hash, inserts[k].ref);
    }
    inserts.clear();
  }
}

// Owner, every view idle: the views' failures in log order join failures_ and the index.
void State::FlushDeferredFailures() {
  while (true) {
    Deferred* next = nullptr;
    size_t next_index = 0;
    for (auto& view : views_) {
      Deferred& deferred = view->deferred_;
      if (deferred.failures_flushed == deferred.failures.size()) continue;
      if (next == nullptr || deferred.failures[deferred.failures_flushed].event_index <
                                 next->failures[next_index].event_index) {
        next = &deferred;
        next_index = deferred.failures_flushed;
      }
    }
    if (next == nullptr) return;
    const Deferred::Failure& failure = next->failures[next->failures_flushed++];
    const uint32_t slot = static_cast<uint32_t>(failures_.Append({failure.id, failure.code, {}}));
    shards_[HomeOf(failure.id)]->transfer_index.Insert(failure.hash, slot | kFailedBit);
  }
}

void State::FlushDeferredInserts() {
  for (auto& view : views_) {
    for (uint32_t shard = 0; shard < shard_count_; ++shard) {
      for (const Deferred::Insert& insert : view->deferred_.inserts[shard]) {
        shards_[shard]->transfer_index.Insert(insert.hash, insert.ref);
      }
      view->deferred_.inserts[shard].clear();
    }
  }
}

// Owner: the views' changes, each list in log order, merged by timestamp and numbered.
void State::MergeDeferredChanges() {
  if (!changes_.enabled()) return;
  size_t next_of[kShardsMax] = {};
  uint64_t sequence = batch_change_base_;
  while (true) {
    uint32_t best = kShardsMax;
    for (uint32_t shard = 0; shard < shard_count_; ++shard) {
      const std::vector<Change>& changes = views_[shard]->deferred_.changes;
      if (next_of[shard] == changes.size()) continue;
      if (best == kShardsMax || changes[next_of[shard]].timestamp_ns <
                                    views_[best]->deferred_.changes[next_of[best]].timestamp_ns) {
        best = shard;
      }
    }
    if (best == kShardsMax) break;
    Change& change = changes_.Append(/*in_chain=*/false);
    change = views_[best]->deferred_.changes[next_of[best]++];
    change.sequence = sequence++;
  }
  LEDGER_ASSERT(sequence == change_sequence_next(), sequence, change_sequence_next());
}

}  // namespace ledger::engine::internal
