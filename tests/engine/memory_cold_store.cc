#include "tests/engine/memory_cold_store.h"

#include <algorithm>
#include <limits>

namespace ledger::engine::testing {

namespace {

uint64_t MaxOf(uint64_t timestamp_max_ns) {
  return timestamp_max_ns == 0 ? std::numeric_limits<uint64_t>::max() : timestamp_max_ns;
}

size_t LimitOf(uint32_t limit, size_t out_size) {
  return limit == 0 ? out_size : std::min<size_t>(limit, out_size);
}

// Calls take(record) on records in order (or reversed) until it has taken `limit`.
template <typename Record, typename Take>
size_t Walk(const std::vector<Record>& records, bool reversed, size_t limit, Take&& take) {
  size_t count = 0;
  for (size_t k = 0; k < records.size() && count < limit; ++k) {
    if (take(records[reversed ? records.size() - 1 - k : k], count)) ++count;
  }
  return count;
}

}  // namespace

// Keeps what it holds (facts before end_ns_, and failures by id): see ColdFacts.
void MemoryColdStore::Add(const ColdFacts& facts) {
  for (const Transfer& transfer : facts.transfers) {
    if (transfer.timestamp_ns < end_ns_) continue;
    transfers_.push_back(transfer);
    by_id_[{transfer.id.lo, transfer.id.hi}] = {transfer, CreateTransferResult::kOk};
  }
  for (const FailureRecord& failure : facts.failures) {
    if (!by_id_
             .try_emplace({failure.event.id.lo, failure.event.id.hi},
                          ColdTransfer{failure.event, failure.code})
             .second) {
      continue;
    }
    failures_.push_back(failure);
  }
  for (const ExpiryFact& expiry : facts.expiries) {
    if (expiry.timestamp_ns >= end_ns_) expiries_.push_back(expiry);
  }
  for (const BalanceFact& balance : facts.balances) {
    if (balance.balance.timestamp_ns >= end_ns_) balances_.push_back(balance);
  }
  end_ns_ = std::max(end_ns_, facts.end_ns);
}

std::optional<ColdTransfer> MemoryColdStore::FindTransfer(const TransferId& id,
                                                          uint64_t before_ns) const {
  auto it = by_id_.find({id.lo, id.hi});
  if (it == by_id_.end() || it->second.record.timestamp_ns >= before_ns) return std::nullopt;
  return it->second;
}

ColdResolution MemoryColdStore::FindResolution(const TransferId& pending_id,
                                               uint64_t before_ns) const {
  ColdResolution resolution;
  for (const Transfer& transfer : transfers_) {
    if (transfer.timestamp_ns >= before_ns || transfer.pending_id != pending_id) continue;
    resolution.status = (transfer.flags & transfer_flags::kPostPending) != 0
                            ? PendingStatus::kPosted
                            : PendingStatus::kVoided;
    resolution.resolver = transfer;
    return resolution;
  }
  for (const ExpiryFact& expiry : expiries_) {
    if (expiry.timestamp_ns >= before_ns || expiry.id != pending_id) continue;
    resolution.status = PendingStatus::kExpired;
    resolution.expired_at_ns = expiry.timestamp_ns;
  }
  return resolution;
}

ColdReversals MemoryColdStore::FindReversals(const TransferId& id, uint64_t before_ns,
                                             std::span<TransferId> ids_out) const {
  ColdReversals reversals;
  for (const Transfer& transfer : transfers_) {
    if (transfer.timestamp_ns >= before_ns || transfer.reverses_id != id) continue;
    if (reversals.count < ids_out.size()) ids_out[reversals.count] = transfer.id;
    reversals.reversed = Amount::From(reversals.reversed.Get() + transfer.amount.Get());
    ++reversals.count;
  }
  return reversals;
}

size_t MemoryColdStore::GetAccountTransfers(const AccountFilter& filter,
                                            std::span<Transfer> out) const {
  const bool debits = (filter.flags & filter_flags::kDebits) != 0;
  const bool credits = (filter.flags & filter_flags::kCredits) != 0;
  const uint64_t max_ns = MaxOf(filter.timestamp_max_ns);
  const uint64_t value_max_ns = MaxOf(filter.value_time_max_ns);
  return Walk(transfers_, (filter.flags & filter_flags::kReversed) != 0,
              LimitOf(filter.limit, out.size()), [&](const Transfer& t, size_t count) {
                const bool side = (t.debit_account_id == filter.account_id && debits) ||
                                  (t.credit_account_id == filter.account_id && credits);
                const uint64_t value_ns = ValueTimeOf(t);
                if (!side || t.timestamp_ns < filter.timestamp_min_ns || t.timestamp_ns > max_ns ||
                    (filter.code != 0 && t.code != filter.code) ||
                    value_ns < filter.value_time_min_ns || value_ns > value_max_ns) {
                  return false;
                }
                out[count] = t;
                return true;
              });
}

size_t MemoryColdStore::GetAccountBalances(const AccountFilter& filter,
                                           std::span<AccountBalance> out) const {
  const uint64_t max_ns = MaxOf(filter.timestamp_max_ns);
  return Walk(balances_, (filter.flags & filter_flags::kReversed) != 0,
              LimitOf(filter.limit, out.size()), [&](const BalanceFact& b, size_t count) {
                if (b.account_id != filter.account_id ||
                    b.balance.timestamp_ns < filter.timestamp_min_ns ||
                    b.balance.timestamp_ns > max_ns) {
                  return false;
                }
                out[count] = b.balance;
                return true;
              });
}

size_t MemoryColdStore::QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const {
  const uint64_t max_ns = MaxOf(filter.timestamp_max_ns);
  return Walk(transfers_, filter.reversed, LimitOf(filter.limit, out.size()),
              [&](const Transfer& t, size_t count) {
                if (t.timestamp_ns < filter.timestamp_min_ns || t.timestamp_ns > max_ns ||
                    (!filter.user_data_128.IsZero() && t.user_data_128 != filter.user_data_128) ||
                    (filter.user_data_64 != 0 && t.user_data_64 != filter.user_data_64) ||
                    (filter.user_data_32 != 0 && t.user_data_32 != filter.user_data_32) ||
                    (filter.ledger != 0 && t.ledger != filter.ledger) ||
                    (filter.code != 0 && t.code != filter.code)) {
                  return false;
                }
                out[count] = t;
                return true;
              });
}

}  // namespace ledger::engine::testing
