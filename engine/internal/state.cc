#include "engine/internal/state.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>

#include "engine/internal/chains.h"
namespace ledger::engine::internal {

namespace {

// A list of n entries has held blocks of 4, 8, ... up to 2n, so even if no freed block were
// ever reused an arena needs at most 4 entries per entry. Offsets are 32 bits, which bounds
// records_max * lists_per_record to 2^30 for a guarantee.
uint64_t ListEntriesMax(uint64_t records_max, uint32_t lists_per_record) {
  return std::min<uint64_t>(uint64_t{1} << 32,
                            4 * lists_per_record * std::min<uint64_t>(records_max, kSlotsMax) + 64);
}

uint32_t LaneCount(const EngineOptions& options) {
  const uint32_t cores = std::max(1u, std::thread::hardware_concurrency());
  const uint32_t lanes =
      options.shard_threads != 0 ? options.shard_threads : std::min(options.shard_count, cores);
  LEDGER_ASSERT(lanes >= 1 && lanes <= options.shard_count, lanes, options.shard_count);
  return lanes;
}

}  // namespace

bool IsValidAssetCode(const char (&code)[kAssetCodeSizeBytes]) {
  size_t length = 0;
  while (length < kAssetCodeSizeBytes && code[length] != '\0') {
    char c = code[length];
    bool allowed =
        (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!allowed) return false;
    ++length;
  }
  if (length == 0) return false;
  for (size_t i = length; i < kAssetCodeSizeBytes; ++i) {
    if (code[i] != '\0') return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// State: construction, hashing, balances

// The transfers a shard's lists may have named at once, for the arenas' address space. With a
// hot window the lists lose entries and regrow, and freed blocks wait for a list of their size:
// the address space is reserved to the arenas' 32-bit limit (memory follows what is used).
uint64_t ListedTransfersMax(const EngineOptions& options, uint64_t slots_max) {
  return options.hot_transfers == 0 ? std::min(options.transfers_max, slots_max) : kSlotsMax;
}

// Each shard's window of transfers: all of transfers_max, or its share of hot_transfers.
uint64_t TransfersWindow(const EngineOptions& options, uint32_t shard_count, uint64_t slots_max) {
  const uint64_t window = options.hot_transfers == 0
                              ? options.transfers_max
                              : (options.hot_transfers + shard_count - 1) / shard_count;
  return std::min(window, slots_max);
}

Shard::Shard(const EngineOptions& options, uint32_t shard_count, uint64_t slots_max)
    : accounts(std::min(options.accounts_max, slots_max)),
      account_index(options.accounts_capacity / shard_count),
      history(ListEntriesMax(ListedTransfersMax(options, slots_max), 2)),
      account_query(options.accounts_capacity / shard_count,
                    ListEntriesMax(std::min(options.accounts_max, slots_max), kAccountQueryFields)),
      transfers(TransfersWindow(options, shard_count, slots_max)),
      transfer_accounts(TransfersWindow(options, shard_count, slots_max)),
      transfers_max(TransfersWindow(options, shard_count, slots_max)),
      transfer_index(options.transfers_capacity / shard_count),
      transfer_query(options.transfers_capacity / shard_count,
                     ListEntriesMax(ListedTransfersMax(options, slots_max), kTransferQueryFields)) {
  // Placement is a hash, so shards fill evenly; a shard past its share faults pages in.
  accounts.Prefault(options.accounts_capacity / shard_count);
  transfers.Prefault(options.transfers_capacity / shard_count);
  // Two entries per transfer, plus the doubling slack of the lists.
  history.Prefault(3 * options.transfers_capacity / shard_count);
}

State::State(const EngineOptions& options)
    : hash_seed_(options.hash_seed),
      shard_count_(options.shard_count),
      lane_count_(LaneCount(options)),
      in_order_cross_percent_(options.in_order_cross_percent),
      slot_bits_(31 - static_cast<uint32_t>(std::bit_width(options.shard_count - 1))),
      slot_mask_((uint32_t{1} << slot_bits_) - 1),
      owned_failures_(std::make_unique<RingArray<FailureRecord>>(std::min<uint64_t>(
          options.hot_transfers == 0 ? options.transfers_max : options.hot_transfers,
          kFailureSlotsMax))),
      owned_changes_(std::make_unique<ChangeFeed>(options.change_feed_capacity)),
      failures_(*owned_failures_),
      changes_(*owned_changes_),
      cold_(options.cold),
      expiries_(std::make_unique<FactQueue<ExpiredRecord>>()) {
  LEDGER_ASSERT(shard_count_ >= 1 && shard_count_ <= kShardsMax, shard_count_);
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    lane_bit_[shard] = static_cast<uint16_t>(1u << (shard % lane_count_));
  }
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    owned_shards_[shard] = std::make_unique<Shard>(options, shard_count_, slot_mask_);
    shards_[shard] = owned_shards_[shard].get();
  }
  undo_.reserve(1024);
  if (lane_count_ == 1) return;  // one thread: the single-shard loop, on every shard's tables
  for (uint32_t lane = 0; lane < lane_count_; ++lane) {
    views_.push_back(std::make_unique<State>(*this, View{}));
  }
  plan_.slices.resize(lane_count_);
  rendezvous_ = std::make_unique<Rendezvous>(lane_count_);
  pool_ = std::make_unique<ShardPool>(lane_count_);
}

State::State(State& owner, View)
    : hash_seed_(owner.hash_seed_),
      shard_count_(owner.shard_count_),
      lane_count_(owner.lane_count_),
      in_order_cross_percent_(owner.in_order_cross_percent_),
      slot_bits_(owner.slot_bits_),
      slot_mask_(owner.slot_mask_),
      failures_(owner.failures_),
      changes_(owner.changes_),
      cold_(owner.cold_),
      owner_(&owner),
      defer_index_(true),
      defer_changes_(true) {
  std::copy(std::begin(owner.shards_), std::end(owner.shards_), std::begin(shards_));
  std::copy(std::begin(owner.lane_bit_), std::end(owner.lane_bit_), std::begin(lane_bit_));
  undo_.reserve(1024);
}

State::~State() = default;

Ref State::FindAccountIn(uint32_t home, AccountId id, uint32_t hash) const {
  const Shard& shard = *shards_[home];
  // The account index holds slots local to its shard.
  uint32_t slot =
      shard.account_index.Find(hash, [&](uint32_t s) { return shard.accounts[s].id == id; });
  return slot == HashIndex::kNotFound ? kNoRef : MakeRef(home, slot);
}

uint32_t State::FindTransferPayloadIn(uint32_t home, TransferId id, uint32_t hash) const {
  return shards_[home]->transfer_index.Find(hash, [&](uint32_t payload) {
    if ((payload & kFailedBit) == 0) return transfer(Ref::FromBits(payload)).id == id;
    if (IsKept(payload)) return shards_[payload & ~kKeptBits]->kept_ids.contains(id);
    return failures_[payload & ~kFailedBit].event.id == id;
  });
}

Ref State::FindTransfer(TransferId id) const {
  uint32_t payload = FindTransferPayload(id, HashId(id.lo, id.hi));
  if (payload == HashIndex::kNotFound || (payload & kFailedBit) != 0) return kNoRef;
  return Ref::FromBits(payload);
}

uint64_t State::account_count() const {
  uint64_t count = 0;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) count += shards_[shard]->accounts.size();
  return count;
}

