// The HTTP API's JSON, derived from the RPC schema (net/ledger.capnp) so the two cannot drift:
// a method's request body is its params struct, its response its results struct, field names
// as in the schema (camelCase), and every field is written on output.
//
// Types (docs/http-api.md): U128 (ids, amounts) and 64-bit integers (timestamps, sequences) are
// decimal strings, never JSON numbers, which lose precision past 2^53; 8- to 32-bit integers are
// JSON numbers (integral, in range); enums are their names ("ok", "exceedsCredits"); lists are
// arrays. Decoding is strict: a field the schema does not have, a field given twice, a number
// where a string is wanted (or the reverse), a fraction, a value out of range: each is an error
// naming the field's path ("transfers[3].amount"), and nothing is called.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "capnp/dynamic.h"
#include "engine/types.h"

namespace ledger::net::internal {

// Parses `text` (one JSON object) into `out`, a struct of the schema: InvalidArgument with the
// path and the reason when it is not what the struct takes. `nesting_max` bounds the depth of
// arrays and objects (the schema's deepest request is 4).
absl::Status DecodeJson(std::string_view text, capnp::DynamicStruct::Builder out,
                        uint32_t nesting_max = 16);

// Appends `in` as a JSON object: every field of the struct, in the schema's order (but
// capabilities and bytes, which the API does not carry).
void EncodeJson(capnp::DynamicStruct::Reader in, std::string& out);

// Appends `text` as a JSON string literal (quotes and escapes).
void AppendJsonString(std::string_view text, std::string& out);

// Decimal digits only (no sign, space or exponent, 1 to 39 of them), at most `max`; nullopt
// otherwise. The API's U128 and 64-bit values, and its query parameters.
std::optional<u128> ParseDecimal(std::string_view text, u128 max);

// Decimal text of value = hi * 2^64 + lo.
std::string U128Text(uint64_t lo, uint64_t hi);

}  // namespace ledger::net::internal
