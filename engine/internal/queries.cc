// Read-only queries over the state.
#include <algorithm>
#include <limits>

#include "engine/internal/state.h"

namespace ledger::engine::internal {

namespace {

uint64_t EffectiveMax(uint64_t timestamp_max_ns) {
  return timestamp_max_ns == 0 ? std::numeric_limits<uint64_t>::max() : timestamp_max_ns;
}

size_t EffectiveLimit(uint32_t limit, size_t out_size) {
  return limit == 0 ? out_size : std::min<size_t>(limit, out_size);
}

// Where ledger-wide queries find a kind of record on a shard.
template <typename Record>
struct QueryTable;
template <>
struct QueryTable<AccountRecord> {
  static constexpr VirtualArray<AccountRecord> Shard::*kRecords = &Shard::accounts;
  static constexpr QueryIndex Shard::*kIndex = &Shard::account_query;
  static constexpr uint32_t kFields = kAccountQueryFields;
};
template <>
struct QueryTable<Transfer> {
  static constexpr RingArray<Transfer> Shard::*kRecords = &Shard::transfers;
  static constexpr QueryIndex Shard::*kIndex = &Shard::transfer_query;
  static constexpr uint32_t kFields = kTransferQueryFields;
};

// A record holding the filter's values: looked up in the index as a new record would be.
template <typename Record>
Record ProbeOf(const QueryFilter& filter) {
  Record probe{};
  probe.user_data_128 = filter.user_data_128;
  probe.user_data_64 = filter.user_data_64;
  probe.user_data_32 = filter.user_data_32;
  probe.ledger = filter.ledger;
  probe.code = filter.code;
  return probe;
}

template <typename Record>
bool MatchesQuery(const Record& record, const QueryFilter& filter) {
  return (filter.user_data_128.IsZero() || record.user_data_128 == filter.user_data_128) &&
         (filter.user_data_64 == 0 || record.user_data_64 == filter.user_data_64) &&
         (filter.user_data_32 == 0 || record.user_data_32 == filter.user_data_32) &&
         (filter.ledger == 0 || record.ledger == filter.ledger) &&
         (filter.code == 0 || record.code == filter.code);
}

// The first of n positions whose timestamp is at least t (timestamps rise with the position).
template <typename TimestampAt>
uint64_t FirstAtOrAfter(uint64_t n, uint64_t t, TimestampAt&& timestamp_at) {
  uint64_t low = 0;
  while (n > 0) {
    const uint64_t half = n / 2;
    if (timestamp_at(low + half) < t) {
      low += half + 1;
      n -= half + 1;
    } else {
      n = half;
    }
  }
  return low;
}

}  // namespace

std::optional<Ledger> State::LookupLedger(uint32_t ledger_id) const {
  auto it = ledger_index_.find(ledger_id);
  if (it == ledger_index_.end()) return std::nullopt;
  return ledgers_[it->second];
}

size_t State::QueryLedgers(uint32_t from_id, std::span<Ledger> out) const {
  // A max-heap by id in out[0, count): its top is the highest id kept, the first to go.
  const auto by_id = [](const Ledger& a, const Ledger& b) { return a.id < b.id; };
  size_t count = 0;
  for (const Ledger& ledger : ledgers_) {
    if (ledger.id < from_id) continue;
    if (count < out.size()) {
      out[count++] = ledger;
      std::push_heap(out.begin(), out.begin() + static_cast<ptrdiff_t>(count), by_id);
    } else if (count > 0 && ledger.id < out[0].id) {
      std::pop_heap(out.begin(), out.end(), by_id);
      out.back() = ledger;
      std::push_heap(out.begin(), out.end(), by_id);
    }
  }
  std::sort_heap(out.begin(), out.begin() + static_cast<ptrdiff_t>(count), by_id);
  return count;
}

std::optional<Account> State::LookupAccount(AccountId id) const {
  const Ref ref = FindAccount(id);
  if (ref == kNoRef) return std::nullopt;
  return ToAccount(ref);
}

std::optional<Transfer> State::LookupTransfer(TransferId id) const { return FindAnyTransfer(id); }

std::optional<FailedTransfer> State::LookupFailedTransfer(TransferId id) const {
  const uint32_t payload = FindTransferPayload(id, HashId(id.lo, id.hi));
  if (payload == HashIndex::kNotFound) {
    const std::optional<ColdTransfer> cold = FindCold(id);
    if (!cold || cold->failure == CreateTransferResult::kOk) return std::nullopt;
    return FailedTransfer{cold->record, cold->failure};
  }
  if ((payload & kFailedBit) == 0 || IsKept(payload)) return std::nullopt;  // a stored transfer
  const FailureRecord& failure = failures_[payload & ~kFailedBit];
  return FailedTransfer{failure.event, failure.code};
}

State::HeldStatus State::GetHeldStatus(const Transfer& reservation) const {
  const uint32_t payload =
      FindTransferPayload(reservation.id, HashId(reservation.id.lo, reservation.id.hi));
  const PendingState* state = nullptr;
  if ((payload & kFailedBit) == 0) state = &pending(Ref::FromBits(payload));
  if (payload != HashIndex::kNotFound && IsKept(payload))
    state = &KeptState(payload, reservation.id);
  HeldStatus held;
  if (state != nullptr) {
    held.status = state->status;
    held.expires_at_ns = state->expires_at_ns;
    if (state->resolver_ref != kNoRef) held.resolver = transfer(state->resolver_ref);
    return held;
  }
  // Its state was let go of with its post, void or expiry: the cold store tells which.
  const ColdResolution resolution = cold_->FindResolution(reservation.id, cold_before_ns_);
  held.status = resolution.status;
  if (reservation.timeout_s != 0) {
    held.expires_at_ns = reservation.timestamp_ns + uint64_t{reservation.timeout_s} * 1'000'000'000;
  }
  if (resolution.status == PendingStatus::kPosted || resolution.status == PendingStatus::kVoided) {
    held.resolver = resolution.resolver;
  }
  return held;
}

PendingStatus State::GetPendingStatus(TransferId id) const {
  const std::optional<Transfer> record = FindAnyTransfer(id);
  if (!record || (record->flags & transfer_flags::kPending) == 0) return PendingStatus::kNone;
  return GetHeldStatus(*record).status;
}

Amount State::GetPostedAmount(TransferId pending_id) const {
  const std::optional<Transfer> record = FindAnyTransfer(pending_id);
  if (!record || (record->flags & transfer_flags::kPending) == 0) return {};
  const HeldStatus held = GetHeldStatus(*record);
  if (held.status != PendingStatus::kPosted) return {};
  return held.resolver->amount;
}

// The record lives on its debit account's shard, and so do its reversals' sums.
ColdReversals State::ReversalsOf(const Transfer& record) const {
  return AllReversals(HomeOf(record.debit_account_id), record.id,
                      record.timestamp_ns < cold_before_ns_);
}

Amount State::GetReversedAmount(TransferId id) const {
  const std::optional<Transfer> record = FindAnyTransfer(id);
  return record ? ReversalsOf(*record).reversed : Amount{};
}

std::optional<TransferStatus> State::GetTransferStatus(TransferId id) const {
  const std::optional<Transfer> record = FindAnyTransfer(id);
  if (!record) return std::nullopt;
  TransferStatus status;
  if ((record->flags & transfer_flags::kPending) != 0) {
    const HeldStatus held = GetHeldStatus(*record);
    status.pending_status = held.status;
    status.expires_at_ns = held.expires_at_ns;
    if (held.status == PendingStatus::kPosted) status.posted_amount = held.resolver->amount;
    if (held.status != PendingStatus::kPending) {
      status.released_amount = Amount::From(record->amount.Get() - status.posted_amount.Get());
    }
    if (held.resolver) status.resolved_by = held.resolver->id;
  }
  const ColdReversals reversals = ReversalsOf(*record);
  status.reversed_amount = reversals.reversed;
  status.reversal_count = static_cast<uint32_t>(reversals.count);
  return status;
}

size_t State::GetReversals(TransferId id, std::span<TransferId> out) const {
  const std::optional<Transfer> record = FindAnyTransfer(id);
  if (!record) return 0;
  // The cold ones first: they are the older.
  size_t count = 0;
  if (record->timestamp_ns < cold_before_ns_) {
    const ColdReversals cold = cold_->FindReversals(id, cold_before_ns_, out);
    count = std::min<size_t>(out.size(), cold.count);
  }
  const ReversalState* reversals = FindReversals(HomeOf(record->debit_account_id), id);
  if (reversals == nullptr) return count;
  for (size_t i = 0; i < reversals->reversal_refs.size() && count < out.size(); ++i) {
    out[count++] = transfer(reversals->reversal_refs[i]).id;
  }
  return count;
}

// Cold below the boundary, then the window above it (or the other way round when reversed):
// read_cold and read_hot each take the filter narrowed to their side and the room left.
template <typename Filter, typename Record, typename ReadCold, typename ReadHot>
size_t State::SplitAtBoundary(const Filter& filter, bool reversed, std::span<Record> out,
                              ReadCold&& read_cold, ReadHot&& read_hot) const {
  size_t count = 0;
  const auto cold = [&] {
    if (cold_before_ns_ == 0 || filter.timestamp_min_ns >= cold_before_ns_ || count == out.size()) {
      return;
    }
    Filter below = filter;
    below.timestamp_max_ns = std::min(EffectiveMax(filter.timestamp_max_ns), cold_before_ns_ - 1);
    below.limit = static_cast<uint32_t>(out.size() - count);
    count += read_cold(below, out.subspan(count));
  };
  const auto hot = [&] {
    if (count == out.size()) return;
    Filter above = filter;
    above.timestamp_min_ns = std::max(filter.timestamp_min_ns, cold_before_ns_);
    count += read_hot(above, out.subspan(count));
  };
  if (!reversed) {
    cold();
    hot();
  } else {
    hot();
    cold();
  }
  return count;
}

size_t State::GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const {
  const Ref account_ref = FindAccount(filter.account_id);
  const bool debits = (filter.flags & filter_flags::kDebits) != 0;
  const bool credits = (filter.flags & filter_flags::kCredits) != 0;
  if (account_ref == kNoRef || (!debits && !credits) ||
      filter.timestamp_min_ns > EffectiveMax(filter.timestamp_max_ns)) {
    return 0;
  }
  return SplitAtBoundary(
      filter, (filter.flags & filter_flags::kReversed) != 0,
      out.first(EffectiveLimit(filter.limit, out.size())),
      [&](const AccountFilter& below, std::span<Transfer> room) {
        return cold_->GetAccountTransfers(below, room);
      },
      [&](const AccountFilter& above, std::span<Transfer> room) {
        return GetHotAccountTransfers(account_ref, above, room);
      });
}

size_t State::GetHotAccountTransfers(Ref account_ref, const AccountFilter& filter,
                                     std::span<Transfer> out) const {
  const bool debits = (filter.flags & filter_flags::kDebits) != 0;
  const bool credits = (filter.flags & filter_flags::kCredits) != 0;
  const uint64_t timestamp_max_ns = EffectiveMax(filter.timestamp_max_ns);
  if (filter.timestamp_min_ns > timestamp_max_ns) return 0;
  // The list holds refs (as their bits) in booking order, so a time range is two binary
  // searches.
  const std::span<const uint32_t> list = shard_of(account_ref).history.List(account(account_ref));
  const auto booked_ns = [&](uint32_t bits) { return transfer(Ref::FromBits(bits)).timestamp_ns; };
  auto first = std::lower_bound(list.begin(), list.end(), filter.timestamp_min_ns,
                                [&](uint32_t bits, uint64_t t) { return booked_ns(bits) < t; });
  auto last = std::upper_bound(first, list.end(), timestamp_max_ns,
                               [&](uint64_t t, uint32_t bits) { return t < booked_ns(bits); });
  const size_t limit = out.size();
  const uint64_t value_time_max_ns = EffectiveMax(filter.value_time_max_ns);
  size_t count = 0;
  auto take = [&](uint32_t bits) {
    const Transfer& transfer = this->transfer(Ref::FromBits(bits));
    const bool is_debit = transfer.debit_account_id == filter.account_id;
    const uint64_t value_time_ns = ValueTimeOf(transfer);
    if ((is_debit ? debits : credits) && (filter.code == 0 || filter.code == transfer.code) &&
        value_time_ns >= filter.value_time_min_ns && value_time_ns <= value_time_max_ns) {
      out[count++] = transfer;
    }
  };
  if ((filter.flags & filter_flags::kReversed) == 0) {
    for (auto it = first; it != last && count < limit; ++it) take(*it);
  } else {
    for (auto it = last; it != first && count < limit;) take(*--it);
  }
  return count;
}

// A shard's candidates are the shortest of the postings of the filter's indexed fields, or,
// when it names none of them, the shard's whole table; either way in booking order, so the
// time range is two binary searches, and Next reads records from one end of the range until
// one matches. Costs the records read: with only a transfer ledger or code, that is every
// transfer passed over.
template <typename Record>
class State::QueryCursor {
 public:
  QueryCursor(const State& state, const QueryFilter& filter, uint32_t shard)
      : state_(state), filter_(filter), shard_(shard) {
    const Shard& tables = *state.shards_[shard];
    state.ForEachQueryKey(ProbeOf<Record>(filter), RecordAt(), Table::kFields,
                          [&](uint32_t hash, auto&& same) {
                            const Postings postings = (tables.*Table::kIndex).Get(hash, same);
                            if (!indexed_ || postings.refs().size() < postings_.refs().size()) {
                              postings_ = postings;
                            }
                            indexed_ = true;
                          });
    const uint64_t size = indexed_ ? postings_.refs().size() : (tables.*Table::kRecords).size();
    const auto timestamp_at = [&](uint64_t position) { return TimestampOf(RefAt(position)); };
    first_ = FirstAtOrAfter(size, filter.timestamp_min_ns, timestamp_at);
    const uint64_t max_ns = EffectiveMax(filter.timestamp_max_ns);
    end_ = max_ns == std::numeric_limits<uint64_t>::max()
               ? size
               : FirstAtOrAfter(size, max_ns + 1, timestamp_at);
  }

