// The OpenAPI 3 document of the HTTP/JSON API, walked from the RPC schema as the codec
// (json_api.cc) walks it, so the document and the server cannot disagree on a field or a type.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "capnp/schema.h"
#include "net/internal/http_api.h"
#include "net/internal/json_api.h"
#include "net/ledger.capnp.h"
#include "net/metrics_http.h"

namespace ledger::net::internal {
namespace {

using Which = capnp::schema::Type::Which;

}  // namespace

const std::map<std::string_view, std::string_view>& HttpMethodSummaries() {
  static const auto* summaries = new std::map<std::string_view, std::string_view>{
      {"createLedgers", "Create ledgers (asset books); a result per event, in request order."},
      {"createAccounts", "Create accounts; a result per event, in request order."},
      {"createTransfers",
       "Book transfers (plain, pending, post, void, balancing, closing, reversal, import); a "
       "result per event. Answered once durable and applied; a retry answers exists."},
      {"lookupLedgers", "Ledgers by id, in request order; missing ids are left out."},
      {"verifyLog",
       "Start (start: true) or look at the server's check of its log on disk, from its first "
       "op through the durable op when it started; one runs at a time."},
      {"queryLedgers",
       "A page of the ledgers from an id on, in id order (those the token may see); nextId "
       "continues, 0 when this page is the last."},
      {"lookupAccounts", "Accounts by id, in request order; missing ids are left out."},
      {"lookupTransfers",
       "Transfers by id; failures lists ids whose first attempt failed with a recorded code."},
      {"getAccountTransfers", "A page of an account's transfers (filters, pagination)."},
      {"getAccountBalances", "A page of an account's balances after each change (history flag)."},
      {"trialBalance", "A ledger's sums of debits and credits, pending and posted."},
      {"changes", "A page of the change feed from a cursor."},
      {"info", "The server's schema version, limits, shards and last op."},
      {"getTransferStatuses",
       "What became of transfers: holds, posts, voids, expiries, reversals."},
      {"getPostedAtValueTime", "An account's posted balances as of a value time."},
      {"queryAccounts", "Accounts across the ledger by user data, ledger and code."},
      {"queryTransfers", "Transfers across the ledger by user data, ledger and code."},
      {"checkpoints", "The keyed checkpoints the server retains, from an op on."},
  };
  return *summaries;
}

namespace {

// Pretty JSON, two spaces a level, members in the order written.
class Writer {
 public:
  Writer& Open(char bracket) {
    Separate();
    text_ += bracket;
    fresh_.push_back(true);
    return *this;
  }
  Writer& Close(char bracket) {
    const bool empty = fresh_.back();
    fresh_.pop_back();
    if (!empty) Newline();
    text_ += bracket;
    return *this;
  }
  Writer& Key(std::string_view key) {
    Separate();
    AppendJsonString(key, text_);
    text_ += ": ";
    after_key_ = true;
    return *this;
  }
  Writer& String(std::string_view value) {
    Separate();
    AppendJsonString(value, text_);
    return *this;
  }
  Writer& Raw(std::string_view value) {
    Separate();
    text_ += value;
    return *this;
  }
  Writer& Member(std::string_view key, std::string_view value) { return Key(key).String(value); }
  Writer& Ref(std::string_view name) {
    return Open('{').Member("$ref", "#/components/schemas/" + std::string(name)).Close('}');
  }
  std::string Take() {
    text_ += '\n';
    return std::move(text_);
  }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (fresh_.empty()) return;
    if (!fresh_.back()) text_ += ',';
    fresh_.back() = false;
    Newline();
  }
  void Newline() {
    text_ += '\n';
    text_.append(2 * fresh_.size(), ' ');
  }
  std::string text_;
  std::vector<bool> fresh_;  // per open bracket: nothing written in it yet
  bool after_key_ = false;
};

std::string Capitalized(std::string_view name) {
  std::string text(name);
  if (!text.empty() && text[0] >= 'a' && text[0] <= 'z') text[0] = static_cast<char>(text[0] - 32);
  return text;
}

bool IsU128(capnp::StructSchema schema) {
  return schema.getProto().getId() == capnp::typeId<rpc::U128>();
}

// The schemas' names: a method's params and results as <Method>Request and <Method>Response,
// other structs and enums by their names in the schema.
class Schemas {
 public:
  void Name(capnp::StructSchema schema, std::string name) {
    names_.emplace(schema.getProto().getId(), std::move(name));
  }
  std::string NameOf(capnp::Schema schema) const {
    const auto found = names_.find(schema.getProto().getId());
    if (found != names_.end()) return found->second;
    return std::string(schema.getShortDisplayName().cStr());
  }

