// Invariant checks that stay on in release builds, and the Status helpers every module shares.
//
// Three kinds of failure, three mechanisms (docs/architecture.md):
//   our bug             -> LEDGER_ASSERT: log the values and abort, in every build type;
//   an operating error  -> absl::Status / absl::StatusOr returned across module boundaries;
//   a business outcome  -> a result code per event (engine/ledger.h), which is data.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ledger::base {

// Prints "file:line: assertion failed: expr (detail)" to stderr and aborts.
[[noreturn]] void AssertFail(const char* file, int line, const char* expression,
                             const std::string& detail);

// Formats a few values for an assertion message ("a=1 b=2").
std::string AssertDetail();
template <typename T, typename... Rest>
std::string AssertDetail(const T& first, const Rest&... rest) {
  std::string text = std::to_string(first);
  if constexpr (sizeof...(rest) > 0) text += " " + AssertDetail(rest...);
  return text;
}

}  // namespace ledger::base

#define LEDGER_LIKELY(x) __builtin_expect(!!(x), 1)
#define LEDGER_UNLIKELY(x) __builtin_expect(!!(x), 0)

// LEDGER_ASSERT(condition, values...): the values (integers) are printed on failure.
#define LEDGER_ASSERT(condition, ...)                                        \
  do {                                                                       \
    if (LEDGER_UNLIKELY(!(condition))) {                                     \
      ::ledger::base::AssertFail(__FILE__, __LINE__, #condition,             \
                                 ::ledger::base::AssertDetail(__VA_ARGS__)); \
    }                                                                        \
  } while (false)

#define LEDGER_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    ::absl::Status ledger_status_ = (expr);                           \
    if (LEDGER_UNLIKELY(!ledger_status_.ok())) return ledger_status_; \
  } while (false)

#define LEDGER_CONCAT_INNER(a, b) a##b
#define LEDGER_CONCAT(a, b) LEDGER_CONCAT_INNER(a, b)
#define LEDGER_ASSIGN_OR_RETURN(lhs, expr) \
  LEDGER_ASSIGN_OR_RETURN_IMPL(LEDGER_CONCAT(ledger_statusor_, __LINE__), lhs, expr)
#define LEDGER_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)        \
  auto statusor = (expr);                                        \
  if (LEDGER_UNLIKELY(!statusor.ok())) return statusor.status(); \
  lhs = std::move(statusor).value()
