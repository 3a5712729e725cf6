// Transfers: validation, idempotency, references, balances, and the batch loop.
#include <algorithm>
#include <bit>

#include "engine/internal/chains.h"
#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {

using R = CreateTransferResult;
using namespace transfer_flags;

constexpr uint16_t kResolveFlags = kPostPending | kVoidPending;
constexpr uint64_t kNanosecondsPerSecond = 1'000'000'000;

// The batch loop works ahead of the event it applies, in stages, so the cache misses of
// several events overlap instead of adding up (a DRAM miss is ~235 ns here):
//   kHashAhead:     hash the ids; prefetch the id-index and account-index buckets;
//   kProbeAhead:    read the account buckets (now cached); prefetch the candidate records;
//   kResolveAhead:  confirm the accounts (records now cached); prefetch their history tails.
// Account refs may be resolved early because a transfer batch never creates accounts.
constexpr size_t kHashAhead = 24;
constexpr size_t kProbeAhead = 12;
constexpr size_t kResolveAhead = 6;

// What a balancing transfer may move: `have - owed`, floored at zero. `owed` cannot overflow:
// pending + posted of a side is kept below 2^128 (overflows_debits / overflows_credits).
Amount Available(Amount have, Amount owed_posted, Amount owed_pending) {
  const u128 owed = owed_posted.Get() + owed_pending.Get();
  return Amount::From(have.Get() > owed ? have.Get() - owed : 0);
}

}  // namespace

void State::CreateTransfers(std::span<const Transfer> events, uint64_t timestamp_ns,
                            std::span<CreateTransferResult> results) {
  LEDGER_REQUIRE(events.size() == results.size(), events.size(), results.size());
  if (IsImportBatch(events, kImported)) {  // one well-predicted test per batch
    BeginImportBatch(timestamp_ns);
    ApplyImported(events, timestamp_ns, results);
    EndBatch();
    return;
  }
  if (lane_count_ > 1) return CreateTransfersSharded(events, timestamp_ns, results);
  BeginBatch(timestamp_ns, events.size());
  ApplyInOrder(events, timestamp_ns, results);
  EndBatch();
}

void State::ApplyInOrder(std::span<const Transfer> events, uint64_t timestamp_ns,
                         std::span<CreateTransferResult> results) {
  if (prepared_.size() < events.size()) prepared_.resize(events.size());
  size_t hashed = 0;
  size_t probed = 0;
  size_t resolved = 0;
  const size_t count = events.size();
  RunChains(events, results, kLinked, [&](size_t i) {
    for (; hashed < std::min(count, i + kHashAhead); ++hashed) Prepare(events, hashed);
    for (; probed < std::min(count, i + kProbeAhead); ++probed) PrefetchAccounts(probed);
    for (; resolved < std::min(count, i + kResolveAhead); ++resolved) Resolve(events, resolved);
    return CreateTransfer(events[i], timestamp_ns + 1 + i, prepared_[i]);
  });
}

// Imports run in order on this thread whatever the shard count: the sharded path books event i
// at timestamp_ns + 1 + i, and an import is a one-off migration, not the hot path. No
// look-ahead either: each event's lookups in turn.
void State::ApplyImported(std::span<const Transfer> events, uint64_t timestamp_ns,
                          std::span<CreateTransferResult> results) {
  if (prepared_.size() < events.size()) prepared_.resize(events.size());
  RunChains(events, results, kLinked, [&](size_t i) {
    Prepare(events, i);
    Resolve(events, i);
    return CreateImportedTransfer(events[i], timestamp_ns, prepared_[i]);
  });
}

CreateTransferResult State::CreateImportedTransfer(const Transfer& event,
                                                   uint64_t batch_timestamp_ns,
                                                   const Prepared& prepared) {
  if ((event.flags & kImported) == 0) return R::kImportedEventExpected;
  if (!IsImportedTimestampInRange(event.timestamp_ns, batch_timestamp_ns)) {
    return R::kImportedEventTimestampOutOfRange;
  }
  if (R result = ValidateTransferFields(event); result != R::kOk) return result;
  const uint32_t payload = FindTransferPayloadIn(prepared.id_home, event.id, prepared.id_hash);
  if (R result = CompareWithStored(event, payload); result != R::kOk) return result;
  if (event.timestamp_ns <= last_timestamp_ns_) return R::kImportedEventTimestampMustNotRegress;
  // Booked at its own timestamp, a recorded failure too (a chain's rollback undoes the
  // booking; a recorded failure stays, at its own time).
  last_timestamp_ns_ = event.timestamp_ns;
  return CreateNewTransfer(event, event.timestamp_ns, prepared);
}

