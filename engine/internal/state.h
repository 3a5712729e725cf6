// The engine's state and apply logic. Private to engine/: the public surface is engine.h.
//
// Storage (docs/data-model.md has the semantics, docs/architecture.md the budget, and
// docs/shards.md how shards split it), per shard:
// - accounts: 104-byte records in creation order, plus an id index; pending balances live in
//   a side map because most accounts have none at any moment (keeps a record + index under
//   128 bytes);
// - transfers: the 152-byte public record in booking order, in a window of the newest
//   (ring_array.h; older ones are in a cold store, cold.cc and engine/cold.h), plus an id index
//   shared with the ids of recorded failures (one probe tells new / exists / failed) and of
//   reservations whose record is cold but whose state is still here;
// - per-account history: a list of transfer refs in a shared arena, ascending, so ref order
//   is time order and a time range is a binary search;
// - query indexes (query_index.h): accounts by user data, ledger and code, transfers by user
//   data, each value to its one record or to a list of refs, oldest first;
// - reservations, reversals and balance snapshots: side maps keyed by ref (the rarer paths);
// and for the whole ledger: ledgers, recorded failures (in log order) and the change feed (a
// counter and a ring of the newest changes, change_feed.h).
//
// An account lives on the shard ShardOf(its id) picks; a transfer record on its debit
// account's shard; an id's index entry on ShardOf(the id). A record is named by a Ref
// (ref.h): the shard in the bits above slot_bits_, its slot in that shard's table below, so
// one 32-bit value names a record on any shard (refs of one shard rise in its booking order;
// across shards, timestamps order them). A slot alone (uint32_t/uint64_t) is local to a shard.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <span>
#include <stop_token>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/cold.h"
#include "engine/engine.h"
#include "engine/internal/batch_plan.h"
#include "engine/internal/change_feed.h"
#include "engine/internal/hash_index.h"
#include "engine/internal/lane.h"
#include "engine/internal/ref.h"
#include "engine/internal/shard_pool.h"
#include "engine/internal/tables.h"
#include "engine/internal/virtual_array.h"
#include "engine/shard.h"
#include "engine/snapshot.h"
#include "engine/types.h"

namespace ledger::engine::internal {

class Hasher;  // state_hash.cc

class State {
 public:
  explicit State(const EngineOptions& options);
  // A view: applies events to `owner`'s tables on another thread, with its own chain state
  // and look-ahead buffers, and its index inserts, failures and changes deferred.
  struct View {};
  State(State& owner, View);
  ~State();

  void CreateLedgers(std::span<const Ledger> events, uint64_t timestamp_ns,
                     std::span<CreateLedgerResult> results);
  void CreateAccounts(std::span<const Account> events, uint64_t timestamp_ns,
                      std::span<CreateAccountResult> results);
  void CreateTransfers(std::span<const Transfer> events, uint64_t timestamp_ns,
                       std::span<CreateTransferResult> results);

  // Queries (queries.cc).
  std::optional<Ledger> LookupLedger(uint32_t ledger_id) const;
  size_t QueryLedgers(uint32_t from_id, std::span<Ledger> out) const;
  std::optional<Account> LookupAccount(AccountId id) const;
  std::optional<Transfer> LookupTransfer(TransferId id) const;
  std::optional<FailedTransfer> LookupFailedTransfer(TransferId id) const;
  PendingStatus GetPendingStatus(TransferId id) const;
  Amount GetPostedAmount(TransferId pending_id) const;
  Amount GetReversedAmount(TransferId id) const;
  size_t GetReversals(TransferId id, std::span<TransferId> out) const;
  std::optional<TransferStatus> GetTransferStatus(TransferId id) const;
  std::optional<PostedAtValueTime> GetPostedAtValueTime(AccountId id, uint64_t value_time_ns) const;
  size_t GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const;
  size_t GetAccountBalances(const AccountFilter& filter, std::span<AccountBalance> out) const;
  size_t QueryAccounts(const QueryFilter& filter, std::span<Account> out) const;
  size_t QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const;
  std::optional<AccountBalance> GetBalanceAsOf(AccountId id, uint64_t timestamp_ns) const;
  TrialBalance GetTrialBalance(uint32_t ledger_id) const;
  size_t GetChanges(uint64_t from_sequence, std::span<Change> out) const {
    return changes_.Get(from_sequence, change_sequence_next(), out);
  }
  // One change per stored transfer and per expiry, so the counter is derived, never stored.
  uint64_t change_sequence_next() const { return transfer_count() + expired_count_; }
  uint64_t change_sequence_oldest() const {
    return change_sequence_next() - changes_.retained_count();
  }
  StateHash ComputeStateHash() const;  // state_hash.cc
  // One shard's accounts, transfers and the failures it indexes, in its own order: equal
  // between engines with the same shard count and log, and different where they diverge.
  StateHash ComputeShardStateHash(uint32_t shard) const;
  uint32_t shard_count() const { return shard_count_; }

