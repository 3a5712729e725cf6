// Reading JSON answers and documents (etcd's gateway, the group configuration) as capnp-json's
// generic tree: what a field holds is checked where it is read, and a wrong shape is DataLoss.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "capnp/compat/json.h"
#include "capnp/message.h"
#include "kj/memory.h"
#include "kj/string.h"

namespace ledger::cluster::internal {

using Json = capnp::JsonValue;

// A parsed document: the message owns the tree `root` points into.
struct JsonDocument {
  kj::Own<capnp::MallocMessageBuilder> message;
  Json::Reader root;
};

// DataLoss (naming `what`) unless `text` is one JSON object.
absl::StatusOr<JsonDocument> ParseJsonObject(kj::ArrayPtr<const char> text, std::string_view what);

// The member `name` of a JSON object, if it has one.
std::optional<Json::Reader> Member(Json::Reader object, std::string_view name);
// A 64-bit integer sent as a decimal string (protobuf's JSON) or a number. Absent: 0, as
// protobuf's JSON leaves out default values.
absl::StatusOr<int64_t> Int64Member(Json::Reader object, std::string_view name);
// A string; absent: empty.
absl::StatusOr<std::string> StringMember(Json::Reader object, std::string_view name);
// Bytes sent base64-encoded; absent: empty.
absl::StatusOr<std::string> BytesMember(Json::Reader object, std::string_view name);

std::string Base64(std::string_view bytes);

}  // namespace ledger::cluster::internal