uint64_t State::transfer_count() const {
  uint64_t count = cold_digest_.transfer_count;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    count += shards_[shard]->transfers.size();
  }
  return count;
}

uint64_t State::pending_count() const {
  uint64_t count = 0;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) count += shards_[shard]->pending_count;
  return count;
}

// Merges the shards' tables (accounts or transfers), each in timestamp order, into one list
// of refs.
template <typename Table>
std::vector<Ref> State::MergeByTimestamp(Table Shard::*table) const {
  uint64_t total = 0;
  uint64_t next[kShardsMax] = {};  // each shard's next position
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    total += (shards_[shard]->*table).size();
    next[shard] = (shards_[shard]->*table).begin_position();
  }
  std::vector<Ref> refs;
  refs.reserve(total);
  while (refs.size() < total) {
    uint32_t best = kShardsMax;
    uint64_t best_ns = 0;
    for (uint32_t shard = 0; shard < shard_count_; ++shard) {
      const Table& records = shards_[shard]->*table;
      if (next[shard] == records.end_position()) continue;
      const uint64_t ns = records.at(next[shard]).timestamp_ns;
      if (best == kShardsMax || ns < best_ns) best = shard, best_ns = ns;
    }
    const Table& records = shards_[best]->*table;
    refs.push_back(MakeRef(best, records.slot_of(next[best]++)));
  }
  return refs;
}

