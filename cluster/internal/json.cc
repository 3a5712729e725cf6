#include "cluster/internal/json.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "kj/encoding.h"

namespace ledger::cluster::internal {
namespace {

absl::Status Malformed(std::string_view name, std::string_view problem) {
  return absl::DataLossError(absl::StrCat("'", std::string(name), "' ", std::string(problem)));
}

}  // namespace

absl::StatusOr<JsonDocument> ParseJsonObject(kj::ArrayPtr<const char> text, std::string_view what) {
  JsonDocument document{kj::heap<capnp::MallocMessageBuilder>(), {}};
  Json::Builder root = document.message->initRoot<Json>();
  kj::Maybe<kj::Exception> error =
      kj::runCatchingExceptions([&] { capnp::JsonCodec().decodeRaw(text, root); });
  if (error != nullptr || !root.asReader().isObject()) {
    return absl::DataLossError(absl::StrCat(std::string(what), " is not a JSON object"));
  }
  document.root = root.asReader();
  return document;
}

std::optional<Json::Reader> Member(Json::Reader object, std::string_view name) {
  if (!object.isObject()) return std::nullopt;
  for (Json::Field::Reader field : object.getObject()) {
    kj::StringPtr field_name = field.getName();
    if (std::string_view(field_name.cStr(), field_name.size()) == name) return field.getValue();
  }
  return std::nullopt;
}

absl::StatusOr<int64_t> Int64Member(Json::Reader object, std::string_view name) {
  std::optional<Json::Reader> value = Member(object, name);
  if (!value) return 0;
  if (value->isNumber()) {
    // Exact below 2^53, which is all a number (not a string) is ever used for here.
    const double number = value->getNumber();
    constexpr double kExactMax = 9007199254740992.0;
    if (!(number >= -kExactMax && number <= kExactMax) ||
        number != static_cast<double>(static_cast<int64_t>(number))) {
      return Malformed(name, "is not an integer");
    }
    return static_cast<int64_t>(number);
  }
  if (!value->isString()) return Malformed(name, "is not a number");
  kj::StringPtr text = value->getString();
  int64_t parsed = 0;
  auto [end, error] = std::from_chars(text.begin(), text.end(), parsed);
  if (text.size() == 0 || error != std::errc() || end != text.end()) {
    return Malformed(name, "is not a decimal integer");
  }
  return parsed;
}

absl::StatusOr<std::string> StringMember(Json::Reader object, std::string_view name) {
  std::optional<Json::Reader> value = Member(object, name);
  if (!value) return std::string();
  if (!value->isString()) return Malformed(name, "is not a string");
  kj::StringPtr text = value->getString();
  return std::string(text.cStr(), text.size());
}

absl::StatusOr<std::string> BytesMember(Json::Reader object, std::string_view name) {
  LEDGER_ASSIGN_OR_RETURN(std::string text, StringMember(object, name));
  kj::EncodingResult<kj::Array<kj::byte>> bytes =
      kj::decodeBase64(kj::arrayPtr(text.data(), text.size()));
  if (bytes.hadErrors) return Malformed(name, "is not base64");
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

std::string Base64(std::string_view bytes) {
  kj::String text =
      kj::encodeBase64(kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
  return std::string(text.cStr(), text.size());
}

}  // namespace ledger::cluster::internal
