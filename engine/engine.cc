#include "engine/engine.h"

#include "engine/internal/state.h"

namespace ledger::engine {

Engine::Engine(const EngineOptions& options) : state_(std::make_unique<internal::State>(options)) {}
Engine::Engine(std::unique_ptr<internal::State> state) : state_(std::move(state)) {}
Engine::~Engine() = default;

void Engine::ExportCold(uint64_t before_ns, ColdFacts& facts) {
  state_->ExportCold(before_ns, facts);
}
void Engine::EvictBefore(uint64_t before_ns) { state_->EvictBefore(before_ns); }
uint64_t Engine::cold_before_ns() const { return state_->cold_before_ns(); }
uint64_t Engine::ExportBoundary(uint64_t transfer_count) const {
  return state_->ExportBoundary(transfer_count);
}
uint64_t Engine::exported_before_ns() const { return state_->exported_before_ns(); }
uint64_t Engine::hot_transfer_count() const { return state_->hot_transfer_count(); }
uint64_t Engine::evictable_before_ns() const { return state_->evictable_before_ns(); }

std::unique_ptr<EngineSnapshot> Engine::CaptureSnapshot(
    const CaptureOptions& options, std::unique_ptr<EngineSnapshot> reuse) const {
  std::unique_ptr<EngineSnapshot> image =
      reuse != nullptr ? std::move(reuse) : std::make_unique<EngineSnapshot>();
  image->Release();
  state_->CaptureSnapshot(*image, options);
  return image;
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Restore(const EngineOptions& options,
                                                        std::span<const SnapshotSection> sections) {
  return Restore(std::make_unique<Engine>(options), sections);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Restore(std::unique_ptr<Engine> fresh,
                                                        std::span<const SnapshotSection> sections) {
  LEDGER_RETURN_IF_ERROR(fresh->state_->Restore(sections));
  return fresh;
}

void Engine::CreateLedgers(std::span<const Ledger> events, uint64_t timestamp_ns,
                           std::span<CreateLedgerResult> results) {
  state_->CreateLedgers(events, timestamp_ns, results);
}
void Engine::CreateAccounts(std::span<const Account> events, uint64_t timestamp_ns,
                            std::span<CreateAccountResult> results) {
  state_->CreateAccounts(events, timestamp_ns, results);
}
void Engine::CreateTransfers(std::span<const Transfer> events, uint64_t timestamp_ns,
                             std::span<CreateTransferResult> results) {
  state_->CreateTransfers(events, timestamp_ns, results);
}

std::optional<Ledger> Engine::LookupLedger(uint32_t ledger_id) const {
  return state_->LookupLedger(ledger_id);
}
size_t Engine::QueryLedgers(uint32_t from_id, std::span<Ledger> out) const {
  return state_->QueryLedgers(from_id, out);
}
std::optional<Account> Engine::LookupAccount(AccountId id) const {
  return state_->LookupAccount(id);
}
std::optional<Transfer> Engine::LookupTransfer(TransferId id) const {
  return state_->LookupTransfer(id);
}
std::optional<FailedTransfer> Engine::LookupFailedTransfer(TransferId id) const {
  return state_->LookupFailedTransfer(id);
}
PendingStatus Engine::GetPendingStatus(TransferId id) const { return state_->GetPendingStatus(id); }
Amount Engine::GetPostedAmount(TransferId pending_id) const {
  return state_->GetPostedAmount(pending_id);
}
Amount Engine::GetReversedAmount(TransferId id) const { return state_->GetReversedAmount(id); }
std::optional<PostedAtValueTime> Engine::GetPostedAtValueTime(AccountId id,
                                                              uint64_t value_time_ns) const {
  return state_->GetPostedAtValueTime(id, value_time_ns);
}
std::optional<TransferStatus> Engine::GetTransferStatus(TransferId id) const {
  return state_->GetTransferStatus(id);
}
size_t Engine::GetReversals(TransferId id, std::span<TransferId> out) const {
  return state_->GetReversals(id, out);
}
size_t Engine::GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const {
  return state_->GetAccountTransfers(filter, out);
}
size_t Engine::QueryAccounts(const QueryFilter& filter, std::span<Account> out) const {
  return state_->QueryAccounts(filter, out);
}
size_t Engine::QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const {
  return state_->QueryTransfers(filter, out);
}
size_t Engine::GetAccountBalances(const AccountFilter& filter,
                                  std::span<AccountBalance> out) const {
  return state_->GetAccountBalances(filter, out);
}
std::optional<AccountBalance> Engine::GetBalanceAsOf(AccountId id, uint64_t timestamp_ns) const {
  return state_->GetBalanceAsOf(id, timestamp_ns);
}
TrialBalance Engine::GetTrialBalance(uint32_t ledger_id) const {
  return state_->GetTrialBalance(ledger_id);
}
size_t Engine::GetChanges(uint64_t from_sequence, std::span<Change> out) const {
  return state_->GetChanges(from_sequence, out);
}
uint64_t Engine::change_sequence_next() const { return state_->change_sequence_next(); }
uint64_t Engine::change_sequence_oldest() const { return state_->change_sequence_oldest(); }
StateHash Engine::ComputeStateHash() const { return state_->ComputeStateHash(); }
std::vector<StateHash> Engine::ComputeShardStateHashes() const {
  std::vector<StateHash> hashes;
  for (uint32_t shard = 0; shard < state_->shard_count(); ++shard) {
    hashes.push_back(state_->ComputeShardStateHash(shard));
  }
  return hashes;
}
uint64_t Engine::last_timestamp_ns() const { return state_->last_timestamp_ns(); }
std::optional<uint64_t> Engine::next_expiry_ns() const { return state_->next_expiry_ns(); }
bool Engine::HasRoomFor(uint64_t account_count, uint64_t transfer_count) const {
  return state_->HasRoomFor(account_count, transfer_count);
}
EngineStats Engine::GetStats() const { return state_->GetStats(); }

}  // namespace ledger::engine
