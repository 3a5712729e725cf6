// Text forms of amounts, ids and names (amount_text.h). Digits are converted one at a time
// with checked u128 arithmetic: nothing here goes through floating point or wraps.
#include "tools/amount_text.h"

#include <cinttypes>
#include <cstdio>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace ledger::tools {
namespace {

constexpr char kAmountForms[] = "use 12.34, 12, 1234u, raw:1234 or max";

// Debian's Abseil has its own string_view, which StrCat takes; std::string_view needs this.
absl::string_view Sv(std::string_view text) { return absl::string_view(text.data(), text.size()); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }

// 10^exponent for exponent <= 38 (10^38 < 2^128 <= 10^39).
u128 PowerOfTen(uint8_t exponent) {
  u128 value = 1;
  for (uint8_t i = 0; i < exponent; ++i) value *= 10;
  return value;
}

absl::Status AmountError(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("amount '", Sv(text), "' ", Sv(why)));
}

// The digits of `part` without its '_' separators, each of which must sit between two digits.
// `text` is the whole amount, for the message.
absl::StatusOr<std::string> StripSeparators(std::string_view part, std::string_view text) {
  std::string digits;
  digits.reserve(part.size());
  for (size_t i = 0; i < part.size(); ++i) {
    const char c = part[i];
    if (IsDigit(c)) {
      digits += c;
      continue;
    }
    if (c != '_') {
      return AmountError(text, absl::StrCat("has '", Sv(part.substr(i, 1)),
                                            "', which is not a digit (", kAmountForms, ")"));
    }
    if (i == 0 || i + 1 == part.size() || !IsDigit(part[i - 1]) || !IsDigit(part[i + 1])) {
      return AmountError(text, "has a '_' that is not between two digits");
    }
  }
  return digits;
}

// value = value * 10 + digit, for each digit; false on overflow past 2^128-1.
bool AccumulateDecimal(std::string_view digits, u128* value) {
  for (char c : digits) {
    const auto digit = static_cast<u128>(c - '0');
    if (*value > (kU128Max - digit) / 10) return false;
    *value = *value * 10 + digit;
  }
  return true;
}

absl::StatusOr<Amount> ParseRaw(std::string_view digits_text, std::string_view text) {
  if (digits_text.empty()) return AmountError(text, "has no digits");
  absl::StatusOr<std::string> digits = StripSeparators(digits_text, text);
  if (!digits.ok()) return digits.status();
  u128 value = 0;
  if (!AccumulateDecimal(*digits, &value)) {
    return AmountError(text, "is above 2^128-1 minor units, the largest amount");
  }
  return Amount::From(value);
}

absl::StatusOr<Amount> ParseDecimal(std::string_view text, uint8_t scale) {
  const size_t point = text.find('.');
  std::string_view whole = text.substr(0, point);
  std::string_view fraction;
  if (point != std::string_view::npos) {
    fraction = text.substr(point + 1);
    if (fraction.find('.') != std::string_view::npos) return AmountError(text, "has two '.'");
    if (whole.empty()) return AmountError(text, "needs a digit before the '.' (0.5, not .5)");
    if (fraction.empty()) return AmountError(text, "needs a digit after the '.'");
  }
  absl::StatusOr<std::string> whole_digits = StripSeparators(whole, text);
  if (!whole_digits.ok()) return whole_digits.status();
  absl::StatusOr<std::string> fraction_digits = StripSeparators(fraction, text);
  if (!fraction_digits.ok()) return fraction_digits.status();
  if (fraction_digits->size() > scale) {
    return AmountError(
        text, absl::StrCat("has ", fraction_digits->size(), " decimals, but the ledger's scale is ",
                           scale, " (amounts are never rounded)"));
  }
  // whole * 10^scale + fraction * 10^(scale - decimals): both parts checked for overflow.
  u128 whole_value = 0;
  u128 fraction_value = 0;
  u128 value = 0;
  const auto padding = static_cast<uint8_t>(scale - fraction_digits->size());
  if (!AccumulateDecimal(*whole_digits, &whole_value) ||
      !AccumulateDecimal(*fraction_digits, &fraction_value) ||
      __builtin_mul_overflow(whole_value, PowerOfTen(scale), &value) ||
      __builtin_add_overflow(value, fraction_value * PowerOfTen(padding), &value)) {
    return AmountError(text,
                       absl::StrCat("is too large: the largest amount at scale ", scale, " is ",
                                    FormatAmount(Amount::Max(), scale), " (2^128-1 minor units)"));
  }
  return Amount::From(value);
}