void State::Route(const Transfer& event, Prepared& prepared) const {
  prepared.id_hash = HashId(event.id.lo, event.id.hi);
  prepared.debit_hash = HashId(event.debit_account_id.lo, event.debit_account_id.hi);
  prepared.credit_hash = HashId(event.credit_account_id.lo, event.credit_account_id.hi);
  prepared.id_home = static_cast<uint8_t>(HomeOf(event.id));
  prepared.debit_home = static_cast<uint8_t>(HomeOf(event.debit_account_id));
  prepared.credit_home = static_cast<uint8_t>(HomeOf(event.credit_account_id));
}

void State::PrefetchIndexes(std::span<const Transfer> events, size_t index) const {
  const Prepared& prepared = prepared_[index];
  shards_[prepared.id_home]->transfer_index.Prefetch(prepared.id_hash);
  // A new id is looked for in the cold store too: its filter is as large as the history.
  if (cold_before_ns_ != 0) cold_->PrefetchTransfer(events[index].id);
  shards_[prepared.debit_home]->account_index.Prefetch(prepared.debit_hash);
  shards_[prepared.credit_home]->account_index.Prefetch(prepared.credit_hash);
}

void State::PrefetchAccounts(size_t index) const {
  const Prepared& prepared = prepared_[index];
  auto prefetch = [](const Shard& shard, uint32_t hash) {
    shard.account_index.ForEachCandidate(hash, [&](uint32_t slot) {
      // The hot fields are the record's first 64 bytes, which may straddle two lines.
      const char* record = reinterpret_cast<const char*>(&shard.accounts[slot]);
      __builtin_prefetch(record, 1);
      __builtin_prefetch(record + 63, 1);
    });
  };
  prefetch(*shards_[prepared.debit_home], prepared.debit_hash);
  prefetch(*shards_[prepared.credit_home], prepared.credit_hash);
}

void State::Resolve(std::span<const Transfer> events, size_t index) {
  const Transfer& event = events[index];
  Prepared& prepared = prepared_[index];
  prepared.debit_ref =
      FindAccountIn(prepared.debit_home, event.debit_account_id, prepared.debit_hash);
  prepared.credit_ref =
      FindAccountIn(prepared.credit_home, event.credit_account_id, prepared.credit_hash);
  // A post/void moves its reservation's accounts, which may not be the ones it names (and
  // those may be another shard's, changing meanwhile): no prefetch there.
  if ((event.flags & kResolveFlags) != 0) return;
  for (Ref ref : {prepared.debit_ref, prepared.credit_ref}) {
    if (ref != kNoRef) shard_of(ref).history.PrefetchTail(account(ref));
  }
}

CreateTransferResult State::CreateValidTransfer(const Transfer& event, uint64_t timestamp_ns,
                                                const Prepared& prepared) {
  const uint32_t payload = FindTransferPayloadIn(prepared.id_home, event.id, prepared.id_hash);
  if (R result = CompareWithStored(event, payload); result != R::kOk) return result;
  return CreateNewTransfer(event, timestamp_ns, prepared);
}

CreateTransferResult State::CreateNewTransfer(const Transfer& event, uint64_t timestamp_ns,
                                              const Prepared& prepared) {
  const R result = (event.flags & kResolveFlags) != 0 ? ApplyResolve(event, timestamp_ns, prepared)
                                                      : ApplyNew(event, timestamp_ns, prepared);
  if (result != R::kOk) {
    LEDGER_ASSERT(IsRecordedFailure(result), static_cast<int>(result));
    RecordFailure(event, timestamp_ns, prepared.id_hash, result);
  }
  return result;
}

CreateTransferResult State::ValidateTransfer(const Transfer& event) {
  if ((event.flags & kImported) != 0) return R::kImportedEventNotExpected;
  if (event.timestamp_ns != 0) return R::kTimestampMustBeZero;
  return ValidateTransferFields(event);
}

