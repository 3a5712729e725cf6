#include "net/internal/json_api.h"

#include <bitset>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "capnp/compat/json.h"
#include "capnp/message.h"
#include "engine/types.h"
#include "net/ledger.capnp.h"

namespace ledger::net::internal {
namespace {

using capnp::DynamicList;
using capnp::DynamicStruct;
using capnp::DynamicValue;
using capnp::JsonValue;
using capnp::StructSchema;
using Which = capnp::schema::Type::Which;

std::string_view View(kj::StringPtr text) { return std::string_view(text.begin(), text.size()); }

bool IsU128(StructSchema schema) { return schema.getProto().getId() == capnp::typeId<rpc::U128>(); }

// Capabilities and bytes are not carried: the API's methods have none (subscribe's consumer and
// createTransfersPacked's records are Cap'n Proto's alone), and decoding refuses them.
bool Carried(capnp::Type type) {
  return !type.isInterface() && !type.isAnyPointer() && !type.isData();
}

// Where in the request a value is, for errors: "transfers[3].amount".
class Path {
 public:
  void PushField(kj::StringPtr name) { parts_.push_back({name, -1}); }
  void PushIndex(size_t index) { parts_.push_back({nullptr, static_cast<int64_t>(index)}); }
  void Pop() { parts_.pop_back(); }
  std::string Text() const {
    std::string text;
    for (const Part& part : parts_) {
      if (part.index >= 0) {
        absl::StrAppend(&text, "[", part.index, "]");
      } else {
        absl::StrAppend(&text, text.empty() ? "" : ".", part.name.cStr());
      }
    }
    return text.empty() ? "the body" : text;
  }