std::vector<Ref> State::AccountsInOrder() const { return MergeByTimestamp(&Shard::accounts); }
std::vector<Ref> State::TransfersInOrder() const { return MergeByTimestamp(&Shard::transfers); }

Balances State::GetBalances(Ref account_ref) const {
  const AccountRecord& account = this->account(account_ref);
  Balances balances{{}, account.debits_posted, {}, account.credits_posted};
  if ((account.flags & kHasPendingBalances) != 0) {
    const PendingBalances& pending = shard_of(account_ref).pending_balances.at(account_ref);
    balances.debits_pending = pending.debits;
    balances.credits_pending = pending.credits;
  }
  return balances;
}

void State::WritePendingBalances(Ref account_ref, Balances& out) const {
  const PendingBalances& pending = shard_of(account_ref).pending_balances.at(account_ref);
  out.debits_pending = pending.debits;
  out.credits_pending = pending.credits;
}

// GetBalances' logic again, for the change feed's record; GetBalances keeps its own copy: the
// reservation paths call it several times per event, with its map lookup inlined.
void State::WriteBalances(Ref account_ref, Balances& out) const {
  const AccountRecord& account = this->account(account_ref);
  out.debits_posted = account.debits_posted;
  out.credits_posted = account.credits_posted;
  out.debits_pending = out.credits_pending = {};
  if ((account.flags & kHasPendingBalances) != 0) WritePendingBalances(account_ref, out);
}

void State::WriteAccountState(Ref account_ref, const Balances& balances, uint16_t flags) {
  AccountRecord& account = this->account(account_ref);
  account.debits_posted = balances.debits_posted;
  account.credits_posted = balances.credits_posted;
  if (!balances.debits_pending.IsZero() || !balances.credits_pending.IsZero()) {
    shard_of(account_ref).pending_balances[account_ref] = {balances.debits_pending,
                                                           balances.credits_pending};
    flags |= kHasPendingBalances;
  } else {
    if ((account.flags & kHasPendingBalances) != 0)
      shard_of(account_ref).pending_balances.erase(account_ref);
    flags &= static_cast<uint16_t>(~kHasPendingBalances);
  }
  account.flags = flags;
}

void State::SetAccountState(Ref account_ref, const Balances& balances, uint16_t flags) {
  LogAccountState(account_ref);
  WriteAccountState(account_ref, balances, flags);
}

void State::SnapshotBalances(Ref account_ref, uint64_t timestamp_ns) {
  if ((account(account_ref).flags & account_flags::kHistory) == 0) return;
  const Balances balances = GetBalances(account_ref);
  const AccountBalance snapshot{
      balances.debits_pending, balances.debits_posted, balances.credits_pending,
      balances.credits_posted, timestamp_ns,           0};
  BalanceHistory& snapshots = shard_of(account_ref).balance_history[account_ref];
  // Several expiries in one batch share its timestamp: keep one entry per timestamp, so
  // timestamps stay unique per account and cursor pagination never skips. (Events have
  // unique timestamps, so this never happens inside a chain.)
  if (!snapshots.empty() && snapshots.back().timestamp_ns == timestamp_ns) {
    LEDGER_ASSERT(!in_chain_, timestamp_ns);
    snapshots.back() = snapshot;
    return;
  }
  snapshots.push_back(snapshot);
  if (in_chain_) undo_.push_back({.kind = UndoEntry::Kind::kBalanceSnapshot, .ref = account_ref});
}

