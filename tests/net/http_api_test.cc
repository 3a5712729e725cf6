// The HTTP/JSON API (docs/http-api.md) against the real ledgerd: every path with every request
// field, answers checked field by field against the schema and by value; the OpenAPI document in
// docs/ kept in step with the server; tokens and roles; the change feed as a stream; hostile
// input (each a precise 4xx with a JSON error body, nothing changed, the server unharmed); and
// the Python example of the docs, run as written.
#include "net/internal/http_api.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "capnp/compat/json.h"
#include "capnp/message.h"
#include "net/internal/json_api.h"
#include "net/ledger.capnp.h"
#include "tests/build_path.h"
#include "tests/net/hostile_util.h"
#include "tests/net/http_client.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::BearerAndJson;
using testing::Contains;
using testing::HttpReply;
using testing::HttpRequest;
using testing::ServerProcess;

// ---------------------------------------------------------------------------------------------
// The codec alone

absl::Status DecodeTransfers(const std::string& body) {
  capnp::MallocMessageBuilder message;
  auto params = message.initRoot<rpc::Ledger::CreateTransfersParams>();
  return internal::DecodeJson(body, capnp::toDynamic(params));
}

TEST(HttpJson, RefusesWhatTheSchemaDoesNotSayNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"transfers":[{"id":12}]})", "transfers[0].id: expected a decimal string"},
      {R"({"transfers":[{"amount":"-5"}]})", "transfers[0].amount: expected a decimal string"},
      {R"({"transfers":[{"amount":"1e3"}]})", "transfers[0].amount"},
      {R"({"transfers":[{"amount":" 5"}]})", "transfers[0].amount"},
      {R"({"transfers":[{"amount":""}]})", "transfers[0].amount"},
      {R"({"transfers":[{"amount":"340282366920938463463374607431768211456"}]})",
       "transfers[0].amount: expected a decimal string of 0 to 2^128-1"},
      {R"({"transfers":[{"timestampNs":1}]})", "transfers[0].timestampNs: expected a decimal"},
      {R"({"transfers":[{"timestampNs":"18446744073709551616"}]})",
       "transfers[0].timestampNs: expected a decimal string of 0 to 2^64-1"},
      {R"({"transfers":[{"ledger":"7"}]})",
       "transfers[0].ledger: expected an integer, got a string"},
      {R"({"transfers":[{"ledger":1.5}]})", "transfers[0].ledger: expected an integer of 0 to"},
      {R"({"transfers":[{"ledger":-1}]})", "transfers[0].ledger"},
      {R"({"transfers":[{"ledger":4294967296}]})", "transfers[0].ledger"},
      {R"({"transfers":[{"code":65536}]})", "transfers[0].code"},
      {R"({"transfers":[{"ledger":null}]})", "transfers[0].ledger: expected an integer, got null"},
      {R"({"transfers":[{"amunt":"5"}]})", "transfers[0]: unknown field \"amunt\""},
      {R"({"transfers":[{"id":"1","id":"2"}]})", "transfers[0].id: given twice"},
      {R"({"transfers":{"id":"1"}})", "transfers: expected an array, got an object"},
      {R"({"transfers":["1"]})", "transfers[0]: expected an object, got a string"},
      {R"(["transfers"])", "the body: expected an object, got an array"},
      {R"({"transfers":[{"id":"1"}],})", "malformed JSON"},
      {R"({"transfers":[{"id":"1"})", "malformed JSON"},
      {"{\"transfers\":[{\"id\":\"1\"}]} trailing", "malformed JSON"},
      {R"({"extra":1})", "the body: unknown field \"extra\""},
      // Cap'n Proto 0.9 reads "\u005f" as "U": refused rather than decoded wrong.
      {R"({"transfers":[{"id":"\u005f"}]})", "a \\u escape with hex letters at byte 21"},
      {"{\"transfers\":[{\"id\":\"1\x01\"}]}", "a control character (1) in a string"},
      {R"({"transfers":[{"id":"\u0031"}]})", ""},  // "1": decimal escapes are read right
  };
  for (const auto& [body, error] : cases) {
    const absl::Status status = DecodeTransfers(body);
    if (error.empty()) {
      EXPECT_TRUE(status.ok()) << body << ": " << status;
      continue;
    }
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << body << ": " << status;
    EXPECT_TRUE(Contains(std::string(status.message()), error))
        << body << ": " << status.message() << " lacks " << error;
  }
  std::string deep(10'000, '[');
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeTransfers(deep)));
  capnp::MallocMessageBuilder message;
  auto params = message.initRoot<rpc::Ledger::ChangesParams>();
  EXPECT_TRUE(Contains(
      std::string(internal::DecodeJson(R"({"limit":true})", capnp::toDynamic(params)).message()),
      "limit: expected an integer, got a boolean"));
  auto statuses = message.initRoot<rpc::FailedTransfer>();
  EXPECT_TRUE(Contains(
      std::string(
          internal::DecodeJson(R"({"status":"okay"})", capnp::toDynamic(statuses)).message()),
      "status: no such name: \"okay\""));
}

