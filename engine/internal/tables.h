// The records and tables of one shard (State holds one Shard per shard): account records,
// reservation, reversal and expiry state, per-account history, and the undo entries a failed
// chain rolls back. Private to engine/.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "base/hash.h"
#include "engine/engine.h"
#include "engine/internal/hash_index.h"
#include "engine/internal/list_arena.h"
#include "engine/internal/query_index.h"
#include "engine/internal/ref.h"
#include "engine/internal/ring_array.h"
#include "engine/internal/virtual_array.h"
#include "engine/types.h"

namespace ledger::engine::internal {

// No slot or offset (the history arena's free lists, a snapshot's section indexes); a ref
// that names no record is kNoRef.
inline constexpr uint32_t kNoSlot = ~uint32_t{0};
// Transfer index payloads: a transfer ref's bits; or with kFailedBit a slot of failures_; or
// with both bits of kKeptBits the index of the shard keeping the state of a reservation whose
// record has left the hot window (engine/cold.h).
inline constexpr uint32_t kFailedBit = uint32_t{1} << 31;
inline constexpr uint32_t kKeptBits = kFailedBit | uint32_t{1} << 30;
inline bool IsKept(uint32_t payload) { return (payload & kKeptBits) == kKeptBits; }
// Slots of failures_ at most (they share 30 payload bits with kKeptBits' flag).
inline constexpr uint64_t kFailureSlotsMax = uint64_t{1} << 30;
// Records per table at most (refs are 31 bits); EngineOptions sets the actual limits.
inline constexpr uint32_t kSlotsMax = kFailedBit - 1;

// Asset codes: 1 to 16 chars of A-Z 0-9 . _ -, then NUL padding.
bool IsValidAssetCode(const char (&code)[kAssetCodeSizeBytes]);

// Internal account flag, never visible outside: the account has an entry in pending_balances_.
inline constexpr uint16_t kHasPendingBalances = 1 << 15;

// Hot fields (checked on every transfer) first, within the first 64 bytes.
struct AccountRecord {
  AccountId id;
  Amount debits_posted;
  Amount credits_posted;
  uint32_t ledger;
  uint32_t history_offset;  // into HistoryArena
  uint32_t history_count;
  uint16_t flags;                 // account_flags (minus kLinked) | kHasPendingBalances
  uint8_t history_capacity_log2;  // 0 = no block yet
  uint8_t reserved;
  UserData128 user_data_128;
  uint64_t user_data_64;
  uint64_t timestamp_ns;
  uint32_t user_data_32;
  uint16_t code;
  uint16_t reserved2;
};
static_assert(sizeof(AccountRecord) == 104 && offsetof(AccountRecord, user_data_128) == 64);

using Balances = AccountBalances;

struct PendingBalances {
  Amount debits, credits;
};

// The maps keyed by a transfer's id: a reservation's or a reversed transfer's state, which may
// outlive the record's place in the hot window.
struct TransferIdHash {
  size_t operator()(const TransferId& id) const {
    return static_cast<size_t>(base::HashWords64(id.lo, id.hi, 0));
  }
};
template <typename Value>
using TransferIdMap = absl::flat_hash_map<TransferId, Value, TransferIdHash>;

// A reservation's state, on its record's shard, keyed by its id. It holds what a release, a
// post or a void reads of the reservation, so none of them reads its record.
struct PendingState {
  Amount amount;
  uint64_t expires_at_ns = 0;  // 0 = never
  uint64_t booked_ns = 0;      // the reservation's timestamp
  Ref debit_ref;
  Ref credit_ref;
  Ref resolver_ref;    // the post/void transfer, or kNoRef
  uint16_t flags = 0;  // the reservation's transfer_flags (its closing flags matter)
  uint16_t code = 0;
  PendingStatus status = PendingStatus::kPending;
};

// A transfer's reversals, on its record's shard, keyed by its id.
struct ReversalState {
  Amount reversed;
  std::vector<Ref> reversal_refs;  // oldest first
};

// An account's balance snapshots in time order (account_flags::kHistory): a vector whose front
// the hot window drops (DropBefore), compacted once half of it is dropped.
class BalanceHistory {
 public:
  const AccountBalance* begin() const { return snapshots_.data() + head_; }
  const AccountBalance* end() const { return snapshots_.data() + snapshots_.size(); }
  size_t size() const { return snapshots_.size() - head_; }
  bool empty() const { return size() == 0; }
  const AccountBalance& operator[](size_t index) const { return snapshots_[head_ + index]; }
  AccountBalance& back() { return snapshots_.back(); }
  const AccountBalance& back() const { return snapshots_.back(); }
  void push_back(const AccountBalance& snapshot) { snapshots_.push_back(snapshot); }
  void pop_back() { snapshots_.pop_back(); }
  size_t capacity() const { return snapshots_.capacity(); }
  // Drops the snapshots taken before timestamp_ns.
  void DropBefore(uint64_t timestamp_ns) {
    while (head_ < snapshots_.size() && snapshots_[head_].timestamp_ns < timestamp_ns) ++head_;
    if (head_ * 2 < snapshots_.size()) return;
    snapshots_.erase(snapshots_.begin(), snapshots_.begin() + static_cast<ptrdiff_t>(head_));
    head_ = 0;
  }

 private:
  std::vector<AccountBalance> snapshots_;
  size_t head_ = 0;  // snapshots_ before it are dropped
};

// Facts in log order at positions [begin_position(), end_position()) of an unbounded sequence,
// the oldest dropped from the front: for the expiries, which one batch may add any number of (a
// RingArray would put a limit there).
template <typename T>
class FactQueue {
 public:
  uint64_t begin_position() const { return begin_; }
  uint64_t end_position() const { return begin_ + facts_.size(); }
  uint64_t size() const { return facts_.size(); }
  const T& at(uint64_t position) const { return facts_[position - begin_]; }
  void Append(const T& fact) { facts_.push_back(fact); }
  void DropFront() {
    facts_.pop_front();
    ++begin_;
  }