void State::RecordChange(ChangeKind kind, const TransferId& transfer_id, uint64_t timestamp_ns,
                         Ref debit_ref, Ref credit_ref) {
  // Field by field: an aggregate assignment builds (and memsets) a temporary first.
  // Deferred: numbered when the batch's changes are merged in log order (MergeDeferred).
  Change& change = defer_changes_ ? deferred_.changes.emplace_back() : changes_.Append(in_chain_);
  change.sequence = defer_changes_ ? 0 : change_sequence_next();
  change.timestamp_ns = timestamp_ns;
  change.transfer_id = transfer_id;
  change.kind = kind;
  std::memset(change.reserved, 0, sizeof(change.reserved));
  WriteBalances(debit_ref, change.debit_balance);
  WriteBalances(credit_ref, change.credit_balance);
}

// ---------------------------------------------------------------------------------------------
// Batches, expiry, rollback

void State::BeginBatch(uint64_t timestamp_ns, size_t event_count) {
  LEDGER_REQUIRE(timestamp_ns > last_timestamp_ns_, timestamp_ns, last_timestamp_ns_);
  LEDGER_REQUIRE(event_count < ~uint64_t{0} - timestamp_ns, timestamp_ns, event_count);
  ExpireReservations(timestamp_ns);
  last_timestamp_ns_ = timestamp_ns + event_count;
}

void State::BeginImportBatch(uint64_t timestamp_ns) {
  LEDGER_REQUIRE(timestamp_ns > last_timestamp_ns_, timestamp_ns, last_timestamp_ns_);
  // No expiry: imported events are booked in the past, before timestamp_ns, and a release
  // booked at timestamp_ns would come before them in no order at all. What came due is
  // released by the next native batch (or expiry tick), at its timestamp, which exceeds every
  // imported one. last_timestamp_ns_ advances event by event (CreateImported*).
}

void State::EndBatch() {
#if defined(LEDGER_EXPENSIVE_CHECKS)
  VerifyInvariants();
#endif
}

void State::ReleaseReservation(const PendingState& pending, uint64_t timestamp_ns) {
  for (uint32_t side = 0; side < 2; ++side) {
    const Ref account_ref = side == 0 ? pending.debit_ref : pending.credit_ref;
    Balances balances = GetBalances(account_ref);
    Amount& pending_balance = side == 0 ? balances.debits_pending : balances.credits_pending;
    LEDGER_ASSERT(CheckedSub(pending_balance, pending.amount, &pending_balance),
                  account_ref.bits());
    const uint16_t closing =
        side == 0 ? transfer_flags::kClosingDebit : transfer_flags::kClosingCredit;
    uint16_t flags = account(account_ref).flags;
    if ((pending.flags & closing) != 0) flags &= static_cast<uint16_t>(~account_flags::kClosed);
    SetAccountState(account_ref, balances, flags);
    SnapshotBalances(account_ref, timestamp_ns);
  }
}

std::optional<uint64_t> State::next_expiry_ns() const {
  std::optional<uint64_t> next;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    const ExpiryQueue& queue = shards_[shard]->expiry_queue;
    if (!queue.empty() && (!next || queue.top().expires_at_ns < *next)) {
      next = queue.top().expires_at_ns;
    }
  }
  return next;
}