// Decimal text of a 192-bit value, given as three 64-bit words, most significant first.
std::string Decimal192(uint64_t high, uint64_t middle, uint64_t low) {
  uint64_t words[3] = {high, middle, low};
  // Divide by 10^19 until zero: each remainder is 19 decimal digits, the least significant
  // chunk first.
  constexpr uint64_t kChunk = 10'000'000'000'000'000'000ULL;
  std::string digits;
  do {
    u128 remainder = 0;
    for (uint64_t& word : words) {
      const u128 current = (remainder << 64) | word;
      word = static_cast<uint64_t>(current / kChunk);
      remainder = current % kChunk;
    }
    const bool last = words[0] == 0 && words[1] == 0 && words[2] == 0;
    char chunk[24];
    std::snprintf(chunk, sizeof(chunk), last ? "%" PRIu64 : "%019" PRIu64,
                  static_cast<uint64_t>(remainder));
    digits.insert(0, chunk);
  } while (words[0] != 0 || words[1] != 0 || words[2] != 0);
  return digits;
}

// "1234" at scale 2 -> "12.34"; "5" -> "0.05".
std::string WithScale(std::string digits, uint8_t scale) {
  if (scale == 0) return digits;
  if (digits.size() <= scale) digits.insert(0, scale + 1 - digits.size(), '0');
  digits.insert(digits.size() - scale, 1, '.');
  return digits;
}

absl::Status IdError(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("id '", Sv(text), "' ", Sv(why)));
}

absl::StatusOr<u128> ParseHex(std::string_view digits, std::string_view text) {
  if (digits.empty()) return IdError(text, "has no hex digits after 0x");
  u128 value = 0;
  for (char c : digits) {
    const int digit = HexDigit(c);
    if (digit < 0)
      return IdError(
          text, absl::StrCat("has '", absl::string_view(&c, 1), "', which is not a hex digit"));
    if ((value >> 124) != 0) return IdError(text, "is above 2^128-1");
    value = (value << 4) | static_cast<u128>(digit);
  }
  return value;
}

bool IsUuidShape(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? text[i] != '-' : HexDigit(text[i]) < 0) return false;
  }
  return true;
}

std::string FlagNames(uint16_t flags, const char* const* names, size_t name_count) {
  std::string out;
  for (size_t bit = 0; bit < name_count; ++bit) {
    if ((flags & (1u << bit)) == 0) continue;
    if (!out.empty()) out += ',';
    out += names[bit];
  }
  const unsigned unknown = flags & ~((1u << name_count) - 1);
  if (unknown != 0) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%x", unknown);
    if (!out.empty()) out += ',';
    out += hex;
  }
  return out;
}

constexpr const char* kAccountFlagNames[] = {"linked",
                                             "debits_must_not_exceed_credits",
                                             "credits_must_not_exceed_debits",
                                             "history",
                                             "closed",
                                             "imported"};
static_assert(std::size(kAccountFlagNames) == 6 && account_flags::kAll == (1 << 6) - 1);

constexpr const char* kTransferFlagNames[] = {
    "linked",           "pending",       "post_pending",   "void_pending", "balancing_debit",
    "balancing_credit", "closing_debit", "closing_credit", "imported"};
static_assert(std::size(kTransferFlagNames) == 9 && transfer_flags::kAll == (1 << 9) - 1);

}  // namespace

// ---------------------------------------------------------------------------------------------
// Amounts.

