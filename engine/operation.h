// The operations that change a ledger, named once. Every layer takes what it needs from this
// table: the engine applies them, the replica logs them (the enum's value is the code in each
// log entry's header, docs/wal-format.md), the server names its RPC methods and metric labels
// after them, and the client batches them. A new operation is a row in kOperations and a
// specialisation of OperationTraits; VisitOperation's switch and the static_asserts below then
// point at whatever else must learn it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "engine/types.h"

namespace ledger::engine {

enum class Operation : uint8_t {
  kCreateLedgers = 1,
  kCreateAccounts = 2,
  kCreateTransfers = 3,
};
inline constexpr size_t kOperationCount = 3;

// Dense from 0, for arrays indexed by operation (metrics).
constexpr size_t OperationIndex(Operation operation) { return static_cast<size_t>(operation) - 1; }

struct OperationInfo {
  Operation operation;
  std::string_view name;        // "create_transfers": metric labels, logs, tools
  std::string_view rpc_method;  // "createTransfers": net/ledger.capnp
  uint32_t event_size_bytes;    // one event, as logged and as sent in packed form
  uint8_t result_count;         // codes of its result enum (0 .. result_count - 1)
};

inline constexpr std::array<OperationInfo, kOperationCount> kOperations = {{
    {Operation::kCreateLedgers, "create_ledgers", "createLedgers", sizeof(Ledger),
     kCreateLedgerResultCount},
    {Operation::kCreateAccounts, "create_accounts", "createAccounts", sizeof(Account),
     kCreateAccountResultCount},
    {Operation::kCreateTransfers, "create_transfers", "createTransfers", sizeof(Transfer),
     kCreateTransferResultCount},
}};

constexpr const OperationInfo& InfoOf(Operation operation) {
  return kOperations[OperationIndex(operation)];
}

// The operation a log code names, or nullptr for a code no operation has.
constexpr const OperationInfo* FindOperation(uint8_t code) {
  for (const OperationInfo& info : kOperations) {
    if (static_cast<uint8_t>(info.operation) == code) return &info;
  }
  return nullptr;
}

// Compile-time traits: each operation's event and result types.
template <Operation>
struct OperationTraits;
template <>
struct OperationTraits<Operation::kCreateLedgers> {
  using Event = Ledger;
  using Result = CreateLedgerResult;
};
template <>
struct OperationTraits<Operation::kCreateAccounts> {
  using Event = Account;
  using Result = CreateAccountResult;
};
template <>
struct OperationTraits<Operation::kCreateTransfers> {
  using Event = Transfer;
  using Result = CreateTransferResult;
};

namespace internal {
// The operation whose traits have T as their Event (kEvent) or as their Result.
template <typename T, bool kEvent, size_t... I>
consteval Operation FindOperationOf(std::index_sequence<I...>) {
  Operation found{};
  ((std::is_same_v<
        T, std::conditional_t<kEvent, typename OperationTraits<kOperations[I].operation>::Event,
                              typename OperationTraits<kOperations[I].operation>::Result>>
        ? (found = kOperations[I].operation, 0)
        : 0),
   ...);
  return found;
}
}  // namespace internal

// The operation whose events are `Event`, and its result type; the operation of a result type.
template <typename Event>
inline constexpr Operation kOperationOf =
    internal::FindOperationOf<Event, true>(std::make_index_sequence<kOperationCount>());
template <typename Event>
using ResultOf = typename OperationTraits<kOperationOf<Event>>::Result;
template <typename Result>
inline constexpr Operation kOperationOfResult =
    internal::FindOperationOf<Result, false>(std::make_index_sequence<kOperationCount>());

// Calls visit(std::integral_constant<Operation, op>{}) for a run-time operation, so one
// template body serves each (the only switch over operations).
template <typename Visit>
decltype(auto) VisitOperation(Operation operation, Visit&& visit) {
  using enum Operation;
  switch (operation) {
    case kCreateLedgers:
      return visit(std::integral_constant<Operation, kCreateLedgers>{});
    case kCreateAccounts:
      return visit(std::integral_constant<Operation, kCreateAccounts>{});
    case kCreateTransfers:
      return visit(std::integral_constant<Operation, kCreateTransfers>{});
  }
  __builtin_unreachable();  // callers pass only operations of the enum (FindOperation's)
}

// The table and the traits agree: rows in enum order, sizes and result counts from the types.
template <size_t... I>
consteval bool TableMatchesTraits(std::index_sequence<I...>) {
  return ((OperationIndex(kOperations[I].operation) == I &&
           kOperationOf<typename OperationTraits<kOperations[I].operation>::Event> ==
               kOperations[I].operation &&
           kOperationOfResult<typename OperationTraits<kOperations[I].operation>::Result> ==
               kOperations[I].operation &&
           kOperations[I].event_size_bytes ==
               sizeof(typename OperationTraits<kOperations[I].operation>::Event)) &&
          ...);
}
static_assert(TableMatchesTraits(std::make_index_sequence<kOperationCount>()));

}  // namespace ledger::engine