  // snapshot.cc
  void CaptureSnapshot(EngineSnapshot& image, const CaptureOptions& options) const;
  // On a fresh State: loads the sections, checking every record and reference.
  absl::Status Restore(std::span<const SnapshotSection> sections);
  EngineStats GetStats() const;
  uint64_t last_timestamp_ns() const { return last_timestamp_ns_; }
  std::optional<uint64_t> next_expiry_ns() const;
  bool HasRoomFor(uint64_t account_count, uint64_t transfer_count) const;

  // History beyond memory (cold.cc, engine/cold.h).
  void ExportCold(uint64_t before_ns, ColdFacts& facts);
  uint64_t ExportBoundary(uint64_t transfer_count) const;
  void EvictBefore(uint64_t before_ns);
  uint64_t cold_before_ns() const { return cold_before_ns_; }
  uint64_t exported_before_ns() const { return exported_before_ns_; }
  uint64_t hot_transfer_count() const;
  uint64_t evictable_before_ns() const {
    return live_images_.load(std::memory_order_acquire) == 0
               ? UINT64_MAX
               : images_borrow_from_ns_.load(std::memory_order_acquire);
  }

 private:
  // Per-event values computed a few events ahead in the transfer loop (transfers.cc).
  struct Prepared {
    uint32_t id_hash;
    uint32_t debit_hash;
    uint32_t credit_hash;
    Ref debit_ref;
    Ref credit_ref;
    uint8_t id_home;  // shards: of the id's index entry, of each account
    uint8_t debit_home;
    uint8_t credit_home;
  };
  // The three look-ahead stages of the transfer loop (transfers.cc); Prepare is Route (the
  // hashes and shards of the ids) then the index prefetches.
  void Prepare(std::span<const Transfer> events, size_t index) {
    Route(events[index], prepared_[index]);
    PrefetchIndexes(events, index);
  }
  void Route(const Transfer& event, Prepared& route) const;
  void PrefetchIndexes(std::span<const Transfer> events, size_t index) const;
  void PrefetchAccounts(size_t index) const;
  void Resolve(std::span<const Transfer> events, size_t index);

  // Inline: three per transfer, on the hot path.
  uint32_t HashId(uint64_t lo, uint64_t hi) const {
    const uint64_t hash = base::HashWords64(lo, hi, hash_seed_);
    return static_cast<uint32_t>(hash ^ (hash >> 32));
  }
  // A query index key: a field's value hashed with the field, so one index holds several.
  uint32_t HashQueryKey(QueryField field, uint64_t lo, uint64_t hi = 0) const {
    const uint64_t hash =
        base::HashWords64(lo, hi, hash_seed_ + static_cast<uint64_t>(field) * 0x9e3779b97f4a7c15);
    return static_cast<uint32_t>(hash ^ (hash >> 32));
  }
  // Calls visit(hash, same) for each of a record's indexed fields that is not zero, where
  // same(ref bits) tells whether the record there has the same value (QueryIndex's matches).
  // record_at(ref) reads a record of the table.
  template <typename Record, typename RecordAt, typename Visit>
  void ForEachQueryKey(const Record& record, RecordAt&& record_at, uint32_t field_count,
                       Visit&& visit) const;
  // The query indexes (queries.cc): a new record added to its shard's, or a rolled-back one
  // taken out (before its record is popped: the index reads it). IndexTransfer is on the
  // apply path: inline, below.
  void IndexAccount(Ref ref);
  void UnindexAccount(Ref ref);
  void IndexTransfer(Ref ref);
  void UnindexTransfer(Ref ref);
  // Queries over both sides of the cold boundary (queries.cc).
  struct HeldStatus {  // a reservation's
    PendingStatus status = PendingStatus::kPending;
    uint64_t expires_at_ns = 0;
    std::optional<Transfer> resolver;  // its post or void
  };
  HeldStatus GetHeldStatus(const Transfer& reservation) const;
  ColdReversals ReversalsOf(const Transfer& record) const;
  template <typename Filter, typename Record, typename ReadCold, typename ReadHot>
  size_t SplitAtBoundary(const Filter& filter, bool reversed, std::span<Record> out,
                         ReadCold&& read_cold, ReadHot&& read_hot) const;
  size_t GetHotAccountTransfers(Ref account_ref, const AccountFilter& filter,
                                std::span<Transfer> out) const;
  size_t GetHotAccountBalances(Ref account_ref, const AccountFilter& filter,
                               std::span<AccountBalance> out) const;
  // A query's candidates on one shard, walked in its order (queries.cc).
  template <typename Record>
  class QueryCursor;
  template <typename Record>
  std::vector<Ref> Query(const QueryFilter& filter, uint32_t limit) const;

