// Text forms of the ledger's values for the operator tools: amounts, 128-bit ids, and the names
// of result codes, flags and change kinds. No floating point anywhere: amounts are exact
// integers of minor units, and text is converted digit by digit.
//
// Amount text (ParseAmount), for a ledger of scale S (S decimals, 0..38):
//   12.34  12  1_000.5   decimal, in the asset's major units: at most S decimals, never rounded
//                        ("12.345" at scale 2 is an error); "12" at scale 2 is 1200 minor units
//   1234u  raw:1234      raw minor units, whatever the scale
//   max                  2^128-1 minor units (post: the whole reservation; balancing: as much
//                        as the accounts allow)
// `_` may separate digits (one at a time, between two digits). Signs, spaces, exponents, a
// bare or trailing '.' and values above 2^128-1 are errors (InvalidArgument, with a message
// that names the problem).
//
// Id text (ParseId128), for account and transfer ids and user data: decimal, 0x hex (1 to 32
// digits), or a UUID (8-4-4-4-12 hex digits, read as one big-endian 128-bit number, so
// 00000000-0000-0000-0000-000000000001 is 1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/result_names.h"
#include "engine/types.h"

namespace ledger::tools {

// ---------------------------------------------------------------------------------------------
// Amounts.

// Parses amount text (above) for a ledger of `scale` decimals. InvalidArgument for malformed
// text, too many decimals, a value above 2^128-1, or a scale above kScaleMax.
absl::StatusOr<Amount> ParseAmount(std::string_view text, uint8_t scale);

// "12.34" for 1234 at scale 2: always exactly `scale` decimals, and a leading "0." below one
// unit ("0.05"); scale 0 prints the integer. The scale must be at most kScaleMax.
std::string FormatAmount(Amount amount, uint8_t scale);
// The minor units in decimal: "1234".
std::string FormatRaw(Amount amount);

// A trial-balance sum (carries * 2^128 + low) in decimal, and with `scale` decimals.
std::string FormatWideRaw(const WideSum& sum);
std::string FormatWide(const WideSum& sum, uint8_t scale);

// ---------------------------------------------------------------------------------------------
// Ids and other 128-bit values.

// Parses id text (above). InvalidArgument for anything else, or a value above 2^128-1.
absl::StatusOr<u128> ParseId128(std::string_view text);

// Decimal: "1234".
std::string FormatU128(u128 value);
// Lowercase UUID form: "00000000-0000-0000-0000-0000000004d2" for 1234.
std::string FormatUuid(u128 value);
// For people: decimal below 2^64, the UUID form above (large ids are UUIDs more often than
// not, and 39 decimal digits are hard to compare). ParseId128 reads both back.
std::string FormatId(u128 value);

// ---------------------------------------------------------------------------------------------
// Names (snake_case, as in docs/data-model.md; result codes and change kinds are named by
// engine/result_names.h). Bits outside the known ones are shown in hex.

// Comma-separated names of the set bits, "" for none, unknown bits as "0x..":
// "debits_must_not_exceed_credits,history". (Not "...FlagNames": ledger-wal has functions of
// that name in this namespace, '|'-separated, and the two must never collide at link time.)
std::string AccountFlagsText(uint16_t flags);
std::string TransferFlagsText(uint16_t flags);

// Parses a comma-separated list of account flag names ('-' or '_' between words), as given
// on creation: debits_must_not_exceed_credits, credits_must_not_exceed_debits, history,
// linked. "" is no flags. InvalidArgument names an unknown flag and lists the known ones.
absl::StatusOr<uint16_t> ParseAccountFlags(std::string_view text);

// A JSON string literal: quotes and backslashes escaped, control and non-ASCII bytes as
// \u00XX, so the tools' JSON output stays 7-bit whatever bytes a record holds.
std::string JsonString(std::string_view text);

}  // namespace ledger::tools