CreateTransferResult State::ValidateTransferFields(const Transfer& event) {
  if ((event.flags & ~kAll) != 0) return R::kReservedFlag;
  if (event.id.IsZero()) return R::kIdMustNotBeZero;
  if (event.id.IsMax()) return R::kIdMustNotBeIntMax;
  const bool resolves = (event.flags & kResolveFlags) != 0;
  const int kinds = std::popcount(static_cast<unsigned>(event.flags & (kPending | kResolveFlags)));
  constexpr uint16_t kNewOnly = kBalancingDebit | kBalancingCredit | kClosingDebit | kClosingCredit;
  if (kinds > 1 || (resolves && (event.flags & kNewOnly) != 0)) {
    return R::kFlagsAreMutuallyExclusive;
  }
  if (!resolves) {
    if (!event.pending_id.IsZero()) return R::kPendingIdMustBeZero;
  } else {
    if (event.pending_id.IsZero()) return R::kPendingIdMustNotBeZero;
    if (event.pending_id.IsMax()) return R::kPendingIdMustNotBeIntMax;
    if (event.pending_id == event.id) return R::kPendingIdMustBeDifferent;
  }
  if (!event.reverses_id.IsZero()) {
    if (event.reverses_id.IsMax()) return R::kReversesIdMustNotBeIntMax;
    if (event.reverses_id == event.id) return R::kReversesIdMustBeDifferent;
    if ((event.flags & ~(kLinked | kImported)) != 0) return R::kReversalMustBePlain;
  }
  if (event.timeout_s != 0 && (event.flags & kPending) == 0) {
    return R::kTimeoutReservedForPendingTransfer;
  }
  if (event.timeout_s != 0 && (event.flags & kImported) != 0) {
    return R::kImportedEventTimeoutMustBeZero;
  }
  if ((event.flags & (kClosingDebit | kClosingCredit)) != 0 && (event.flags & kPending) == 0) {
    return R::kClosingTransferMustBePending;
  }
  if (!resolves && event.debit_account_id.IsZero()) return R::kDebitAccountIdMustNotBeZero;
  if (event.debit_account_id.IsMax()) return R::kDebitAccountIdMustNotBeIntMax;
  if (!resolves && event.credit_account_id.IsZero()) return R::kCreditAccountIdMustNotBeZero;
  if (event.credit_account_id.IsMax()) return R::kCreditAccountIdMustNotBeIntMax;
  if (!event.debit_account_id.IsZero() && event.debit_account_id == event.credit_account_id) {
    return R::kAccountsMustBeDifferent;
  }
  if (!resolves && event.ledger == 0) return R::kLedgerMustNotBeZero;
  if (!resolves && event.code == 0) return R::kCodeMustNotBeZero;
  if (event.amount.IsZero() && (event.flags & kVoidPending) == 0) return R::kAmountMustNotBeZero;
  if (event.value_time_ns >= kTimestampLimitNs) return R::kValueTimeOutOfRange;
  return R::kOk;
}

bool State::AmountMatches(const Transfer& event, const Transfer& stored) const {
  if ((stored.flags & kPostPending) != 0) {
    if (!event.amount.IsMax()) return event.amount == stored.amount;
    return ReservationAmount(stored.pending_id) == stored.amount;
  }
  if ((stored.flags & kVoidPending) != 0) {
    return event.amount.IsZero() || event.amount == stored.amount;
  }
  if ((stored.flags & (kBalancingDebit | kBalancingCredit)) != 0) {
    return event.amount >= stored.amount;
  }
  return event.amount == stored.amount;
}

// From the record wherever it is: a kept reservation's state is another shard's, which its
// thread may be changing (a record never changes).
Amount State::ReservationAmount(const TransferId& id) const {
  const uint32_t payload = FindTransferPayload(id, HashId(id.lo, id.hi));
  if ((payload & kFailedBit) == 0) return transfer(Ref::FromBits(payload)).amount;
  const std::optional<Transfer> reservation = FindColdTransfer(id);
  LEDGER_ASSERT(reservation.has_value(), payload);
  return reservation->amount;
}

CreateTransferResult State::CompareWithStored(const Transfer& event, uint32_t payload) const {
  if (payload != HashIndex::kNotFound && !IsKept(payload))
    return CompareWithPayload(event, payload);
  if (cold_before_ns_ == 0) return R::kOk;
  const std::optional<ColdTransfer> cold = FindCold(event.id);
  LEDGER_ASSERT(cold.has_value() || payload == HashIndex::kNotFound, payload);  // kept: cold
  if (!cold) return R::kOk;
  if (cold->failure != R::kOk)
    return CompareFailed(event, FailureRecord{cold->record, cold->failure, {}});
  return CompareExisting(event, cold->record);
}

CreateTransferResult State::CompareWithPayload(const Transfer& event, uint32_t payload) const {
  if ((payload & kFailedBit) != 0) return CompareFailed(event, failures_[payload & ~kFailedBit]);
  return CompareExisting(event, transfer(Ref::FromBits(payload)));
}

CreateTransferResult State::CompareExisting(const Transfer& event, const Transfer& stored) const {
  return CompareFields(event, stored, /*failed=*/false);
}

CreateTransferResult State::CompareFailed(const Transfer& event,
                                          const FailureRecord& failed) const {
  const R result = CompareFields(event, failed.event, /*failed=*/true);
  return result == R::kExists ? R::kIdAlreadyFailed : result;
}