  // The next match in the filter's order, or kNoRef when the shard has no more.
  Ref Next() {
    while (first_ < end_) {
      const Ref ref = RefAt(filter_.reversed ? --end_ : first_++);
      if (MatchesQuery(RecordAt()(ref), filter_)) return ref;
    }
    return kNoRef;
  }

  uint64_t TimestampOf(Ref ref) const { return RecordAt()(ref).timestamp_ns; }

 private:
  using Table = QueryTable<Record>;
  auto RecordAt() const {
    return [this](Ref ref) -> const Record& {
      return (state_.shard_of(ref).*Table::kRecords)[state_.slot_of(ref)];
    };
  }
  // The candidate at `position` of the postings, or of the table's window.
  Ref RefAt(uint64_t position) const {
    if (indexed_) return Ref::FromBits(postings_.refs()[position]);
    const auto& table = state_.shards_[shard_]->*Table::kRecords;
    return state_.MakeRef(shard_, table.slot_of(table.begin_position() + position));
  }

  const State& state_;
  const QueryFilter& filter_;
  uint32_t shard_;
  bool indexed_ = false;
  Postings postings_;
  uint64_t first_ = 0;  // the candidates not yet read: positions [first_, end_)
  uint64_t end_ = 0;
};

// The shards' matches merged by timestamp: each shard is read only as far as the page needs.
template <typename Record>
std::vector<Ref> State::Query(const QueryFilter& filter, uint32_t limit) const {
  std::vector<Ref> found;
  if (limit == 0 || filter.timestamp_min_ns > EffectiveMax(filter.timestamp_max_ns)) return found;
  std::vector<QueryCursor<Record>> cursors;
  std::vector<Ref> heads;  // each shard's next match
  cursors.reserve(shard_count_);
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    cursors.emplace_back(*this, filter, shard);
    heads.push_back(cursors.back().Next());
  }
  while (found.size() < limit) {
    uint32_t best = shard_count_;
    for (uint32_t shard = 0; shard < shard_count_; ++shard) {
      if (heads[shard] == kNoRef) continue;
      const bool earlier = best == shard_count_ || cursors[shard].TimestampOf(heads[shard]) <
                                                       cursors[best].TimestampOf(heads[best]);
      if (best == shard_count_ || earlier != filter.reversed) best = shard;
    }
    if (best == shard_count_) break;
    found.push_back(heads[best]);
    heads[best] = cursors[best].Next();
  }
  return found;
}

