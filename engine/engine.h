// The ledger state machine: double-entry accounts and transfers in memory.
//
// Apply* functions are a pure, deterministic function of (state, batch, timestamp): no clock,
// no randomness, no I/O, and no result ever depends on hash-table layout. Replaying the same
// batches with the same timestamps reproduces the same results and the same ComputeStateHash().
//
// Timestamps: a batch carries timestamp_ns, which must exceed last_timestamp_ns(). Reservations
// whose expiry is at or before timestamp_ns expire first (booked at timestamp_ns); then event i
// is booked at timestamp_ns + 1 + i. So a batch of n events uses timestamps up to
// timestamp_ns + n, and the next batch must start above that. Stored timestamps are meant to
// stay below kTimestampLimitNs (types.h): value times and reservation deadlines are checked
// against it (value_time_out_of_range, overflows_timeout); batch timestamps, a server's clock,
// are far below it.
//
// Threading: an Engine is owned by one thread; nothing here is synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cold.h"
#include "engine/snapshot.h"
#include "engine/types.h"

namespace ledger::engine {

struct EngineOptions {
  // Memory is committed at construction for this many accounts and transfers (records,
  // indexes, history lists), so the apply path never waits for the kernel to fault pages in.
  // Past these the tables keep growing (indexes by doubling: a one-off pause proportional to
  // their size), so set them to the expected scale. Defaults suit tests and tools.
  uint64_t accounts_capacity = 1024;
  uint64_t transfers_capacity = 4096;
  // Hard limits: address space for this many records is reserved up front (it costs no
  // memory until used). Recorded failures count against transfers_max too (their table reserves
  // 160 bytes of address space per transfer: 43 GB more at the default). At most 2^31 - 1.
  uint64_t accounts_max = uint64_t{1} << 26;   // 7 GB of address space
  uint64_t transfers_max = uint64_t{1} << 28;  // 40 GB of address space
  // Seed of the hash that places ids in the indexes. Affects layout only, never results or
  // the state hash; a server should pick it at random to defeat hash flooding.
  uint64_t hash_seed = 0x5eed5eed5eed5eedULL;
  // Change feed (GetChanges): the most recent changes kept, in a ring committed at construction
  // (sizeof(Change) = 168 bytes each: 1 M changes = 168 MB). 0 = no feed; the sequence counter
  // still counts every change. At most kChangeFeedCapacityMax.
  uint64_t change_feed_capacity = 0;
  // Shards (docs/shards.md): accounts are spread over them by a stable hash of the id, and
  // batches of transfers run on shard_threads threads (shard s on thread s % shard_threads).
  // 1 to kShardsMax (engine/shard.h). Results and the state hash never depend on either.
  uint32_t shard_count = 1;
  // 0 = one per shard, at most one per core (more threads than cores would spin or sleep at
  // every cross-thread step). At most shard_count.
  uint32_t shard_threads = 0;
  // A transfer batch in which at least this percentage of events (sampled) names accounts of
  // two threads runs in order on one thread: there the threads would mostly hand each other
  // cross-thread units. Above 100: never (tests use it to keep the threads busy).
  uint32_t in_order_cross_percent = 30;
  // History beyond memory (engine/cold.h). 0: every transfer stays in memory, up to
  // transfers_max. Otherwise the window of transfers in memory holds at most about this many
  // (each shard's share rounded up to a power of two), and so does the window of recorded
  // failures; transfers_max no longer limits the total. The caller moves older
  // facts to a cold store (ExportCold, EvictBefore) before the window fills (HasRoomFor, which
  // checks both windows: a log whose transfers all fail fills the failures' window while
  // hot_transfer_count() stays at zero).
  uint64_t hot_transfers = 0;
  // Where the evicted facts are read back from; must outlive the engine. Needed before the
  // first EvictBefore.
  const ColdReader* cold = nullptr;
};

// 2^32 changes = 720 GB of ring: far past any memory, so a larger value is a typo.
inline constexpr uint64_t kChangeFeedCapacityMax = uint64_t{1} << 32;

struct StateHash {
  uint64_t low = 0;
  uint64_t high = 0;
  friend bool operator==(const StateHash&, const StateHash&) = default;
};

struct EngineStats {
  uint64_t ledger_count = 0;
  uint64_t account_count = 0;
  uint64_t transfer_count = 0;         // successful transfers retained
  uint64_t pending_count = 0;          // reservations still pending
  uint64_t failed_transfer_count = 0;  // events recorded with a state-dependent failure
  uint64_t expired_count = 0;          // reservations released by expiry, all time
  // Bytes held by each structure (records in use; indexes and maps by capacity).
  uint64_t account_record_bytes = 0;
  uint64_t account_index_bytes = 0;
  uint64_t transfer_record_bytes = 0;
  uint64_t transfer_index_bytes = 0;        // id index, shared with recorded failures
  uint64_t history_bytes = 0;               // per-account transfer lists
  uint64_t account_query_index_bytes = 0;   // QueryAccounts' index (user data, ledger, code)
  uint64_t transfer_query_index_bytes = 0;  // QueryTransfers' index (user data)
  uint64_t pending_bytes = 0;               // reservation state, pending balances, expiry queue
  // Failures (160 bytes each: the failed event and its code), reversals, balance snapshots,
  // ledgers.
  uint64_t other_bytes = 0;
  uint64_t change_feed_bytes = 0;  // the change ring, by capacity
};

namespace internal {
class State;
}

class Engine {
 public:
  explicit Engine(const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Each Create* applies one batch: results.size() must equal events.size(), and
  // timestamp_ns must exceed last_timestamp_ns() (both checked with LEDGER_ASSERT: a caller
  // bug). Every event gets a result; events rejected for any reason change nothing, except
  // that state-dependent transfer failures record the event (see CreateTransferResult).
  void CreateLedgers(std::span<const Ledger> events, uint64_t timestamp_ns,
                     std::span<CreateLedgerResult> results);
  void CreateAccounts(std::span<const Account> events, uint64_t timestamp_ns,
                      std::span<CreateAccountResult> results);
  void CreateTransfers(std::span<const Transfer> events, uint64_t timestamp_ns,
                       std::span<CreateTransferResult> results);

  // Lookups. Values are copies; nothing returned borrows engine memory.
  std::optional<Ledger> LookupLedger(uint32_t ledger_id) const;
  // The ledgers whose id is at least from_id, in id order, at most out.size(); returns the
  // count. Ledgers are few (one per asset book) and kept in creation order, so this walks them
  // all, keeping the out.size() lowest ids in a heap: O(ledgers * log(out.size())).
  size_t QueryLedgers(uint32_t from_id, std::span<Ledger> out) const;
  std::optional<Account> LookupAccount(AccountId id) const;
  std::optional<Transfer> LookupTransfer(TransferId id) const;
  // A transfer id whose first attempt failed with a state-dependent code (IsRecordedFailure):
  // the failed event and that code; nullopt when the id is unknown or names a stored transfer.
  // This is how a client that got kIdAlreadyFailed learns what the first attempt got.
  std::optional<FailedTransfer> LookupFailedTransfer(TransferId id) const;
  PendingStatus GetPendingStatus(TransferId id) const;
  // Holds you can see: nullopt when no transfer has this id.
  std::optional<TransferStatus> GetTransferStatus(TransferId id) const;
  // For a post_pending transfer record: the amount posted is its `amount`; this is for the
  // reservation itself: how much of it has been posted (zero unless kPosted).
  Amount GetPostedAmount(TransferId pending_id) const;
  // Sum of the amounts of all reversals of `id` (never exceeds its amount).
  Amount GetReversedAmount(TransferId id) const;
  // The reversals of `id`, oldest first; returns how many were written (at most out.size()).
  size_t GetReversals(TransferId id, std::span<TransferId> out) const;

  // The account's transfers in time order (or newest first with filter_flags::kReversed).
  // Returns how many were written to `out`.
  size_t GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const;
  // For accounts with account_flags::kHistory: balances after each change (transfer or
  // expiry). Time range, order and limit as above; side and code filters do not apply.
  size_t GetAccountBalances(const AccountFilter& filter, std::span<AccountBalance> out) const;
  // Ledger-wide queries (QueryFilter): the accounts or transfers whose fields match, in booking
  // order (newest first when reversed), at most filter.limit and out.size(); returns the count.
  // Indexed by user data (and accounts by ledger and code too): a filter naming one of those
  // costs a hash lookup, two binary searches and the records read up to the limit. A transfer
  // filter with only ledger, code or a time range scans the transfers in the range in order,
  // so its cost is the transfers skipped before the page fills (docs/data-model.md).
  size_t QueryAccounts(const QueryFilter& filter, std::span<Account> out) const;
  size_t QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const;
  // Balances as they were right after the last change at or before timestamp_ns; nullopt when
  // the account does not exist, has no history flag, or did not exist yet at that time.
  std::optional<AccountBalance> GetBalanceAsOf(AccountId id, uint64_t timestamp_ns) const;
  // Posted balances as of a value time: the sums of the account's postings (plain transfers,
  // posts, reversals, balancing transfers as booked) whose value time (ValueTimeOf) is at or
  // before value_time_ns, whatever their booking time; reservations and voids move nothing
  // posted. At the end of time it equals the account's posted balances. Costs one pass over
  // the account's history (O(transfers of the account)); nullopt when there is no account.
  std::optional<PostedAtValueTime> GetPostedAtValueTime(AccountId id, uint64_t value_time_ns) const;

  // Sums over every account of a ledger (zero counts if the ledger has none).
  TrialBalance GetTrialBalance(uint32_t ledger_id) const;

  // The change feed (docs/data-model.md, "Change feed"): one change per successful transfer and
  // per expiry, in log order, numbered densely from 0 since genesis; the newest
  // EngineOptions::change_feed_capacity of them are retained.
  //
  // Changes with sequence >= from_sequence, oldest first, at most out.size(); returns the count.
  // Nothing when from_sequence is below change_sequence_oldest() (the caller reports that).
  size_t GetChanges(uint64_t from_sequence, std::span<Change> out) const;
  uint64_t change_sequence_next() const;    // changes since genesis = the next sequence
  uint64_t change_sequence_oldest() const;  // oldest sequence still retained (== next when empty)

  // XXH3-128 over a canonical serialisation of the whole logical state (ledgers, accounts,
  // transfers, reservation states, reversal sums, recorded failures (event and code), balance
  // history, the change sequence counter and the last timestamp), in creation order. Equal states
  // give equal hashes whatever the layout. The retained changes are not hashed: which ones are
  // retained depends on change_feed_capacity, a setting, and their content follows from the log.
  StateHash ComputeStateHash() const;
  // Per shard (shard_count of them): each shard's accounts, transfers and the failures whose
  // ids it indexes, hashed in its own order. Comparable between engines with the same shard
  // count, where they tell which shards diverge; the whole-state hash above is the same for
  // any count.
  std::vector<StateHash> ComputeShardStateHashes() const;

  // A consistent image of the whole state, for a snapshot (engine/snapshot.h). Short: copies
  // the mutable parts and borrows the rest; this engine must outlive the image. `options`
  // leaves out what an earlier snapshot's extents already hold. `reuse`: an image let go of
  // (EngineSnapshot::Release) whose buffers this one may take over.
  std::unique_ptr<EngineSnapshot> CaptureSnapshot(
      const CaptureOptions& options = {}, std::unique_ptr<EngineSnapshot> reuse = nullptr) const;
  // Rebuilds an engine from snapshot sections. Never trusts them: checks every record and
  // reference and re-derives every balance from the transfers; DataLoss when inconsistent.
  // The change feed goes on with the snapshot's sequence and window (its newest
  // options.change_feed_capacity changes when that is smaller).
  static absl::StatusOr<std::unique_ptr<Engine>> Restore(const EngineOptions& options,
                                                         std::span<const SnapshotSection> sections);
  // The same into `fresh`, an engine nothing was applied to, built with the options a restore
  // would take: building commits and faults in its tables (a second for a server's), which
  // can then overlap the reading of the snapshot's files.
  static absl::StatusOr<std::unique_ptr<Engine>> Restore(std::unique_ptr<Engine> fresh,
                                                         std::span<const SnapshotSection> sections);

  uint64_t last_timestamp_ns() const;
  // The earliest deadline of a reservation that may still be pending (one resolved since may
  // leave its deadline here until a batch passes it). Any batch at or after it releases what
  // is due, an empty CreateTransfers batch included: that is how a server expires reservations
  // on a quiet ledger, through the log like any batch.
  std::optional<uint64_t> next_expiry_ns() const;
  // Whether the tables can take this many more accounts and transfers. Callers that accept
  // untrusted batches (the server) check it first and refuse with a clear error; the engine
  // treats running past its tables as a bug. The tables hold 2^31 - 1 records each, far past
  // what memory allows, so in practice memory is the limit to configure.
  bool HasRoomFor(uint64_t account_count, uint64_t transfer_count) const;
  EngineStats GetStats() const;

  // History beyond memory (engine/cold.h). Copies into `facts` the facts booked from the end
  // of the previous export up to before_ns (exclusive), at most last_timestamp_ns() + 1.
  void ExportCold(uint64_t before_ns, ColdFacts& facts);
  // The boundary for ExportCold that exports the next transfer_count transfers not yet
  // exported (last_timestamp_ns() + 1 when no more are left): runs of a bounded size where no
  // batch says where to cut (a window restored from a snapshot).
  uint64_t ExportBoundary(uint64_t transfer_count) const;
  // Forgets the facts booked before before_ns, which must all have been exported, and which
  // EngineOptions::cold must now hold. Results, queries and the state hash stay the same. No
  // snapshot image may borrow them (it borrows the window, whose slots eviction frees for reuse):
  // before_ns is at most evictable_before_ns().
  void EvictBefore(uint64_t before_ns);
  uint64_t cold_before_ns() const;      // facts booked before it are cold (0: none)
  uint64_t exported_before_ns() const;  // facts booked before it have been exported
  uint64_t hot_transfer_count() const;  // transfers in memory
  // How far EvictBefore may go while the snapshot images alive borrow the window (each from
  // its CaptureOptions::transfers_after_ns on); UINT64_MAX when none is alive.
  uint64_t evictable_before_ns() const;

 private:
  explicit Engine(std::unique_ptr<internal::State> state);
  std::unique_ptr<internal::State> state_;
};

}  // namespace ledger::engine