CreateTransferResult State::CompareFields(const Transfer& event, const Transfer& stored,
                                          bool failed) const {
  // A post/void may omit the reservation's accounts, ledger and code (they are inherited).
  const bool resolves = (stored.flags & kResolveFlags) != 0;
  if ((event.flags & ~kLinked) != stored.flags) return R::kExistsWithDifferentFlags;
  if (event.pending_id != stored.pending_id) return R::kExistsWithDifferentPendingId;
  if (event.reverses_id != stored.reverses_id) return R::kExistsWithDifferentReversesId;
  if (event.timeout_s != stored.timeout_s) return R::kExistsWithDifferentTimeout;
  if ((!resolves || !event.debit_account_id.IsZero()) &&
      event.debit_account_id != stored.debit_account_id) {
    return R::kExistsWithDifferentDebitAccountId;
  }
  if ((!resolves || !event.credit_account_id.IsZero()) &&
      event.credit_account_id != stored.credit_account_id) {
    return R::kExistsWithDifferentCreditAccountId;
  }
  // A failed event's amount is as given (a stored one's is what it moved, which AmountMatches
  // interprets), so a retry gives it again exactly.
  if (failed ? event.amount != stored.amount : !AmountMatches(event, stored)) {
    return R::kExistsWithDifferentAmount;
  }
  if (event.user_data_128 != stored.user_data_128) return R::kExistsWithDifferentUserData128;
  if (event.user_data_64 != stored.user_data_64) return R::kExistsWithDifferentUserData64;
  if (event.user_data_32 != stored.user_data_32) return R::kExistsWithDifferentUserData32;
  if ((!resolves || event.ledger != 0) && event.ledger != stored.ledger) {
    return R::kExistsWithDifferentLedger;
  }
  if ((!resolves || event.code != 0) && event.code != stored.code) {
    return R::kExistsWithDifferentCode;
  }
  if (event.value_time_ns != stored.value_time_ns) return R::kExistsWithDifferentValueTime;
  return R::kExists;
}

CreateTransferResult State::CheckReversal(const Transfer& event, uint32_t* reversed_home) const {
  const Ref original_ref = FindTransfer(event.reverses_id);
  // In the window, or cold (then its reversals may be partly cold too).
  std::optional<Transfer> cold;
  if (original_ref == kNoRef) {
    cold = FindColdTransfer(event.reverses_id);
    if (!cold) return R::kReversedTransferNotFound;
  }
  const Transfer& original = cold ? *cold : this->transfer(original_ref);
  if ((original.flags & (kPending | kVoidPending)) != 0) return R::kReversedTransferNotPosted;
  if (event.debit_account_id != original.credit_account_id ||
      event.credit_account_id != original.debit_account_id) {
    return R::kReversalMustSwapAccounts;
  }
  const uint32_t home = cold ? HomeOf(original.debit_account_id) : shard_index_of(original_ref);
  const Amount reversed = AllReversals(home, event.reverses_id, cold.has_value()).reversed;
  Amount total;
  if (!CheckedAdd(reversed, event.amount, &total) || total > original.amount) {
    return R::kExceedsReversibleAmount;
  }
  *reversed_home = home;
  return R::kOk;
}

namespace {

// Balance checks shared by new transfers and posts/voids, on the balances after the change.
CreateTransferResult CheckTotals(const Balances& debit, uint16_t debit_flags,
                                 const Balances& credit, uint16_t credit_flags) {
  Amount debits;
  Amount credits;
  if (!CheckedAdd(debit.debits_pending, debit.debits_posted, &debits)) return R::kOverflowsDebits;
  if (!CheckedAdd(credit.credits_pending, credit.credits_posted, &credits)) {
    return R::kOverflowsCredits;
  }
  if ((debit_flags & account_flags::kDebitsMustNotExceedCredits) != 0 &&
      debits > debit.credits_posted) {
    return R::kExceedsCredits;
  }
  if ((credit_flags & account_flags::kCreditsMustNotExceedDebits) != 0 &&
      credits > credit.debits_posted) {
    return R::kExceedsDebits;
  }
  return R::kOk;
}

// What a new transfer moves: its amount, or less where a balancing flag says so (what the
// debit or credit account `d`, `c` has available before the transfer).
Amount BalancedAmount(const Transfer& event, const Balances& d, const Balances& c) {
  Amount amount = event.amount;
  if ((event.flags & kBalancingDebit) != 0) {
    amount = std::min(amount, Available(d.credits_posted, d.debits_posted, d.debits_pending));
  }
  if ((event.flags & kBalancingCredit) != 0) {
    amount = std::min(amount, Available(c.debits_posted, c.credits_posted, c.credits_pending));
  }
  return amount;
}

// `amount` added to the debit account's debits and the credit account's credits, pending or
// posted; fails on overflow, leaving the balances partly changed (the caller discards them).
CreateTransferResult AddPending(Amount amount, Balances& d, Balances& c) {
  if (!CheckedAdd(d.debits_pending, amount, &d.debits_pending)) return R::kOverflowsDebitsPending;
  if (!CheckedAdd(c.credits_pending, amount, &c.credits_pending)) {
    return R::kOverflowsCreditsPending;
  }
  return R::kOk;
}
CreateTransferResult AddPosted(Amount amount, Balances& d, Balances& c) {
  if (!CheckedAdd(d.debits_posted, amount, &d.debits_posted)) return R::kOverflowsDebitsPosted;
  if (!CheckedAdd(c.credits_posted, amount, &c.credits_posted)) return R::kOverflowsCreditsPosted;
  return R::kOk;
}

}  // namespace

