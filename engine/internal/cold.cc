// History beyond memory (engine/cold.h, docs/cold-store.md): facts copied out for the cold
// store, and dropped from memory once it holds them.
//
// Everything in memory that names a transfer by its ref is let go of when the transfer leaves
// the window, in booking order: its id's index entry, its place in both accounts' histories and
// in the query index, its balance snapshots. What must outlive the record is keyed by id: the
// state of a reservation whose post, void or expiry is still in the window (its index entry then
// says which shard keeps it), and the reversals in the window of an older transfer.
#include <algorithm>

#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {
constexpr uint16_t kResolveFlags = transfer_flags::kPostPending | transfer_flags::kVoidPending;
}  // namespace

uint64_t State::hot_transfer_count() const {
  uint64_t count = 0;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) count += shards_[shard]->transfers.size();
  return count;
}

std::optional<Transfer> State::FindAnyTransfer(const TransferId& id) const {
  const Ref ref = FindTransfer(id);
  if (ref != kNoRef) return transfer(ref);
  return FindColdTransfer(id);
}

ColdReversals State::AllReversals(uint32_t home, const TransferId& id, bool cold) const {
  ColdReversals all;
  if (cold && cold_before_ns_ != 0) all = cold_->FindReversals(id, cold_before_ns_, {});
  if (const ReversalState* hot = FindReversals(home, id)) {
    all.reversed = Amount::From(all.reversed.Get() + hot->reversed.Get());
    all.count += hot->reversal_refs.size();
  }
  return all;
}

// The shard whose next transfer (from[shard], before end_of[shard]) is the oldest one booked
// before before_ns: shards are merged in booking order, as one shard would have booked them.
uint32_t State::OldestTransferShard(uint64_t from[], uint64_t end_of[], uint64_t before_ns) const {
  uint32_t best = kShardsMax;
  uint64_t best_ns = before_ns;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    if (from[shard] == end_of[shard]) continue;
    const uint64_t ns = shards_[shard]->transfers.at(from[shard]).timestamp_ns;
    if (ns < best_ns) best = shard, best_ns = ns;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Export

void State::ExportCold(uint64_t before_ns, ColdFacts& facts) {
  LEDGER_REQUIRE(before_ns >= exported_before_ns_ && before_ns <= last_timestamp_ns_ + 1, before_ns,
                 exported_before_ns_, last_timestamp_ns_);
  facts.Clear();
  facts.begin_ns = exported_before_ns_;
  facts.end_ns = before_ns;
  uint64_t end_of[kShardsMax] = {};
  uint64_t exported = 0;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    end_of[shard] = ExportEndIn(shard, before_ns);
    exported += end_of[shard] - export_transfer_[shard];
  }
  // Exactly this many: a caller that reuses `facts` reuses its memory (reserving every
  // transfer not yet exported grew it past its capacity when the window was fuller: a fresh
  // allocation, and a page fault per 4 KiB of it, on the thread that applies).
  facts.transfers.reserve(exported);
  // Transfers and expiries interleaved in log order, so the balance snapshots come out in time
  // order too.
  while (true) {
    const uint32_t shard = OldestTransferShard(export_transfer_, end_of, before_ns);
    const uint64_t transfer_ns =
        shard == kShardsMax ? before_ns
                            : shards_[shard]->transfers.at(export_transfer_[shard]).timestamp_ns;
    if (export_expiry_ < expiries_->end_position() &&
        expiries_->at(export_expiry_).timestamp_ns < transfer_ns) {
      const ExpiredRecord& expired = expiries_->at(export_expiry_++);
      facts.expiries.push_back({expired.id, expired.timestamp_ns, 0});
      const PendingState& state = shards_[expired.shard]->pending.at(expired.id);
      ExportBalance(state.debit_ref, expired.timestamp_ns, facts);
      ExportBalance(state.credit_ref, expired.timestamp_ns, facts);
      continue;
    }
    if (shard == kShardsMax) break;
    ExportTransfer(shard, export_transfer_[shard]++, facts);
  }
  for (; export_failure_ < failures_.end_position() &&
         failures_.at(export_failure_).event.timestamp_ns < before_ns;
       ++export_failure_) {
    facts.failures.push_back(failures_.at(export_failure_));
  }
  exported_before_ns_ = before_ns;
}

uint64_t State::ExportEndIn(uint32_t shard, uint64_t before_ns) const {
  // A binary search: a shard's transfers are booked in rising time.
  const RingArray<Transfer>& transfers = shards_[shard]->transfers;
  uint64_t low = export_transfer_[shard];
  uint64_t count = transfers.end_position() - low;
  while (count > 0) {
    const uint64_t half = count / 2;
    if (transfers.at(low + half).timestamp_ns < before_ns) {
      low += half + 1;
      count -= half + 1;
    } else {
      count = half;
    }
  }
  return low;
}