size_t State::QueryAccounts(const QueryFilter& filter, std::span<Account> out) const {
  const std::vector<Ref> found =
      Query<AccountRecord>(filter, static_cast<uint32_t>(EffectiveLimit(filter.limit, out.size())));
  for (size_t i = 0; i < found.size(); ++i) out[i] = ToAccount(found[i]);
  return found.size();
}

size_t State::QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const {
  if (filter.timestamp_min_ns > EffectiveMax(filter.timestamp_max_ns)) return 0;
  return SplitAtBoundary(
      filter, filter.reversed, out.first(EffectiveLimit(filter.limit, out.size())),
      [&](const QueryFilter& below, std::span<Transfer> room) {
        return cold_->QueryTransfers(below, room);
      },
      [&](const QueryFilter& above, std::span<Transfer> room) {
        const std::vector<Ref> found = Query<Transfer>(above, static_cast<uint32_t>(room.size()));
        for (size_t i = 0; i < found.size(); ++i) room[i] = transfer(found[i]);
        return found.size();
      });
}

void State::IndexAccount(Ref ref) {
  QueryIndex& index = shard_of(ref).account_query;
  ForEachQueryKey(
      account(ref), [this](Ref other) -> const AccountRecord& { return account(other); },
      kAccountQueryFields, [&](uint32_t hash, auto&& same) { index.Add(hash, ref, same); });
}