CreateTransferResult State::ApplyNew(const Transfer& event, uint64_t timestamp_ns,
                                     const Prepared& prepared) {
  if (prepared.debit_ref == kNoRef) return R::kDebitAccountNotFound;
  if (prepared.credit_ref == kNoRef) return R::kCreditAccountNotFound;
  const AccountRecord& debit = this->account(prepared.debit_ref);
  const AccountRecord& credit = this->account(prepared.credit_ref);
  if (debit.ledger != credit.ledger) return R::kAccountsMustHaveTheSameLedger;
  if (event.ledger != debit.ledger) return R::kTransferMustHaveTheSameLedgerAsAccounts;
  uint32_t reversed_home = kNoSlot;
  if (!event.reverses_id.IsZero()) {
    if (R result = CheckReversal(event, &reversed_home); result != R::kOk) return result;
  }
  if ((debit.flags & account_flags::kClosed) != 0) return R::kDebitAccountAlreadyClosed;
  if ((credit.flags & account_flags::kClosed) != 0) return R::kCreditAccountAlreadyClosed;
  // The common case: a plain posting between accounts without reservations outstanding.
  if ((event.flags & ~(kLinked | kImported)) == 0 && reversed_home == kNoSlot &&
      ((debit.flags | credit.flags) & kHasPendingBalances) == 0) {
    return ApplyPosting(event, timestamp_ns, prepared);
  }
  return ApplyNewInFull(event, timestamp_ns, prepared, reversed_home);
}

CreateTransferResult State::ApplyNewInFull(const Transfer& event, uint64_t timestamp_ns,
                                           const Prepared& prepared, uint32_t reversed_home) {
  const bool pending = (event.flags & kPending) != 0;
  uint64_t expires_at_ns = 0;
  if (pending && event.timeout_s != 0 &&
      (__builtin_add_overflow(timestamp_ns, event.timeout_s * kNanosecondsPerSecond,
                              &expires_at_ns) ||
       expires_at_ns >= kTimestampLimitNs)) {
    return R::kOverflowsTimeout;
  }
  const AccountRecord& debit = this->account(prepared.debit_ref);
  const AccountRecord& credit = this->account(prepared.credit_ref);
  Balances d = GetBalances(prepared.debit_ref);
  Balances c = GetBalances(prepared.credit_ref);
  const Amount amount = BalancedAmount(event, d, c);
  if (R result = pending ? AddPending(amount, d, c) : AddPosted(amount, d, c); result != R::kOk) {
    return result;
  }
  if (R result = CheckTotals(d, debit.flags, c, credit.flags); result != R::kOk) return result;

  // Everything is checked: commit.
  uint16_t debit_flags = debit.flags;
  uint16_t credit_flags = credit.flags;
  if ((event.flags & kClosingDebit) != 0) debit_flags |= account_flags::kClosed;
  if ((event.flags & kClosingCredit) != 0) credit_flags |= account_flags::kClosed;
  SetAccountState(prepared.debit_ref, d, debit_flags);
  SetAccountState(prepared.credit_ref, c, credit_flags);
  if (changes_.enabled()) {
    RecordChange(pending ? ChangeKind::kPending : ChangeKind::kSinglePhase, event.id, timestamp_ns,
                 prepared.debit_ref, prepared.credit_ref);
  }
  const Ref transfer_ref =
      AppendTransfer(event, timestamp_ns, amount, prepared.id_hash, prepared.debit_ref);
  RecordHistory(transfer_ref, prepared.debit_ref, prepared.credit_ref, timestamp_ns);
  if (pending) AddReservation(transfer_ref, prepared.debit_ref, prepared.credit_ref, expires_at_ns);
  if (reversed_home != kNoSlot) AddReversal(reversed_home, event.reverses_id, transfer_ref, amount);
  return R::kOk;
}