  // The schema of a value of `type`, inline or as a reference; collects structs and enums.
  void Value(Writer& out, capnp::Type type) {
    switch (type.which()) {
      case Which::BOOL:
        out.Open('{').Member("type", "boolean").Close('}');
        return;
      case Which::UINT8:
      case Which::UINT16:
      case Which::UINT32: {
        const char* max = type.which() == Which::UINT8    ? "255"
                          : type.which() == Which::UINT16 ? "65535"
                                                          : "4294967295";
        out.Open('{').Member("type", "integer").Key("minimum").Raw("0").Key("maximum").Raw(max);
        out.Close('}');
        return;
      }
      case Which::UINT64:
        out.Ref("UInt64");
        return;
      case Which::TEXT:
        out.Open('{').Member("type", "string").Close('}');
        return;
      case Which::ENUM:
        enum_schemas_.emplace(type.asEnum().getProto().getId(), type.asEnum());
        out.Ref(NameOf(type.asEnum()));
        return;
      case Which::LIST:
        out.Open('{').Member("type", "array").Key("items");
        Value(out, type.asList().getElementType());
        out.Close('}');
        return;
      case Which::STRUCT:
        if (IsU128(type.asStruct())) {
          out.Ref("U128");
        } else {
          Want(type.asStruct());
          out.Ref(NameOf(type.asStruct()));
        }
        return;
      default:
        out.Open('{').Close('}');
        return;
    }
  }

  void Want(capnp::StructSchema schema) {
    if (structs_.emplace(NameOf(schema), schema).second) pending_.push_back(schema);
  }

  // Every struct wanted so far and those they reach, then every enum, by name.
  void WriteAll(Writer& out) {
    while (!pending_.empty()) {  // collects the reachable ones first
      capnp::StructSchema schema = pending_.back();
      pending_.pop_back();
      Writer scratch;
      Struct(scratch, schema);
    }
    for (const auto& [name, schema] : structs_) {
      out.Key(name);
      Struct(out, schema);
    }
    std::map<std::string, capnp::EnumSchema> enums;
    for (const auto& [id, schema] : enum_schemas_) enums.emplace(NameOf(schema), schema);
    for (const auto& [name, schema] : enums) {
      out.Key(name).Open('{').Member("type", "string").Key("enum").Open('[');
      for (capnp::EnumSchema::Enumerant enumerant : schema.getEnumerants()) {
        out.String(enumerant.getProto().getName().cStr());
      }
      out.Close(']').Close('}');
    }
  }

 private:
  void Struct(Writer& out, capnp::StructSchema schema) {
    out.Open('{').Member("type", "object").Key("additionalProperties").Raw("false");
    out.Key("properties").Open('{');
    for (capnp::StructSchema::Field field : schema.getFields()) {
      const capnp::Type type = field.getType();
      if (type.isInterface() || type.isAnyPointer()) continue;
      out.Key(field.getProto().getName().cStr());
      Value(out, type);
    }
    out.Close('}').Close('}');
  }