TEST(HttpJson, EncodesEveryFieldAndDecodesItBackExactly) {
  capnp::MallocMessageBuilder message;
  auto params = message.initRoot<rpc::Ledger::CreateTransfersParams>();
  auto transfer = params.initTransfers(1)[0];
  transfer.initId().setLo(~uint64_t{0});
  transfer.getId().setHi(~uint64_t{0});
  transfer.initAmount().setHi(1);
  transfer.setLedger(~uint32_t{0});
  transfer.setCode(65535);
  transfer.setTimestampNs(~uint64_t{0});
  transfer.setValueTimeNs(123);
  std::string text;
  internal::EncodeJson(params.asReader(), text);
  EXPECT_TRUE(Contains(text, R"("id":"340282366920938463463374607431768211455")")) << text;
  EXPECT_TRUE(Contains(text, R"("amount":"18446744073709551616")")) << text;
  EXPECT_TRUE(Contains(text, R"("ledger":4294967295)")) << text;
  EXPECT_TRUE(Contains(text, R"("timestampNs":"18446744073709551615")")) << text;
  EXPECT_TRUE(Contains(text, R"("pendingId":"0")")) << text;  // every field, zero or not
  capnp::MallocMessageBuilder again;
  auto decoded = again.initRoot<rpc::Ledger::CreateTransfersParams>();
  ASSERT_TRUE(internal::DecodeJson(text, capnp::toDynamic(decoded)).ok());
  std::string text_again;
  internal::EncodeJson(decoded.asReader(), text_again);
  EXPECT_EQ(text_again, text);
  std::string escaped;
  internal::AppendJsonString("a\"b\\c\n\x01", escaped);
  EXPECT_EQ(escaped, R"("a\"b\\c\n\u0001")");
}

// ---------------------------------------------------------------------------------------------
// Every path and field against the server

// The dotted paths of every request field the schema has ("transfers[].amount").
void SchemaPaths(capnp::StructSchema schema, const std::string& prefix,
                 std::set<std::string>& out) {
  for (capnp::StructSchema::Field field : schema.getFields()) {
    const capnp::Type type = field.getType();
    if (type.isInterface() || type.isAnyPointer()) continue;
    const std::string path = prefix + field.getProto().getName().cStr();
    out.insert(path);
    if (type.isStruct() && type.asStruct().getProto().getId() != capnp::typeId<rpc::U128>()) {
      SchemaPaths(type.asStruct(), path + ".", out);
    }
    if (type.isList() && type.asList().getElementType().isStruct()) {
      const capnp::StructSchema element = type.asList().getElementType().asStruct();
      if (element.getProto().getId() != capnp::typeId<rpc::U128>()) {
        SchemaPaths(element, path + "[].", out);
      }
    }
  }
}

// The dotted paths of every field a JSON value gives.
void GivenPaths(capnp::JsonValue::Reader value, const std::string& prefix,
                std::set<std::string>& out) {
  if (value.isObject()) {
    for (auto member : value.getObject()) {
      const std::string path = prefix + member.getName().cStr();
      out.insert(path);
      GivenPaths(member.getValue(), path + ".", out);
    }
  } else if (value.isArray()) {
    std::string list_prefix = prefix;
    if (!list_prefix.empty()) list_prefix.back() = '[';
    for (auto item : value.getArray()) GivenPaths(item, list_prefix + "].", out);
  }
}

kj::Own<capnp::MallocMessageBuilder> ParseJson(const std::string& text,
                                               capnp::JsonValue::Reader* out) {
  auto message = kj::heap<capnp::MallocMessageBuilder>();
  auto root = message->initRoot<capnp::JsonValue>();
  capnp::JsonCodec codec;
  codec.decodeRaw(kj::ArrayPtr<const char>(text.data(), text.size()), root);
  *out = root.asReader();
  return message;
}

// An answer has exactly the schema's fields, at every level.
void ExpectExactlyTheSchema(capnp::JsonValue::Reader value, capnp::StructSchema schema,
                            const std::string& where) {
  ASSERT_TRUE(value.isObject()) << where;
  std::set<std::string> wanted;
  for (capnp::StructSchema::Field field : schema.getFields()) {
    if (!field.getType().isInterface()) wanted.insert(field.getProto().getName().cStr());
  }
  std::set<std::string> given;
  for (auto member : value.getObject()) {
    const std::string name = member.getName().cStr();
    given.insert(name);
    KJ_IF_MAYBE (field, schema.findFieldByName(member.getName())) {
      const capnp::Type type = field->getType();
      const bool is_u128 =
          type.isStruct() && type.asStruct().getProto().getId() == capnp::typeId<rpc::U128>();
      if (type.isStruct() && !is_u128) {
        ExpectExactlyTheSchema(member.getValue(), type.asStruct(), where + "." + name);
      } else if (type.isList() && type.asList().getElementType().isStruct()) {
        const capnp::StructSchema element = type.asList().getElementType().asStruct();
        ASSERT_TRUE(member.getValue().isArray()) << where << "." << name;
        for (auto item : member.getValue().getArray()) {
          if (element.getProto().getId() == capnp::typeId<rpc::U128>()) {
            EXPECT_TRUE(item.isString()) << where << "." << name;
          } else {
            ExpectExactlyTheSchema(item, element, where + "." + name + "[]");
          }
        }
      } else if (is_u128 || type.which() == capnp::schema::Type::UINT64) {
        EXPECT_TRUE(member.getValue().isString()) << where << "." << name << " is not a string";
      }
    }
  }
  EXPECT_EQ(given, wanted) << where;
}

struct Example {
  std::string method;
  std::string body;
  std::vector<std::string> answer_parts;  // substrings the answer must hold
};

