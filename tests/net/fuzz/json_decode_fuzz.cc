// libFuzzer target for the HTTP API's request decoding (net/internal/json_api.h): bytes -> one
// Ledger method's params, as the server decodes a body before it calls the method.
//
// Input: byte 0 picks the method (the Ledger interface's, in schema order); the rest is the body.
//
// A refusal (InvalidArgument) is the clean outcome for bad input. A crash, a sanitizer report or
// a broken check below is a bug:
//   - what decodes encodes to JSON that decodes again, to the same params (the encoding of the
//     second decode is the encoding of the first);
//   - a refusal names where: its message is not empty.
//
// Seeds: LEDGER_FUZZ_WRITE_SEEDS=DIR json_decode_fuzz writes a valid body per method to DIR and
// exits; tests/fuzz/run.sh does this before fuzzing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "capnp/message.h"
#include "net/internal/json_api.h"
#include "net/ledger.capnp.h"

namespace ledger::net {
namespace {

capnp::InterfaceSchema::Method MethodOf(uint8_t pick) {
  const auto methods = capnp::Schema::from<rpc::Ledger>().getMethods();
  return methods[pick % methods.size()];
}

// Decodes `body` into the method's params; the params' JSON, or nothing when refused.
bool Decode(capnp::InterfaceSchema::Method method, std::string_view body, std::string& json) {
  capnp::MallocMessageBuilder message;
  auto params = message.initRoot<capnp::DynamicStruct>(method.getParamType());
  const absl::Status status = internal::DecodeJson(body, params);
  if (!status.ok()) {
    LEDGER_ASSERT(absl::IsInvalidArgument(status) && !status.message().empty());
    return false;
  }
  json.clear();
  internal::EncodeJson(params.asReader(), json);
  return true;
}

void WriteSeeds(const char* directory) {
  const char* bodies[][2] = {
      {"createLedgers", R"({"ledgers":[{"id":7,"scale":2,"assetCode":"USD","flags":0}]})"},
      {"createAccounts", R"({"accounts":[{"id":"1","ledger":7,"code":10,"flags":8}]})"},
      {"createTransfers",
       R"({"transfers":[{"id":"100","debitAccountId":"1","creditAccountId":"2","amount":"500",)"
       R"("ledger":7,"code":1,"flags":2,"timeoutS":3600,"valueTimeNs":"0"}]})"},
      {"lookupAccounts", R"({"ids":["1","340282366920938463463374607431768211455"]})"},
      {"getAccountTransfers",
       R"({"filter":{"accountId":"1","limit":3,"debits":true,"reversed":false}})"},
      {"queryTransfers", R"({"filter":{"ledger":7,"userData128":"9"}})"},
      {"changes", R"({"fromSequence":"0","limit":100})"},
  };
  const auto methods = capnp::Schema::from<rpc::Ledger>().getMethods();
  for (const auto& [name, body] : bodies) {
    for (unsigned i = 0; i < methods.size(); ++i) {
      if (methods[i].getProto().getName() != name) continue;
      const std::string path = std::string(directory) + "/" + name;
      FILE* file = std::fopen(path.c_str(), "wb");
      LEDGER_ASSERT(file != nullptr);
      std::fputc(static_cast<int>(i), file);
      std::fputs(body, file);
      std::fclose(file);
    }
  }
}

}  // namespace
}  // namespace ledger::net

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("LEDGER_FUZZ_WRITE_SEEDS")) {
    ledger::net::WriteSeeds(directory);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto method = ledger::net::MethodOf(data[0]);
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string first;
  if (!ledger::net::Decode(method, body, first)) return 0;
  std::string second;
  LEDGER_ASSERT(ledger::net::Decode(method, first, second));
  LEDGER_ASSERT(first == second);
  return 0;
}
