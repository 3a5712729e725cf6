// One test per CreateLedgerResult code: the code, and that a rejected ledger changes nothing
// (ledgers are never recorded: a fixed retry with the same id succeeds).
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/engine/test_util.h"

namespace ledger::engine::test {
namespace {

using R = CreateLedgerResult;

bool AssetCodeIs(const Ledger& ledger, const char (&expected)[kAssetCodeSizeBytes + 1]) {
  return std::memcmp(ledger.asset_code, expected, kAssetCodeSizeBytes) == 0;
}

TEST(CreateLedger, OkStoresLedgerBookedAtBatchTimestampPlusOne) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 7, .scale = 4, .asset_code = "USD"}), R::kOk);
  std::optional<Ledger> ledger = h.engine().LookupLedger(7);
  ASSERT_TRUE(ledger.has_value());
  EXPECT_EQ(ledger->id, 7u);
  EXPECT_EQ(ledger->scale, 4u);
  EXPECT_TRUE(AssetCodeIs(*ledger, "USD\0\0\0\0\0\0\0\0\0\0\0\0\0"));
  EXPECT_EQ(ledger->timestamp_ns, h.last_batch_timestamp_ns() + 1);
  EXPECT_EQ(h.engine().GetStats().ledger_count, 1u);
  EXPECT_EQ(h.engine().GetTrialBalance(7).account_count, 0u);
}

TEST(CreateLedger, OkWhenScaleIsMaxAndAssetCodeUsesAllSixteenCharsOfEveryKind) {
  Harness h;
  EXPECT_EQ(h.CreateLedger({.id = 1, .scale = kScaleMax, .asset_code = "AZ09._-XAU.B_C-D"}),
            R::kOk);
  std::optional<Ledger> ledger = h.engine().LookupLedger(1);
  ASSERT_TRUE(ledger.has_value());
  EXPECT_EQ(ledger->scale, kScaleMax);
  EXPECT_TRUE(AssetCodeIs(*ledger, "AZ09._-XAU.B_C-D"));
}

TEST(CreateLedger, OkForEachLedgerOfABatchBookedAtItsOwnTimestamp) {
  Harness h;
  EXPECT_EQ(h.CreateLedgers({{.id = 1}, {.id = 0}, {.id = 3, .asset_code = "EUR"}}),
            (std::vector<R>{R::kOk, R::kIdMustNotBeZero, R::kOk}));
  const uint64_t t = h.last_batch_timestamp_ns();
  EXPECT_EQ(h.engine().LookupLedger(1).value().timestamp_ns, t + 1);
  EXPECT_EQ(h.engine().LookupLedger(3).value().timestamp_ns, t + 3);
  EXPECT_EQ(h.engine().last_timestamp_ns(), t + 3);
}

TEST(CreateLedger, TimestampMustBeZeroWhenTimestampIsSet) {
  Harness h;
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .timestamp_ns = 5}, R::kTimestampMustBeZero));
  EXPECT_EQ(h.CreateLedger({.id = 1}), R::kOk);
}

TEST(CreateLedger, ReservedFieldWhenAnyReservedByteIsNonZero) {
  Harness h;
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .reserved = {1, 0}}, R::kReservedField));
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .reserved = {0, 0x80}}, R::kReservedField));
  EXPECT_EQ(h.CreateLedger({.id = 1}), R::kOk);
}

TEST(CreateLedger, IdMustNotBeZeroWhenIdIsZero) {
  Harness h;
  EXPECT_TRUE(LedgerRejected(h, {.id = 0}, R::kIdMustNotBeZero));
  EXPECT_FALSE(h.engine().LookupLedger(0).has_value());
}

TEST(CreateLedger, ScaleTooLargeWhenScaleExceedsThirtyEight) {
  Harness h;
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .scale = kScaleMax + 1}, R::kScaleTooLarge));
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .scale = 255}, R::kScaleTooLarge));
  EXPECT_EQ(h.CreateLedger({.id = 1, .scale = kScaleMax}), R::kOk);
}

TEST(CreateLedger, AssetCodeInvalidWhenEmptyOrOutsideAlphabetOrNotNulPadded) {
  Harness h;
  const std::vector<std::string> invalid = {
      "",                       // no characters
      "usd",                    // lower case
      "US D",                   // space
      "US$",                    // symbol
      "EUR/USD",                // slash
      std::string("US\0D", 4),  // a character after the NUL padding started
      std::string("\0USD", 4),  // leading NUL
      "\xC3\x89UR",             // non-ASCII
  };
  for (const std::string& code : invalid) {
    SCOPED_TRACE(::testing::PrintToString(code));
    EXPECT_TRUE(LedgerRejected(h, {.id = 1, .asset_code = code}, R::kAssetCodeInvalid));
  }
  EXPECT_EQ(h.CreateLedger({.id = 1, .asset_code = "USD"}), R::kOk);
}