// A ledger's life, one request per method and every request field at least once.
std::vector<Example> Examples() {
  return {
      {"createLedgers",
       R"({"ledgers":[{"id":7,"scale":2,"assetCode":"USD","timestampNs":"0","flags":0}]})",
       {R"("status":"ok")"}},
      {"createAccounts",
       R"({"accounts":[{"id":"1","ledger":7,"code":10,"flags":8,"userData128":"5",)"
       R"("userData64":"6","userData32":7,"debitsPending":"0","debitsPosted":"0",)"
       R"("creditsPending":"0","creditsPosted":"0","timestampNs":"0"},)"
       R"({"id":"2","ledger":7,"code":10,"flags":8,"userData128":"5"}]})",
       {R"({"results":[{"status":"ok")", R"(},{"status":"ok")"}},
      {"createTransfers",
       R"({"transfers":[{"id":"100","debitAccountId":"1","creditAccountId":"2","amount":"500",)"
       R"("ledger":7,"code":1,"flags":2,"pendingId":"0","reversesId":"0","timeoutS":3600,)"
       R"("userData128":"9","userData64":"8","userData32":7,"valueTimeNs":"0","timestampNs":"0"},)"
       R"({"id":"101","debitAccountId":"1","creditAccountId":"2","amount":"300","ledger":7,)"
       R"("code":1,"flags":4,"pendingId":"100"},)"
       R"({"id":"102","debitAccountId":"1","creditAccountId":"2","amount":"50","ledger":7,)"
       R"("code":1,"valueTimeNs":"1000"},)"
       R"({"id":"103","debitAccountId":"2","creditAccountId":"1","amount":"20","ledger":7,)"
       R"("code":1,"reversesId":"102"},)"
       R"({"id":"104","debitAccountId":"1","creditAccountId":"1","amount":"1","ledger":7,"code":1}]})",
       {R"({"results":[{"status":"ok")",
        R"({"status":"accountsMustBeDifferent","timestampNs":"0"})"}},
      {"lookupLedgers", R"({"ids":[7,8]})", {R"({"ledgers":[{"id":7,"scale":2,"assetCode":"USD")"}},
      {"queryLedgers",
       R"({"fromId":0,"limit":10})",
       {R"({"ledgers":[{"id":7,"scale":2,"assetCode":"USD")", R"("nextId":0})"}},
      {"lookupAccounts",
       R"({"ids":["1","2","3"]})",
       {R"("id":"1","ledger":7,"code":10,"flags":8,"userData128":"5","userData64":"6",)"
        R"("userData32":7,"debitsPending":"0","debitsPosted":"350","creditsPending":"0",)"
        R"("creditsPosted":"20")",
        R"("id":"2",)", R"("debitsPosted":"20","creditsPending":"0","creditsPosted":"350")"}},
      {"lookupTransfers",
       R"({"ids":["100","999","104"]})",
       {R"({"transfers":[{"id":"100","debitAccountId":"1","creditAccountId":"2","amount":"500")",
        R"("failures":[])"}},
      {"getAccountTransfers",
       R"({"filter":{"accountId":"1","timestampMinNs":"0","timestampMaxNs":"0","code":0,)"
       R"("debits":true,"credits":true,"reversed":false,"limit":3,"valueTimeMinNs":"0",)"
       R"("valueTimeMaxNs":"0"}})",
       {R"("id":"100")", R"("id":"102")", R"("nextTimestampNs":")"}},
      {"getAccountBalances",
       R"({"filter":{"accountId":"2","timestampMinNs":"0","timestampMaxNs":"0","code":0,)"
       R"("debits":true,"credits":true,"reversed":true,"limit":1,"valueTimeMinNs":"0",)"
       R"("valueTimeMaxNs":"0"}})",
       {R"({"balances":[{"debitsPending":"0","debitsPosted":"20","creditsPending":"0",)"
        R"("creditsPosted":"350")"}},
      {"trialBalance", R"({"ledger":7})", {R"("accountCount":"2")", R"("balanced":true)"}},
      {"changes",
       R"({"fromSequence":"0","limit":100})",
       {R"("kind":"pending")", R"("kind":"posted")", R"("kind":"singlePhase")",
        R"("nextSequence":"4","oldestSequence":"0")"}},
      {"info", "{}", {R"("schemaVersion":7)", R"("batchEventsMax":8190)"}},
      {"getTransferStatuses",
       R"({"ids":["100","102"]})",
       {R"("id":"100","pendingStatus":"posted")", R"("postedAmount":"300","releasedAmount":"200")",
        R"("resolvedBy":"101")", R"("reversedAmount":"20","reversalCount":1,"reversals":["103"])"}},
      {"getPostedAtValueTime",
       R"({"accountId":"1","valueTimeNs":"1000"})",
       {R"("debitsPosted":"50")"}},
      {"queryAccounts",
       R"({"filter":{"ledger":7,"code":10,"userData128":"5","userData64":"6","userData32":7,)"
       R"("timestampMinNs":"0","timestampMaxNs":"0","reversed":false,"limit":10}})",
       {R"({"accounts":[{"id":"1",)", R"("nextTimestampNs":"0")"}},
      {"queryTransfers",
       R"({"filter":{"ledger":7,"code":1,"userData128":"9","userData64":"8","userData32":7,)"
       R"("timestampMinNs":"0","timestampMaxNs":"0","reversed":false,"limit":10}})",
       {R"({"transfers":[{"id":"100",)"}},
      {"checkpoints", R"({"fromOp":"0"})", {R"({"checkpoints":[]})"}},
      {"verifyLog",
       R"({"start":false})",
       {R"({"verification":{"state":"never","startedAtNs":"0","finishedAtNs":"0",)",
        R"("chainHead":"0","message":""}})"}},
  };
}

std::vector<std::string> HttpFlags() {
  return testing::FlagsWith({"--http", "127.0.0.1:0", "--hot-transfers", "0"});
}

TEST(HttpApi, EveryPathWithEveryFieldAnswersExactlyTheSchema) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(HttpFlags())) << server.log();
  ASSERT_FALSE(server.http_address().empty());
  const std::vector<Example> examples = Examples();
  std::map<std::string, std::set<std::string>> given;
  const capnp::InterfaceSchema ledger = capnp::Schema::from<rpc::Ledger>();
  for (const Example& example : examples) {
    SCOPED_TRACE(example.method);
    const HttpReply reply = HttpRequest(server.http_address(), "POST", "/v1/" + example.method,
                                        BearerAndJson(server.token()), example.body);
    ASSERT_EQ(reply.status, 200) << reply.head << "\n" << reply.body;
    EXPECT_TRUE(Contains(reply.head, "Content-Type: application/json")) << reply.head;
    for (const std::string& part : example.answer_parts) {
      EXPECT_TRUE(Contains(reply.body, part)) << reply.body << "\nlacks " << part;
    }
    const capnp::InterfaceSchema::Method method = ledger.getMethodByName(example.method);
    capnp::JsonValue::Reader answer;
    auto answer_message = ParseJson(reply.body, &answer);
    ExpectExactlyTheSchema(answer, method.getResultType(), example.method);
    capnp::JsonValue::Reader request;
    auto request_message = ParseJson(example.body, &request);
    GivenPaths(request, "", given[example.method]);
  }
  // Every method the API serves, with every field of its request.
  for (const auto& [name, summary] : internal::HttpMethodSummaries()) {
    SCOPED_TRACE(std::string(name));
    ASSERT_TRUE(given.contains(std::string(name))) << "no example of " << name;
    std::set<std::string> wanted;
    SchemaPaths(ledger.getMethodByName(std::string(name)).getParamType(), "", wanted);
    for (const std::string& path : wanted) {
      EXPECT_TRUE(given[std::string(name)].contains(path)) << "no example gives " << path;
    }
  }
  // What HTTP booked is what the RPC reads.
  auto client = testing::Connect(server);
  ASSERT_NE(client, nullptr);
  const std::vector<AccountId> ids = {AccountId::From(1), AccountId::From(2)};
  auto accounts = client->LookupAccounts(ids);
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  ASSERT_EQ(accounts->size(), 2u);
  EXPECT_EQ((*accounts)[0].debits_posted, Amount::From(350));
  EXPECT_EQ((*accounts)[1].credits_posted, Amount::From(350));
  testing::ExpectCleanShutdown(server);
}