  // An account's ref, or kNoRef.
  Ref FindAccountIn(uint32_t home, AccountId id, uint32_t hash) const;
  Ref FindAccount(AccountId id, uint32_t hash) const { return FindAccountIn(HomeOf(id), id, hash); }
  Ref FindAccount(AccountId id) const { return FindAccount(id, HashId(id.lo, id.hi)); }
  // A transfer index payload (a transfer ref's bits, or with kFailedBit a failure's index), or
  // HashIndex::kNotFound.
  // home: the shard holding the id's index entry (HomeOf), when the caller has it already.
  uint32_t FindTransferPayloadIn(uint32_t home, TransferId id, uint32_t hash) const;
  uint32_t FindTransferPayload(TransferId id, uint32_t hash) const {
    return FindTransferPayloadIn(HomeOf(id), id, hash);
  }
  Ref FindTransfer(TransferId id) const;  // a stored transfer's ref, or kNoRef

  // What a post or void reads of the reservation it names, from its record (in the window or
  // cold) or its kept state.
  struct ReservationView {
    AccountId debit_account_id;
    AccountId credit_account_id;
    Amount amount;
    uint32_t ledger;
    uint16_t code;
    uint16_t flags;
  };
  ReservationView ViewOf(const Transfer& record) const {
    return {record.debit_account_id,
            record.credit_account_id,
            record.amount,
            record.ledger,
            record.code,
            record.flags};
  }
  ReservationView ViewOf(const PendingState& state) const {
    return {account(state.debit_ref).id,
            account(state.credit_ref).id,
            state.amount,
            account(state.debit_ref).ledger,
            state.code,
            state.flags};
  }
  // The transfer or recorded failure with this id below the cold boundary, or nullopt.
  std::optional<ColdTransfer> FindCold(const TransferId& id) const {
    if (cold_before_ns_ == 0) return std::nullopt;
    return cold_->FindTransfer(id, cold_before_ns_);
  }
  std::optional<Transfer> FindColdTransfer(const TransferId& id) const {
    std::optional<ColdTransfer> cold = FindCold(id);
    if (!cold || cold->failure != CreateTransferResult::kOk) return std::nullopt;
    return cold->record;
  }
  // A stored transfer's record wherever it is (in the window or cold), or nullopt.
  std::optional<Transfer> FindAnyTransfer(const TransferId& id) const;
  // The state of a reservation whose record has left the window (a kKeptBits payload).
  const PendingState& KeptState(uint32_t payload, const TransferId& id) const {
    return shards_[payload & ~kKeptBits]->pending.at(id);
  }
  // The reversals of `id`, whose record is on `home`, in the window and cold: the sum and count.
  ColdReversals AllReversals(uint32_t home, const TransferId& id, bool cold) const;

  Balances GetBalances(Ref account_ref) const;
  // The same, written in place (a 64-byte result is returned through a copy); the pending
  // part, a map lookup for the few accounts with reservations outstanding, out of line.
  void WriteBalances(Ref account_ref, Balances& out) const;
  void WritePendingBalances(Ref account_ref, Balances& out) const;
  Account ToAccount(Ref account_ref) const;  // the public record
  // Inside a chain, logs an account's balances and flags so a rollback can restore them.
  // Inline: on the posting fast path this is one test of in_chain_.
  void LogAccountState(Ref account_ref) {
    if (!in_chain_) return;
    undo_.push_back({.kind = UndoEntry::Kind::kAccountState,
                     .flags = account(account_ref).flags,
                     .ref = account_ref,
                     .balances = GetBalances(account_ref)});
  }
  // Writes balances (and flags) back, logging the old values when inside a chain.
  void SetAccountState(Ref account_ref, const Balances& balances, uint16_t flags);
  void WriteAccountState(Ref account_ref, const Balances& balances, uint16_t flags);
  // For history accounts: appends the current balances, booked at timestamp_ns.
  void SnapshotBalances(Ref account_ref, uint64_t timestamp_ns);
  // The change feed, when changes_.enabled(): callers test it, and this is out of line, so
  // that with the feed off the apply path pays one test and keeps its registers. Appends a
  // change (staged inside a chain) with its two accounts' balances as they are now, numbered
  // by the counter as it is now: call it once the balances are written and before the
  // transfer is stored (or the expiry counted).
  void RecordChange(ChangeKind kind, const TransferId& transfer_id, uint64_t timestamp_ns,
                    Ref debit_ref, Ref credit_ref);

  void BeginBatch(uint64_t timestamp_ns, size_t event_count);
  // An import batch (docs/data-model.md, "Import"): its events carry their timestamps, below
  // timestamp_ns; it expires nothing (the next native batch books what came due).
  void BeginImportBatch(uint64_t timestamp_ns);
  template <typename Event>
  static bool IsImportBatch(std::span<const Event> events, uint16_t imported_flag) {
    return !events.empty() && (events[0].flags & imported_flag) != 0;
  }
  // An imported event's own timestamp: set, in the past (below its batch's) and storable;
  // else imported_event_timestamp_out_of_range.
  static bool IsImportedTimestampInRange(uint64_t timestamp_ns, uint64_t batch_timestamp_ns) {
    return timestamp_ns != 0 && timestamp_ns < batch_timestamp_ns &&
           timestamp_ns < kTimestampLimitNs;
  }
  void EndBatch();
  void ExpireReservations(uint64_t timestamp_ns);
  // Releases a reservation's pending balances and reopens the accounts it closed.
  void ReleaseReservation(const PendingState& pending, uint64_t timestamp_ns);