void State::AddReservation(Ref transfer_ref, Ref debit_ref, Ref credit_ref,
                           uint64_t expires_at_ns) {
  Shard& home = shard_of(transfer_ref);
  const Transfer& record = transfer(transfer_ref);
  home.pending.emplace(record.id, PendingState{record.amount, expires_at_ns, record.timestamp_ns,
                                               debit_ref, credit_ref, kNoRef, record.flags,
                                               record.code, PendingStatus::kPending});
  ++home.pending_count;
  if (expires_at_ns != 0) home.expiry_queue.push({expires_at_ns, record.timestamp_ns, record.id});
  if (in_chain_) undo_.push_back({.kind = UndoEntry::Kind::kPendingCreated, .ref = transfer_ref});
}

void State::AddReversal(uint32_t home, const TransferId& reversed_id, Ref reversal_ref,
                        Amount amount) {
  ReversalState& reversal = shards_[home]->reversals[reversed_id];
  reversal.reversed = Amount::From(reversal.reversed.Get() + amount.Get());
  reversal.reversal_refs.push_back(reversal_ref);
  if (in_chain_) {
    undo_.push_back({.kind = UndoEntry::Kind::kReversalAdded,
                     .ref = reversal_ref,
                     .hash = home,
                     .balances = {},
                     .amount = amount,
                     .id = reversed_id});
  }
}

// ApplyNew's checks and effects for a plain posting when neither account has pending
// balances, without building Balances or touching the pending-balance map. Same checks in the
// same order: with no pending amounts, "pending + posted" of a side is its posted balance, so
// overflows_debits/credits cannot happen once the posted sums did not overflow.
CreateTransferResult State::ApplyPosting(const Transfer& event, uint64_t timestamp_ns,
                                         const Prepared& prepared) {
  AccountRecord& debit = this->account(prepared.debit_ref);
  AccountRecord& credit = this->account(prepared.credit_ref);
  Amount debits_posted;
  Amount credits_posted;
  if (!CheckedAdd(debit.debits_posted, event.amount, &debits_posted)) {
    return R::kOverflowsDebitsPosted;
  }
  if (!CheckedAdd(credit.credits_posted, event.amount, &credits_posted)) {
    return R::kOverflowsCreditsPosted;
  }
  if ((debit.flags & account_flags::kDebitsMustNotExceedCredits) != 0 &&
      debits_posted > debit.credits_posted) {
    return R::kExceedsCredits;
  }
  if ((credit.flags & account_flags::kCreditsMustNotExceedDebits) != 0 &&
      credits_posted > credit.debits_posted) {
    return R::kExceedsDebits;
  }
  LogAccountState(prepared.debit_ref);
  LogAccountState(prepared.credit_ref);
  debit.debits_posted = debits_posted;
  credit.credits_posted = credits_posted;
  if (changes_.enabled()) {
    RecordChange(ChangeKind::kSinglePhase, event.id, timestamp_ns, prepared.debit_ref,
                 prepared.credit_ref);
  }
  const Ref transfer_ref =
      AppendTransfer(event, timestamp_ns, event.amount, prepared.id_hash, prepared.debit_ref);
  RecordHistory(transfer_ref, prepared.debit_ref, prepared.credit_ref, timestamp_ns);
  return R::kOk;
}

namespace {

// A post/void against the reservation it names: the accounts, ledger and code it may omit
// must match where given, and its amount must fit.
template <typename Reservation>  // a Transfer record or a ReservationView: the same fields
CreateTransferResult CheckAgainstReservation(const Transfer& event,
                                             const Reservation& reservation) {
  if ((reservation.flags & kPending) == 0) return R::kPendingTransferNotPending;
  if (!event.debit_account_id.IsZero() && event.debit_account_id != reservation.debit_account_id) {
    return R::kPendingTransferHasDifferentDebitAccountId;
  }
  if (!event.credit_account_id.IsZero() &&
      event.credit_account_id != reservation.credit_account_id) {
    return R::kPendingTransferHasDifferentCreditAccountId;
  }
  if (event.ledger != 0 && event.ledger != reservation.ledger) {
    return R::kPendingTransferHasDifferentLedger;
  }
  if (event.code != 0 && event.code != reservation.code) return R::kPendingTransferHasDifferentCode;
  const bool post = (event.flags & kPostPending) != 0;
  if (post && !event.amount.IsMax() && event.amount > reservation.amount) {
    return R::kExceedsPendingTransferAmount;
  }
  if (!post && !event.amount.IsZero() && event.amount != reservation.amount) {
    return R::kPendingTransferHasDifferentAmount;
  }
  return R::kOk;
}

CreateTransferResult CheckStillPending(PendingStatus status) {
  if (status == PendingStatus::kPosted) return R::kPendingTransferAlreadyPosted;
  if (status == PendingStatus::kVoided) return R::kPendingTransferAlreadyVoided;
  if (status == PendingStatus::kExpired) return R::kPendingTransferExpired;
  return R::kOk;
}

// Voids are always accepted; a post is accepted by an account closed by this very reservation
// (that is how a closing is made final).
template <typename Reservation>
CreateTransferResult CheckOpenForPost(const Reservation& reservation, uint16_t debit_flags,
                                      uint16_t credit_flags) {
  if ((debit_flags & account_flags::kClosed) != 0 && (reservation.flags & kClosingDebit) == 0) {
    return R::kDebitAccountAlreadyClosed;
  }
  if ((credit_flags & account_flags::kClosed) != 0 && (reservation.flags & kClosingCredit) == 0) {
    return R::kCreditAccountAlreadyClosed;
  }
  return R::kOk;
}

// A post/void's record, as AppendTransfer stored it from the event, takes the reservation's
// accounts, ledger and code (the event may omit them).
template <typename Reservation>
void InheritFromReservation(Transfer& record, const Reservation& reservation) {
  record.debit_account_id = reservation.debit_account_id;
  record.credit_account_id = reservation.credit_account_id;
  record.ledger = reservation.ledger;
  record.code = reservation.code;
}

}  // namespace

