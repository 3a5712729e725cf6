// Transfer batches on several shards (docs/shards.md has the protocol and why it is equivalent
// to applying the batch on one shard, event by event, in log order).
//
// The shards run on lanes: lane_count_ threads (at most one per core), shard s on lane
// s % lane_count_, so each shard is still written by one thread at a time. Phases, each run
// by every lane (ShardPool::Run returns when all are done):
//   1. route:  each lane takes a slice of the batch: every event's hashes and shards, its
//              validation (an invalid event is decided here), its id noted in the slice's table
//              of the batch's ids.
//   2. plan:   each lane takes the units (chains, or single events) starting in its slice:
//              marks the events that name an id another event of the batch names (global),
//              finds the lanes whose shards each event touches, and files each unit under the
//              one lane it touches, or as cross-lane.
//   3. apply:  each lane applies its units in log order, looking ahead over their events as
//              the single-shard loop does; at a cross-lane unit the lanes of its footprint
//              stop and the lowest applies it (Rendezvous), while the others go on. Index
//              inserts, failures and changes are held back (Deferred).
//   (serial)   failures and changes numbered in log order.
//   4. finish: each lane inserts the new ids whose index entries its shards hold, and gathers
//              the results of its slice's units.
#include <algorithm>
#include <bit>

#include "engine/internal/chains.h"
#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {

using R = CreateTransferResult;
// Look-ahead in the apply phase, in events of the lane's own (as transfers.cc's loop).
constexpr size_t kIndexAhead = 24;
constexpr size_t kProbeAhead = 12;
constexpr size_t kResolveAhead = 6;
constexpr uint16_t kResolveFlags = transfer_flags::kPostPending | transfer_flags::kVoidPending;

uint16_t Bit(uint32_t lane) { return static_cast<uint16_t>(1u << lane); }

// The lane that applies a unit: its only lane, or a cross-lane unit's lowest.
uint32_t LeaderOf(const BatchPlan::Unit& unit) {
  return static_cast<uint32_t>(std::countr_zero(unit.lanes));
}

// The first unit boundary at or after `index`: no chain straddles it.
uint32_t UnitBoundary(std::span<const Transfer> events, uint32_t index) {
  while (index > 0 && index < events.size() &&
         (events[index - 1].flags & transfer_flags::kLinked) != 0) {
    ++index;
  }
  return index;
}

}  // namespace

void State::CreateTransfersSharded(std::span<const Transfer> events, uint64_t timestamp_ns,
                                   std::span<CreateTransferResult> results) {
  BeginBatch(timestamp_ns, events.size());  // expiries: serial, numbered into the feed
  if (MostlyCrossLane(events)) {
    ApplyInOrder(events, timestamp_ns, results);  // as one cross-lane unit, on this thread
    EndBatch();
    return;
  }
  batch_change_base_ = change_sequence_next();
  plan_.events.resize(events.size());
  if (routes_.size() < events.size()) routes_.resize(events.size());
  for (auto& view : views_) {
    view->cold_before_ns_ = cold_before_ns_;  // the views read the cold store as the owner does
    view->deferred_.Clear();
    if (view->prepared_.size() < events.size()) view->prepared_.resize(events.size());
    if (view->results_.size() < events.size()) view->results_.resize(events.size());
  }
  auto route = [&](uint32_t slice) { views_[slice]->RouteSlice(events, slice); };
  pool_->Run(route);
  auto plan = [&](uint32_t slice) { views_[slice]->PlanSlice(events, slice); };
  pool_->Run(plan);
  size_t cross_count = 0;
  for (const BatchPlan::Slice& slice : plan_.slices) cross_count += slice.cross.size();
  rendezvous_->Reset(cross_count);
  auto apply = [&](uint32_t lane) { views_[lane]->ApplyLane(events, timestamp_ns, lane); };
  pool_->Run(apply);
  FlushDeferredFailures();
  MergeDeferredChanges();
  auto finish = [&](uint32_t lane) { FinishLane(results, lane); };
  pool_->Run(finish);
  EndBatch();
}

// A sample of the batch, evenly spread: at least in_order_cross_percent_ of its events name
// accounts on two lanes (the lanes would mostly hand each other cross-lane units). Any answer
// gives the same results; it only picks the faster way.
bool State::MostlyCrossLane(std::span<const Transfer> events) const {
  if (in_order_cross_percent_ > 100) return false;
  constexpr size_t kSample = 256;
  const size_t stride = std::max<size_t>(1, events.size() / kSample);
  size_t sampled = 0;
  size_t cross_lane = 0;
  for (size_t i = 0; i < events.size(); i += stride, ++sampled) {
    cross_lane +=
        LanesOf(HomeOf(events[i].debit_account_id)) != LanesOf(HomeOf(events[i].credit_account_id));
  }
  return cross_lane * 100 >= sampled * in_order_cross_percent_;
}