  // Chain driver shared by accounts and transfers: runs apply(i) for each event, handles
  // linked chains, rollback and open chains.
  template <typename Result, typename Event, typename Apply>
  void RunChains(std::span<const Event> events, std::span<Result> results, uint16_t linked_flag,
                 Apply&& apply);
  bool in_chain() const { return in_chain_; }
  void Rollback();
  // The change feed's side of a chain's end (a view keeps its own staging).
  void BeginChainChanges();
  void CommitChainChanges();
  void RollbackChainChanges();

  // The batch loop (transfers.cc): every event in log order on this thread, whichever shards
  // it touches, with the look-ahead stages below.
  void ApplyInOrder(std::span<const Transfer> events, uint64_t timestamp_ns,
                    std::span<CreateTransferResult> results);

  // Sharded transfer batches (parallel.cc); the phases run on every lane.
  void CreateTransfersSharded(std::span<const Transfer> events, uint64_t timestamp_ns,
                              std::span<CreateTransferResult> results);
  bool MostlyCrossLane(std::span<const Transfer> events) const;
  void RouteSlice(std::span<const Transfer> events, uint32_t slice);
  void PlanSlice(std::span<const Transfer> events, uint32_t slice);
  // Lanes (parallel.cc): shard s runs on lane s % lane_count_; a mask has a bit per lane.
  template <typename... Shards>
  uint16_t LanesOf(Shards... shards) const {
    return static_cast<uint16_t>((lane_bit_[shards] | ...));
  }
  // The footprint of a post, void or reversal: the lanes of the shards it touches.
  uint16_t ReferenceLanes(const Transfer& event, const Prepared& route) const;
  void ApplyLane(std::span<const Transfer> events, uint64_t timestamp_ns, uint32_t lane);
  // resolved: the events' accounts were looked up ahead (Resolve).
  void ApplyUnit(std::span<const Transfer> events, uint64_t timestamp_ns,
                 const BatchPlan::Unit& unit, bool resolved);
  void FinishLane(std::span<CreateTransferResult> results, uint32_t lane);
  // Owner, with every view idle: the views' failures (in log order), their index inserts.
  void FlushDeferredFailures();
  void FlushDeferredInserts();
  void InsertHeldBack(uint32_t shard);
  void MergeDeferredChanges();

  CreateLedgerResult CreateLedger(const Ledger& event, uint64_t timestamp_ns);
  // In an import batch whose timestamp is batch_timestamp_ns: booked at the event's own.
  CreateLedgerResult CreateImportedLedger(const Ledger& event, uint64_t batch_timestamp_ns);
  // The checks shared by native and imported ledgers, and by snapshot restore.
  static CreateLedgerResult ValidateLedgerFields(const Ledger& event);
  // After validation: the id lookup, then create (imported: timestamp_ns is the event's).
  CreateLedgerResult CreateValidLedger(const Ledger& event, uint64_t timestamp_ns);
  CreateAccountResult CreateAccount(const Account& event, uint64_t timestamp_ns);
  // In an import batch whose timestamp is batch_timestamp_ns: booked at the event's own.
  CreateAccountResult CreateImportedAccount(const Account& event, uint64_t batch_timestamp_ns);
  // After validation: the id lookup, then create (imported: timestamp_ns is the event's).
  CreateAccountResult CreateValidAccount(const Account& event, uint64_t timestamp_ns);
  // A native event: not imported, no timestamp, then its fields.
  static CreateAccountResult ValidateAccount(const Account& event);
  static CreateAccountResult ValidateAccountFields(const Account& event);