TEST(HttpApi, TheOpenApiDocumentInDocsIsTheServers) {
  const std::string document = internal::OpenApiDocument();
  const std::string in_docs =
      testing::ReadWholeFile(::ledger::testing::BuildPath(LEDGER_SOURCE_DIR "/docs/openapi.json"));
  EXPECT_EQ(in_docs, document) << "docs/openapi.json is out of step: regenerate it with "
                                  "`curl -s http://HOST:PORT/v1/openapi.json > docs/openapi.json`";
  // It is JSON, names every path the server serves, and the server serves it as it is.
  capnp::JsonValue::Reader parsed;
  auto message = ParseJson(document, &parsed);
  for (const auto& [name, summary] : internal::HttpMethodSummaries()) {
    EXPECT_TRUE(Contains(document, absl::StrCat("\"/v1/", std::string(name), "\": {"))) << name;
  }
  ServerProcess server;
  ASSERT_TRUE(server.Start(HttpFlags())) << server.log();
  const HttpReply reply = HttpRequest(server.http_address(), "GET", "/v1/openapi.json", "");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, document);
}

// ---------------------------------------------------------------------------------------------
// Tokens and roles

TEST(HttpApi, TokensAndRolesAreTheRpcPorts) {
  ServerProcess server;
  const std::string tokens = server.data_dir() + "/../tokens";
  testing::WriteTokenFile(
      tokens,
      "read reader-token-0001\nwrite writer-token-0001 ledgers=7\nadmin admin-token-00001\n");
  std::vector<std::string> flags = HttpFlags();
  flags.insert(flags.end(), {"--tokens-file", tokens});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  const std::string& http = server.http_address();
  auto post = [&](const std::string& token, const std::string& method, const std::string& body) {
    return HttpRequest(http, "POST", "/v1/" + method, BearerAndJson(token), body);
  };
  ASSERT_EQ(post("admin-token-00001", "createLedgers",
                 R"({"ledgers":[{"id":7,"assetCode":"USD"},{"id":8,"assetCode":"EUR"}]})")
                .status,
            200);
  HttpReply reply = post("reader-token-0001", "createAccounts",
                         R"({"accounts":[{"id":"1","ledger":7,"code":1}]})");
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_TRUE(
      Contains(reply.body, R"({"error":"permission_denied","message":"permission denied: )"))
      << reply.body;
  reply = post("writer-token-0001", "createAccounts",
               R"({"accounts":[{"id":"1","ledger":8,"code":1}]})");
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_TRUE(Contains(reply.body, "limited to ledgers 7")) << reply.body;
  reply = post("writer-token-0001", "createAccounts",
               R"({"accounts":[{"id":"1","ledger":7,"code":1}]})");
  EXPECT_EQ(reply.status, 200) << reply.body;
  reply = post("reader-token-0001", "lookupAccounts", R"({"ids":["1"]})");
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_TRUE(Contains(reply.body, R"("id":"1")")) << reply.body;
  // info tells each token its role and ledgers, so a console offers only what it may do.
  EXPECT_TRUE(
      Contains(post("reader-token-0001", "info", "{}").body, R"("role":"read","ledgers":[],)"));
  EXPECT_TRUE(
      Contains(post("writer-token-0001", "info", "{}").body, R"("role":"write","ledgers":[7],)"));
  EXPECT_TRUE(
      Contains(post("admin-token-00001", "info", "{}").body, R"("role":"admin","ledgers":[],)"));
  for (const std::string& token : {std::string("wrong"), std::string("reader-token-0002")}) {
    reply = post(token, "lookupAccounts", R"({"ids":["1"]})");
    EXPECT_EQ(reply.status, 401);
    EXPECT_TRUE(Contains(reply.body, R"({"error":"unauthenticated","message":"wrong token"})"));
    EXPECT_TRUE(Contains(reply.head, "WWW-Authenticate: Bearer")) << reply.head;
  }
  reply = HttpRequest(http, "POST", "/v1/lookupAccounts", "Content-Type: application/json\r\n",
                      R"({"ids":["1"]})");
  EXPECT_EQ(reply.status, 401);
  EXPECT_TRUE(Contains(reply.body, "send Authorization: Bearer <token>")) << reply.body;
  // A token taken out of the file (SIGHUP) is refused from then on.
  testing::WriteTokenFile(tokens, "write writer-token-0001 ledgers=7\nadmin admin-token-00001\n");
  kill(server.pid(), SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (post("reader-token-0001", "info", "{}").status == 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(post("reader-token-0001", "info", "{}").status, 401);
  EXPECT_EQ(post("writer-token-0001", "info", "{}").status, 200);
  testing::ExpectCleanShutdown(server);
}

// ---------------------------------------------------------------------------------------------
// queryLedgers

// The ids of a queryLedgers answer and its nextId ("ids|next").
std::string LedgerPage(const std::string& http, const std::string& token, uint32_t from,
                       uint32_t limit) {
  const HttpReply reply =
      HttpRequest(http, "POST", "/v1/queryLedgers", BearerAndJson(token),
                  absl::StrCat(R"({"fromId":)", from, R"(,"limit":)", limit, "}"));
  if (reply.status != 200) return absl::StrCat("status ", reply.status, ": ", reply.body);
  std::string ids;
  for (size_t at = 0; (at = reply.body.find(R"({"id":)", at)) != std::string::npos; ++at) {
    const size_t start = at + 6;
    absl::StrAppend(&ids, ids.empty() ? "" : ",",
                    reply.body.substr(start, reply.body.find(',', start) - start));
  }
  const size_t next = reply.body.find(R"("nextId":)");
  return ids + "|" + reply.body.substr(next + 9, reply.body.find('}', next) - next - 9);
}

TEST(HttpApi, QueryLedgersPagesInIdOrderAndShowsATokenOnlyItsLedgers) {
  ServerProcess server;
  const std::string tokens = server.data_dir() + "/../tokens";
  testing::WriteTokenFile(tokens,
                          "read reader-token-0001 ledgers=20,3,9,99\nread all-reader-00001\n"
                          "admin admin-token-00001\n");
  std::vector<std::string> flags = HttpFlags();
  flags.insert(flags.end(), {"--tokens-file", tokens, "--shards", "3", "--max-query-results", "7"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  const std::string& http = server.http_address();
  // 25 ledgers created out of id order, over several batches.
  std::vector<uint32_t> order;
  for (uint32_t id = 1; id <= 25; ++id) order.push_back((id * 7) % 25 + 1);
  for (size_t first = 0; first < order.size(); first += 6) {
    std::string body = R"({"ledgers":[)";
    for (size_t i = first; i < std::min(order.size(), first + 6); ++i) {
      absl::StrAppend(&body, i > first ? "," : "", R"({"id":)", order[i], R"(,"assetCode":"L)",
                      order[i], R"("})");
    }
    const HttpReply created = HttpRequest(http, "POST", "/v1/createLedgers",
                                          BearerAndJson("admin-token-00001"), body + "]}");
    ASSERT_EQ(created.status, 200) << created.body;
    ASSERT_FALSE(Contains(created.body, "exists")) << created.body;
  }
  const std::string all = "all-reader-00001";
  EXPECT_EQ(LedgerPage(http, all, 0, 5), "1,2,3,4,5|6");
  EXPECT_EQ(LedgerPage(http, all, 6, 5), "6,7,8,9,10|11");
  EXPECT_EQ(LedgerPage(http, all, 21, 5), "21,22,23,24,25|0");
  EXPECT_EQ(LedgerPage(http, all, 22, 5), "22,23,24,25|0");
  EXPECT_EQ(LedgerPage(http, all, 26, 5), "|0");
  EXPECT_EQ(LedgerPage(http, all, 4294967295u, 5), "|0");
  // 0, or above --max-query-results, is that maximum.
  EXPECT_EQ(LedgerPage(http, all, 0, 0), "1,2,3,4,5,6,7|8");
  EXPECT_EQ(LedgerPage(http, all, 19, 1000), "19,20,21,22,23,24,25|0");
  // Walking every page gives every ledger once.
  std::string walked;
  for (uint32_t from = 1, pages = 0; from != 0 && pages < 10; ++pages) {
    const std::string page = LedgerPage(http, all, from, 4);
    const size_t bar = page.find('|');
    ASSERT_NE(bar, std::string::npos) << page;
    absl::StrAppend(&walked, walked.empty() ? "" : ",", page.substr(0, bar));
    from = static_cast<uint32_t>(std::stoul(page.substr(bar + 1)));
  }
  EXPECT_EQ(walked, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25");
  // A token limited to ledgers 3, 9, 20 (and 99, which does not exist) sees only those.
  const std::string limited = "reader-token-0001";
  EXPECT_EQ(LedgerPage(http, limited, 0, 0), "3,9,20|0");
  EXPECT_EQ(LedgerPage(http, limited, 0, 2), "3,9|20");
  EXPECT_EQ(LedgerPage(http, limited, 4, 2), "9,20|0");
  EXPECT_EQ(LedgerPage(http, limited, 20, 1), "20|0");
  EXPECT_EQ(LedgerPage(http, limited, 21, 1), "|0");
  // The RPC's answer is the same: the JSON carries every field.
  const HttpReply reply = HttpRequest(http, "POST", "/v1/queryLedgers", BearerAndJson(limited),
                                      R"({"fromId":9,"limit":1})");
  EXPECT_EQ(
      reply.body,
      "{\"ledgers\":[{\"id\":9,\"scale\":0,\"assetCode\":\"L9\",\"timestampNs\":\"" +
          reply.body.substr(reply.body.find("timestampNs") + 14,
                            reply.body.find("\",\"flags") - (reply.body.find("timestampNs") + 14)) +
          "\",\"flags\":0}],\"nextId\":20}\n");
  EXPECT_EQ(
      HttpRequest(http, "POST", "/v1/queryLedgers", BearerAndJson(all), R"({"fromId":-1})").status,
      400);
  testing::ExpectCleanShutdown(server);
}

// ---------------------------------------------------------------------------------------------
// The metrics

// The "# TYPE" lines of a Prometheus text: the families it has.
std::set<std::string> MetricFamilies(const std::string& text) {
  std::set<std::string> families;
  for (size_t at = 0; (at = text.find("# TYPE ", at)) != std::string::npos; ++at) {
    families.insert(text.substr(at, text.find('\n', at) - at));
  }
  return families;
}

TEST(HttpApi, ServesTheMetricsToAnyTokenAsTheMetricsListenerDoes) {
  ServerProcess server;
  const std::string tokens = server.data_dir() + "/../tokens";
  testing::WriteTokenFile(tokens, "read reader-token-0001 ledgers=9\nadmin admin-token-00001\n");
  std::vector<std::string> flags = HttpFlags();
  flags.insert(flags.end(), {"--tokens-file", tokens, "--metrics", "127.0.0.1:0"});
  ASSERT_TRUE(server.Start(flags)) << server.log();
  const std::string& http = server.http_address();
  HttpReply reply = HttpRequest(http, "GET", "/v1/metrics", "");
  EXPECT_EQ(reply.status, 401);
  EXPECT_TRUE(Contains(reply.body, R"({"error":"unauthenticated")")) << reply.body;
  EXPECT_EQ(HttpRequest(http, "GET", "/v1/metrics", "Authorization: Bearer wrong-token-000001\r\n")
                .status,
            401);
  EXPECT_EQ(
      HttpRequest(http, "POST", "/v1/metrics", BearerAndJson("admin-token-00001"), "{}").status,
      405);
  for (const std::string token : {"reader-token-0001", "admin-token-00001"}) {
    reply = HttpRequest(http, "GET", "/v1/metrics", "Authorization: Bearer " + token + "\r\n");
    ASSERT_EQ(reply.status, 200) << reply.head << reply.body;
    EXPECT_TRUE(Contains(reply.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"))
        << reply.head;
    EXPECT_TRUE(Contains(reply.body, "\nledger_durable_op ")) << reply.body;
    EXPECT_TRUE(Contains(reply.body, "ledger_http_responses_total{status=\"401\"} ")) << reply.body;
  }
  // The same families as the --metrics listener's.
  const std::string scraped = testing::HttpGet(server.metrics_address(), "/metrics");
  EXPECT_EQ(MetricFamilies(reply.body), MetricFamilies(scraped));
  EXPECT_GT(MetricFamilies(reply.body).size(), 20u);
  testing::ExpectCleanShutdown(server);
  // Without --metrics too.
  ServerProcess alone;
  ASSERT_TRUE(alone.Start(HttpFlags())) << alone.log();
  reply = HttpRequest(alone.http_address(), "GET", "/v1/metrics",
                      "Authorization: Bearer " + alone.token() + "\r\n");
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(Contains(reply.body, "\nledger_durable_op ")) << reply.body;
  testing::ExpectCleanShutdown(alone);
}

// ---------------------------------------------------------------------------------------------
// The change feed as a stream

// Reads a stream's lines until `done` says so or `timeout` passes; the lines so far.
// `bytes`: what the stream sent so far (kept across calls).
std::vector<std::string> ReadLines(int fd, std::string& bytes,
                                   const std::function<bool(const std::string&)>& done,
                                   std::chrono::milliseconds timeout) {
  std::vector<std::string> lines;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bytes += testing::ReadUntilClosed(fd, std::chrono::milliseconds(100));
    const size_t head_end = bytes.find("\r\n\r\n");
    if (head_end == std::string::npos) continue;
    const std::string body = testing::Dechunk(bytes.substr(head_end + 4));
    lines.clear();
    size_t at = 0;
    for (size_t end; (end = body.find('\n', at)) != std::string::npos; at = end + 1) {
      lines.push_back(body.substr(at, end - at));
    }
    if (!lines.empty() && done(lines.back())) break;
  }
  return lines;
}

TEST(HttpApi, StreamsTheChangeFeedAsItCommitsThenEndsSayingWhy) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(HttpFlags())) << server.log();
  const std::string& http = server.http_address();
  const std::string auth = BearerAndJson(server.token());
  ASSERT_EQ(testing::CreateLedgerWithTwoAccounts(http, auth), 200);
  // A cursor past the feed's end is refused before the stream starts.
  HttpReply refused = HttpRequest(http, "GET", "/v1/changes/stream?from=5", auth);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_TRUE(Contains(refused.body, "does not exist yet")) << refused.body;
  EXPECT_EQ(HttpRequest(http, "GET", "/v1/changes/stream?from=x", auth).status, 400);
  EXPECT_EQ(HttpRequest(http, "GET", "/v1/changes/stream?to=1", auth).status, 400);
  EXPECT_EQ(HttpRequest(http, "POST", "/v1/changes/stream", auth, "{}").status, 405);

  const int fd = testing::HttpConnect(http);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(testing::SendAll(
      fd,
      "GET /v1/changes/stream?from=0&checkpoints=false HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"));
  constexpr int kTransfers = 30;
  for (int i = 0; i < kTransfers; ++i) {
    const HttpReply booked =
        HttpRequest(http, "POST", "/v1/createTransfers", auth,
                    absl::StrCat(R"({"transfers":[{"id":")", 100 + i,
                                 R"(","debitAccountId":"1","creditAccountId":"2","amount":")",
                                 i + 1, R"(","ledger":7,"code":1}]})"));
    ASSERT_EQ(booked.status, 200) << booked.body;
  }
  std::string bytes;
  std::vector<std::string> lines = ReadLines(
      fd, bytes,
      [](const std::string& line) {
        return Contains(line, absl::StrCat(R"("sequence":")", kTransfers - 1, "\""));
      },
      std::chrono::seconds(30));
  ASSERT_EQ(lines.size(), static_cast<size_t>(kTransfers));
  // info names where the feed ends: every change below it can be read.
  const HttpReply info = HttpRequest(http, "POST", "/v1/info", auth, "{}");
  EXPECT_TRUE(Contains(info.body, absl::StrCat(R"("changeSequenceNext":")", kTransfers, "\"")))
      << info.body;
  uint64_t posted = 0;
  for (int i = 0; i < kTransfers; ++i) {
    EXPECT_TRUE(Contains(
        lines[i], absl::StrCat(R"({"change":{"sequence":")", i, R"(","kind":"singlePhase")")))
        << lines[i];
    posted += static_cast<uint64_t>(i + 1);
    EXPECT_TRUE(Contains(
        lines[i],
        absl::StrCat(R"("debitAccountId":"1","debitBalance":{"debitsPending":"0","debitsPosted":")",
                     posted, "\"")))
        << lines[i];
  }
  // A shutdown ends it with the reason, as the last line.
  std::thread stopper([&server] { EXPECT_EQ(server.Stop(), 0); });
  lines = ReadLines(
      fd, bytes, [](const std::string& line) { return Contains(line, R"({"end":)"); },
      std::chrono::seconds(30));
  stopper.join();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), R"({"end":"the server is shutting down"})");
  close(fd);
  testing::ExpectNoCrashInLog(server.log());
}

