// The HTTP/JSON API (docs/http-api.md): every Ledger method of the RPC contract as
// `POST /v1/<method>` with the method's params as a JSON body and its results as the JSON
// answer (net/internal/json_api.h), the change feed as a stream of JSON lines
// (`GET /v1/changes/stream?from=N`), the server's Prometheus metrics for any token
// (`GET /v1/metrics`), the OpenAPI document (`GET /v1/openapi.json`), and the
// operator console's static files (`GET /console/...`, net/internal/console_files.h), which
// need no token: the data behind them does.
//
// It is a translator, not a second server: each request becomes a call on a Ledger capability
// of its own (net/internal/service.h), so roles, limits, durability and result codes are the
// RPC's, exactly. Authentication is per request (`Authorization: Bearer <token>`, the tokens
// the RPC port takes); a request with a missing or wrong token gets 401, a wrong one after the
// RPC login's delay.
//
// Bounded like the RPC port: at most ServerLimits::http_connections_max connections (more are
// closed at once), a request's headers within 15 s and its body within kBodyTimeout, a body of
// at most http_body_bytes_max (413 past it, unread), and the bodies being decoded count against
// inflight_bytes_max. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "kj/async-io.h"
#include "kj/time.h"

namespace ledger::net::internal {

class ServiceState;
class ConsoleFiles;

class HttpApi {
 public:
  static constexpr kj::Duration kBodyTimeout = 30 * kj::SECONDS;
  // A change stream with nothing to send writes an empty line this often, so a client (and any
  // proxy) sees the stream alive, and a peer that went away is noticed.
  static constexpr kj::Duration kKeepAliveInterval = 10 * kj::SECONDS;

  // `state` and `console` are borrowed for the API's lifetime; `console` may be null (no
  // --console-dir). `render_metrics` gives the Prometheus text of GET /v1/metrics (the
  // --metrics listener's: net/server.cc), called on the loop thread.
  HttpApi(ServiceState& state, const ConsoleFiles* console,
          std::function<std::string()> render_metrics);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Serves connections from `receiver` until the promise is dropped; rejects only if accept()
  // fails. Destroying the API closes the connections being served.
  kj::Promise<void> Listen(kj::ConnectionReceiver& receiver);

  uint32_t open_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The Ledger methods served as POST /v1/<name>, with a line on each for the OpenAPI document:
// all but subscribe (the stream) and createTransfersPacked (binary records, Cap'n Proto's fast
// path). The schema's comments (net/ledger.capnp) say the rest.
const std::map<std::string_view, std::string_view>& HttpMethodSummaries();

// The OpenAPI 3 document of the API, built from the RPC schema (served at /v1/openapi.json and
// kept in docs/openapi.json, which a test compares with it).
std::string OpenApiDocument();

}  // namespace ledger::net::internal