CreateTransferResult State::ApplyResolve(const Transfer& event, uint64_t timestamp_ns,
                                         const Prepared& prepared) {
  // The reservation's record in the window, or its state kept after the record left.
  const uint32_t payload =
      FindTransferPayload(event.pending_id, HashId(event.pending_id.lo, event.pending_id.hi));
  uint32_t home;  // the shard keeping its state
  if ((payload & kFailedBit) == 0) {
    const Ref pending_ref = Ref::FromBits(payload);
    const Transfer& record = transfer(pending_ref);
    if (R result = CheckAgainstReservation(event, record); result != R::kOk) return result;
    home = shard_index_of(pending_ref);
  } else if (payload != HashIndex::kNotFound && IsKept(payload)) {
    home = payload & ~kKeptBits;
    const ReservationView view = ViewOf(KeptState(payload, event.pending_id));
    if (R result = CheckAgainstReservation(event, view); result != R::kOk) return result;
  } else {
    return ResolveCold(event);
  }
  const PendingState pending = shards_[home]->pending.at(event.pending_id);
  const ReservationView reservation = ViewOf(pending);
  if (R result = CheckStillPending(pending.status); result != R::kOk) return result;
  const bool post = (event.flags & kPostPending) != 0;
  const AccountRecord& debit = this->account(pending.debit_ref);
  const AccountRecord& credit = this->account(pending.credit_ref);
  if (post) {
    if (R result = CheckOpenForPost(reservation, debit.flags, credit.flags); result != R::kOk) {
      return result;
    }
  }

  // The reservation's pending amounts released, and for a post the amount posted.
  Balances d = GetBalances(pending.debit_ref);
  Balances c = GetBalances(pending.credit_ref);
  LEDGER_ASSERT(CheckedSub(d.debits_pending, reservation.amount, &d.debits_pending), home);
  LEDGER_ASSERT(CheckedSub(c.credits_pending, reservation.amount, &c.credits_pending), home);
  const Amount amount =
      post ? (event.amount.IsMax() ? reservation.amount : event.amount) : reservation.amount;
  if (post) {
    if (R result = AddPosted(amount, d, c); result != R::kOk) return result;
  }
  if (R result = CheckTotals(d, debit.flags, c, credit.flags); result != R::kOk) return result;

  // Everything is checked: commit. A void reopens the accounts its reservation closed.
  uint16_t debit_flags = debit.flags;
  uint16_t credit_flags = credit.flags;
  if (!post && (reservation.flags & kClosingDebit) != 0) {
    debit_flags &= static_cast<uint16_t>(~account_flags::kClosed);
  }
  if (!post && (reservation.flags & kClosingCredit) != 0) {
    credit_flags &= static_cast<uint16_t>(~account_flags::kClosed);
  }
  SetAccountState(pending.debit_ref, d, debit_flags);
  SetAccountState(pending.credit_ref, c, credit_flags);
  if (changes_.enabled()) {
    RecordChange(post ? ChangeKind::kPosted : ChangeKind::kVoided, event.id, timestamp_ns,
                 pending.debit_ref, pending.credit_ref);
  }
  const Ref transfer_ref =
      AppendTransfer(event, timestamp_ns, amount, prepared.id_hash, pending.debit_ref);
  InheritFromReservation(this->transfer(transfer_ref), reservation);
  RecordHistory(transfer_ref, pending.debit_ref, pending.credit_ref, timestamp_ns);
  MarkResolved(home, event.pending_id, transfer_ref, post);
  return R::kOk;
}

