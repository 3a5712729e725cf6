// Transfer batches on several shards (docs/shards.md has the protocol and why it is equivalent
// to applying the batch on one shard, event by event, in log order).
//
// Phases, each run by every shard's thread (ShardPool::Run returns when all are done):
//   1. ids:    each shard looks up the ids whose index entries it holds: an invalid event or a
//              retry of a stored id is decided here; a new id is noted for the batch.
//   2. shards: for each undecided event, the shards whose tables it will touch (its accounts,
//              a reservation's, a reversed transfer's), or "global" when it names an id that
//              is new in this batch (its outcome depends on an earlier event of the batch).
//   (serial)   the batch is cut into units: chains, or single events. A unit whose events all
//              touch one shard belongs to that shard; any other unit is cross-shard.
//   3. apply:  each shard applies its units in log order; at a cross-shard unit every shard
//              stops and shard 0 applies it alone (Rendezvous). Index inserts, failures and
//              changes are held back (Deferred).
//   (serial)   failures and changes are numbered in log order.
//   4. index:  each shard inserts the new ids whose index entries it holds.
#include <algorithm>
#include <bit>

#include "engine/internal/chains.h"
#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {

using R = CreateTransferResult;
constexpr uint16_t kResolveFlags = transfer_flags::kPostPending | transfer_flags::kVoidPending;

std::pair<uint64_t, uint64_t> Key(const TransferId& id) { return {id.lo, id.hi}; }

uint16_t Bit(uint32_t shard) { return static_cast<uint16_t>(1u << shard); }

}  // namespace

void State::CreateTransfersSharded(std::span<const Transfer> events, uint64_t timestamp_ns,
                                   std::span<CreateTransferResult> results) {
  BeginBatch(timestamp_ns, events.size());  // expiries: serial, numbered into the feed
  batch_change_base_ = change_sequence_next();
  plan_.events.assign(events.size(), {});
  for (auto& ids : plan_.batch_ids) ids.clear();
  for (auto& view : views_) {
    view->deferred_.Clear();
    if (view->prepared_.size() < events.size()) view->prepared_.resize(events.size());
  }
  auto plan_ids = [&](uint32_t shard) { views_[shard]->PlanIds(events, shard); };
  pool_->Run(plan_ids);
  auto plan_shards = [&](uint32_t shard) { views_[shard]->PlanShards(events, shard); };
  pool_->Run(plan_shards);
  FormUnits(events);
  rendezvous_->Reset();
  auto apply = [&](uint32_t shard) {
    views_[shard]->ApplyUnits(events, timestamp_ns, results, shard);
  };
  pool_->Run(apply);
  FlushDeferredFailures();
  MergeDeferredChanges();
  auto index = [&](uint32_t shard) {
    Shard& tables = *shards_[shard];
    for (auto& view : views_) {
      for (const Deferred::Insert& insert : view->deferred_.inserts[shard]) {
        tables.transfer_index.Insert(insert.hash, insert.ref);
      }
      view->deferred_.inserts[shard].clear();
    }
  };
  pool_->Run(index);
  EndBatch();
}

// Phase 1, on the shard holding the ids' index entries: CreateTransfer's steps up to the
// lookup, which read nothing a batch changes (stored records are immutable).
void State::PlanIds(std::span<const Transfer> events, uint32_t shard) {
  BatchPlan& plan = owner_->plan_;
  auto& batch_ids = plan.batch_ids[shard];
  for (uint32_t i = 0; i < events.size(); ++i) {
    const Transfer& event = events[i];
    if (HomeOf(event.id) != shard) continue;
    BatchPlan::Event& planned = plan.events[i];
    if (R result = ValidateTransfer(event); result != R::kOk) {
      planned.decided = static_cast<uint8_t>(result);
      continue;
    }
    const uint32_t payload = FindTransferPayload(event.id, HashId(event.id.lo, event.id.hi));
    if (payload != HashIndex::kNotFound) {
      const R result = (payload & kFailedBit) != 0 ? failures_[payload & ~kFailedBit].code
                                                   : CompareExisting(event, transfer(payload));
      planned.decided = static_cast<uint8_t>(result);
      continue;
    }
    // An id new to the index, named again in this batch: the second event's outcome is the
    // first one's (exists, its failure, or new again after a rollback).
    planned.global = !batch_ids.try_emplace(Key(event.id), i).second;
  }
}

// Phase 2: the shards an undecided event will touch. Reads other shards' indexes and records,
// which nothing changes during phases 1 and 2.
void State::PlanShards(std::span<const Transfer> events, uint32_t shard) {
  BatchPlan& plan = owner_->plan_;
  const auto new_in_batch = [&](const TransferId& id) {
    return plan.batch_ids[HomeOf(id)].contains(Key(id));
  };
  for (uint32_t i = 0; i < events.size(); ++i) {
    const Transfer& event = events[i];
    BatchPlan::Event& planned = plan.events[i];
    if (HomeOf(event.id) != shard || planned.decided != BatchPlan::kUndecided || planned.global) {
      continue;
    }
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
    planned.shards = Bit(HomeOf(event.debit_account_id)) | Bit(HomeOf(event.credit_account_id));
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
    if (shards == 0) shards = Bit(HomeOf(events[begin].id));
    const bool cross = global || std::popcount(shards) > 1;
    plan_.units.push_back({begin, end, cross ? -1 : std::countr_zero(shards), global});
    begin = end;
  }
}

void State::ApplyUnits(std::span<const Transfer> events, uint64_t timestamp_ns,
                       std::span<CreateTransferResult> results, uint32_t shard) {
  Rendezvous& rendezvous = *owner_->rendezvous_;
  uint32_t step = 0;
  for (const BatchPlan::Unit& unit : owner_->plan_.units) {
    if (unit.owner >= 0) {
      if (static_cast<uint32_t>(unit.owner) == shard)
        ApplyUnit(events, timestamp_ns, results, unit);
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
    ApplyUnit(events, timestamp_ns, results, unit);
    defer_index_ = true;
    rendezvous.Release(step++);
  }
}

void State::ApplyUnit(std::span<const Transfer> events, uint64_t timestamp_ns,
                      std::span<CreateTransferResult> results, const BatchPlan::Unit& unit) {
  const BatchPlan& plan = owner_->plan_;
  RunChains(events.subspan(unit.begin, unit.end - unit.begin),
            results.subspan(unit.begin, unit.end - unit.begin), transfer_flags::kLinked,
            [&](size_t offset) {
              const uint32_t i = unit.begin + static_cast<uint32_t>(offset);
              const uint8_t decided = plan.events[i].decided;
              if (decided != BatchPlan::kUndecided) return static_cast<R>(decided);
              event_index_ = i;
              Prepare(events, i);
              PrefetchAccounts(i);
              Resolve(events, i);
              // A global event's id may be in the (now exact) index; any other's is new.
              return unit.global ? CreateTransfer(events[i], timestamp_ns + 1 + i, prepared_[i])
                                 : CreateNewTransfer(events[i], timestamp_ns + 1 + i, prepared_[i]);
            });
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