void State::ExpireReservations(uint64_t timestamp_ns) {
  while (true) {
    // The earliest due entry over all shards: the order one shard would release them in.
    Shard* next = nullptr;
    uint32_t next_index = 0;
    for (uint32_t shard = 0; shard < shard_count_; ++shard) {
      const ExpiryQueue& queue = shards_[shard]->expiry_queue;
      if (queue.empty() || queue.top().expires_at_ns > timestamp_ns) continue;
      if (next == nullptr || queue.top() < next->expiry_queue.top()) {
        next = shards_[shard];
        next_index = shard;
      }
    }
    if (next == nullptr) return;
    const ExpiryEntry entry = next->expiry_queue.top();
    next->expiry_queue.pop();
    // Entries are removed lazily: skip reservations resolved or rolled back since (a rolled
    // back id may have been booked again since: hence the booking time).
    auto it = next->pending.find(entry.id);
    if (it == next->pending.end() || it->second.status != PendingStatus::kPending ||
        it->second.expires_at_ns != entry.expires_at_ns ||
        it->second.booked_ns != entry.booked_ns) {
      continue;
    }
    ReleaseReservation(it->second, timestamp_ns);
    expiries_->Append({entry.id, timestamp_ns, next_index});
    if (changes_.enabled()) {
      RecordChange(ChangeKind::kExpired, entry.id, timestamp_ns, it->second.debit_ref,
                   it->second.credit_ref);
    }
    it->second.status = PendingStatus::kExpired;
    --next->pending_count;
    ++expired_count_;
  }
}

void State::Rollback() {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    const UndoEntry& entry = *it;
    Shard& shard = shard_of(entry.ref);
    switch (entry.kind) {
      case UndoEntry::Kind::kAccountCreated:
        UnindexAccount(entry.ref);
        shard.account_index.Erase(entry.hash, static_cast<uint32_t>(slot_of(entry.ref)));
        shard.accounts.PopBack();
        break;
      case UndoEntry::Kind::kAccountState:
        WriteAccountState(entry.ref, entry.balances, entry.flags);
        break;
      case UndoEntry::Kind::kTransferCreated:
        UnindexTransfer(entry.ref);
        if (defer_index_) {
          deferred_.inserts[HomeOf(transfer(entry.ref).id)].pop_back();
        } else {
          shards_[HomeOf(transfer(entry.ref).id)]->transfer_index.Erase(entry.hash,
                                                                        entry.ref.bits());
        }
        shard.transfers.PopBack();
        shard.transfer_accounts.PopBack();
        break;
      case UndoEntry::Kind::kHistoryAppended:
        shard.history.PopBack(account(entry.ref));
        break;
      case UndoEntry::Kind::kBalanceSnapshot: {
        auto snapshots = shard.balance_history.find(entry.ref);
        snapshots->second.pop_back();
        if (snapshots->second.empty()) shard.balance_history.erase(snapshots);
        break;
      }
      case UndoEntry::Kind::kPendingCreated:
        shard.pending.erase(transfer(entry.ref).id);
        --shard.pending_count;
        break;
      case UndoEntry::Kind::kPendingResolved: {
        PendingState& state = shards_[entry.hash]->pending.at(entry.id);
        state.status = entry.status;
        state.resolver_ref = kNoRef;
        ++shards_[entry.hash]->pending_count;
        break;
      }
      case UndoEntry::Kind::kReversalAdded: {
        auto& reversals = shards_[entry.hash]->reversals;
        auto reversal = reversals.find(entry.id);
        reversal->second.reversed =
            Amount::From(reversal->second.reversed.Get() - entry.amount.Get());
        reversal->second.reversal_refs.pop_back();
        if (reversal->second.reversal_refs.empty()) reversals.erase(reversal);
        break;
      }
    }
  }
  undo_.clear();
  RollbackChainChanges();
  // An import chain's timestamps are not booked (a native batch's never move within it).
  last_timestamp_ns_ = chain_start_timestamp_ns_;
}

void State::BeginChainChanges() {
  if (defer_changes_) deferred_.chain_changes_begin = deferred_.changes.size();
}

void State::CommitChainChanges() {
  if (!defer_changes_) changes_.CommitChain();
}