void State::UnindexAccount(Ref ref) {
  QueryIndex& index = shard_of(ref).account_query;
  ForEachQueryKey(
      account(ref), [this](Ref other) -> const AccountRecord& { return account(other); },
      kAccountQueryFields,
      [&](uint32_t hash, auto&& same) { index.RemoveNewest(hash, ref, same); });
}

void State::UnindexTransfer(Ref ref) {
  QueryIndex& index = shard_of(ref).transfer_query;
  ForEachQueryKey(
      transfer(ref), [this](Ref other) -> const Transfer& { return transfer(other); },
      kTransferQueryFields,
      [&](uint32_t hash, auto&& same) { index.RemoveNewest(hash, ref, same); });
}

size_t State::GetAccountBalances(const AccountFilter& filter, std::span<AccountBalance> out) const {
  const Ref ref = FindAccount(filter.account_id);
  if (ref == kNoRef || filter.timestamp_min_ns > EffectiveMax(filter.timestamp_max_ns)) return 0;
  return SplitAtBoundary(
      filter, (filter.flags & filter_flags::kReversed) != 0,
      out.first(EffectiveLimit(filter.limit, out.size())),
      [&](const AccountFilter& below, std::span<AccountBalance> room) {
        return cold_->GetAccountBalances(below, room);
      },
      [&](const AccountFilter& above, std::span<AccountBalance> room) {
        return GetHotAccountBalances(ref, above, room);
      });
}

