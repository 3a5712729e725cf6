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

class MetricsService final : public kj::HttpService {
 public:
  // header_table: borrowed for the service's lifetime.
  MetricsService(const kj::HttpHeaderTable& header_table, std::function<std::string()> render)
      : header_table_(header_table), render_(std::move(render)) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders&,
                            kj::AsyncInputStream&, Response& response) override {
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
  const kj::HttpHeaderTable& header_table_;
  const std::function<std::string()> render_;
};

kj::HttpServerSettings Settings() {
  kj::HttpServerSettings settings;
  settings.headerTimeout = MetricsHttpServer::kHeaderTimeout;
  return settings;
}

}  // namespace

class MetricsHttpServer::Impl final : private kj::TaskSet::ErrorHandler {
 public:
  Impl(kj::Timer& timer, std::function<std::string()> render)
      : service_(header_table_, std::move(render)),
        server_(timer, header_table_, service_, Settings()),
        connections_(*this) {}

  kj::Promise<void> Listen(kj::ConnectionReceiver& receiver) {
    return receiver.accept().then([this, &receiver](kj::Own<kj::AsyncIoStream> connection) {
      Serve(kj::mv(connection));
      return Listen(receiver);
    });
  }

  uint32_t open_connections() const { return open_connections_; }
  uint64_t rejected_connections() const { return rejected_connections_; }

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

  kj::HttpHeaderTable header_table_;
  MetricsService service_;
  kj::HttpServer server_;  // borrows header_table_ and service_
  uint32_t open_connections_ = 0;
  uint64_t rejected_connections_ = 0;
  kj::TaskSet connections_;  // last: destroyed first, while the counters above still exist
};

MetricsHttpServer::MetricsHttpServer(kj::Timer& timer, std::function<std::string()> render)
    : impl_(std::make_unique<Impl>(timer, std::move(render))) {}

MetricsHttpServer::~MetricsHttpServer() = default;

kj::Promise<void> MetricsHttpServer::Listen(kj::ConnectionReceiver& receiver) {
  return impl_->Listen(receiver);
}

uint32_t MetricsHttpServer::open_connections() const { return impl_->open_connections(); }
uint64_t MetricsHttpServer::rejected_connections() const { return impl_->rejected_connections(); }

}  // namespace ledger::net