void State::RollbackChainChanges() {
  if (defer_changes_) {
    deferred_.changes.resize(deferred_.chain_changes_begin);
  } else {
    changes_.RollbackChain();
  }
}

// ---------------------------------------------------------------------------------------------
// Ledgers

void State::CreateLedgers(std::span<const Ledger> events, uint64_t timestamp_ns,
                          std::span<CreateLedgerResult> results) {
  LEDGER_REQUIRE(events.size() == results.size(), events.size(), results.size());
  if (IsImportBatch(events, ledger_flags::kImported)) {
    BeginImportBatch(timestamp_ns);
    for (size_t i = 0; i < events.size(); ++i) {
      results[i] = CreateImportedLedger(events[i], timestamp_ns);
    }
    EndBatch();
    return;
  }
  BeginBatch(timestamp_ns, events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    results[i] = CreateLedger(events[i], timestamp_ns + 1 + i);
  }
  EndBatch();
}

CreateLedgerResult State::CreateLedger(const Ledger& event, uint64_t timestamp_ns) {
  using R = CreateLedgerResult;
  if ((event.flags & ledger_flags::kImported) != 0) return R::kImportedEventNotExpected;
  if (event.timestamp_ns != 0) return R::kTimestampMustBeZero;
  if (R result = ValidateLedgerFields(event); result != R::kOk) return result;
  return CreateValidLedger(event, timestamp_ns);
}

CreateLedgerResult State::CreateImportedLedger(const Ledger& event, uint64_t batch_timestamp_ns) {
  using R = CreateLedgerResult;
  if ((event.flags & ledger_flags::kImported) == 0) return R::kImportedEventExpected;
  if (!IsImportedTimestampInRange(event.timestamp_ns, batch_timestamp_ns)) {
    return R::kImportedEventTimestampOutOfRange;
  }
  if (R result = ValidateLedgerFields(event); result != R::kOk) return result;
  return CreateValidLedger(event, event.timestamp_ns);
}

CreateLedgerResult State::ValidateLedgerFields(const Ledger& event) {
  using R = CreateLedgerResult;
  if (event.reserved[0] != 0 || event.reserved[1] != 0) return R::kReservedField;
  if ((event.flags & ~ledger_flags::kAll) != 0) return R::kReservedFlag;
  if (event.id == 0) return R::kIdMustNotBeZero;
  if (event.scale > kScaleMax) return R::kScaleTooLarge;
  if (!IsValidAssetCode(event.asset_code)) return R::kAssetCodeInvalid;
  return R::kOk;
}

CreateLedgerResult State::CreateValidLedger(const Ledger& event, uint64_t timestamp_ns) {
  using R = CreateLedgerResult;
  const bool imported = (event.flags & ledger_flags::kImported) != 0;
  auto existing = ledger_index_.find(event.id);
  if (existing != ledger_index_.end()) {
    const Ledger& stored = ledgers_[existing->second];
    if (stored.flags != event.flags) return R::kExistsWithDifferentFlags;
    if (stored.scale != event.scale) return R::kExistsWithDifferentScale;
    if (std::memcmp(stored.asset_code, event.asset_code, kAssetCodeSizeBytes) != 0) {
      return R::kExistsWithDifferentAssetCode;
    }
    return R::kExists;
  }
  if (imported && timestamp_ns <= last_timestamp_ns_) {
    return R::kImportedEventTimestampMustNotRegress;
  }
  Ledger stored = event;
  stored.timestamp_ns = timestamp_ns;
  ledger_index_.emplace(event.id, static_cast<uint32_t>(ledgers_.size()));
  ledgers_.push_back(stored);
  if (imported) last_timestamp_ns_ = timestamp_ns;
  return R::kOk;
}

// ---------------------------------------------------------------------------------------------
// Accounts

