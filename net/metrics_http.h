// Serves the metrics (net/metrics.h) to Prometheus: `GET /metrics` over HTTP/1.1, on a KJ event
// loop. Everything else gets 404. It is a scrape endpoint, not a web server: bind it to
// loopback (or an operations network) and let Prometheus pull. With a bearer token it answers
// only requests that carry it (`Authorization: Bearer <token>`, compared in constant time), and
// 401 to the rest; without one it has no authentication.
//
// Bounded against a hostile or broken peer: at most kConnectionsMax connections are served at
// once (a connection beyond that is closed as soon as it is accepted), a request's headers must
// arrive within kHeaderTimeout, and KJ's parser refuses headers beyond its fixed buffer (128 KiB
// in KJ 0.9) with an error response, so memory per connection stays bounded. A request body is
// never read: KJ discards at most 64 KiB of one before closing the connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kj/async-io.h"
#include "kj/time.h"
#include "kj/timer.h"

namespace ledger::net {

// text/plain exposition format, version 0.0.4.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class MetricsHttpServer {
 public:
  // Prometheus opens one connection per target and reuses it; 8 leaves room for a second
  // scraper and a person with curl.
  static constexpr uint32_t kConnectionsMax = 8;
  // A scraper sends its whole request at once; anything slower is a stuck or hostile peer.
  static constexpr kj::Duration kHeaderTimeout = 5 * kj::SECONDS;

  // timer: borrowed for the server's lifetime (header and keep-alive timeouts). render: returns
  // the exposition text (e.g. Registry::Render); called on the event loop's thread for every
  // GET or HEAD of /metrics, so it must be quick (the ledger server's set renders ~28 KB in
  // ~60 µs). Construct, use and destroy on the event loop's thread.
  // bearer_token: when not empty, every request must carry it.
  MetricsHttpServer(kj::Timer& timer, std::function<std::string()> render,
                    std::string bearer_token = "");
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Accepts connections from `receiver` (bound by the caller: loopback by default) and serves
  // them. Never resolves; rejects only if accept() fails. Dropping the promise stops accepting;
  // destroying the server closes the connections being served. `receiver` and this server must
  // outlive the promise.
  kj::Promise<void> Listen(kj::ConnectionReceiver& receiver);

  uint32_t open_connections() const;       // being served now
  uint64_t rejected_connections() const;   // closed at once: kConnectionsMax were open
  uint64_t unauthorized_requests() const;  // answered 401: no token, or a wrong one

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ledger::net