 private:
  struct Part {
    kj::StringPtr name;
    int64_t index;
  };
  std::vector<Part> parts_;
};

const char* KindOf(JsonValue::Reader value) {
  switch (value.which()) {
    case JsonValue::NULL_:
      return "null";
    case JsonValue::BOOLEAN:
      return "a boolean";
    case JsonValue::NUMBER:
      return "a number";
    case JsonValue::STRING:
      return "a string";
    case JsonValue::ARRAY:
      return "an array";
    case JsonValue::OBJECT:
      return "an object";
    case JsonValue::CALL:
      return "a call";
  }
  return "a value of an unknown kind";
}

absl::Status WrongType(const Path& path, const char* wanted, JsonValue::Reader value) {
  return absl::InvalidArgumentError(
      absl::StrCat(path.Text(), ": expected ", wanted, ", got ", KindOf(value)));
}

}  // namespace

std::optional<u128> ParseDecimal(std::string_view text, u128 max) {
  if (text.empty() || text.size() > 39) return std::nullopt;
  u128 value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint32_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

namespace {

// A struct's fields given so far, without an allocation per object (the schema's largest
// struct has 15 fields).
constexpr size_t kFieldsMax = 64;

class Decoder {
 public:
  explicit Decoder(uint32_t nesting_max) : nesting_max_(nesting_max) {}

  absl::Status Struct(JsonValue::Reader value, DynamicStruct::Builder out) {
    if (value.which() != JsonValue::OBJECT) return WrongType(path_, "an object", value);
    if (++depth_ > nesting_max_) return TooDeep();
    const StructSchema schema = out.getSchema();
    LEDGER_ASSERT(schema.getFields().size() <= kFieldsMax, schema.getFields().size());
    std::bitset<kFieldsMax> seen;
    for (JsonValue::Field::Reader member : value.getObject()) {
      const kj::StringPtr name = member.getName();
      KJ_IF_MAYBE (field, schema.findFieldByName(name)) {
        path_.PushField(field->getProto().getName());
        if (seen[field->getIndex()]) {
          return absl::InvalidArgumentError(absl::StrCat(path_.Text(), ": given twice"));
        }
        seen[field->getIndex()] = true;
        if (absl::Status status = Field(member.getValue(), out, *field); !status.ok()) {
          return status;
        }
        path_.Pop();
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            path_.Text(), ": unknown field \"", std::string(name.begin(), name.size()), "\""));
      }
    }
    --depth_;
    return absl::OkStatus();
  }

 private:
  absl::Status TooDeep() const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_.Text(), ": nested deeper than ", nesting_max_, " levels"));
  }

  absl::Status Field(JsonValue::Reader value, DynamicStruct::Builder out,
                     StructSchema::Field field) {
    const capnp::Type type = field.getType();
    switch (type.which()) {
      case Which::STRUCT: {
        const StructSchema schema = type.asStruct();
        if (IsU128(schema)) return U128(value, out.init(field).as<DynamicStruct>());
        return Struct(value, out.init(field).as<DynamicStruct>());
      }
      case Which::LIST: {
        if (value.which() != JsonValue::ARRAY) return WrongType(path_, "an array", value);
        auto items = value.getArray();
        return List(items, out.init(field, items.size()).as<DynamicList>());
      }
      default: {
        DynamicValue::Reader scalar;
        if (absl::Status status = Scalar(value, type, scalar); !status.ok()) return status;
        out.set(field, scalar);
        return absl::OkStatus();
      }
    }
  }

  absl::Status List(capnp::List<JsonValue>::Reader items, DynamicList::Builder out) {
    if (++depth_ > nesting_max_) return TooDeep();
    const capnp::Type element = out.getSchema().getElementType();
    for (unsigned i = 0; i < items.size(); ++i) {
      path_.PushIndex(i);
      absl::Status status;
      if (element.isStruct()) {
        const auto item = out[i].as<DynamicStruct>();
        status = IsU128(element.asStruct()) ? U128(items[i], item) : Struct(items[i], item);
      } else if (element.isList()) {
        status = absl::InvalidArgumentError(absl::StrCat(path_.Text(), ": nested lists"));
      } else {
        DynamicValue::Reader scalar;
        status = Scalar(items[i], element, scalar);
        if (status.ok()) out.set(i, scalar);
      }
      if (!status.ok()) return status;
      path_.Pop();
    }
    --depth_;
    return absl::OkStatus();
  }

  absl::Status U128(JsonValue::Reader value, DynamicStruct::Builder out) {
    if (value.which() != JsonValue::STRING) {
      return WrongType(path_, "a decimal string (0 to 2^128-1)", value);
    }
    const std::optional<u128> parsed =
        ParseDecimal(View(value.getString()), std::numeric_limits<u128>::max());
    if (!parsed.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_.Text(), ": expected a decimal string of 0 to 2^128-1, got \"",
          std::string(value.getString().begin(), std::min<size_t>(value.getString().size(), 48)),
          "\""));
    }
    auto typed = out.as<rpc::U128>();
    typed.setLo(static_cast<uint64_t>(*parsed));
    typed.setHi(static_cast<uint64_t>(*parsed >> 64));
    return absl::OkStatus();
  }

  // A number that is an integer in [0, max] (no field of the schema is signed or fractional).
  absl::Status Integer(JsonValue::Reader value, uint64_t max, uint64_t& out) const {
    if (value.which() != JsonValue::NUMBER) return WrongType(path_, "an integer", value);
    const double number = value.getNumber();
    if (!std::isfinite(number) || std::floor(number) != number || number < 0 ||
        number > static_cast<double>(max)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_.Text(), ": expected an integer of 0 to ", max, ", got ", number));
    }
    out = static_cast<uint64_t>(number);
    return absl::OkStatus();
  }

  absl::Status Scalar(JsonValue::Reader value, capnp::Type type, DynamicValue::Reader& out) const {
    uint64_t integer = 0;
    absl::Status status;
    switch (type.which()) {
      case Which::BOOL:
        if (value.which() != JsonValue::BOOLEAN) return WrongType(path_, "true or false", value);
        out = value.getBoolean();
        return absl::OkStatus();
      case Which::UINT8:
        status = Integer(value, UINT8_MAX, integer);
        out = static_cast<uint8_t>(integer);
        return status;
      case Which::UINT16:
        status = Integer(value, UINT16_MAX, integer);
        out = static_cast<uint16_t>(integer);
        return status;
      case Which::UINT32:
        status = Integer(value, UINT32_MAX, integer);
        out = static_cast<uint32_t>(integer);
        return status;
      case Which::UINT64: {
        if (value.which() != JsonValue::STRING) {
          return WrongType(path_, "a decimal string (0 to 2^64-1)", value);
        }
        const std::optional<u128> parsed = ParseDecimal(View(value.getString()), UINT64_MAX);
        if (!parsed.has_value()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_.Text(), ": expected a decimal string of 0 to 2^64-1"));
        }
        out = static_cast<uint64_t>(*parsed);
        return absl::OkStatus();
      }
      case Which::TEXT:
        if (value.which() != JsonValue::STRING) return WrongType(path_, "a string", value);
        out = value.getString();
        return absl::OkStatus();
      case Which::ENUM: {
        if (value.which() != JsonValue::STRING) return WrongType(path_, "a name", value);
        KJ_IF_MAYBE (enumerant, type.asEnum().findEnumerantByName(value.getString())) {
          out = capnp::DynamicEnum(*enumerant);
          return absl::OkStatus();
        }
        return absl::InvalidArgumentError(
            absl::StrCat(path_.Text(), ": no such name: \"", value.getString().cStr(), "\""));
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(path_.Text(), ": a field the HTTP API does not take"));
    }
  }

  const uint32_t nesting_max_;
  uint32_t depth_ = 0;
  Path path_;
};

void EncodeValue(DynamicValue::Reader value, capnp::Type type, std::string& out);

