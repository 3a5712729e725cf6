// Text forms of amounts, ids and names (tools/amount_text.h): exact round trips at every scale,
// every error case, and names for every result code. The randomized tests print their seed;
// set LEDGER_TEST_SEED to replay one.
#include "tools/amount_text.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ledger::tools {
namespace {

constexpr u128 kTwoTo64 = static_cast<u128>(1) << 64;
constexpr char kMaxDigits[] = "340282366920938463463374607431768211455";  // 2^128-1

u128 PowerOfTen(int exponent) {
  u128 value = 1;
  for (int i = 0; i < exponent; ++i) value *= 10;
  return value;
}

uint64_t TestSeed() {
  if (const char* text = std::getenv("LEDGER_TEST_SEED"); text != nullptr) {
    return std::strtoull(text, nullptr, 10);
  }
  return std::random_device{}();
}

// A value of a random bit length, so that every magnitude is covered (uniform u128s are almost
// all 39 digits long).
u128 RandomValue(std::mt19937_64& random) {
  const u128 value = (static_cast<u128>(random()) << 64) | random();
  const auto bits = static_cast<int>(random() % 129);
  return bits == 128 ? value : value & ((static_cast<u128>(1) << bits) - 1);
}

// Expects InvalidArgument whose message contains `needle`.
void ExpectAmountError(std::string_view text, uint8_t scale, std::string_view needle) {
  const absl::StatusOr<Amount> amount = ParseAmount(text, scale);
  ASSERT_FALSE(amount.ok()) << "'" << text << "' parsed as " << FormatRaw(*amount);
  EXPECT_EQ(amount.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_NE(amount.status().message().find(std::string(needle)), std::string::npos)
      << "'" << text << "': " << amount.status().message();
}

void ExpectIdError(std::string_view text, std::string_view needle) {
  const absl::StatusOr<u128> id = ParseId128(text);
  ASSERT_FALSE(id.ok()) << "'" << text << "' parsed as " << FormatU128(*id);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_NE(id.status().message().find(std::string(needle)), std::string::npos)
      << "'" << text << "': " << id.status().message();
}

u128 ParsedAmount(std::string_view text, uint8_t scale) {
  const absl::StatusOr<Amount> amount = ParseAmount(text, scale);
  EXPECT_TRUE(amount.ok()) << "'" << text << "' at scale " << int{scale} << ": " << amount.status();
  return amount.ok() ? amount->Get() : 0;
}

// ---------------------------------------------------------------------------------------------
// Amounts.

TEST(AmountText, FormatsExactlyScaleDecimals) {
  EXPECT_EQ(FormatAmount(Amount::From(1234), 2), "12.34");
  EXPECT_EQ(FormatAmount(Amount::From(5), 2), "0.05");
  EXPECT_EQ(FormatAmount(Amount::From(0), 2), "0.00");
  EXPECT_EQ(FormatAmount(Amount::From(100), 2), "1.00");
  EXPECT_EQ(FormatAmount(Amount::From(0), 0), "0");
  EXPECT_EQ(FormatAmount(Amount::From(1234), 0), "1234");
  EXPECT_EQ(FormatAmount(Amount::Max(), 0), kMaxDigits);
  EXPECT_EQ(FormatAmount(Amount::Max(), 38), "3.40282366920938463463374607431768211455");
  EXPECT_EQ(FormatAmount(Amount::From(1), 38), "0.00000000000000000000000000000000000001");
  EXPECT_EQ(FormatRaw(Amount::Max()), kMaxDigits);
  EXPECT_EQ(FormatRaw(Amount::From(kTwoTo64)), "18446744073709551616");
  EXPECT_EQ(FormatRaw(Amount::From(0)), "0");
}

TEST(AmountText, ParsesDecimalsInMajorUnits) {
  EXPECT_EQ(ParsedAmount("12.34", 2), 1234u);
  EXPECT_EQ(ParsedAmount("12", 2), 1200u);
  EXPECT_EQ(ParsedAmount("12.3", 2), 1230u);
  EXPECT_EQ(ParsedAmount("0.05", 2), 5u);
  EXPECT_EQ(ParsedAmount("0", 2), 0u);
  EXPECT_EQ(ParsedAmount("007.10", 2), 710u);
  EXPECT_EQ(ParsedAmount("1_000.50", 2), 100050u);
  EXPECT_EQ(ParsedAmount("1_000_000", 0), 1000000u);
  EXPECT_EQ(ParsedAmount("0.000_001", 6), 1u);
  EXPECT_EQ(ParsedAmount("12", 0), 12u);
  EXPECT_EQ(ParsedAmount("1", 38), PowerOfTen(38));
  EXPECT_EQ(ParsedAmount("3.40282366920938463463374607431768211455", 38), kU128Max);
  EXPECT_EQ(ParsedAmount("3402823669209384634633746074317682114.55", 2), kU128Max);
}

TEST(AmountText, ParsesRawMinorUnitsWhateverTheScale) {
  for (uint8_t scale : {uint8_t{0}, uint8_t{2}, uint8_t{38}}) {
    EXPECT_EQ(ParsedAmount("1234u", scale), 1234u);
    EXPECT_EQ(ParsedAmount("raw:1234", scale), 1234u);
    EXPECT_EQ(ParsedAmount("1_234u", scale), 1234u);
    EXPECT_EQ(ParsedAmount("0u", scale), 0u);
    EXPECT_EQ(ParsedAmount(std::string(kMaxDigits) + "u", scale), kU128Max);
    EXPECT_EQ(ParsedAmount("max", scale), kU128Max);
  }
}

TEST(AmountText, RoundTripsAtEveryScaleAtBoundaries) {
  for (int scale_int = 0; scale_int <= kScaleMax; ++scale_int) {
    const auto scale = static_cast<uint8_t>(scale_int);
    const u128 ten = PowerOfTen(scale);
    for (u128 value : {u128{0}, u128{1}, u128{9}, u128{10}, ten - 1, ten, ten + 1, kTwoTo64 - 1,
                       kTwoTo64, kTwoTo64 + 1, kU128Max - 1, kU128Max}) {
      const std::string text = FormatAmount(Amount::From(value), scale);
      SCOPED_TRACE(testing::Message() << "scale " << scale_int << ", text " << text);
      const size_t point = text.find('.');
      if (scale == 0) {
        EXPECT_EQ(point, std::string::npos);
      } else {
        ASSERT_NE(point, std::string::npos);
        EXPECT_EQ(text.size() - point - 1, scale);
        EXPECT_GE(point, 1u);
      }
      EXPECT_EQ(ParsedAmount(text, scale), value);
      EXPECT_EQ(ParsedAmount(FormatRaw(Amount::From(value)) + "u", scale), value);
      EXPECT_EQ(ParsedAmount("raw:" + FormatRaw(Amount::From(value)), scale), value);
    }
  }
}

TEST(AmountText, RejectsMalformedText) {
  ExpectAmountError("", 2, "empty");
  ExpectAmountError(" 12", 2, "spaces");
  ExpectAmountError("12 ", 2, "spaces");
  ExpectAmountError("1 2", 2, "spaces");
  ExpectAmountError("1\t2", 2, "spaces");
  ExpectAmountError("-1", 2, "sign");
  ExpectAmountError("+1", 2, "sign");
  ExpectAmountError("-0", 2, "sign");
  ExpectAmountError("12.", 2, "after the '.'");
  ExpectAmountError(".5", 2, "before the '.'");
  ExpectAmountError(".", 2, "before the '.'");
  ExpectAmountError("1.2.3", 2, "two '.'");
  ExpectAmountError("1e5", 2, "not a digit");
  ExpectAmountError("0x10", 2, "not a digit");
  ExpectAmountError("1,000", 2, "not a digit");
  ExpectAmountError("MAX", 2, "not a digit");
  ExpectAmountError("maximum", 2, "not a digit");
  ExpectAmountError("12.5u", 2, "not a digit");
  ExpectAmountError("raw:1.5", 2, "not a digit");
  ExpectAmountError("raw:-1", 2, "not a digit");
  ExpectAmountError("u", 2, "no digits");
  ExpectAmountError("raw:", 2, "no digits");
  ExpectAmountError("_1", 2, "'_'");
  ExpectAmountError("1_", 2, "'_'");
  ExpectAmountError("1__0", 2, "'_'");
  ExpectAmountError("1_.0", 2, "'_'");
  ExpectAmountError("1._0", 2, "'_'");
  ExpectAmountError("_u", 2, "'_'");
}

TEST(AmountText, RejectsMoreDecimalsThanTheScaleNeverRounding) {
  ExpectAmountError("12.345", 2, "3 decimals, but the ledger's scale is 2");
  ExpectAmountError("12.340", 2, "never rounded");
  ExpectAmountError("1.0", 0, "1 decimals, but the ledger's scale is 0");
  ExpectAmountError("0.000000000000000000000000000000000000001", 38, "39 decimals");
}

TEST(AmountText, RejectsValuesAbove2To128Minus1) {
  ExpectAmountError("340282366920938463463374607431768211456u", 0, "2^128-1");
  ExpectAmountError("raw:999999999999999999999999999999999999999999", 0, "2^128-1");
  ExpectAmountError("340282366920938463463374607431768211456", 0, "too large");
  ExpectAmountError("3402823669209384634633746074317682114.56", 2,
                    "the largest amount at scale 2 is 3402823669209384634633746074317682114.55");
  ExpectAmountError("3402823669209384634633746074317682115", 2, "too large");
  ExpectAmountError("4", 38, "too large");
  ExpectAmountError("3.40282366920938463463374607431768211456", 38, "too large");
}

TEST(AmountText, RejectsAScaleAbove38) {
  ExpectAmountError("1", 39, "scale 39");
  ExpectAmountError("max", 255, "scale 255");
}

TEST(AmountText, FormatsWideSums) {
  WideSum sum;
  EXPECT_EQ(FormatWideRaw(sum), "0");
  EXPECT_EQ(FormatWide(sum, 2), "0.00");
  sum.low = Amount::Max();
  EXPECT_EQ(FormatWideRaw(sum), kMaxDigits);
  sum.Add(Amount::From(1));  // 2^128
  EXPECT_EQ(sum.carries, 1u);
  EXPECT_EQ(FormatWideRaw(sum), "340282366920938463463374607431768211456");
  EXPECT_EQ(FormatWide(sum, 2), "3402823669209384634633746074317682114.56");
  sum.carries = UINT64_MAX;
  sum.low = Amount::Max();  // 2^192-1
  EXPECT_EQ(FormatWideRaw(sum), "6277101735386680763835789423207666416102355444464034512895");
  // A chunk boundary: 10^19 needs its zero padding.
  sum.carries = 0;
  sum.low = Amount::From(static_cast<u128>(10'000'000'000'000'000'000ULL));
  EXPECT_EQ(FormatWideRaw(sum), "10000000000000000000");
}

// The oracle: digits as a string, the way a person would shift the point by hand.
std::string ShiftedDigits(const std::string& whole, const std::string& fraction, uint8_t scale) {
  std::string digits = whole + fraction + std::string(scale - fraction.size(), '0');
  const size_t first = digits.find_first_not_of('0');
  return first == std::string::npos ? "0" : digits.substr(first);
}

bool FitsIn128(const std::string& digits) {
  const std::string max = kMaxDigits;
  return digits.size() < max.size() || (digits.size() == max.size() && digits <= max);
}

std::string RandomDigits(std::mt19937_64& random, size_t count_max) {
  std::string digits(1 + random() % count_max, '0');
  for (char& c : digits) c = static_cast<char>('0' + random() % 10);
  return digits;
}

TEST(AmountText, RandomRoundTrips) {
  const uint64_t seed = TestSeed();
  std::printf("AmountText.RandomRoundTrips seed %llu (replay: LEDGER_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  std::mt19937_64 random(seed);
  for (int i = 0; i < 50'000; ++i) {
    const u128 value = RandomValue(random);
    const auto scale = static_cast<uint8_t>(random() % (kScaleMax + 1));
    const std::string text = FormatAmount(Amount::From(value), scale);
    ASSERT_EQ(ParsedAmount(text, scale), value) << "seed " << seed << ", text " << text;
    ASSERT_EQ(ParsedAmount(FormatRaw(Amount::From(value)) + "u", scale), value) << "seed " << seed;
    const absl::StatusOr<u128> id = ParseId128(FormatId(value));
    ASSERT_TRUE(id.ok() && *id == value) << "seed " << seed << ", id " << FormatId(value);
    ASSERT_EQ(*ParseId128(FormatUuid(value)), value) << "seed " << seed;
    ASSERT_EQ(*ParseId128(FormatU128(value)), value) << "seed " << seed;
  }
}

TEST(AmountText, RandomDecimalTextAgreesWithADigitStringOracle) {
  const uint64_t seed = TestSeed();
  std::printf("AmountText.RandomDecimalText seed %llu (replay: LEDGER_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  std::mt19937_64 random(seed);
  for (int i = 0; i < 50'000; ++i) {
    const auto scale = static_cast<uint8_t>(random() % (kScaleMax + 1));
    const std::string whole = RandomDigits(random, 42);
    const std::string fraction = scale == 0 ? "" : RandomDigits(random, scale);
    const std::string text = fraction.empty() ? whole : whole + "." + fraction;
    const std::string expected = ShiftedDigits(whole, fraction, scale);
    const absl::StatusOr<Amount> amount = ParseAmount(text, scale);
    if (FitsIn128(expected)) {
      ASSERT_TRUE(amount.ok()) << "seed " << seed << ", " << text << ": " << amount.status();
      ASSERT_EQ(FormatRaw(*amount), expected) << "seed " << seed << ", text " << text;
    } else {
      ASSERT_FALSE(amount.ok()) << "seed " << seed << ", text " << text;
      ASSERT_NE(amount.status().message().find("too large"), std::string::npos) << text;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Ids.

TEST(AmountText, ParsesIdsInDecimalHexAndUuidForm) {
  EXPECT_EQ(*ParseId128("0"), 0u);
  EXPECT_EQ(*ParseId128("1234"), 1234u);
  EXPECT_EQ(*ParseId128("0x4d2"), 1234u);
  EXPECT_EQ(*ParseId128("0X4D2"), 1234u);
  EXPECT_EQ(*ParseId128("0x0000000000000000000000000000000000004d2"), 1234u);  // 39 digits
  EXPECT_EQ(*ParseId128("00000000-0000-0000-0000-0000000004d2"), 1234u);
  EXPECT_EQ(*ParseId128("00000000-0000-0000-0000-0000000004D2"), 1234u);
  EXPECT_EQ(*ParseId128(kMaxDigits), kU128Max);
  EXPECT_EQ(*ParseId128("0xffffffffffffffffffffffffffffffff"), kU128Max);
  EXPECT_EQ(*ParseId128("ffffffff-ffff-ffff-ffff-ffffffffffff"), kU128Max);
  // Big-endian: the first group holds the most significant bits.
  EXPECT_EQ(*ParseId128("00000001-0000-0000-0000-000000000000"), static_cast<u128>(1) << 96);
  EXPECT_EQ(*ParseId128("00000000-0000-0001-0000-000000000000"), kTwoTo64);
}

TEST(AmountText, FormatsIds) {
  EXPECT_EQ(FormatU128(0), "0");
  EXPECT_EQ(FormatU128(kU128Max), kMaxDigits);
  EXPECT_EQ(FormatUuid(1234), "00000000-0000-0000-0000-0000000004d2");
  EXPECT_EQ(FormatUuid(kU128Max), "ffffffff-ffff-ffff-ffff-ffffffffffff");
  EXPECT_EQ(FormatId(1234), "1234");
  EXPECT_EQ(FormatId(kTwoTo64 - 1), "18446744073709551615");
  EXPECT_EQ(FormatId(kTwoTo64), "00000000-0000-0001-0000-000000000000");
}

TEST(AmountText, RejectsMalformedIds) {
  ExpectIdError("", "empty");
  ExpectIdError("-1", "sign");
  ExpectIdError("+1", "sign");
  ExpectIdError(" 1", "not an id");
  ExpectIdError("1 ", "not an id");
  ExpectIdError("12a", "not an id");
  ExpectIdError("1_000", "not an id");
  ExpectIdError("0x", "no hex digits");
  ExpectIdError("0xg", "not a hex digit");
  ExpectIdError("0x1 ", "not a hex digit");
  ExpectIdError("0x1ffffffffffffffffffffffffffffffff", "above 2^128-1");  // 33 digits
  ExpectIdError("340282366920938463463374607431768211456", "above 2^128-1");
  ExpectIdError("0000000-00000-0000-0000-0000000004d2", "not an id");  // dashes misplaced
  ExpectIdError("00000000-0000-0000-0000-0000000004d", "not an id");   // too short
  ExpectIdError("00000000-0000-0000-0000-0000000004dg", "not an id");
  ExpectIdError("{00000000-0000-0000-0000-0000000004d2}", "not an id");
}

// ---------------------------------------------------------------------------------------------
// Names.

TEST(FlagNames, AreCommaSeparated) {
  EXPECT_EQ(AccountFlagsText(0), "");
  EXPECT_EQ(AccountFlagsText(account_flags::kDebitsMustNotExceedCredits | account_flags::kHistory),
            "debits_must_not_exceed_credits,history");
  EXPECT_EQ(AccountFlagsText(account_flags::kClosed | (1 << 9)), "closed,0x200");
  EXPECT_EQ(TransferFlagsText(transfer_flags::kPending | transfer_flags::kLinked),
            "linked,pending");
  EXPECT_EQ(TransferFlagsText(transfer_flags::kClosingCredit), "closing_credit");
  EXPECT_EQ(TransferFlagsText(1 << 15), "0x8000");
}

TEST(FlagNames, ParsesAccountFlagsWithHyphensOrUnderscores) {
  EXPECT_EQ(*ParseAccountFlags(""), 0);
  EXPECT_EQ(*ParseAccountFlags("history"), account_flags::kHistory);
  EXPECT_EQ(*ParseAccountFlags("debits-must-not-exceed-credits,history"),
            account_flags::kDebitsMustNotExceedCredits | account_flags::kHistory);
  EXPECT_EQ(*ParseAccountFlags("credits_must_not_exceed_debits,linked"),
            account_flags::kCreditsMustNotExceedDebits | account_flags::kLinked);
  // Every settable subset reads back from its own names.
  const uint16_t settable = account_flags::kAll & ~account_flags::kClosed;
  for (uint16_t flags = 0; flags <= account_flags::kAll; ++flags) {
    if ((flags & ~settable) != 0) continue;
    EXPECT_EQ(*ParseAccountFlags(AccountFlagsText(flags)), flags) << AccountFlagsText(flags);
  }
  for (std::string_view bad : {"closed", "bogus", "history,", ",history", "history,,linked",
                               "History", "history history"}) {
    const absl::StatusOr<uint16_t> flags = ParseAccountFlags(bad);
    ASSERT_FALSE(flags.ok()) << bad;
    EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(flags.status().message().find("debits-must-not-exceed-credits"), std::string::npos);
  }
}

}  // namespace
}  // namespace ledger::tools