  // transfers.cc
  CreateTransferResult CreateTransfer(const Transfer& event, uint64_t timestamp_ns,
                                      const Prepared& prepared) {
    const CreateTransferResult result = ValidateTransfer(event);
    if (result != CreateTransferResult::kOk) return result;
    return CreateValidTransfer(event, timestamp_ns, prepared);
  }
  // Its steps after validation: the id lookup, then apply (or record the failure).
  CreateTransferResult CreateValidTransfer(const Transfer& event, uint64_t timestamp_ns,
                                           const Prepared& prepared);
  // Its steps after the id lookup found nothing: apply, or record the failure.
  CreateTransferResult CreateNewTransfer(const Transfer& event, uint64_t timestamp_ns,
                                         const Prepared& prepared);
  // A native event: not imported, no timestamp, then its fields (ValidateTransferFields).
  static CreateTransferResult ValidateTransfer(const Transfer& event);
  static CreateTransferResult ValidateTransferFields(const Transfer& event);
  // An import batch (transfers.cc): every event in log order on this thread, each booked at
  // its own timestamp.
  void ApplyImported(std::span<const Transfer> events, uint64_t timestamp_ns,
                     std::span<CreateTransferResult> results);
  CreateTransferResult CreateImportedTransfer(const Transfer& event, uint64_t batch_timestamp_ns,
                                              const Prepared& prepared);
  // An id already indexed (payload: a stored transfer, or a failure with kFailedBit): the
  // retry compared with what is there.
  CreateTransferResult CompareWithPayload(const Transfer& event, uint32_t payload) const;
  // The same for any payload or none, looking in the cold store below the window: kOk when the
  // id is new.
  CreateTransferResult CompareWithStored(const Transfer& event, uint32_t payload) const;
  CreateTransferResult CompareExisting(const Transfer& event, const Transfer& stored) const;
  // A later event with a failed id: kIdAlreadyFailed when identical, else as CompareExisting.
  CreateTransferResult CompareFailed(const Transfer& event, const FailureRecord& failed) const;
  // The field-by-field checks of both, in precedence order, against a stored transfer or (with
  // `failed`) a failed event.
  CreateTransferResult CompareFields(const Transfer& event, const Transfer& stored,
                                     bool failed) const;
  CreateTransferResult ApplyNew(const Transfer& event, uint64_t timestamp_ns,
                                const Prepared& prepared);
  // ApplyNew for what ApplyPosting leaves out (a reservation, balancing or closing flags, a
  // reversal, an account with pending balances): the checks on whole balances, then the effects.
  CreateTransferResult ApplyNewInFull(const Transfer& event, uint64_t timestamp_ns,
                                      const Prepared& prepared, uint32_t reversed_home);
  // A new reservation's state (from its record, just stored at transfer_ref), and its place in
  // the expiry queue if it has a timeout.
  void AddReservation(Ref transfer_ref, Ref debit_ref, Ref credit_ref, uint64_t expires_at_ns);
  // A reversal added to the sum and list of the transfer it reverses, whose record is on `home`.
  void AddReversal(uint32_t home, const TransferId& reversed_id, Ref reversal_ref, Amount amount);
  // History beyond memory (cold.cc): a record's facts copied out, or dropped from memory.
  // The position in `shard`'s ring of its first transfer not yet exported booked at or after
  // before_ns.
  uint64_t ExportEndIn(uint32_t shard, uint64_t before_ns) const;
  void ExportTransfer(uint32_t shard, uint64_t position, ColdFacts& facts) const;
  void ExportBalance(Ref account_ref, uint64_t timestamp_ns, ColdFacts& facts) const;
  // A fact leaving memory: a shard's transfer at a position, or (shard kShardsMax) the oldest
  // expiry.
  struct Eviction {
    uint32_t shard;
    uint64_t position;
  };
  // Fetches the accounts' records, which evicting it updates (its index entry is erased later,
  // in bucket order with the others; its histories' entries are not read).
  void PrefetchEviction(const Eviction& eviction) const;
  void EvictTransfer(uint32_t shard, uint64_t position);
  void EvictFailure();
  void EvictExpiry();
  // Drops a kept reservation's state once its post, void or expiry leaves the window too.
  void ForgetReservation(uint32_t home, const TransferId& id);
  void DropBalancesBefore(Ref account_ref, uint64_t before_ns);
  // The shard whose window holds the oldest transfer booked before before_ns, or kShardsMax.
  uint32_t OldestTransferShard(uint64_t from[], uint64_t end_of[], uint64_t before_ns) const;
  CreateTransferResult ApplyResolve(const Transfer& event, uint64_t timestamp_ns,
                                    const Prepared& prepared);
  // The reservation pending_id, whose state is on `home`, is posted (or voided) by the transfer
  // at resolver_ref. Inline (defined and only called in transfers.cc): out of line it cost a
  // post or void about 10 instructions more (callgrind, BM_ApplyPendingThenPost).
  inline void MarkResolved(uint32_t home, const TransferId& pending_id, Ref resolver_ref,
                           bool post);
  // On success, reversed_home is the shard of the reversed transfer's record (its sums').
  CreateTransferResult CheckReversal(const Transfer& event, uint32_t* reversed_home) const;
  // A post/void of a reservation whose record is cold and whose state is forgotten: it is not
  // found, not a reservation, or its post, void or expiry is cold too.
  CreateTransferResult ResolveCold(const Transfer& event) const;
  Amount ReservationAmount(const TransferId& id) const;  // a stored reservation's
  bool AmountMatches(const Transfer& event, const Transfer& stored) const;
  CreateTransferResult ApplyPosting(const Transfer& event, uint64_t timestamp_ns,
                                    const Prepared& prepared);
  // Stores the event as a record (booked, without kLinked, with the amount moved) and
  // indexes it; returns its ref.
  Ref AppendTransfer(const Transfer& event, uint64_t timestamp_ns, Amount amount, uint32_t id_hash,
                     Ref debit_ref);
  // Adds a stored transfer to both accounts' histories (and balance snapshots).
  void RecordHistory(Ref transfer_ref, Ref debit_ref, Ref credit_ref, uint64_t timestamp_ns);
  // Records a state-dependent failure of `event`, booked at timestamp_ns (deferred in a view).
  void RecordFailure(const Transfer& event, uint64_t timestamp_ns, uint32_t id_hash,
                     CreateTransferResult code);
  void AppendFailure(const FailureRecord& failure, uint32_t id_hash);  // and index its id