  std::map<uint64_t, std::string> names_;
  std::map<std::string, capnp::StructSchema> structs_;
  std::vector<capnp::StructSchema> pending_;
  std::map<uint64_t, capnp::EnumSchema> enum_schemas_;
};

void ErrorResponses(Writer& out) {
  out.Key("default").Open('{').Member("$ref", "#/components/responses/Error").Close('}');
}

void Operation(Writer& out, capnp::InterfaceSchema::Method method, std::string_view summary) {
  const std::string name = method.getProto().getName().cStr();
  out.Key("/v1/" + name).Open('{').Key("post").Open('{');
  out.Member("operationId", name).Member("summary", summary);
  out.Key("requestBody").Open('{').Key("required").Raw("true").Key("content").Open('{');
  out.Key("application/json")
      .Open('{')
      .Key("schema")
      .Ref(absl::StrCat(Capitalized(name), "Request"));
  out.Close('}').Close('}').Close('}');
  out.Key("responses").Open('{').Key("200").Open('{').Member("description", "Done.");
  out.Key("content").Open('{').Key("application/json").Open('{').Key("schema");
  out.Ref(absl::StrCat(Capitalized(name), "Response"));
  out.Close('}').Close('}').Close('}');
  ErrorResponses(out);
  out.Close('}').Close('}').Close('}');
}

void StreamOperation(Writer& out) {
  out.Key("/v1/changes/stream").Open('{').Key("get").Open('{');
  out.Member("operationId", "streamChanges");
  out.Member("summary",
             "The change feed from a cursor on, as it is committed: one JSON object a line "
             "(change, checkpoint, or end as the last); an empty line keeps the stream alive.");
  out.Key("parameters").Open('[');
  out.Open('{').Member("name", "from").Member("in", "query").Key("required").Raw("false");
  out.Key("schema").Ref("UInt64").Close('}');
  out.Open('{').Member("name", "checkpoints").Member("in", "query").Key("required").Raw("false");
  out.Key("schema").Open('{').Member("type", "boolean").Close('}').Close('}');
  out.Close(']');
  out.Key("responses").Open('{').Key("200").Open('{').Member("description", "The stream.");
  out.Key("content").Open('{').Key("application/x-ndjson").Open('{').Key("schema");
  out.Ref("StreamLine").Close('}').Close('}').Close('}');
  ErrorResponses(out);
  out.Close('}').Close('}').Close('}');
}

void MetricsOperation(Writer& out) {
  out.Key("/v1/metrics").Open('{').Key("get").Open('{');
  out.Member("operationId", "metrics");
  out.Member("summary",
             "The server's Prometheus metrics (text exposition format 0.0.4), as on the "
             "--metrics listener; any token's role may read them.");
  out.Key("responses").Open('{').Key("200").Open('{').Member("description", "The metrics.");
  out.Key("content").Open('{').Key(kMetricsContentType).Open('{');
  out.Key("schema").Open('{').Member("type", "string").Close('}');
  out.Close('}').Close('}').Close('}');
  ErrorResponses(out);
  out.Close('}').Close('}').Close('}');
}

void FixedSchemas(Writer& out) {
  out.Key("U128").Open('{').Member("type", "string").Member("pattern", "^[0-9]{1,39}$");
  out.Member("description", "An unsigned 128-bit integer (id, amount) as decimal text.");
  out.Close('}');
  out.Key("UInt64").Open('{').Member("type", "string").Member("pattern", "^[0-9]{1,20}$");
  out.Member("description", "An unsigned 64-bit integer (timestamp, sequence) as decimal text.");
  out.Close('}');
  out.Key("Error").Open('{').Member("type", "object").Key("required").Open('[');
  out.String("error").String("message").Close(']').Key("properties").Open('{');
  out.Key("error").Open('{').Member("type", "string").Close('}');
  out.Key("message").Open('{').Member("type", "string").Close('}');
  out.Close('}').Close('}');
  out.Key("StreamLine").Open('{').Member("type", "object").Key("additionalProperties").Raw("false");
  out.Key("properties").Open('{').Key("change").Ref("Change").Key("checkpoint").Ref("Checkpoint");
  out.Key("end").Open('{').Member("type", "string").Close('}').Close('}').Close('}');
}

}  // namespace

std::string OpenApiDocument() {
  Schemas schemas;
  Writer out;
  out.Open('{').Member("openapi", "3.0.3");
  out.Key("info").Open('{').Member("title", "Ledger HTTP/JSON API");
  out.Member("version", absl::StrCat(rpc::SCHEMA_VERSION));
  out.Member("description",
             "Every method of the RPC contract (net/ledger.capnp) as POST /v1/<method>; "
             "semantics, limits and result codes as there (docs/http-api.md).");
  out.Close('}');
  out.Key("security").Open('[').Open('{').Key("bearer").Open('[').Close(']').Close('}').Close(']');
  out.Key("paths").Open('{');
  for (capnp::InterfaceSchema::Method method : capnp::Schema::from<rpc::Ledger>().getMethods()) {
    const std::string_view name = method.getProto().getName().cStr();
    const auto summary = HttpMethodSummaries().find(name);
    if (summary == HttpMethodSummaries().end()) continue;
    schemas.Name(method.getParamType(), absl::StrCat(Capitalized(name), "Request"));
    schemas.Name(method.getResultType(), absl::StrCat(Capitalized(name), "Response"));
    schemas.Want(method.getParamType());
    schemas.Want(method.getResultType());
    Operation(out, method, summary->second);
  }
  StreamOperation(out);
  schemas.Want(capnp::Schema::from<rpc::Change>());
  schemas.Want(capnp::Schema::from<rpc::Checkpoint>());
  MetricsOperation(out);
  out.Key("/v1/openapi.json").Open('{').Key("get").Open('{');
  out.Member("operationId", "openApi").Member("summary", "This document (no token needed).");
  out.Key("security").Open('[').Close(']');
  out.Key("responses").Open('{').Key("200").Open('{').Member("description", "The document.");
  out.Close('}').Close('}').Close('}').Close('}');
  out.Close('}');
  out.Key("components").Open('{');
  out.Key("securitySchemes").Open('{').Key("bearer").Open('{').Member("type", "http");
  out.Member("scheme", "bearer").Close('}').Close('}');
  out.Key("responses").Open('{').Key("Error").Open('{');
  out.Member("description",
             "A JSON error: error is a code (invalid_argument, unauthenticated, "
             "permission_denied, not_found, overloaded, ...), message says why.");
  out.Key("content").Open('{').Key("application/json").Open('{').Key("schema").Ref("Error");
  out.Close('}').Close('}').Close('}').Close('}');
  out.Key("schemas").Open('{');
  FixedSchemas(out);
  schemas.WriteAll(out);
  out.Close('}').Close('}').Close('}');
  return out.Take();
}

}  // namespace ledger::net::internal
