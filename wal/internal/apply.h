// How each operation meets the engine: the room it needs and the call that applies it. One
// place for the sequencer (live batches) and for replay (logged entries).
#pragma once

#include <cstdint>
#include <span>

#include "engine/engine.h"
#include "wal/format.h"

namespace ledger::wal::internal {

template <typename Event>
struct OperationOf;
template <>
struct OperationOf<Ledger> {
  static constexpr Operation kOperation = Operation::kCreateLedgers;
  using Result = CreateLedgerResult;
};
template <>
struct OperationOf<Account> {
  static constexpr Operation kOperation = Operation::kCreateAccounts;
  using Result = CreateAccountResult;
};
template <>
struct OperationOf<Transfer> {
  static constexpr Operation kOperation = Operation::kCreateTransfers;
  using Result = CreateTransferResult;
};

// Whether the engine's tables can take `event_count` events of this kind (ledgers take none).
template <typename Event>
bool HasRoomFor(const engine::Engine& engine, uint64_t event_count) {
  constexpr Operation kOperation = OperationOf<Event>::kOperation;
  return engine.HasRoomFor(kOperation == Operation::kCreateAccounts ? event_count : 0,
                           kOperation == Operation::kCreateTransfers ? event_count : 0);
}

inline void Apply(engine::Engine& engine, std::span<const Ledger> events, uint64_t timestamp_ns,
                  std::span<CreateLedgerResult> results) {
  engine.CreateLedgers(events, timestamp_ns, results);
}
inline void Apply(engine::Engine& engine, std::span<const Account> events, uint64_t timestamp_ns,
                  std::span<CreateAccountResult> results) {
  engine.CreateAccounts(events, timestamp_ns, results);
}
inline void Apply(engine::Engine& engine, std::span<const Transfer> events, uint64_t timestamp_ns,
                  std::span<CreateTransferResult> results) {
  engine.CreateTransfers(events, timestamp_ns, results);
}

}  // namespace ledger::wal::internal