// Phase 1: reads only the events.
void State::RouteSlice(std::span<const Transfer> events, uint32_t slice) {
  BatchPlan::Slice& mine = owner_->plan_.slices[slice];
  std::vector<BatchPlan::Event>& planned = owner_->plan_.events;
  std::vector<Prepared>& routes = owner_->routes_;
  mine.begin = static_cast<uint32_t>(events.size() * slice / lane_count_);
  mine.end = static_cast<uint32_t>(events.size() * (slice + 1) / lane_count_);
  mine.ids.Reset(mine.end - mine.begin);
  for (uint32_t i = mine.begin; i < mine.end; ++i) {
    const Transfer& event = events[i];
    Route(event, routes[i]);
    BatchPlan::Event& plan = planned[i];
    plan = {};
    if (R result = ValidateTransfer(event); result != R::kOk) {
      plan.decided = static_cast<uint8_t>(result);
      continue;
    }
    // The same id earlier in the slice: this event's outcome is that one's (exists, its
    // failure, or new again after a rollback).
    plan.global = mine.ids.Insert(event.id, routes[i].id_hash, i) != i;
  }
}

// Phase 2, over the units starting in this thread's slice: reads the events, the routes and
// every slice's ids (written in phase 1), indexes and records (written by no one until phase 3).
void State::PlanSlice(std::span<const Transfer> events, uint32_t slice) {
  BatchPlan& plan = owner_->plan_;
  BatchPlan::Slice& mine = plan.slices[slice];
  const std::vector<Prepared>& routes = owner_->routes_;
  mine.units_begin = UnitBoundary(events, mine.begin);
  mine.units_end = UnitBoundary(events, mine.end);
  mine.cross.clear();
  for (uint32_t lane = 0; lane < lane_count_; ++lane) {
    mine.own[lane].clear();
    mine.undecided[lane].clear();
  }
  const auto in_batch = [&](const TransferId& id, uint32_t hash, uint32_t slices_end) {
    for (uint32_t other = 0; other < slices_end; ++other) {
      if (plan.slices[other].ids.Contains(id, hash)) return true;
    }
    return false;
  };
  uint32_t routed_by = 0;  // the slice that routed event i (phase 1's split)
  // An event's footprint, and whether it is global; an invalid one touches nothing.
  const auto plan_event = [&](uint32_t i) -> uint16_t {
    BatchPlan::Event& planned = plan.events[i];
    if (planned.decided != BatchPlan::kUndecided) return 0;
    while (plan.slices[routed_by].end <= i) ++routed_by;
    const Transfer& event = events[i];
    const Prepared& route = routes[i];
    // Named by an earlier slice's event too (the same slice's was seen in phase 1), or
    // naming a transfer that an event of this batch creates or retries.
    planned.global = planned.global || in_batch(event.id, route.id_hash, routed_by);
    if ((event.flags & kResolveFlags) == 0 && event.reverses_id.IsZero()) {
      return LanesOf(route.debit_home, route.credit_home);
    }
    const TransferId& named =
        (event.flags & kResolveFlags) != 0 ? event.pending_id : event.reverses_id;
    planned.global = planned.global || in_batch(named, HashId(named.lo, named.hi), lane_count_);
    return ReferenceLanes(event, route);
  };
  for (uint32_t begin = mine.units_begin; begin < mine.units_end;) {
    uint32_t end = begin + 1;
    if ((events[begin].flags & transfer_flags::kLinked) != 0) {  // a chain
      while (end < events.size() && (events[end - 1].flags & transfer_flags::kLinked) != 0) ++end;
    }
    uint16_t lanes = 0;
    bool global = false;
    for (uint32_t i = begin; i < end; ++i) {
      lanes |= plan_event(i);
      global = global || plan.events[i].global;
    }
    // A unit of invalid events only touches no table: any lane may report it.
    if (lanes == 0) lanes = Bit(slice);
    if (global) {
      // It reads the batch's other events' effects: everything applied before it.
      mine.cross.push_back({begin, end, static_cast<uint16_t>((1u << lane_count_) - 1), true});
    } else if (std::popcount(lanes) > 1) {
      mine.cross.push_back({begin, end, lanes, false});
    } else {
      const uint32_t owner = static_cast<uint32_t>(std::countr_zero(lanes));
      mine.own[owner].push_back({begin, end, lanes, false});
      for (uint32_t i = begin; i < end; ++i) {
        if (plan.events[i].decided == BatchPlan::kUndecided) mine.undecided[owner].push_back(i);
      }
    }
    begin = end;
  }
}