absl::StatusOr<Amount> ParseAmount(std::string_view text, uint8_t scale) {
  if (scale > kScaleMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("scale ", scale, " is above the largest, ", kScaleMax));
  }
  if (text.empty()) return absl::InvalidArgumentError("empty amount");
  if (text == "max") return Amount::Max();
  for (char c : text) {
    if (IsSpace(c)) return AmountError(text, "must not contain spaces");
  }
  if (text[0] == '-' || text[0] == '+')
    return AmountError(text, "has a sign; amounts are unsigned");
  if (text.starts_with("raw:")) return ParseRaw(text.substr(4), text);
  if (text.back() == 'u') return ParseRaw(text.substr(0, text.size() - 1), text);
  return ParseDecimal(text, scale);
}

std::string FormatRaw(Amount amount) { return FormatU128(amount.Get()); }

std::string FormatAmount(Amount amount, uint8_t scale) {
  return WithScale(FormatRaw(amount), scale);
}

std::string FormatWideRaw(const WideSum& sum) {
  return Decimal192(sum.carries, sum.low.hi, sum.low.lo);
}

std::string FormatWide(const WideSum& sum, uint8_t scale) {
  return WithScale(FormatWideRaw(sum), scale);
}

// ---------------------------------------------------------------------------------------------
// Ids.

absl::StatusOr<u128> ParseId128(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty id");
  if (text[0] == '-' || text[0] == '+') return IdError(text, "has a sign; ids are unsigned");
  if (text.starts_with("0x") || text.starts_with("0X")) return ParseHex(text.substr(2), text);
  if (IsUuidShape(text)) {
    std::string hex;
    for (char c : text) {
      if (c != '-') hex += c;
    }
    return ParseHex(hex, text);
  }
  u128 value = 0;
  for (char c : text) {
    if (!IsDigit(c)) {
      return IdError(text, "is not an id: use decimal, 0x hex or a UUID (8-4-4-4-12 hex digits)");
    }
  }
  if (!AccumulateDecimal(text, &value)) return IdError(text, "is above 2^128-1");
  return value;
}

std::string FormatU128(u128 value) {
  return Decimal192(0, static_cast<uint64_t>(value >> 64), static_cast<uint64_t>(value));
}

std::string FormatUuid(u128 value) {
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%016" PRIx64 "%016" PRIx64, static_cast<uint64_t>(value >> 64),
                static_cast<uint64_t>(value));
  const std::string_view digits(hex, 32);
  return absl::StrCat(Sv(digits.substr(0, 8)), "-", Sv(digits.substr(8, 4)), "-",
                      Sv(digits.substr(12, 4)), "-", Sv(digits.substr(16, 4)), "-",
                      Sv(digits.substr(20)));
}

std::string FormatId(u128 value) {
  return value <= UINT64_MAX ? FormatU128(value) : FormatUuid(value);
}

// ---------------------------------------------------------------------------------------------
// Names.

std::string AccountFlagsText(uint16_t flags) {
  return FlagNames(flags, kAccountFlagNames, std::size(kAccountFlagNames));
}

std::string TransferFlagsText(uint16_t flags) {
  return FlagNames(flags, kTransferFlagNames, std::size(kTransferFlagNames));
}

absl::StatusOr<uint16_t> ParseAccountFlags(std::string_view text) {
  uint16_t flags = 0;
  if (text.empty()) return flags;
  for (bool more = true; more;) {
    const size_t comma = text.find(',');
    more = comma != std::string_view::npos;
    std::string name(text.substr(0, comma));
    text = more ? text.substr(comma + 1) : std::string_view();
    for (char& c : name) c = c == '-' ? '_' : c;
    size_t bit = 0;
    while (bit < std::size(kAccountFlagNames) && name != kAccountFlagNames[bit]) ++bit;
    if (bit == std::size(kAccountFlagNames) || (1u << bit) == account_flags::kClosed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown account flag '", name,
          "'; the flags are debits-must-not-exceed-credits, credits-must-not-exceed-debits, "
          "history, linked and imported (closed is state, set only by closing transfers)"));
    }
    flags = static_cast<uint16_t>(flags | (1u << bit));
  }
  return flags;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", byte);
      out += escape;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace ledger::tools
