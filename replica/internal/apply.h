// How each operation meets the engine and the log, for both live batches (the sequencer) and
// logged entries (replay): one dispatch over engine/operation.h's table.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "engine/operation.h"
#include "wal/format.h"

namespace ledger::replica::internal {

// Whether the engine's tables can take `event_count` events of this kind (ledgers take none).
bool HasRoomFor(const engine::Engine& engine, engine::Operation operation, uint64_t event_count);

// The refusal of a batch the tables cannot take: FailedPrecondition with kLedgerFullPayload.
absl::Status LedgerFull(engine::Operation operation, uint64_t event_count);
// The refusal of a batch while the log cannot reserve room to grow (`room`, the log writer's
// room_status()): ResourceExhausted with kStorageFullPayload.
absl::Status StorageFull(const absl::Status& room);

template <typename Event>
void Apply(engine::Engine& engine, std::span<const Event> events, uint64_t timestamp_ns,
           std::span<engine::ResultOf<Event>> results) {
  using engine::Operation;
  constexpr Operation kOperation = engine::kOperationOf<Event>;
  if constexpr (kOperation == Operation::kCreateLedgers) {
    engine.CreateLedgers(events, timestamp_ns, results);
  } else if constexpr (kOperation == Operation::kCreateAccounts) {
    engine.CreateAccounts(events, timestamp_ns, results);
  } else {
    static_assert(kOperation == Operation::kCreateTransfers);
    engine.CreateTransfers(events, timestamp_ns, results);
  }
}

// Applies one logged entry (results discarded). DataLoss when the entry cannot follow the
// engine's state (unknown operation, or a timestamp not past the engine's last one),
// ResourceExhausted when the engine's tables cannot take it.
absl::Status ApplyEntry(engine::Engine& engine, const wal::EntryHeader& header,
                        std::span<const std::byte> body);

}  // namespace ledger::replica::internal
