#include "replica/internal/apply.h"

#include <cstring>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "replica/replica.h"

namespace ledger::replica::internal {

bool HasRoomFor(const engine::Engine& engine, engine::Operation operation, uint64_t event_count) {
  using engine::Operation;
  return engine.HasRoomFor(operation == Operation::kCreateAccounts ? event_count : 0,
                           operation == Operation::kCreateTransfers ? event_count : 0);
}

absl::Status LedgerFull(engine::Operation operation, uint64_t event_count) {
  const bool accounts = operation == engine::Operation::kCreateAccounts;
  absl::Status full = absl::FailedPreconditionError(
      absl::StrCat(kLedgerFullPrefix, "the ", accounts ? "accounts" : "transfers",
                   " table has no room for ", event_count, " more (it is at its maximum, ",
                   accounts ? "accounts_max" : "transfers_max", "); retrying will not help"));
  full.SetPayload(kLedgerFullPayload, absl::Cord(accounts ? "accounts" : "transfers"));
  return full;
}

absl::Status StorageFull(const absl::Status& room) {
  absl::Status full = absl::ResourceExhaustedError(absl::StrCat(
      kStorageFullPrefix, "the ledger takes no writes until space is freed on its disk (",
      room.message(), "); reads go on, and writes resume by themselves"));
  full.SetPayload(kStorageFullPayload, absl::Cord(room.message()));
  return full;
}

namespace {

// Copies the records out of the body (its bytes may be unaligned) and applies them. The
// buffers are kept per thread and event type, so a replay allocates once, not per entry.
template <typename Event>
absl::Status ApplyRecords(engine::Engine& engine, const wal::EntryHeader& header,
                          std::span<const std::byte> body) {
  using Result = engine::ResultOf<Event>;
  if (!HasRoomFor(engine, engine::kOperationOf<Event>, header.event_count)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("op ", header.op, ": the engine's tables are full"));
  }
  thread_local std::vector<Event> events;
  thread_local std::vector<Result> results;
  events.resize(body.size() / sizeof(Event));
  results.resize(events.size());
  // An empty batch (an expiry) may come first: memcpy must not see the null data of a vector
  // that never held anything.
  if (!events.empty()) std::memcpy(events.data(), body.data(), events.size() * sizeof(Event));
  Apply<Event>(engine, events, header.timestamp_ns, results);
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyEntry(engine::Engine& engine, const wal::EntryHeader& header,
                        std::span<const std::byte> body) {
  if (header.timestamp_ns <= engine.last_timestamp_ns()) {
    return absl::DataLossError(absl::StrCat("entry of op ", header.op, " has timestamp ",
                                            header.timestamp_ns, ", not past the state's ",
                                            engine.last_timestamp_ns()));
  }
  const engine::OperationInfo* info = engine::FindOperation(header.operation);
  if (info == nullptr) {
    return absl::DataLossError(absl::StrCat("op ", header.op, ": unknown operation"));
  }
  return engine::VisitOperation(info->operation, [&](auto operation) {
    using Event = typename engine::OperationTraits<operation()>::Event;
    return ApplyRecords<Event>(engine, header, body);
  });
}

}  // namespace ledger::replica::internal
