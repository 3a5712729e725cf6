#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace ledger::base {

void AssertFail(const char* file, int line, const char* expression, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: assertion failed: %s (%s)\n", file, line, expression,
               detail.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string AssertDetail() { return {}; }

}  // namespace ledger::base