uint64_t State::ExportBoundary(uint64_t transfer_count) const {
  const auto unexported_before = [&](uint64_t before_ns) {
    uint64_t count = 0;
    for (uint32_t shard = 0; shard < shard_count_; ++shard) {
      count += ExportEndIn(shard, before_ns) - export_transfer_[shard];
    }
    return count;
  };
  // The largest time with at most transfer_count before it: low always qualifies, high never.
  uint64_t low = exported_before_ns_;
  uint64_t high = last_timestamp_ns_ + 1;
  if (unexported_before(high) <= transfer_count) return high;
  while (high - low > 1) {
    const uint64_t middle = low + (high - low) / 2;
    (unexported_before(middle) <= transfer_count ? low : high) = middle;
  }
  return low;
}

void State::ExportTransfer(uint32_t shard, uint64_t position, ColdFacts& facts) const {
  const Transfer& record = shards_[shard]->transfers.at(position);
  facts.transfers.push_back(record);
  const TransferAccounts accounts = shards_[shard]->transfer_accounts.at(position);
  if (((accounts.debit | accounts.credit) & TransferAccounts::kHistoryBit) == 0) return;
  ExportBalance(accounts.debit_ref(), record.timestamp_ns, facts);
  ExportBalance(accounts.credit_ref(), record.timestamp_ns, facts);
}

// The account's snapshot taken at timestamp_ns, if it keeps history. Expiries of one batch
// share a timestamp and an account keeps one snapshot per timestamp: it goes out once.
void State::ExportBalance(Ref ref, uint64_t timestamp_ns, ColdFacts& facts) const {
  if ((account(ref).flags & account_flags::kHistory) == 0) return;
  const AccountId& account_id = account(ref).id;
  const BalanceHistory& history = shard_of(ref).balance_history.at(ref);
  const AccountBalance* it =
      std::lower_bound(history.begin(), history.end(), timestamp_ns,
                       [](const AccountBalance& b, uint64_t t) { return b.timestamp_ns < t; });
  LEDGER_ASSERT(it != history.end() && it->timestamp_ns == timestamp_ns, timestamp_ns);
  for (auto back = facts.balances.rbegin();
       back != facts.balances.rend() && back->balance.timestamp_ns == timestamp_ns; ++back) {
    if (back->account_id == account_id) return;
  }
  facts.balances.push_back({account_id, *it});
}

// ---------------------------------------------------------------------------------------------
// Eviction

void State::EvictBefore(uint64_t before_ns) {
  LEDGER_REQUIRE(cold_ != nullptr && before_ns >= cold_before_ns_ &&
                     before_ns <= exported_before_ns_ && before_ns <= evictable_before_ns(),
                 before_ns, cold_before_ns_, exported_before_ns_);
  uint64_t from[kShardsMax] = {};
  uint64_t end_of[kShardsMax] = {};
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    from[shard] = shards_[shard]->transfers.begin_position();
    end_of[shard] = shards_[shard]->transfers.end_position();
  }
  // In log order: a post, void or expiry after its reservation, a reversal after its transfer.
  // The order first, then the work, with the cache misses of several transfers in flight.
  evictions_.clear();
  uint64_t expiry = expiries_->begin_position();
  while (true) {
    const uint32_t shard = OldestTransferShard(from, end_of, before_ns);
    const uint64_t transfer_ns =
        shard == kShardsMax ? before_ns : shards_[shard]->transfers.at(from[shard]).timestamp_ns;
    if (expiry < expiries_->end_position() && expiries_->at(expiry).timestamp_ns < transfer_ns) {
      evictions_.push_back({kShardsMax, expiry++});
      continue;
    }
    if (shard == kShardsMax) break;
    evictions_.push_back({shard, from[shard]++});
  }
  constexpr size_t kFetchAhead = 16;  // both accounts' records
  for (size_t i = 0; i < evictions_.size(); ++i) {
    if (i + kFetchAhead < evictions_.size()) PrefetchEviction(evictions_[i + kFetchAhead]);
    if (evictions_[i].shard == kShardsMax) {
      EvictExpiry();
    } else {
      EvictTransfer(evictions_[i].shard, evictions_[i].position);
    }
  }
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    shards_[shard]->transfers.DropFront(from[shard]);
    shards_[shard]->transfer_accounts.DropFront(from[shard]);
  }
  while (failures_.size() > 0 &&
         failures_.at(failures_.begin_position()).event.timestamp_ns < before_ns) {
    EvictFailure();
  }
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    shards_[shard]->transfer_index.EraseAll(erasures_[shard], erasure_scratch_);
    erasures_[shard].clear();
  }
  cold_before_ns_ = before_ns;
}

