#include "net/metrics_http.h"

#include <string_view>
#include <utility>

#include "kj/compat/http.h"

namespace ledger::net {
namespace {

// `/metrics`, optionally with a query string (Prometheus sends none; curl users might).
bool IsMetricsPath(std::string_view url) {
  constexpr std::string_view kPath = "/metrics";
  return url == kPath || (url.starts_with(kPath) && url[kPath.size()] == '?');
}

// Whether `given` is `expected`, in time that depends on neither where they differ nor (beyond
// its own length) on `given`'s length.
bool SameSecret(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    difference |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return difference == 0;
}

// The headers the service reads or writes beyond KJ's built-in ones.
struct Headers {
  Headers()
      : authorization(builder.add("Authorization")),
        authenticate(builder.add("WWW-Authenticate")),
        table(builder.build()) {}
  kj::HttpHeaderTable::Builder builder;
  kj::HttpHeaderId authorization;
  kj::HttpHeaderId authenticate;
  kj::Own<kj::HttpHeaderTable> table;
};

class MetricsService final : public kj::HttpService {
 public:
  // headers: borrowed for the service's lifetime. bearer_token: empty, or the token every
  // request must carry.
  MetricsService(const Headers& headers, std::function<std::string()> render,
                 std::string bearer_token)
      : headers_(headers),
        header_table_(*headers.table),
        render_(std::move(render)),
        expected_authorization_(bearer_token.empty() ? "" : "Bearer " + bearer_token) {}

  uint64_t unauthorized_requests() const { return unauthorized_requests_; }

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& request_headers, kj::AsyncInputStream&,
                            Response& response) override {
    if (!Authorized(request_headers)) {
      ++unauthorized_requests_;
      kj::HttpHeaders headers(header_table_);
      headers.set(headers_.authenticate, "Bearer realm=\"metrics\"");
      constexpr std::string_view kBody = "401 Unauthorized: send Authorization: Bearer <token>\n";
      headers.set(kj::HttpHeaderId::CONTENT_TYPE, "text/plain");
      kj::Own<kj::AsyncOutputStream> stream =
          response.send(401, "Unauthorized", headers, static_cast<uint64_t>(kBody.size()));
      kj::Promise<void> written = stream->write(kBody.data(), kBody.size());
      return written.attach(kj::mv(stream));
    }
    bool is_read = method == kj::HttpMethod::GET || method == kj::HttpMethod::HEAD;
    if (!is_read || !IsMetricsPath(std::string_view(url.begin(), url.size()))) {
      return response.sendError(404, "Not Found", header_table_);
    }
    // On the heap before taking data(): moving a short std::string moves its bytes.
    auto body = kj::heap<std::string>(render_());
    kj::HttpHeaders headers(header_table_);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, kMetricsContentType);
    kj::Own<kj::AsyncOutputStream> stream =
        response.send(200, "OK", headers, static_cast<uint64_t>(body->size()));
    // For HEAD, KJ sends the length and discards the body written here.
    kj::Promise<void> written = stream->write(body->data(), body->size());
    return written.attach(kj::mv(stream), kj::mv(body));
  }

 private:
  bool Authorized(const kj::HttpHeaders& request_headers) const {
    if (expected_authorization_.empty()) return true;
    std::string_view given;
    KJ_IF_MAYBE (value, request_headers.get(headers_.authorization)) {
      given = std::string_view(value->begin(), value->size());
    }
    return SameSecret(given, expected_authorization_);
  }

  const Headers& headers_;
  const kj::HttpHeaderTable& header_table_;
  const std::function<std::string()> render_;
  const std::string expected_authorization_;  // "Bearer <token>"; empty: no authentication
  uint64_t unauthorized_requests_ = 0;
};

kj::HttpServerSettings Settings() {
  kj::HttpServerSettings settings;
  settings.headerTimeout = MetricsHttpServer::kHeaderTimeout;
  return settings;
}

}  // namespace

class MetricsHttpServer::Impl final : private kj::TaskSet::ErrorHandler {
 public:
  Impl(kj::Timer& timer, std::function<std::string()> render, std::string bearer_token)
      : service_(headers_, std::move(render), std::move(bearer_token)),
        server_(timer, *headers_.table, service_, Settings()),
        connections_(*this) {}

  kj::Promise<void> Listen(kj::ConnectionReceiver& receiver) {
    return receiver.accept().then([this, &receiver](kj::Own<kj::AsyncIoStream> connection) {
      Serve(kj::mv(connection));
      return Listen(receiver);
    });
  }

  uint32_t open_connections() const { return open_connections_; }
  uint64_t rejected_connections() const { return rejected_connections_; }
  uint64_t unauthorized_requests() const { return service_.unauthorized_requests(); }

 private:
  void Serve(kj::Own<kj::AsyncIoStream> connection) {
    if (open_connections_ >= kConnectionsMax) {
      ++rejected_connections_;
      return;  // dropping the stream closes the socket
    }
    ++open_connections_;
    connections_.add(
        server_.listenHttp(kj::mv(connection)).attach(kj::defer([this] { --open_connections_; })));
  }

  // A peer that sent garbage, timed out or vanished: its connection is gone, and the error
  // response (if any) was sent by KJ. Nothing for the server to do.
  void taskFailed(kj::Exception&&) override {}

  Headers headers_;
  MetricsService service_;
  kj::HttpServer server_;  // borrows headers_ and service_
  uint32_t open_connections_ = 0;
  uint64_t rejected_connections_ = 0;
  kj::TaskSet connections_;  // last: destroyed first, while the counters above still exist
};

MetricsHttpServer::MetricsHttpServer(kj::Timer& timer, std::function<std::string()> render,
                                     std::string bearer_token)
    : impl_(std::make_unique<Impl>(timer, std::move(render), std::move(bearer_token))) {}

MetricsHttpServer::~MetricsHttpServer() = default;

kj::Promise<void> MetricsHttpServer::Listen(kj::ConnectionReceiver& receiver) {
  return impl_->Listen(receiver);
}

uint32_t MetricsHttpServer::open_connections() const { return impl_->open_connections(); }
uint64_t MetricsHttpServer::rejected_connections() const { return impl_->rejected_connections(); }
uint64_t MetricsHttpServer::unauthorized_requests() const { return impl_->unauthorized_requests(); }

}  // namespace ledger::net