  // CaptureSnapshot's steps (snapshot.cc): the sections it builds, in section order.
  void CaptureAccounts(EngineSnapshot& image) const;  // and their balance history
  void CaptureReservations(EngineSnapshot& image) const;
  uint32_t TransferSectionIndex(Ref transfer_ref) const;  // kNoSlot for kNoRef
  uint32_t AccountSectionIndex(Ref account_ref) const;
  // The failures section's bytes: borrowed, or copied into the image when the ring wraps.
  // `borrow`: whether the image may borrow them (not when the window may be evicted under it).
  std::span<const std::byte> CaptureFailures(EngineSnapshot& image, bool borrow) const;
  // Returns the transfers section's bytes (empty with several shards: merged when written):
  // those booked after after_ns.
  std::span<const std::byte> CaptureTransfers(EngineSnapshot& image, uint64_t after_ns) const;

  // Restore steps (snapshot.cc), sharing a working set: the refs of the accounts and
  // transfers in section order, and each account's balances as its transfers say (`derived`,
  // [shard][slot]), to be compared with the balances the snapshot states.
  struct Restoring {
    std::vector<Ref> account_refs;
    std::vector<Ref> transfer_refs;
    std::vector<std::vector<Balances>> derived;
    uint64_t expired_states = 0;  // reservation states with status expired
  };
  Balances& DerivedOf(Restoring& restoring, Ref ref) const {
    return restoring.derived[shard_index_of(ref)][slot_of(ref)];
  }
  // Before the restore of `transfer_count` transfers: the id indexes sized for them, and their
  // tables' pages faulted in from another thread while they fill (until `stop`).
  uint64_t ShareOfShard(uint64_t count) const;
  void ReserveForRestore(uint64_t transfer_count, uint64_t failure_count);
  void PrefaultForRestore(uint64_t transfer_count, std::stop_token stop) const;
  absl::Status RestoreLedgers(std::span<const std::byte> bytes);
  absl::Status RestoreAccounts(std::span<const std::byte> bytes, Restoring& restoring);
  absl::Status RestoreTransfers(std::span<const std::span<const std::byte>> pieces,
                                Restoring& restoring);
  // RestoreTransfers' steps for one record: its ids' hashes (taken ahead, their index buckets
  // prefetched), its own fields checked, then what it names found and checked (`links`), then
  // stored with what derives from it.
  struct TransferHashes {
    uint32_t id, debit, credit;
  };
  struct TransferLinks {
    Ref debit, credit;
    uint32_t reversed_home;  // the reversed transfer's shard, or kNoSlot
  };
  TransferHashes HashAndPrefetch(const Transfer& record) const;
  absl::Status CheckTransferFields(const Transfer& transfer, uint64_t index,
                                   uint64_t previous_timestamp_ns) const;
  absl::Status FindTransferLinks(const Transfer& transfer, uint64_t index,
                                 const TransferHashes& hashes, TransferLinks& links) const;
  Ref StoreRestoredTransfer(const Transfer& transfer, uint32_t id_hash, const TransferLinks& links);
  absl::Status RestoreFailures(std::span<const std::byte> bytes);
  absl::Status RestoreReservations(std::span<const std::byte> bytes, Restoring& restoring);
  // RestoreReservations' steps for one record (refs: the transfers in section order).
  absl::Status CheckReservation(const ReservationRecord& record, uint64_t index,
                                const Restoring& restoring) const;
  void AddRestoredReservation(const ReservationRecord& record, Restoring& restoring);
  // Every expiry names a reservation that expired, no earlier than its deadline, in log order.
  absl::Status RestoreExpiries(std::span<const std::byte> bytes, const Restoring& restoring);
  absl::Status RestoreColdDigest(std::span<const std::byte> bytes, uint64_t cold_before_ns);
  absl::Status CheckRestoredAccounts(Restoring& restoring) const;
  absl::Status RestoreBalanceHistory(std::span<const std::byte> bytes, const Restoring& restoring);
  // Last: checks the window against the restored transfers, reservations and balances.
  absl::Status RestoreChanges(std::span<const std::span<const std::byte>> pieces,
                              const SnapshotMeta& meta, const Restoring& restoring);
  struct WindowCursor {  // what RestoreChanges has not yet taken of the window, from the end
    uint64_t transfer;   // index in Restoring::transfer_refs
    uint64_t expiry;     // position in expiries_
  };
  bool NextWindowChange(const std::vector<Ref>& refs, uint64_t window_begin, WindowCursor& window,
                        Change& change, Transfer& named) const;
  absl::Status NameHeldChange(const Change& change, uint64_t i, uint64_t oldest,
                              const std::vector<Ref>& refs, uint64_t window_begin, uint64_t& index,
                              Transfer& named) const;
  bool IsInLogOrder(const Change& previous, const Change& change) const;
  absl::Status UndoChange(Change& change, bool derived, const Transfer& transfer, size_t i,
                          RefMap<Balances>& running) const;