void State::PrefetchEviction(const Eviction& eviction) const {
  if (eviction.shard == kShardsMax) return;
  const TransferAccounts accounts =
      shards_[eviction.shard]->transfer_accounts.at(eviction.position);
  __builtin_prefetch(&account(accounts.debit_ref()), 1);
  __builtin_prefetch(&account(accounts.credit_ref()), 1);
}

void State::EvictTransfer(uint32_t shard, uint64_t position) {
  Shard& tables = *shards_[shard];
  const Ref ref = MakeRef(shard, tables.transfers.slot_of(position));
  const Transfer& record = tables.transfers.at(position);
  cold_digest_.transfers = ChainTransfer(cold_digest_.transfers, record);
  ++cold_digest_.transfer_count;
  // Its id: to the shard keeping its reservation state, or out of the index.
  const uint32_t id_hash = HashId(record.id.lo, record.id.hi);
  HashIndex& ids = shards_[HomeOf(record.id)]->transfer_index;
  if ((record.flags & transfer_flags::kPending) != 0 && tables.pending.contains(record.id)) {
    ids.Replace(id_hash, ref.bits(), kKeptBits | shard);
    tables.kept_ids.insert(record.id);
  } else {
    erasures_[HomeOf(record.id)].push_back(HashIndex::Erasure(id_hash, ref.bits()));
  }
  // What it resolved or reversed: older, so out of the window already.
  if ((record.flags & kResolveFlags) != 0) {
    LEDGER_ASSERT(tables.pending.at(record.pending_id).resolver_ref == ref, ref.bits());
    ForgetReservation(shard, record.pending_id);
  }
  if (!record.reverses_id.IsZero()) {
    const uint32_t home = HomeOf(record.credit_account_id);  // the reversed one's debit account
    auto it = shards_[home]->reversals.find(record.reverses_id);
    LEDGER_ASSERT(it != shards_[home]->reversals.end() && it->second.reversal_refs.front() == ref,
                  ref.bits());
    it->second.reversed = Amount::From(it->second.reversed.Get() - record.amount.Get());
    it->second.reversal_refs.erase(it->second.reversal_refs.begin());
    if (it->second.reversal_refs.empty()) shards_[home]->reversals.erase(it);
  }
  // Its places in the histories and the query index.
  ForEachQueryKey(
      record, [this](Ref other) -> const Transfer& { return transfer(other); },
      kTransferQueryFields,
      [&](uint32_t hash, auto&& same) { tables.transfer_query.RemoveOldest(hash, ref, same); });
  const TransferAccounts accounts = tables.transfer_accounts.at(position);
  for (const uint32_t bits : {accounts.debit, accounts.credit}) {
    const Ref account_ref = Ref::FromBits(bits & ~TransferAccounts::kHistoryBit);
    shard_of(account_ref).history.PopFront(account(account_ref), ref);
    if ((bits & TransferAccounts::kHistoryBit) != 0) {
      DropBalancesBefore(account_ref, record.timestamp_ns + 1);
    }
  }
}

void State::EvictExpiry() {
  const ExpiredRecord expired = expiries_->at(expiries_->begin_position());
  expiries_->DropFront();
  cold_digest_.expiries = ChainExpiry(cold_digest_.expiries, expired.id, expired.timestamp_ns);
  const PendingState& state = shards_[expired.shard]->pending.at(expired.id);
  DropBalancesBefore(state.debit_ref, expired.timestamp_ns + 1);
  DropBalancesBefore(state.credit_ref, expired.timestamp_ns + 1);
  ForgetReservation(expired.shard, expired.id);
}

void State::EvictFailure() {
  const uint64_t position = failures_.begin_position();
  const FailureRecord& failure = failures_.at(position);
  cold_digest_.failures = ChainFailure(cold_digest_.failures, failure);
  ++cold_digest_.failure_count;
  const uint32_t home = HomeOf(failure.event.id);
  const uint32_t slot = static_cast<uint32_t>(failures_.slot_of(position));
  erasures_[home].push_back(
      HashIndex::Erasure(HashId(failure.event.id.lo, failure.event.id.hi), slot | kFailedBit));
  failures_.DropFront(position + 1);
}

void State::ForgetReservation(uint32_t home, const TransferId& id) {
  shards_[HomeOf(id)]->transfer_index.Erase(HashId(id.lo, id.hi), kKeptBits | home);
  LEDGER_ASSERT(shards_[home]->kept_ids.erase(id) == 1, home);
  LEDGER_ASSERT(shards_[home]->pending.erase(id) == 1, home);
}

void State::DropBalancesBefore(Ref account_ref, uint64_t before_ns) {
  if ((account(account_ref).flags & account_flags::kHistory) == 0) return;
  auto& histories = shard_of(account_ref).balance_history;
  auto it = histories.find(account_ref);
  if (it == histories.end()) return;
  it->second.DropBefore(before_ns);
}

}  // namespace ledger::engine::internal