size_t State::GetHotAccountBalances(Ref ref, const AccountFilter& filter,
                                    std::span<AccountBalance> out) const {
  const uint64_t timestamp_max_ns = EffectiveMax(filter.timestamp_max_ns);
  if (filter.timestamp_min_ns > timestamp_max_ns) return 0;
  const auto& balance_history = shard_of(ref).balance_history;
  auto history = balance_history.find(ref);
  if (history == balance_history.end()) return 0;
  const BalanceHistory& snapshots = history->second;
  auto first =
      std::lower_bound(snapshots.begin(), snapshots.end(), filter.timestamp_min_ns,
                       [](const AccountBalance& b, uint64_t t) { return b.timestamp_ns < t; });
  auto last =
      std::upper_bound(first, snapshots.end(), timestamp_max_ns,
                       [](uint64_t t, const AccountBalance& b) { return t < b.timestamp_ns; });
  const size_t limit = out.size();
  size_t count = 0;
  if ((filter.flags & filter_flags::kReversed) == 0) {
    for (auto it = first; it != last && count < limit; ++it) out[count++] = *it;
  } else {
    for (auto it = last; it != first && count < limit;) out[count++] = *--it;
  }
  return count;
}

std::optional<AccountBalance> State::GetBalanceAsOf(AccountId id, uint64_t timestamp_ns) const {
  const Ref ref = FindAccount(id);
  if (ref == kNoRef) return std::nullopt;
  const AccountRecord& account = this->account(ref);
  if ((account.flags & account_flags::kHistory) == 0 || timestamp_ns < account.timestamp_ns) {
    return std::nullopt;
  }
  const auto& balance_history = shard_of(ref).balance_history;
  auto history = balance_history.find(ref);
  if (history != balance_history.end()) {
    const BalanceHistory& snapshots = history->second;
    auto after =
        std::upper_bound(snapshots.begin(), snapshots.end(), timestamp_ns,
                         [](uint64_t t, const AccountBalance& b) { return t < b.timestamp_ns; });
    if (after != snapshots.begin()) return *(after - 1);
  }
  // None in the window at or before that time: the newest cold one, if any.
  if (cold_before_ns_ != 0 && account.timestamp_ns < cold_before_ns_) {
    AccountFilter filter;
    filter.account_id = id;
    filter.timestamp_max_ns = std::min(timestamp_ns, cold_before_ns_ - 1);
    filter.flags = filter_flags::kReversed;
    filter.limit = 1;
    AccountBalance balance;
    if (cold_->GetAccountBalances(filter, {&balance, 1}) == 1) return balance;
  }
  return AccountBalance{{}, {}, {}, {}, account.timestamp_ns, 0};
}