void State::CreateAccounts(std::span<const Account> events, uint64_t timestamp_ns,
                           std::span<CreateAccountResult> results) {
  LEDGER_REQUIRE(events.size() == results.size(), events.size(), results.size());
  if (IsImportBatch(events, account_flags::kImported)) {
    BeginImportBatch(timestamp_ns);
    RunChains(events, results, account_flags::kLinked,
              [&](size_t i) { return CreateImportedAccount(events[i], timestamp_ns); });
    EndBatch();
    return;
  }
  BeginBatch(timestamp_ns, events.size());
  RunChains(events, results, account_flags::kLinked,
            [&](size_t i) { return CreateAccount(events[i], timestamp_ns + 1 + i); });
  EndBatch();
}

CreateAccountResult State::ValidateAccount(const Account& event) {
  using R = CreateAccountResult;
  if ((event.flags & account_flags::kImported) != 0) return R::kImportedEventNotExpected;
  if (event.timestamp_ns != 0) return R::kTimestampMustBeZero;
  return ValidateAccountFields(event);
}

CreateAccountResult State::ValidateAccountFields(const Account& event) {
  using R = CreateAccountResult;
  if (event.reserved != 0) return R::kReservedField;
  if ((event.flags & ~account_flags::kAll) != 0) return R::kReservedFlag;
  if (event.id.IsZero()) return R::kIdMustNotBeZero;
  if (event.id.IsMax()) return R::kIdMustNotBeIntMax;
  if ((event.flags & account_flags::kDebitsMustNotExceedCredits) != 0 &&
      (event.flags & account_flags::kCreditsMustNotExceedDebits) != 0) {
    return R::kFlagsAreMutuallyExclusive;
  }
  if ((event.flags & account_flags::kClosed) != 0) return R::kClosedFlagMustNotBeSet;
  if (!event.debits_pending.IsZero()) return R::kDebitsPendingMustBeZero;
  if (!event.debits_posted.IsZero()) return R::kDebitsPostedMustBeZero;
  if (!event.credits_pending.IsZero()) return R::kCreditsPendingMustBeZero;
  if (!event.credits_posted.IsZero()) return R::kCreditsPostedMustBeZero;
  if (event.ledger == 0) return R::kLedgerMustNotBeZero;
  if (event.code == 0) return R::kCodeMustNotBeZero;
  return R::kOk;
}

CreateAccountResult State::CreateAccount(const Account& event, uint64_t timestamp_ns) {
  using R = CreateAccountResult;
  if (R result = ValidateAccount(event); result != R::kOk) return result;
  return CreateValidAccount(event, timestamp_ns);
}

CreateAccountResult State::CreateImportedAccount(const Account& event,
                                                 uint64_t batch_timestamp_ns) {
  using R = CreateAccountResult;
  if ((event.flags & account_flags::kImported) == 0) return R::kImportedEventExpected;
  if (!IsImportedTimestampInRange(event.timestamp_ns, batch_timestamp_ns)) {
    return R::kImportedEventTimestampOutOfRange;
  }
  if (R result = ValidateAccountFields(event); result != R::kOk) return result;
  return CreateValidAccount(event, event.timestamp_ns);
}

