// Invariant checks that stay on in release builds, and the Status helpers every module shares.
//
// Three kinds of failure, three mechanisms (docs/architecture.md):
//   our bug             -> LEDGER_ASSERT (an invariant of ours broke) or LEDGER_REQUIRE (a
//                          caller broke a precondition): log the values and abort, in every
//                          build type;
//   an operating error  -> absl::Status / absl::StatusOr returned across module boundaries;
//   a business outcome  -> a result code per event (engine/ledger.h), which is data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ledger::base {

// Prints "file:line: <what> failed: expr (detail)" to stderr and aborts.
[[noreturn]] void AssertFail(const char* file, int line, const char* what, const char* expression,
                             const std::string& detail);

namespace internal {

// The next name of a macro's stringised argument list ("a, f(b, c)" -> "a", then "f(b, c)"):
// up to the first comma outside brackets and quotes. Advances `names`.
std::string_view NextArgumentName(std::string_view& names);

template <typename T>
std::string FormatAssertValue(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string(std::string_view(value));
  } else {
    return std::to_string(value);
  }
}

inline void AppendAssertDetail(std::string&, std::string_view) {}
template <typename T, typename... Rest>
void AppendAssertDetail(std::string& detail, std::string_view names, const T& first,
                        const Rest&... rest) {
  if (!detail.empty()) detail += ' ';
  detail += NextArgumentName(names);
  detail += '=';
  detail += FormatAssertValue(first);
  AppendAssertDetail(detail, names, rest...);
}

}  // namespace internal

// "a=1 b=2" for LEDGER_ASSERT(cond, a, b): `names` is the macro's stringised argument list.
template <typename... Values>
std::string AssertDetail(std::string_view names, const Values&... values) {
  std::string detail;
  internal::AppendAssertDetail(detail, names, values...);
  return detail;
}

}  // namespace ledger::base

#define LEDGER_LIKELY(x) __builtin_expect(!!(x), 1)
#define LEDGER_UNLIKELY(x) __builtin_expect(!!(x), 0)

// LEDGER_ASSERT(condition, values...): an invariant of ours. The values (integers, enums,
// bools) are printed as name=value on failure.
#define LEDGER_ASSERT(condition, ...) LEDGER_CHECK_IMPL("assertion", condition, __VA_ARGS__)
// LEDGER_REQUIRE(condition, values...): a precondition the caller must meet (a caller's bug,
// not bad input: input is checked and answered with a Status or a result code).
#define LEDGER_REQUIRE(condition, ...) LEDGER_CHECK_IMPL("precondition", condition, __VA_ARGS__)

#define LEDGER_CHECK_IMPL(what, condition, ...)                                   \
  do {                                                                            \
    if (LEDGER_UNLIKELY(!(condition))) {                                          \
      ::ledger::base::AssertFail(                                                 \
          __FILE__, __LINE__, what, #condition,                                   \
          ::ledger::base::AssertDetail(#__VA_ARGS__ __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                             \
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