  // state_hash.cc: an account's part of the hashes, and the chains over the facts (each
  // digest the hash of the previous one and the fact), which eviction carries on over what
  // leaves memory and the hash over what is still here.
  void HashAccount(Hasher& hasher, Ref ref) const;
  static base::Hash128 ChainTransfer(const base::Hash128& digest, const Transfer& record);
  static base::Hash128 ChainFailure(const base::Hash128& digest, const FailureRecord& failure);
  static base::Hash128 ChainExpiry(const base::Hash128& digest, const TransferId& id,
                                   uint64_t timestamp_ns);

  // Expensive whole-state checks (LEDGER_EXPENSIVE_CHECKS builds): trial balance per ledger
  // and every limit, after each batch.
  void VerifyInvariants() const;

  // Refs (see the top of this file).
  // The shard of an account, or of a transfer id's index entry.
  template <typename Tag>
  uint32_t HomeOf(const Value128<Tag>& id) const {
    return shard_count_ == 1 ? 0 : ShardOf(AccountId{id.lo, id.hi}, shard_count_);
  }
  // The only place that joins a ref; shard_index_of and slot_of the only ones that split it.
  Ref MakeRef(uint32_t shard, uint64_t slot) const {
    return Ref::FromBits(shard << slot_bits_ | static_cast<uint32_t>(slot));
  }
  uint32_t shard_index_of(Ref ref) const { return ref.bits() >> slot_bits_; }
  uint64_t slot_of(Ref ref) const { return ref.bits() & slot_mask_; }
  Shard& shard_of(Ref ref) { return *shards_[shard_index_of(ref)]; }
  const Shard& shard_of(Ref ref) const { return *shards_[shard_index_of(ref)]; }
  AccountRecord& account(Ref ref) { return shard_of(ref).accounts[slot_of(ref)]; }
  const AccountRecord& account(Ref ref) const { return shard_of(ref).accounts[slot_of(ref)]; }
  Transfer& transfer(Ref ref) { return shard_of(ref).transfers[slot_of(ref)]; }
  const Transfer& transfer(Ref ref) const { return shard_of(ref).transfers[slot_of(ref)]; }
  PendingState& pending(Ref ref) { return shard_of(ref).pending.at(transfer(ref).id); }
  const PendingState& pending(Ref ref) const { return shard_of(ref).pending.at(transfer(ref).id); }
  // The reversals of a transfer whose record is on `home`, or null.
  const ReversalState* FindReversals(uint32_t home, const TransferId& id) const {
    const auto& reversals = shards_[home]->reversals;
    auto it = reversals.find(id);
    return it == reversals.end() ? nullptr : &it->second;
  }
  const ReversalState* FindReversals(Ref ref) const {
    return FindReversals(shard_index_of(ref), transfer(ref).id);
  }
  uint64_t account_count() const;
  uint64_t transfer_count() const;
  uint64_t pending_count() const;
  // Every account or transfer ref in creation (booking) order: the shards' tables merged by
  // timestamp. For hashing, snapshots and whole-ledger scans, never for the apply path.
  std::vector<Ref> AccountsInOrder() const;
  std::vector<Ref> TransfersInOrder() const;
  template <typename Table>
  std::vector<Ref> MergeByTimestamp(Table Shard::*table) const;

  uint64_t hash_seed_;
  uint64_t last_timestamp_ns_ = 0;
  uint32_t shard_count_;
  uint32_t lane_count_;                 // threads running the shards' batches: 1 to shard_count_
  uint16_t lane_bit_[kShardsMax] = {};  // shard -> the bit of its lane (no division per event)
  uint32_t in_order_cross_percent_;     // EngineOptions
  uint32_t slot_bits_;                  // 31 for one shard, 30 for two, ...
  uint32_t slot_mask_;

  std::vector<Ledger> ledgers_;
  absl::flat_hash_map<uint32_t, uint32_t> ledger_index_;  // ledger id -> ledgers_ index