uint16_t State::ReferenceLanes(const Transfer& event, const Prepared& route) const {
  if ((event.flags & kResolveFlags) != 0) {
    // Found in the window or kept: it moves the reservation's accounts (and writes the state on
    // the first's shard); else it fails on its own, reading only the cold store.
    const uint32_t payload =
        FindTransferPayload(event.pending_id, HashId(event.pending_id.lo, event.pending_id.hi));
    if ((payload & kFailedBit) == 0) {
      const Ref reservation = Ref::FromBits(payload);
      return LanesOf(shard_index_of(reservation), HomeOf(transfer(reservation).credit_account_id));
    }
    if (payload != HashIndex::kNotFound && IsKept(payload)) {
      const PendingState& state = KeptState(payload, event.pending_id);
      return LanesOf(shard_index_of(state.debit_ref), shard_index_of(state.credit_ref));
    }
    return LanesOf(route.debit_home);
  }
  // A reversal: its accounts, and the reversed transfer's shard (where its sums live).
  uint16_t lanes = LanesOf(route.debit_home, route.credit_home);
  const Ref reversed = FindTransfer(event.reverses_id);
  if (reversed != kNoRef) {
    lanes |= LanesOf(shard_index_of(reversed));
  } else if (const std::optional<Transfer> cold = FindColdTransfer(event.reverses_id)) {
    lanes |= LanesOf(HomeOf(cold->debit_account_id));
  }
  return lanes;
}

// Phase 3: this lane's units, and the cross-lane ones it leads or waits at, in log order.
void State::ApplyLane(std::span<const Transfer> events, uint64_t timestamp_ns, uint32_t lane) {
  Rendezvous& rendezvous = *owner_->rendezvous_;
  const BatchPlan& plan = owner_->plan_;
  const std::vector<Prepared>& routes = owner_->routes_;
  // This lane's undecided events, worked on ahead as one shard's batch loop does.
  mine_.clear();
  for (const BatchPlan::Slice& slice : plan.slices) {
    mine_.insert(mine_.end(), slice.undecided[lane].begin(), slice.undecided[lane].end());
  }
  // Each undecided event is staged kIndexAhead, kProbeAhead and kResolveAhead events before
  // it is applied: its routes copied and index buckets fetched, its account records fetched,
  // its accounts looked up.
  const size_t count = mine_.size();
  const auto stage_index = [&](size_t k) {
    prepared_[mine_[k]] = routes[mine_[k]];
    PrefetchIndexes(events, mine_[k]);
  };
  for (size_t k = 0; k < std::min(count, kIndexAhead); ++k) stage_index(k);
  for (size_t k = 0; k < std::min(count, kProbeAhead); ++k) PrefetchAccounts(mine_[k]);
  for (size_t k = 0; k < std::min(count, kResolveAhead); ++k) Resolve(events, mine_[k]);
  size_t applied = 0;  // of mine_
  uint32_t step = 0;
  const auto apply_own = [&](const BatchPlan::Unit& unit) {
    for (; applied < count && mine_[applied] < unit.end; ++applied) {
      if (applied + kIndexAhead < count) stage_index(applied + kIndexAhead);
      if (applied + kProbeAhead < count) PrefetchAccounts(mine_[applied + kProbeAhead]);
      if (applied + kResolveAhead < count) Resolve(events, mine_[applied + kResolveAhead]);
    }
    ApplyUnit(events, timestamp_ns, unit, /*resolved=*/true);
  };
  const auto apply_cross = [&](const BatchPlan::Unit& unit) {
    const uint32_t k = step++;
    if ((unit.lanes & Bit(lane)) == 0) return;  // lanes outside its footprint go on
    if (lane != LeaderOf(unit)) {
      rendezvous.ArriveAndWait(k);
      return;
    }
    rendezvous.AwaitOthers(k, static_cast<uint32_t>(std::popcount(unit.lanes)) - 1);
    // The footprint's lanes are idle here, and have applied every unit before this one.
    if (unit.global) {
      // Its outcome hangs on other events of the batch: make the index exact, then apply it
      // as one shard would, with its own inserts and failures immediate.
      owner_->FlushDeferredFailures();
      owner_->FlushDeferredInserts();
      defer_index_ = false;
    }
    ApplyUnit(events, timestamp_ns, unit, /*resolved=*/false);
    defer_index_ = true;
    rendezvous.Release(k);
  };
  for (const BatchPlan::Slice& slice : plan.slices) {
    const std::vector<BatchPlan::Unit>& own = slice.own[lane];
    size_t next_own = 0;
    for (const BatchPlan::Unit& cross : slice.cross) {
      while (next_own < own.size() && own[next_own].begin < cross.begin) {
        apply_own(own[next_own++]);
      }
      apply_cross(cross);
    }
    while (next_own < own.size()) apply_own(own[next_own++]);
  }
}

