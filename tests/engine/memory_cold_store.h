// A cold store in memory for tests: every fact exported, answered by scanning, so simple that
// it is obviously right (the on-disk store is compared with the same engine behaviour).
#pragma once

#include <map>
#include <utility>
#include <vector>

#include "engine/cold.h"

namespace ledger::engine::testing {

class MemoryColdStore : public ColdReader {
 public:
  void Add(const ColdFacts& facts);
  uint64_t transfer_count() const { return transfers_.size(); }

  std::optional<ColdTransfer> FindTransfer(const TransferId& id, uint64_t before_ns) const override;
  ColdResolution FindResolution(const TransferId& pending_id, uint64_t before_ns) const override;
  ColdReversals FindReversals(const TransferId& id, uint64_t before_ns,
                              std::span<TransferId> ids_out) const override;
  size_t GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const override;
  size_t GetAccountBalances(const AccountFilter& filter,
                            std::span<AccountBalance> out) const override;
  size_t QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const override;

 private:
  std::vector<Transfer> transfers_;
  std::vector<FailureRecord> failures_;
  std::vector<ExpiryFact> expiries_;
  std::vector<BalanceFact> balances_;
  std::map<std::pair<uint64_t, uint64_t>, ColdTransfer> by_id_;
  uint64_t end_ns_ = 0;  // every fact booked before it is here (failures aside: by id)
};

}  // namespace ledger::engine::testing
