#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace ledger::base {

void AssertFail(const char* file, int line, const char* what, const char* expression,
                const std::string& detail) {
  std::fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", file, line, what, expression, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

namespace internal {

std::string_view NextArgumentName(std::string_view& names) {
  int depth = 0;
  char quote = 0;
  size_t end = 0;
  for (; end < names.size(); ++end) {
    const char c = names[end];
    if (quote != 0) {
      if (c == '\\') {
        ++end;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      break;
    }
  }
  std::string_view name = names.substr(0, end);
  names.remove_prefix(std::min(end + 1, names.size()));
  while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
  while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  return name;
}

}  // namespace internal

}  // namespace ledger::base