void State::ApplyUnit(std::span<const Transfer> events, uint64_t timestamp_ns,
                      const BatchPlan::Unit& unit, bool resolved) {
  const BatchPlan& plan = owner_->plan_;
  const auto apply = [&](uint32_t i) {
    const uint8_t decided = plan.events[i].decided;
    if (decided != BatchPlan::kUndecided) return static_cast<R>(decided);
    event_index_ = i;
    if (!resolved) {
      prepared_[i] = owner_->routes_[i];
      Resolve(events, i);
    }
    return CreateValidTransfer(events[i], timestamp_ns + 1 + i, prepared_[i]);
  };
  if (unit.end - unit.begin == 1 && (events[unit.begin].flags & transfer_flags::kLinked) == 0) {
    results_[unit.begin] = apply(unit.begin);  // most units: what RunChains does, sans set-up
    return;
  }
  RunChains(events.subspan(unit.begin, unit.end - unit.begin),
            std::span(results_).subspan(unit.begin, unit.end - unit.begin), transfer_flags::kLinked,
            [&](size_t offset) { return apply(unit.begin + static_cast<uint32_t>(offset)); });
}

// Phase 4, owner: the new ids whose index entries this lane's shards hold, and the results
// of the units this lane planned (each view wrote its own array: in one shared array the
// lanes' neighbouring results would fight over cache lines).
void State::FinishLane(std::span<CreateTransferResult> results, uint32_t lane) {
  for (uint32_t shard = lane; shard < shard_count_; shard += lane_count_) InsertHeldBack(shard);
  const BatchPlan::Slice& slice = plan_.slices[lane];
  const auto copy = [&](const std::vector<BatchPlan::Unit>& units) {
    for (const BatchPlan::Unit& unit : units) {
      const std::vector<CreateTransferResult>& applied = views_[LeaderOf(unit)]->results_;
      for (uint32_t i = unit.begin; i < unit.end; ++i) results[i] = applied[i];  // mostly one
    }
  };
  copy(slice.cross);
  for (uint32_t applier = 0; applier < lane_count_; ++applier) copy(slice.own[applier]);
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
    AppendFailure(failure.record, failure.hash);
  }
}

void State::FlushDeferredInserts() {
  for (uint32_t shard = 0; shard < shard_count_; ++shard) InsertHeldBack(shard);
}

// Owner: every view's held-back new ids whose index entries `shard` holds.
void State::InsertHeldBack(uint32_t shard) {
  constexpr size_t kAhead = 16;  // buckets fetched ahead
  HashIndex& ids = shards_[shard]->transfer_index;
  for (auto& view : views_) {
    std::vector<Deferred::Insert>& inserts = view->deferred_.inserts[shard];
    for (size_t k = 0; k < inserts.size(); ++k) {
      if (k + kAhead < inserts.size()) ids.Prefetch(inserts[k + kAhead].hash);
      ids.Insert(inserts[k].hash, inserts[k].ref.bits());
    }
    inserts.clear();
  }
}

// Owner: the views' changes, each list in log order, merged by timestamp and numbered.
void State::MergeDeferredChanges() {
  if (!changes_.enabled()) return;
  size_t next_of[kShardsMax] = {};
  uint64_t sequence = batch_change_base_;
  while (true) {
    uint32_t best = kShardsMax;
    for (uint32_t lane = 0; lane < lane_count_; ++lane) {
      const std::vector<Change>& changes = views_[lane]->deferred_.changes;
      if (next_of[lane] == changes.size()) continue;
      if (best == kShardsMax || changes[next_of[lane]].timestamp_ns <
                                    views_[best]->deferred_.changes[next_of[best]].timestamp_ns) {
        best = lane;
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