void EncodeList(DynamicList::Reader list, std::string& out) {
  const capnp::Type element = list.getSchema().getElementType();
  out += '[';
  for (unsigned i = 0; i < list.size(); ++i) {
    if (i > 0) out += ',';
    EncodeValue(list[i], element, out);
  }
  out += ']';
}

void EncodeValue(DynamicValue::Reader value, capnp::Type type, std::string& out) {
  switch (type.which()) {
    case Which::BOOL:
      out += value.as<bool>() ? "true" : "false";
      return;
    case Which::UINT8:
    case Which::UINT16:
    case Which::UINT32:
      absl::StrAppend(&out, value.as<uint32_t>());
      return;
    case Which::UINT64:
      absl::StrAppend(&out, "\"", value.as<uint64_t>(), "\"");
      return;
    case Which::TEXT: {
      const capnp::Text::Reader text = value.as<capnp::Text>();
      AppendJsonString(std::string_view(text.begin(), text.size()), out);
      return;
    }
    case Which::ENUM: {
      const capnp::DynamicEnum item = value.as<capnp::DynamicEnum>();
      KJ_IF_MAYBE (enumerant, item.getEnumerant()) {
        absl::StrAppend(&out, "\"", enumerant->getProto().getName().cStr(), "\"");
      } else {
        absl::StrAppend(&out, item.getRaw());  // a newer schema's: its number
      }
      return;
    }
    case Which::LIST:
      EncodeList(value.as<DynamicList>(), out);
      return;
    case Which::STRUCT: {
      const DynamicStruct::Reader item = value.as<DynamicStruct>();
      if (IsU128(item.getSchema())) {
        const auto typed = item.as<rpc::U128>();
        absl::StrAppend(&out, "\"", U128Text(typed.getLo(), typed.getHi()), "\"");
      } else {
        EncodeJson(item, out);
      }
      return;
    }
    default:
      out += "null";  // capabilities and other values the API does not carry
      return;
  }
}

// What Cap'n Proto 0.9's JSON parser gets wrong in strings, refused before it parses: it
// misreads the hex letters of a \u escape ("\u000f" becomes U+0005), and takes raw control
// characters, which JSON forbids there. No valid request needs either: the API's strings are
// decimal digits, enumerant names and asset codes (A-Z 0-9 . _ -), which no encoder escapes.
absl::Status CheckStrings(std::string_view text) {
  bool in_string = false;
  for (size_t at = 0; at < text.size(); ++at) {
    const char c = text[at];
    if (!in_string) {
      in_string = c == '"';
    } else if (c == '"') {
      in_string = false;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      return absl::InvalidArgumentError(absl::StrCat("malformed JSON: a control character (",
                                                     static_cast<int>(c), ") in a string at byte ",
                                                     at, "; JSON wants it escaped"));
    } else if (c == '\\' && at + 1 < text.size()) {
      if (text[at + 1] == 'u' &&
          text.substr(at + 2, 4).find_first_not_of("0123456789") != std::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a \\u escape with hex letters at byte ", at,
            " is not taken: the API's strings are ASCII digits, names and asset codes"));
      }
      ++at;  // the escaped character
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeJson(std::string_view text, DynamicStruct::Builder out, uint32_t nesting_max) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return absl::OkStatus();
  if (absl::Status strings = CheckStrings(text); !strings.ok()) return strings;
  capnp::JsonCodec codec;
  codec.setMaxNestingDepth(nesting_max);
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<JsonValue>();
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() {
                 codec.decodeRaw(kj::ArrayPtr<const char>(text.data(), text.size()), root);
               })) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON: ", exception->getDescription().cStr()));
  }
  Decoder decoder(nesting_max);
  absl::Status status;
  KJ_IF_MAYBE (exception, kj::runCatchingExceptions(
                              [&]() { status = decoder.Struct(root.asReader(), out); })) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body does not fit the request: ", exception->getDescription().cStr()));
  }
  return status;
}

void EncodeJson(DynamicStruct::Reader in, std::string& out) {
  out += '{';
  bool first = true;
  for (StructSchema::Field field : in.getSchema().getFields()) {
    const capnp::Type type = field.getType();
    if (!Carried(type)) continue;
    if (!first) out += ',';
    first = false;
    absl::StrAppend(&out, "\"", field.getProto().getName().cStr(), "\":");
    EncodeValue(in.get(field), type, out);
  }
  out += '}';
}

void AppendJsonString(std::string_view text, std::string& out) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':  // short forms: a \u escape with hex letters is refused on input
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string U128Text(uint64_t lo, uint64_t hi) {
  u128 value = (static_cast<u128>(hi) << 64) | lo;
  char digits[40];
  size_t start = sizeof(digits);
  do {
    digits[--start] = static_cast<char>('0' + static_cast<int>(value % 10));
    value /= 10;
  } while (value != 0);
  return std::string(digits + start, sizeof(digits) - start);
}

}  // namespace ledger::net::internal