CreateTransferResult State::ResolveCold(const Transfer& event) const {
  const std::optional<Transfer> reservation = FindColdTransfer(event.pending_id);
  if (!reservation) return R::kPendingTransferNotFound;
  if (R result = CheckAgainstReservation(event, *reservation); result != R::kOk) return result;
  // Its state was let go of when its post, void or expiry left the window.
  const R result =
      CheckStillPending(cold_->FindResolution(event.pending_id, cold_before_ns_).status);
  LEDGER_ASSERT(result != R::kOk, event.pending_id.lo, event.pending_id.hi);
  return result;
}

inline void State::MarkResolved(uint32_t home, const TransferId& pending_id, Ref resolver_ref,
                                bool post) {
  PendingState& state = shards_[home]->pending.at(pending_id);
  if (in_chain_) {
    undo_.push_back({.kind = UndoEntry::Kind::kPendingResolved,
                     .status = state.status,
                     .ref = resolver_ref,
                     .hash = home,
                     .balances = {},
                     .amount = {},
                     .id = pending_id});
  }
  state.status = post ? PendingStatus::kPosted : PendingStatus::kVoided;
  state.resolver_ref = resolver_ref;
  --shards_[home]->pending_count;
}

Ref State::AppendTransfer(const Transfer& event, uint64_t timestamp_ns, Amount amount,
                          uint32_t id_hash, Ref debit_ref) {
  // The record lives with its debit account (for a post/void, the reservation's).
  const uint32_t home = shard_index_of(debit_ref);
  RingArray<Transfer>& transfers = shards_[home]->transfers;
  LEDGER_ASSERT(!transfers.full(), transfers.size());  // gated by HasRoomFor
  const Ref transfer_ref = MakeRef(home, transfers.Append(event));
  shards_[home]->transfer_accounts.Append({});      // RecordHistory fills it
  Transfer& record = this->transfer(transfer_ref);  // written in place: no second copy of 152 bytes
  record.timestamp_ns = timestamp_ns;
  record.flags = static_cast<uint16_t>(event.flags & ~kLinked);
  record.amount = amount;
  IndexTransfer(transfer_ref);
  if (defer_index_) {
    deferred_.inserts[HomeOf(event.id)].push_back({id_hash, transfer_ref});
  } else {
    shards_[HomeOf(event.id)]->transfer_index.Insert(id_hash, transfer_ref.bits());
  }
  if (in_chain_) {
    undo_.push_back(
        {.kind = UndoEntry::Kind::kTransferCreated, .ref = transfer_ref, .hash = id_hash});
  }
  return transfer_ref;
}

void State::RecordHistory(Ref transfer_ref, Ref debit_ref, Ref credit_ref, uint64_t timestamp_ns) {
  AccountRecord& debit = account(debit_ref);
  AccountRecord& credit = account(credit_ref);
  shard_of(debit_ref).history.Append(debit, transfer_ref);
  shard_of(credit_ref).history.Append(credit, transfer_ref);
  const auto history_bit = [](const AccountRecord& record) {
    return (record.flags & account_flags::kHistory) != 0 ? TransferAccounts::kHistoryBit : 0;
  };
  shard_of(transfer_ref).transfer_accounts[slot_of(transfer_ref)] = {
      debit_ref.bits() | history_bit(debit), credit_ref.bits() | history_bit(credit)};
  if (in_chain_) {
    undo_.push_back({.kind = UndoEntry::Kind::kHistoryAppended, .ref = debit_ref});
    undo_.push_back({.kind = UndoEntry::Kind::kHistoryAppended, .ref = credit_ref});
  }
  if ((account(debit_ref).flags & account_flags::kHistory) != 0) {
    SnapshotBalances(debit_ref, timestamp_ns);
  }
  if ((account(credit_ref).flags & account_flags::kHistory) != 0) {
    SnapshotBalances(credit_ref, timestamp_ns);
  }
}

void State::RecordFailure(const Transfer& event, uint64_t timestamp_ns, uint32_t id_hash,
                          CreateTransferResult code) {
  // Not undone by a chain rollback: the failure is the outcome the id keeps.
  FailureRecord failure{event, code, {}};
  failure.event.timestamp_ns = timestamp_ns;
  failure.event.flags = static_cast<uint16_t>(event.flags & ~kLinked);
  if (defer_index_) {
    deferred_.failures.push_back({event_index_, id_hash, failure});
    return;
  }
  AppendFailure(failure, id_hash);
}

void State::AppendFailure(const FailureRecord& failure, uint32_t id_hash) {
  LEDGER_ASSERT(!failures_.full(), failures_.size());  // gated by HasRoomFor
  const uint32_t index = static_cast<uint32_t>(failures_.Append(failure));
  shards_[HomeOf(failure.event.id)]->transfer_index.Insert(id_hash, index | kFailedBit);
}

}  // namespace ledger::engine::internal