std::optional<PostedAtValueTime> State::GetPostedAtValueTime(AccountId id,
                                                             uint64_t value_time_ns) const {
  const Ref account_ref = FindAccount(id);
  if (account_ref == kNoRef) return std::nullopt;
  PostedAtValueTime posted;
  const auto add = [&](const Transfer& transfer) {
    if ((transfer.flags & (transfer_flags::kPending | transfer_flags::kVoidPending)) != 0 ||
        ValueTimeOf(transfer) > value_time_ns) {
      return;
    }
    // Sums of what the account's posted balances hold, so they cannot overflow either.
    Amount& side = transfer.debit_account_id == id ? posted.debits_posted : posted.credits_posted;
    side = Amount::From(side.Get() + transfer.amount.Get());
    ++posted.transfer_count;
  };
  // The cold part a page at a time, then the window.
  AccountFilter page;
  page.account_id = id;
  std::vector<Transfer> cold(cold_before_ns_ == 0 ? 0 : 1024);
  while (cold_before_ns_ != 0 && page.timestamp_min_ns < cold_before_ns_) {
    page.timestamp_max_ns = cold_before_ns_ - 1;
    const size_t count = cold_->GetAccountTransfers(page, cold);
    for (size_t i = 0; i < count; ++i) add(cold[i]);
    if (count < cold.size()) break;
    page.timestamp_min_ns = cold[count - 1].timestamp_ns + 1;
  }
  for (const uint32_t bits : shard_of(account_ref).history.List(account(account_ref))) {
    add(transfer(Ref::FromBits(bits)));
  }
  return posted;
}

TrialBalance State::GetTrialBalance(uint32_t ledger_id) const {
  TrialBalance trial;
  trial.ledger = ledger_id;
  for (uint32_t shard = 0; shard < shard_count_; ++shard) {
    for (uint64_t local_slot = 0; local_slot < shards_[shard]->accounts.size(); ++local_slot) {
      const Ref ref = MakeRef(shard, local_slot);
      if (account(ref).ledger != ledger_id) continue;
      const Balances balances = GetBalances(ref);
      ++trial.account_count;
      trial.debits_pending.Add(balances.debits_pending);
      trial.debits_posted.Add(balances.debits_posted);
      trial.credits_pending.Add(balances.credits_pending);
      trial.credits_posted.Add(balances.credits_posted);
    }
  }
  return trial;
}

EngineStats State::GetStats() const {
  EngineStats stats;
  stats.ledger_count = ledgers_.size();
  stats.account_count = account_count();
  stats.transfer_count = transfer_count();
  stats.pending_count = pending_count();
  stats.failed_transfer_count = cold_digest_.failure_count + failures_.size();
  stats.expired_count = expired_count_;
  uint64_t snapshot_bytes = 0;
  uint64_t reversal_bytes = 0;
  for (uint32_t index = 0; index < shard_count_; ++index) {
    const Shard& shard = *shards_[index];
    stats.account_record_bytes += shard.accounts.used_bytes();
    stats.account_index_bytes += shard.account_index.bytes();
    stats.transfer_record_bytes += shard.transfers.used_bytes();
    stats.transfer_index_bytes += shard.transfer_index.bytes();
    stats.history_bytes += shard.history.bytes();
    stats.account_query_index_bytes += shard.account_query.bytes();
    stats.transfer_query_index_bytes += shard.transfer_query.bytes();
    // flat_hash_map: one control byte plus the slot per bucket.
    stats.pending_bytes +=
        shard.pending.capacity() * (sizeof(std::pair<TransferId, PendingState>) + 1) +
        shard.pending_balances.capacity() * (sizeof(std::pair<Ref, PendingBalances>) + 1) +
        shard.expiry_queue.size() * sizeof(ExpiryEntry);
    for (const auto& [ref, snapshots] : shard.balance_history) {
      snapshot_bytes += snapshots.capacity() * sizeof(AccountBalance);
    }
    reversal_bytes +=
        shard.reversals.capacity() * (sizeof(std::pair<TransferId, ReversalState>) + 1);
  }
  stats.other_bytes = failures_.used_bytes() + snapshot_bytes + reversal_bytes +
                      ledgers_.capacity() * sizeof(Ledger);
  stats.change_feed_bytes = changes_.capacity() * sizeof(Change);
  return stats;
}

}  // namespace ledger::engine::internal