  // A view (see the view constructor) borrows these three from its owner.
  std::unique_ptr<Shard> owned_shards_[kShardsMax];
  std::unique_ptr<RingArray<FailureRecord>> owned_failures_;
  std::unique_ptr<ChangeFeed> owned_changes_;
  Shard* shards_[kShardsMax] = {};
  RingArray<FailureRecord>& failures_;  // log order, whichever shard indexes the id
  uint64_t expired_count_ = 0;
  ChangeFeed& changes_;
  // History beyond memory (engine/cold.h): the owner's (a view never evicts).
  struct ExpiredRecord {
    TransferId id;
    uint64_t timestamp_ns;
    uint32_t shard;  // of the reservation's state
  };
  const ColdReader* cold_ = nullptr;
  uint64_t cold_before_ns_ = 0;      // facts booked before it have left memory (0: none)
  uint64_t exported_before_ns_ = 0;  // facts booked before it have been exported
  // Where the next export starts: each shard's transfer position, the failures' and expiries'.
  uint64_t export_transfer_[kShardsMax] = {};
  uint64_t export_failure_ = 0;
  uint64_t export_expiry_ = 0;
  std::unique_ptr<FactQueue<ExpiredRecord>> expiries_;  // log order (owner only)
  std::vector<Eviction> evictions_;  // EvictBefore's order, kept to reuse its memory
  // EvictBefore's index erasures by home shard (HashIndex::Erasure), made together at its end
  // in bucket order (HashIndex::EraseAll); kept to reuse their memory.
  std::vector<uint64_t> erasures_[kShardsMax];
  std::vector<uint64_t> erasure_scratch_;
  // Snapshot images alive (they borrow the window; see EngineSnapshot). Mutable: capturing is
  // const, and an image's end is seen from the thread that destroys it.
  mutable std::atomic<uint32_t> live_images_{0};
  // While images are alive: the least of their CaptureOptions::transfers_after_ns + 1 (set by
  // the engine's thread, the only one that captures; images are let go of on any thread).
  mutable std::atomic<uint64_t> images_borrow_from_ns_{0};
  // The state hash's chains over what left memory, in log order (state_hash.cc), and how many
  // transfers and failures left (the totals count them).
  ColdDigest cold_digest_;

  // Sharded batches (parallel.cc): the owner's views, one per lane, and the lane threads.
  std::vector<std::unique_ptr<State>> views_;
  std::unique_ptr<ShardPool> pool_;
  std::unique_ptr<Rendezvous> rendezvous_;
  BatchPlan plan_;
  // In a view: the owner, and the effects held back while shards run side by side.
  State* owner_ = nullptr;
  Deferred deferred_;
  bool defer_index_ = false;                   // index inserts and failures (see Deferred)
  bool defer_changes_ = false;                 // changes
  uint32_t event_index_ = 0;                   // the event being applied, for deferred failures
  std::vector<uint32_t> mine_;                 // a view's events in the phase at hand
  std::vector<CreateTransferResult> results_;  // a view's results (phase 3)
  uint64_t batch_change_base_ = 0;  // owner: the change sequence the batch's events start at

  bool in_chain_ = false;
  uint64_t chain_start_timestamp_ns_ = 0;  // last_timestamp_ns_ when the chain began (imports)
  std::vector<UndoEntry> undo_;
  std::vector<Prepared> prepared_;  // sized to the largest batch seen
  // Owner of a sharded engine: each event's hashes and shards (phase 1), read by every
  // lane; each view copies its own events' into prepared_, which only it writes (sharing
  // one array, the lanes' writes to neighbouring entries would fight over cache lines).
  std::vector<Prepared> routes_;
};

template <typename Record, typename RecordAt, typename Visit>
void State::ForEachQueryKey(const Record& record, RecordAt&& record_at, uint32_t field_count,
                            Visit&& visit) const {
  const auto same = [&record_at, &record](auto field) {
    return [&record_at, &record, field](uint32_t bits) {
      return record_at(Ref::FromBits(bits)).*field == record.*field;
    };
  };
  const UserData128 user_data_128 = record.user_data_128;
  if (!user_data_128.IsZero()) {
    visit(HashQueryKey(QueryField::kUserData128, user_data_128.lo, user_data_128.hi),
          same(&Record::user_data_128));
  }
  if (record.user_data_64 != 0) {
    visit(HashQueryKey(QueryField::kUserData64, record.user_data_64), same(&Record::user_data_64));
  }
  if (record.user_data_32 != 0) {
    visit(HashQueryKey(QueryField::kUserData32, record.user_data_32), same(&Record::user_data_32));
  }
  if (field_count < kAccountQueryFields) return;
  // Never zero in a record; zero in a query's probe (QueryShard) when not asked for.
  if (record.ledger != 0) {
    visit(HashQueryKey(QueryField::kLedger, record.ledger), same(&Record::ledger));
  }
  if (record.code != 0) visit(HashQueryKey(QueryField::kCode, record.code), same(&Record::code));
}

// Only user data is indexed (tables.h), which a post or void does not inherit from its
// reservation: the record is complete for the index as soon as AppendTransfer has written it.
inline void State::IndexTransfer(Ref ref) {
  QueryIndex& index = shard_of(ref).transfer_query;
  ForEachQueryKey(
      transfer(ref), [this](Ref other) -> const Transfer& { return transfer(other); },
      kTransferQueryFields, [&](uint32_t hash, auto&& same) { index.Add(hash, ref, same); });
}

}  // namespace ledger::engine::internal
