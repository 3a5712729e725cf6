// History beyond memory: the engine keeps a window of recent facts in memory and hands older
// ones to a cold store (docs/cold-store.md).
//
// A fact is booked once and never changes: a stored transfer, a recorded failure, the expiry
// of a reservation, and a balance snapshot of an account with the history flag. The engine
// copies the facts booked before a timestamp out (Engine::ExportCold), the caller makes them
// durable in its cold store, and then tells the engine to forget them (Engine::EvictBefore).
// From then on the engine asks the store (a ColdReader) whatever it needs of them, for a batch
// and for a query, and answers exactly as if it had kept everything: results, queries and the
// state hash never depend on where the boundary lies.
//
// What stays in memory whatever its age: accounts, reservations that are pending or whose
// post, void or expiry is still in the window, and the reversals of a transfer that are in the
// window.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/snapshot.h"
#include "engine/types.h"

namespace ledger::engine {

// ExpiryFact (a reservation's release, at a batch's timestamp) is in engine/snapshot.h.

// A balance snapshot of an account with account_flags::kHistory (GetAccountBalances).
struct BalanceFact {
  AccountId account_id;
  AccountBalance balance;
};

// The facts booked in [begin_ns, end_ns), each list in booking order (balances: by time, the
// debit account's before the credit account's, expiries' in the order they were released).
// Two exceptions a store must take: after a restore the engine exports again from its boundary,
// so the first facts may be ones the store holds already (it keeps its own); and a recorded
// failure of an imported chain may be booked before begin_ns (imports book their own times, and
// failures go out in log order), so failures are new by id, not by time.
struct ColdFacts {
  uint64_t begin_ns = 0;
  uint64_t end_ns = 0;
  std::vector<Transfer> transfers;
  std::vector<FailureRecord> failures;
  std::vector<ExpiryFact> expiries;
  std::vector<BalanceFact> balances;
  // Empty, keeping the lists' capacity.
  void Clear() {
    begin_ns = 0;
    end_ns = 0;
    transfers.clear();
    failures.clear();
    expiries.clear();
    balances.clear();
  }
};

// A stored transfer, or with a code other than kOk the failed event as booked and its code.
struct ColdTransfer {
  Transfer record;
  CreateTransferResult failure = CreateTransferResult::kOk;
};

// How a reservation ended: posted or voided by a transfer, or expired at a time.
struct ColdResolution {
  PendingStatus status = PendingStatus::kPending;  // kPending: nothing found
  Transfer resolver{};                             // kPosted / kVoided
  uint64_t expired_at_ns = 0;                      // kExpired
};

struct ColdReversals {
  Amount reversed;     // the sum of their amounts
  uint64_t count = 0;  // how many
};

// The cold store as the engine reads it: facts booked before `before_ns` (the engine's cold
// boundary, below which the store holds every fact). Called by the engine's threads, several
// at once while a batch runs on several shards: every method is const and thread-safe. A store
// that cannot read must not answer "nothing": it stops the process (a missing fact would change
// results), so reads return values, not statuses.
class ColdReader {
 public:
  virtual ~ColdReader() = default;
  // The transfer or recorded failure with this id, if its booking is before before_ns.
  virtual std::optional<ColdTransfer> FindTransfer(const TransferId& id,
                                                   uint64_t before_ns) const = 0;
  // Brings towards the cache what FindTransfer of `id` reads first (a store's id filter): the
  // apply loop calls it a few events ahead, as it prefetches its own index.
  virtual void PrefetchTransfer(const TransferId& /*id*/) const {}
  virtual ColdResolution FindResolution(const TransferId& pending_id, uint64_t before_ns) const = 0;
  // The reversals of `id` booked before before_ns; their ids, oldest first, in ids_out (up to
  // its size).
  virtual ColdReversals FindReversals(const TransferId& id, uint64_t before_ns,
                                      std::span<TransferId> ids_out) const = 0;
  // As Engine::GetAccountTransfers, GetAccountBalances and QueryTransfers over the store's
  // facts; the engine has already narrowed the time range to below its boundary.
  virtual size_t GetAccountTransfers(const AccountFilter& filter,
                                     std::span<Transfer> out) const = 0;
  virtual size_t GetAccountBalances(const AccountFilter& filter,
                                    std::span<AccountBalance> out) const = 0;
  virtual size_t QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const = 0;
};

}  // namespace ledger::engine