TEST(CreateLedger, ExistsWithDifferentScaleWhenIdExistsWithOtherScale) {
  Harness h;
  h.AddLedger(1, "USD");
  EXPECT_TRUE(
      LedgerRejected(h, {.id = 1, .scale = 3, .asset_code = "USD"}, R::kExistsWithDifferentScale));
  EXPECT_EQ(h.engine().LookupLedger(1).value().scale, 2u);
}

TEST(CreateLedger, ExistsWithDifferentAssetCodeWhenIdExistsWithOtherAssetCode) {
  Harness h;
  h.AddLedger(1, "USD");
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .scale = 2, .asset_code = "USDC"},
                             R::kExistsWithDifferentAssetCode));
  EXPECT_TRUE(AssetCodeIs(h.engine().LookupLedger(1).value(), "USD\0\0\0\0\0\0\0\0\0\0\0\0\0"));
}

TEST(CreateLedger, ExistsWhenIdExistsWithSameValuesAndKeepsOriginalTimestamp) {
  Harness h;
  h.AddLedger(1, "USD");
  const uint64_t booked_ns = h.engine().LookupLedger(1).value().timestamp_ns;
  EXPECT_TRUE(LedgerRejected(h, {.id = 1, .scale = 2, .asset_code = "USD"}, R::kExists));
  EXPECT_EQ(h.engine().LookupLedger(1).value().timestamp_ns, booked_ns);
  EXPECT_EQ(h.engine().GetStats().ledger_count, 1u);
}

TEST(CreateLedger, ExistsForSecondOccurrenceOfAnIdInTheSameBatch) {
  Harness h;
  EXPECT_EQ(h.CreateLedgers({{.id = 1}, {.id = 1}, {.id = 1, .scale = 3}}),
            (std::vector<R>{R::kOk, R::kExists, R::kExistsWithDifferentScale}));
  EXPECT_EQ(h.engine().LookupLedger(1).value().timestamp_ns, h.last_batch_timestamp_ns() + 1);
}

// QueryLedgers: ids at or above the cursor, in id order whatever the creation order, at most
// the room given; the same with any shard count (ledgers are not sharded).
TEST(QueryLedgers, ReturnsIdsFromTheCursorInIdOrderUpToTheRoom) {
  for (const uint32_t shards : {1u, 3u}) {
    SCOPED_TRACE(shards);
    EngineOptions options;
    options.shard_count = shards;
    Harness h(options);
    const std::vector<uint32_t> created = {40, 7, 1000, 3, 12, 4294967295u, 8, 41};
    for (uint32_t id : created) ASSERT_EQ(h.CreateLedger({.id = id, .asset_code = "USD"}), R::kOk);
    auto ids = [&](uint32_t from, size_t room) {
      std::vector<Ledger> out(room);
      const size_t count = h.engine().QueryLedgers(from, out);
      EXPECT_LE(count, room);
      std::vector<uint32_t> found;
      for (size_t i = 0; i < count; ++i) found.push_back(out[i].id);
      return found;
    };
    EXPECT_EQ(ids(0, 100), (std::vector<uint32_t>{3, 7, 8, 12, 40, 41, 1000, 4294967295u}));
    EXPECT_EQ(ids(0, 3), (std::vector<uint32_t>{3, 7, 8}));
    EXPECT_EQ(ids(8, 3), (std::vector<uint32_t>{8, 12, 40}));
    EXPECT_EQ(ids(9, 1), (std::vector<uint32_t>{12}));
    EXPECT_EQ(ids(1001, 5), (std::vector<uint32_t>{4294967295u}));
    EXPECT_EQ(ids(4294967295u, 5), (std::vector<uint32_t>{4294967295u}));
    EXPECT_TRUE(ids(0, 0).empty());
    std::vector<Ledger> out(2);
    ASSERT_EQ(h.engine().QueryLedgers(40, out), 2u);
    EXPECT_TRUE(AssetCodeIs(out[1], "USD\0\0\0\0\0\0\0\0\0\0\0\0\0"));
    EXPECT_EQ(out[1].timestamp_ns, h.engine().LookupLedger(41)->timestamp_ns);
  }
}

}  // namespace
}  // namespace ledger::engine::test