 private:
  std::deque<T> facts_;
  uint64_t begin_ = 0;
};

// Ordered by expiry, then booking: the order single-shard and sharded engines both release in.
// Booking timestamps are unique, so the id never decides.
struct ExpiryEntry {
  uint64_t expires_at_ns;
  uint64_t booked_ns;  // the reservation's timestamp
  TransferId id;
  friend bool operator>(const ExpiryEntry& a, const ExpiryEntry& b) {
    return std::pair(a.expires_at_ns, a.booked_ns) > std::pair(b.expires_at_ns, b.booked_ns);
  }
  friend bool operator<(const ExpiryEntry& a, const ExpiryEntry& b) { return b > a; }
};
using ExpiryQueue = std::priority_queue<ExpiryEntry, std::vector<ExpiryEntry>, std::greater<>>;

// Per-account lists of transfer refs (ListArena, list_arena.h), each list's place kept in its
// account's record.
class HistoryArena : public ListArena {
 public:
  using ListArena::Append;
  using ListArena::List;
  using ListArena::ListArena;
  using ListArena::PopFront;
  void Append(AccountRecord& account, Ref transfer) { Append(PlaceOf(account), transfer); }
  void PopBack(AccountRecord& account) { --account.history_count; }
  void PopFront(AccountRecord& account, Ref transfer) { PopFront(PlaceOf(account), transfer); }
  std::span<const uint32_t> List(const AccountRecord& account) const {  // ref bits
    return List(account.history_offset, account.history_count);
  }
  void PrefetchTail(const AccountRecord& account) const {
    PrefetchEntry(account.history_offset + account.history_count);
  }

 private:
  static Place PlaceOf(AccountRecord& account) {
    return {account.history_offset, account.history_count, account.history_capacity_log2};
  }
};

// A stored transfer's two accounts, in the slot beside its record's: what export and eviction
// read without an account lookup each. Bit 31 of each marks an account with
// account_flags::kHistory (refs are 31 bits), whose balance snapshots go with the transfer.
struct TransferAccounts {
  static constexpr uint32_t kHistoryBit = uint32_t{1} << 31;
  uint32_t debit, credit;
  Ref debit_ref() const { return Ref::FromBits(debit & ~kHistoryBit); }
  Ref credit_ref() const { return Ref::FromBits(credit & ~kHistoryBit); }
};

// The fields the query indexes hold (QueryIndex: one index per table, the fields hashed apart).
enum class QueryField : uint8_t { kUserData128 = 1, kUserData64, kUserData32, kLedger, kCode };
inline constexpr uint32_t kAccountQueryFields = 5;   // all of them
inline constexpr uint32_t kTransferQueryFields = 3;  // the user data

// One shard's tables. Maps are keyed by ref; every ref in them names a record of this shard.
struct alignas(64) Shard {  // aligned: shards' counters never share a cache line

  Shard(const EngineOptions& options, uint32_t shard_count, uint64_t slots_max);

  VirtualArray<AccountRecord> accounts;
  // The indexes are read by other shards' threads while this shard's thread appends records
  // and history (parallel.cc): each on cache lines of its own, so those writes do not evict
  // what the readers hold.
  alignas(64) HashIndex account_index;
  alignas(64) RefMap<PendingBalances> pending_balances;  // by account ref
  RefMap<BalanceHistory> balance_history;
  HistoryArena history;  // transfer refs, for this shard's accounts
  // Ledger-wide queries: this shard's accounts by user data, ledger and code; its transfers
  // by user data (ledger and code are scanned: indexing them too would cost every transfer
  // two more index updates for queries that a time range already narrows).
  QueryIndex account_query;

  // Those whose debit account is here, in booking order; positions count every transfer the
  // shard ever stored.
  RingArray<Transfer> transfers;
  RingArray<TransferAccounts> transfer_accounts;  // in step with transfers, slot for slot
  uint64_t transfers_max;                // EngineOptions::transfers_max, within what refs can name
  alignas(64) HashIndex transfer_index;  // ids placed here: transfer ref or failure index
  QueryIndex transfer_query;
  alignas(64) TransferIdMap<PendingState> pending;  // reservations stored here
  // The ids of those whose record is cold (index payload kKeptBits | this shard): what other
  // shards' threads confirm an index hit against. Changed only between batches (eviction), so
  // reading it while this shard's thread inserts into `pending` is safe.
  absl::flat_hash_set<TransferId, TransferIdHash> kept_ids;
  ExpiryQueue expiry_queue;
  TransferIdMap<ReversalState> reversals;  // transfers stored here that have reversals
  uint64_t pending_count = 0;
};

struct UndoEntry {
  enum class Kind : uint8_t {
    kAccountCreated,
    kAccountState,
    kTransferCreated,
    kHistoryAppended,
    kBalanceSnapshot,
    kPendingCreated,
    kPendingResolved,
    kReversalAdded,
  };
  Kind kind = Kind::kAccountCreated;
  PendingStatus status = PendingStatus::kNone;  // kPendingResolved: the status before
  uint16_t flags = 0;                           // kAccountState: the flags before
  Ref ref;                                      // the account or transfer
  uint32_t hash = 0;    // kAccountCreated / kTransferCreated: for the index erase
  Balances balances{};  // kAccountState: the balances before
  Amount amount{};      // kReversalAdded
  // kReversalAdded / kPendingResolved: the reversed transfer or the reservation, whose state
  // is on shard `hash`.
  TransferId id{};
};

}  // namespace ledger::engine::internal