// ---------------------------------------------------------------------------------------------
// Hostile input

// Bytes that are not HTTP: KJ answers 400 or closes the connection (a header past its buffer
// resets it).
constexpr int kAnsweredOrClosed = -1;

// A createTransfers body: `count` transfers of 1 from `debit` to `credit`, ids from `first` on.
std::string TransfersBody(uint64_t first, int count, int debit, int credit) {
  std::string body = R"({"transfers":[)";
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&body, i > 0 ? "," : "", R"({"id":")", first + static_cast<uint64_t>(i),
                    R"(","debitAccountId":")", debit, R"(","creditAccountId":")", credit,
                    R"(","amount":"1","ledger":7,"code":1})");
  }
  return body + "]}";
}

struct Attack {
  std::string name;
  std::string bytes;  // the whole request, as sent
  int status;         // or kAnsweredOrClosed
  std::string error;  // the JSON error code, or "" (KJ's own answer)
};

std::string Post(const std::string& path, const std::string& headers, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(HttpApi, HostileInputGetsAPrecise4xxAndChangesNothing) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      testing::FlagsWith({"--http", "127.0.0.1:0", "--hot-transfers", "0", "--max-http-body-bytes",
                          "1048576", "--max-http-connections", "8"})))
      << server.log();
  testing::Baseline baseline;
  testing::SetUpBaseline(server, &baseline);
  const std::string& http = server.http_address();
  const std::string auth = BearerAndJson(server.token());
  const std::string transfer =
      R"({"id":"900","debitAccountId":"1","creditAccountId":"2","amount":"5","ledger":7,"code":1})";
  const std::string batch_past_the_limit = TransfersBody(10'000, 8191, 1, 2);
  const std::vector<Attack> attacks = {
      {"malformed JSON", Post("/v1/createTransfers", auth, R"({"transfers":[)"), 400,
       "invalid_argument"},
      {"a number for an id", Post("/v1/createTransfers", auth, R"({"transfers":[{"id":900}]})"),
       400, "invalid_argument"},
      {"a number for an amount past 2^53",
       Post("/v1/createTransfers", auth,
            R"({"transfers":[{"id":"900","amount":9007199254740993}]})"),
       400, "invalid_argument"},
      {"a string for a ledger",
       Post("/v1/createTransfers", auth, R"({"transfers":[{"id":"900","ledger":"7"}]})"), 400,
       "invalid_argument"},
      {"an unknown field",
       Post("/v1/createTransfers", auth,
            R"({"transfers":[)" + transfer.substr(0, transfer.size() - 1) + R"(,"memo":"x"}]})"),
       400, "invalid_argument"},
      {"nested ten thousand deep",
       Post("/v1/createTransfers", auth, std::string(10'000, '[') + std::string(10'000, ']')), 400,
       "invalid_argument"},
      {"8,191 transfers", Post("/v1/createTransfers", auth, batch_past_the_limit), 400, "rejected"},
      {"no token", Post("/v1/createTransfers", "Content-Type: application/json\r\n", "{}"), 401,
       "unauthenticated"},
      {"a wrong token", Post("/v1/createTransfers", BearerAndJson("not-the-token"), "{}"), 401,
       "unauthenticated"},
      {"an empty token", Post("/v1/createTransfers", BearerAndJson(""), "{}"), 401,
       "unauthenticated"},
      {"basic authentication",
       Post("/v1/createTransfers",
            "Authorization: Basic dXNlcjpwYXNz\r\nContent-Type: application/json\r\n", "{}"),
       401, "unauthenticated"},
      {"not JSON",
       Post("/v1/createTransfers",
            "Authorization: Bearer " + server.token() + "\r\nContent-Type: text/plain\r\n", "{}"),
       415, "unsupported_media_type"},
      {"no content type",
       Post("/v1/createTransfers", "Authorization: Bearer " + server.token() + "\r\n", "{}"), 415,
       "unsupported_media_type"},
      {"a body past the limit, announced",
       "POST /v1/createTransfers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
           "Content-Length: 2000000\r\n\r\n",
       413, "body_too_large"},
      {"a body past the limit, chunked",
       "POST /v1/createTransfers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
           "Transfer-Encoding: chunked\r\n\r\n100000\r\n" + std::string(0x100000, ' ') +
           "\r\n100000\r\n" + std::string(0x100000, ' ') + "\r\n0\r\n\r\n",
       413, "body_too_large"},
      {"a path not served", Post("/v1/dropLedger", auth, "{}"), 404, "not_found"},
      {"the packed method", Post("/v1/createTransfersPacked", auth, "{}"), 404, "not_found"},
      {"GET on a POST path",
       "GET /v1/createTransfers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth + "\r\n", 405,
       "method_not_allowed"},
      {"a lookup past the ids' limit",
       Post("/v1/lookupAccounts", auth,
            [] {
              std::string body = R"({"ids":[)";
              for (int i = 0; i < 8191; ++i) absl::StrAppend(&body, i > 0 ? "," : "", "\"1\"");
              return body + "]}";
            }()),
       400, "rejected"},
      {"an account that does not exist",
       Post("/v1/getPostedAtValueTime", auth, R"({"accountId":"77","valueTimeNs":"1"})"), 404,
       "not_found"},
      {"garbage for a request line", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
       kAnsweredOrClosed, ""},
      {"a header past KJ's buffer",
       "GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(200'000, 'a') + "\r\n\r\n",
       kAnsweredOrClosed, ""},
  };
  for (const Attack& attack : attacks) {
    SCOPED_TRACE(attack.name);
    const int fd = testing::HttpConnect(http);
    ASSERT_GE(fd, 0);
    testing::SendAll(fd, attack.bytes);
    shutdown(fd, SHUT_WR);
    const HttpReply reply =
        testing::ParseReply(testing::ReadUntilClosed(fd, std::chrono::seconds(30)));
    close(fd);
    if (attack.status == kAnsweredOrClosed) {
      EXPECT_TRUE(reply.status == 0 || reply.status == 400) << reply.head;
    } else {
      EXPECT_EQ(reply.status, attack.status) << reply.head << "\n" << reply.body;
    }
    if (!attack.error.empty()) {
      EXPECT_TRUE(
          Contains(reply.body, absl::StrCat(R"({"error":")", attack.error, R"(","message":")")))
          << reply.body;
    }
  }
  // Random bytes in a read's body: a 400 or an answer, never a crash.
  std::mt19937_64 random(testing::EnvironmentNumber("LEDGER_SEED", 20261206));
  const std::string valid = R"({"ids":["1","2","3"]})";
  for (int i = 0; i < 200; ++i) {
    std::string body = valid;
    for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
      body[random() % body.size()] = static_cast<char>(random());
    }
    const HttpReply reply = HttpRequest(http, "POST", "/v1/lookupAccounts", auth, body);
    EXPECT_TRUE(reply.status == 200 || reply.status == 400) << body << "\n" << reply.body;
  }
  // Past --max-http-connections, a connection is closed at once; the others go on.
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(testing::HttpConnect(http));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const HttpReply turned_away =
      HttpRequest(http, "POST", "/v1/info", auth, "{}", std::chrono::seconds(5));
  EXPECT_EQ(turned_away.status, 0);
  for (int fd : idle) close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(HttpRequest(http, "POST", "/v1/info", auth, "{}").status, 200);
  // Nothing booked by any of it: transfer 900 and the batch's ids do not exist.
  const HttpReply looked =
      HttpRequest(http, "POST", "/v1/lookupTransfers", auth, R"({"ids":["900","10000","18190"]})");
  EXPECT_EQ(looked.body, "{\"transfers\":[],\"failures\":[]}\n");
  testing::ExpectStillServing(server, baseline, 5000);
  testing::ExpectCleanShutdown(server);
}

// A full batch of 8,190 transfers goes in one request, as over Cap'n Proto.
TEST(HttpApi, TakesAFullBatch) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(testing::FlagsWith(
      {"--http", "127.0.0.1:0", "--hot-transfers", "0", "--transfers-capacity", "16384"})))
      << server.log();
  testing::Baseline baseline;
  testing::SetUpBaseline(server, &baseline);
  const std::string body = TransfersBody(10'000, 8190, 3, 4);
  const HttpReply reply = HttpRequest(server.http_address(), "POST", "/v1/createTransfers",
                                      BearerAndJson(server.token()), body);
  ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 500);
  size_t ok = 0;
  for (size_t at = 0; (at = reply.body.find(R"("status":"ok")", at)) != std::string::npos; ++at)
    ++ok;
  EXPECT_EQ(ok, 8190u);
  auto client = testing::Connect(server);
  ASSERT_NE(client, nullptr);
  const std::vector<AccountId> ids = {AccountId::From(3)};
  auto accounts = client->LookupAccounts(ids);
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ((*accounts)[0].debits_posted.lo, baseline.accounts[2].debits_posted.lo + 8190);
  testing::ExpectCleanShutdown(server);
}

// The docs' Python example (standard library only), run as written against a real server.
TEST(HttpApi, ThePythonExampleRunsAsWritten) {
  if (std::system("python3 --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  ServerProcess server;
  ASSERT_TRUE(server.Start(HttpFlags())) << server.log();
  const std::string output = server.data_dir() + "/../example.out";
  const std::string command =
      absl::StrCat("LEDGER_HTTP=http://", server.http_address(),
                   " LEDGER_TOKEN_FILE=", server.data_dir(), "/token python3 ",
                   ::ledger::testing::BuildPath(LEDGER_SOURCE_DIR "/docs/examples/http_example.py"),
                   " > ", output, " 2>&1");
  EXPECT_EQ(std::system(command.c_str()), 0) << testing::ReadWholeFile(output);
  const std::string printed = testing::ReadWholeFile(output);
  EXPECT_TRUE(Contains(printed, "alice owes 12.34 USD, bob holds 12.34 USD")) << printed;
  EXPECT_TRUE(Contains(printed, "retry: exists")) << printed;
  testing::ExpectCleanShutdown(server);
}

}  // namespace
}  // namespace ledger::net