CreateAccountResult State::CreateValidAccount(const Account& event, uint64_t timestamp_ns) {
  using R = CreateAccountResult;
  const bool imported = (event.flags & account_flags::kImported) != 0;
  const uint32_t hash = HashId(event.id.lo, event.id.hi);
  const Ref existing_ref = FindAccount(event.id, hash);
  if (existing_ref != kNoRef) {
    const AccountRecord& stored = this->account(existing_ref);
    constexpr uint16_t kCreationFlags =
        account_flags::kAll & ~(account_flags::kLinked | account_flags::kClosed);
    if ((event.flags & kCreationFlags) != (stored.flags & kCreationFlags)) {
      return R::kExistsWithDifferentFlags;
    }
    if (event.user_data_128 != stored.user_data_128) return R::kExistsWithDifferentUserData128;
    if (event.user_data_64 != stored.user_data_64) return R::kExistsWithDifferentUserData64;
    if (event.user_data_32 != stored.user_data_32) return R::kExistsWithDifferentUserData32;
    if (event.ledger != stored.ledger) return R::kExistsWithDifferentLedger;
    if (event.code != stored.code) return R::kExistsWithDifferentCode;
    return R::kExists;
  }
  if (imported && timestamp_ns <= last_timestamp_ns_) {
    return R::kImportedEventTimestampMustNotRegress;
  }
  if (!ledger_index_.contains(event.ledger)) return R::kLedgerNotFound;
  // Capacity is gated by the caller (HasRoomFor); reaching here full is our bug.
  const uint32_t home = HomeOf(event.id);
  Shard& shard = *shards_[home];
  LEDGER_ASSERT(!shard.accounts.full(), shard.accounts.size());

  AccountRecord record{};
  record.id = event.id;
  record.ledger = event.ledger;
  record.flags = static_cast<uint16_t>(event.flags & ~account_flags::kLinked);
  record.user_data_128 = event.user_data_128;
  record.user_data_64 = event.user_data_64;
  record.user_data_32 = event.user_data_32;
  record.code = event.code;
  record.timestamp_ns = timestamp_ns;
  const uint32_t local_slot = static_cast<uint32_t>(shard.accounts.Append(record));
  shard.account_index.Insert(hash, local_slot);
  IndexAccount(MakeRef(home, local_slot));
  if (in_chain_) {
    UndoEntry entry{};
    entry.kind = UndoEntry::Kind::kAccountCreated;
    entry.ref = MakeRef(home, local_slot);
    entry.hash = hash;
    undo_.push_back(entry);
  }
  if (imported) last_timestamp_ns_ = timestamp_ns;
  return R::kOk;
}

bool State::HasRoomFor(uint64_t account_count, uint64_t transfer_count) const {
  // Any shard might receive them all.
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    const Shard& tables = *shards_[shard];
    if (account_count > tables.accounts.capacity_max() - tables.accounts.size() ||
        transfer_count > tables.transfers_max - tables.transfers.size()) {
      return false;
    }
  }
  return transfer_count <= failures_.capacity() - failures_.size();
}

// ---------------------------------------------------------------------------------------------
// Invariants

void State::VerifyInvariants() const {
  for (const Ledger& ledger : ledgers_) {
    const TrialBalance trial = GetTrialBalance(ledger.id);
    LEDGER_ASSERT(trial.Balanced(), ledger.id);
  }
  for (Ref ref : AccountsInOrder()) {
    const Balances b = GetBalances(ref);
    const uint16_t flags = account(ref).flags;
    const u128 debits = b.debits_pending.Get() + b.debits_posted.Get();
    const u128 credits = b.credits_pending.Get() + b.credits_posted.Get();
    LEDGER_ASSERT(debits >= b.debits_posted.Get() && credits >= b.credits_posted.Get(), ref.bits());
    if ((flags & account_flags::kDebitsMustNotExceedCredits) != 0) {
      LEDGER_ASSERT(debits <= b.credits_posted.Get(), ref.bits());
    }
    if ((flags & account_flags::kCreditsMustNotExceedDebits) != 0) {
      LEDGER_ASSERT(credits <= b.debits_posted.Get(), ref.bits());
    }
  }
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    uint64_t pending_count = 0;
    for (const auto& [id, state] : shards_[shard]->pending) {
      pending_count += state.status == PendingStatus::kPending ? 1 : 0;
    }
    LEDGER_ASSERT(pending_count == shards_[shard]->pending_count, shard, pending_count);
  }
  // The feed's newest change is the last one counted; none is left staged between batches.
  LEDGER_ASSERT(
      changes_.retained_count() == 0 || changes_.next_retained_sequence() == change_sequence_next(),
      changes_.next_retained_sequence(), change_sequence_next());
  LEDGER_ASSERT(changes_.chain_empty());
  LEDGER_ASSERT(changes_.retained_count() <= changes_.capacity());
}

}  // namespace ledger::engine::internal
