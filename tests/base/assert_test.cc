#include "base/assert.h"

#include <gtest/gtest.h>

#include <string>

namespace ledger::base {
namespace {

TEST(Assert, PrintsEachValueWithItsName) {
  const int slot = 1;
  const uint64_t count = 3;
  EXPECT_DEATH(LEDGER_ASSERT(slot == 2, slot, count),
               "assertion failed: slot == 2 \\(slot=1 count=3\\)");
}

TEST(Assert, RequirePrintsAPreconditionFailure) {
  const size_t events = 5;
  const size_t results = 4;
  EXPECT_DEATH(LEDGER_REQUIRE(events == results, events, results),
               "precondition failed: events == results \\(events=5 results=4\\)");
}

TEST(Assert, NamesKeepTheirCommasInsideCallsAndQuotes) {
  EXPECT_EQ(AssertDetail("std::min(a, b), f(\"x,y\", ')'), z[1, 2]", 1, 2, 3),
            "std::min(a, b)=1 f(\"x,y\", ')')=2 z[1, 2]=3");
}

TEST(Assert, FormatsBoolsAndEnumsReadably) {
  enum class Kind : uint8_t { kOne = 1 };
  EXPECT_EQ(AssertDetail("ok, kind", false, Kind::kOne), "ok=false kind=1");
  EXPECT_EQ(AssertDetail(""), "");
}

TEST(Assert, PrintsStringsAsThemselves) {
  const std::string path = "dir/wal-1.seg";
  EXPECT_EQ(AssertDetail("path, name", path, "x"), "path=dir/wal-1.seg name=x");
}

TEST(Assert, PassingConditionEvaluatesNoValue) {
  int evaluated = 0;
  LEDGER_ASSERT(true, ++evaluated);
  EXPECT_EQ(evaluated, 0);
}

}  // namespace
}  // namespace ledger::base
