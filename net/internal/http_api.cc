#include "net/internal/http_api.h"

#include <cctype>
#include <deque>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "capnp/dynamic.h"
#include "kj/compat/http.h"
#include "net/internal/codec.h"
#include "net/internal/console_files.h"
#include "net/internal/json_api.h"
#include "net/internal/service.h"
#include "net/metrics_http.h"

namespace ledger::net::internal {
namespace {

constexpr std::string_view kPrefix = "/v1/";
constexpr std::string_view kStreamPath = "/v1/changes/stream";
constexpr std::string_view kOpenApiPath = "/v1/openapi.json";
constexpr std::string_view kMetricsPath = "/v1/metrics";
constexpr std::string_view kConsolePath = "/console";
// The console loads only its own files and talks only to this server: no inline script, no
// other origin, never framed (clickjacking), no forms posted anywhere.
constexpr char kConsolePolicy[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'";
constexpr char kJson[] = "application/json";
// Failed authentications wait this long before the 401, as a wrong RPC login does.
constexpr auto kFailedAuthenticationDelay = 200 * kj::MILLISECONDS;
// Words of request message per byte of JSON body (a size hint: a transfer is ~208 bytes of
// message and 400 or more of JSON).
constexpr size_t kBodyBytesPerWord = 16;

struct HttpError {
  unsigned status;
  const char* status_text;
  const char* code;
  std::string message;
};

// What a failed call tells an HTTP client: the RPC's error (its type and markers) as a status
// and a code a program can branch on.
HttpError ErrorOf(const kj::Exception& exception) {
  std::string message = exception.getDescription().cStr();
  if (absl::StrContains(message, kTokenRevokedMarker)) {
    return {401, "Unauthorized", "unauthenticated", std::move(message)};
  }
  if (const size_t at = message.find(kPermissionDeniedMarker); at != std::string::npos) {
    return {403, "Forbidden", "permission_denied", message.substr(at)};
  }
  switch (exception.getType()) {
    case kj::Exception::Type::DISCONNECTED:
      return {503, "Service Unavailable", "unavailable", std::move(message)};
    case kj::Exception::Type::OVERLOADED:
      if (absl::StrContains(message, kStorageFullMarker)) {
        return {507, "Insufficient Storage", "storage_full", std::move(message)};
      }
      return {429, "Too Many Requests", "overloaded", std::move(message)};
    case kj::Exception::Type::UNIMPLEMENTED:
      return {501, "Not Implemented", "unimplemented", std::move(message)};
    default:
      break;
  }
  if (absl::StrContains(message, kLedgerFullMarker)) {
    return {507, "Insufficient Storage", "ledger_full", std::move(message)};
  }
  if (absl::StrContains(message, "log failed")) {
    return {500, "Internal Server Error", "log_failed", std::move(message)};
  }
  if (absl::StrContains(message, "no such account")) {
    return {404, "Not Found", "not_found", std::move(message)};
  }
  return {400, "Bad Request", "rejected", std::move(message)};
}

std::string ErrorBody(const HttpError& error) {
  std::string body = absl::StrCat("{\"error\":\"", error.code, "\",\"message\":");
  AppendJsonString(error.message, body);
  body += "}\n";
  return body;
}

// The headers the API reads or writes beyond KJ's built-in ones.
struct Headers {
  Headers()
      : authorization(builder.add("Authorization")),
        authenticate(builder.add("WWW-Authenticate")),
        allow(builder.add("Allow")),
        retry_after(builder.add("Retry-After")),
        stale_reads(builder.add("Ledger-Stale-Reads")),
        cache_control(builder.add("Cache-Control")),
        content_type_options(builder.add("X-Content-Type-Options")),
        referrer_policy(builder.add("Referrer-Policy")),
        content_security_policy(builder.add("Content-Security-Policy")),
        table(builder.build()) {}
  kj::HttpHeaderTable::Builder builder;
  kj::HttpHeaderId authorization;
  kj::HttpHeaderId authenticate;
  kj::HttpHeaderId allow;
  kj::HttpHeaderId retry_after;
  kj::HttpHeaderId stale_reads;
  kj::HttpHeaderId cache_control;
  kj::HttpHeaderId content_type_options;
  kj::HttpHeaderId referrer_policy;
  kj::HttpHeaderId content_security_policy;
  kj::Own<kj::HttpHeaderTable> table;
};

kj::Promise<void> Send(kj::HttpService::Response& response, kj::HttpHeaders& headers,
                       unsigned status, kj::StringPtr status_text, std::string body) {
  auto text = kj::heap<std::string>(std::move(body));
  kj::Own<kj::AsyncOutputStream> stream =
      response.send(status, status_text, headers, static_cast<uint64_t>(text->size()));
  kj::Promise<void> written = stream->write(text->data(), text->size());
  return written.attach(kj::mv(stream), kj::mv(text));
}

std::map<std::string, capnp::InterfaceSchema::Method, std::less<>> Methods() {
  std::map<std::string, capnp::InterfaceSchema::Method, std::less<>> methods;
  for (capnp::InterfaceSchema::Method method : capnp::Schema::from<rpc::Ledger>().getMethods()) {
    const kj::StringPtr name = method.getProto().getName();
    if (HttpMethodSummaries().contains(name.cStr())) methods.emplace(name.cStr(), method);
  }
  return methods;
}

// A change stream's lines on their way out, shared by the consumer the server pushes to and
// the request that writes them (which may end first: then pushes fail and the server ends
// the subscription).
struct Sink : public kj::Refcounted {
  struct Line {
    std::string text;
    kj::Own<kj::PromiseFulfiller<void>> written;
  };
  bool open = true;
  bool ending = false;  // the last line is queued: the stream ends after it
  std::deque<Line> lines;
  kj::Own<kj::PromiseFulfiller<void>> wake;  // the writer, waiting for a line

  kj::Promise<void> Queue(std::string text, bool last = false) {
    if (!open || ending) {
      return KJ_EXCEPTION(DISCONNECTED, "the HTTP client of this change stream is gone");
    }
    auto written = kj::newPromiseAndFulfiller<void>();
    lines.push_back({std::move(text), kj::mv(written.fulfiller)});
    ending = last;
    if (wake.get() != nullptr) {
      wake->fulfill();
      wake = nullptr;
    }
    return kj::mv(written.promise);
  }
  void Close() {
    open = false;
    lines.clear();  // their fulfillers, dropped, fail the pushes waiting on them
    wake = nullptr;
  }
};

class FeedConsumer final : public rpc::ChangeConsumer::Server {
 public:
  explicit FeedConsumer(kj::Own<Sink> sink) : sink_(kj::mv(sink)) {}

 protected:
  kj::Promise<void> push(PushContext context) override {
    std::string text;
    for (rpc::Change::Reader change : context.getParams().getChanges()) {
      text += "{\"change\":";
      EncodeJson(capnp::toDynamic(change), text);
      text += "}\n";
    }
    return sink_->Queue(std::move(text));
  }
  kj::Promise<void> checkpoint(CheckpointContext context) override {
    std::string text = "{\"checkpoint\":";
    EncodeJson(capnp::toDynamic(context.getParams().getCheckpoint()), text);
    text += "}\n";
    return sink_->Queue(std::move(text));
  }
  kj::Promise<void> end(EndContext context) override {
    std::string text = "{\"end\":";
    const capnp::Text::Reader reason = context.getParams().getReason();
    AppendJsonString(std::string_view(reason.begin(), reason.size()), text);
    text += "}\n";
    return sink_->Queue(std::move(text), /*last=*/true);
  }

 private:
  kj::Own<Sink> sink_;
};

// `name=value&...` of a URL's query, undecoded (the API's parameters are numbers and words).
std::optional<std::map<std::string, std::string, std::less<>>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string, std::less<>> parameters;
  while (!query.empty()) {
    const std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.empty()) continue;
    const size_t equals = pair.find('=');
    std::string name(pair.substr(0, equals));
    std::string value(equals == std::string_view::npos ? "" : pair.substr(equals + 1));
    if (!parameters.emplace(std::move(name), std::move(value)).second) return std::nullopt;
  }
  return parameters;
}

class ApiService final : public kj::HttpService {
 public:
  ApiService(ServiceState& state, const Headers& headers,
             const std::map<std::string, capnp::InterfaceSchema::Method, std::less<>>& methods,
             const ConsoleFiles* console, std::function<std::string()> render_metrics)
      : state_(state),
        headers_(headers),
        methods_(methods),
        console_(console),
        render_metrics_(std::move(render_metrics)) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& request_headers, kj::AsyncInputStream& body,
                            Response& response) override {
    const std::string_view target(url.begin(), url.size());
    const size_t question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? "" : target.substr(question + 1);
    if (path == kConsolePath || path.starts_with("/console/") ||
        (path == "/" && console_ != nullptr)) {
      return Console(method, path, response);
    }
    if (path == kOpenApiPath) {
      if (method != kj::HttpMethod::GET) return MethodNotAllowed(response, "GET");
      kj::HttpHeaders headers(*headers_.table);
      headers.set(kj::HttpHeaderId::CONTENT_TYPE, kJson);
      return Send(response, headers, 200, "OK", OpenApiDocument());
    }
    if (path == kMetricsPath) {
      if (method != kj::HttpMethod::GET) return MethodNotAllowed(response, "GET");
      if (Authenticate(request_headers) == nullptr) {
        return Unauthenticated(request_headers, response);
      }
      state_.metrics.HttpResponses(200).Increment();
      kj::HttpHeaders headers(*headers_.table);
      headers.set(kj::HttpHeaderId::CONTENT_TYPE, kMetricsContentType);
      headers.set(headers_.cache_control, "no-store");
      return Send(response, headers, 200, "OK", render_metrics_());
    }
    const bool stream = path == kStreamPath;
    const auto found = methods_.find(path.substr(std::min(path.size(), kPrefix.size())));
    if (!path.starts_with(kPrefix) || (!stream && found == methods_.end())) {
      return Error(response, {404, "Not Found", "not_found",
                              absl::StrCat("no such path: ", std::string(path.substr(0, 256)),
                                           " (the API's paths: GET /v1/openapi.json)")});
    }
    if (stream && method != kj::HttpMethod::GET) return MethodNotAllowed(response, "GET");
    if (!stream && method != kj::HttpMethod::POST) return MethodNotAllowed(response, "POST");
    const TokenGrant* grant = Authenticate(request_headers);
    if (grant == nullptr) return Unauthenticated(request_headers, response);
    const bool stale_reads = StaleReads(request_headers);
    if (stream) return Stream(query, *grant, stale_reads, response);
    if (!IsJson(request_headers)) {
      return Error(response, {415, "Unsupported Media Type", "unsupported_media_type",
                              "send the body as Content-Type: application/json"});
    }
    const uint64_t body_bytes_max = state_.options.limits.http_body_bytes_max;
    KJ_IF_MAYBE (length, body.tryGetLength()) {
      if (*length > body_bytes_max) return TooLarge(response);
    }
    const capnp::InterfaceSchema::Method ledger_method = found->second;
    return state_.timer.timeoutAfter(HttpApi::kBodyTimeout, ReadBody(body, body_bytes_max))
        .then(
            [this, ledger_method, grant = *grant, stale_reads,
             &response](std::optional<std::string> text) mutable -> kj::Promise<void> {
              if (!text.has_value()) return TooLarge(response);
              return Call(ledger_method, std::move(*text), grant, stale_reads, response);
            },
            [this, &response](kj::Exception&& exception) -> kj::Promise<void> {
              return Error(response, {408, "Request Timeout", "timeout",
                                      absl::StrCat("the body did not arrive: ",
                                                   exception.getDescription().cStr())});
            });
  }

 private:
  // GET or HEAD of the console's files: /console and /console/ are index.html, / sends the
  // browser there. A path names a file exactly as loaded (nothing is decoded: traversals and
  // encoded slashes name nothing). Public, as the files are; the API behind them needs a token.
  kj::Promise<void> Console(kj::HttpMethod method, std::string_view path, Response& response) {
    if (console_ == nullptr) {
      return Error(response, {404, "Not Found", "not_found",
                              "no console here: ledgerd runs without --console-dir"});
    }
    if (method != kj::HttpMethod::GET && method != kj::HttpMethod::HEAD) {
      return MethodNotAllowed(response, "GET, HEAD");
    }
    kj::HttpHeaders headers(*headers_.table);
    if (path == "/") {
      state_.metrics.HttpResponses(302).Increment();
      headers.set(kj::HttpHeaderId::LOCATION, "/console/");
      headers.set(kj::HttpHeaderId::CONTENT_TYPE, "text/plain; charset=utf-8");
      return Send(response, headers, 302, "Found", "/console/\n");
    }
    std::string_view name = path.substr(std::min(path.size(), kConsolePath.size() + 1));
    if (name.empty()) name = "index.html";
    const ConsoleFile* file = console_->Find(name);
    if (file == nullptr) {
      return Error(response,
                   {404, "Not Found", "not_found",
                    absl::StrCat("the console has no file ", std::string(path.substr(0, 256)))});
    }
    state_.metrics.HttpResponses(200).Increment();
    headers.set(kj::HttpHeaderId::CONTENT_TYPE,
                kj::heapString(file->content_type.data(), file->content_type.size()));
    headers.set(headers_.cache_control, "no-cache");
    headers.set(headers_.content_type_options, "nosniff");
    headers.set(headers_.referrer_policy, "no-referrer");
    headers.set(headers_.content_security_policy, kConsolePolicy);
    kj::Own<kj::AsyncOutputStream> stream =
        response.send(200, "OK", headers, static_cast<uint64_t>(file->bytes.size()));
    kj::Promise<void> written = stream->write(file->bytes.data(), file->bytes.size());
    return written.attach(kj::mv(stream));
  }

  // Reads the whole body; nullopt if it passes `bytes_max`.
  static kj::Promise<std::optional<std::string>> ReadBody(kj::AsyncInputStream& body,
                                                          uint64_t bytes_max) {
    auto text = kj::heap<std::string>();
    return ReadMore(body, *text, bytes_max)
        .then([&text = *text](bool whole) {
          return whole ? std::optional<std::string>(std::move(text)) : std::nullopt;
        })
        .attach(kj::mv(text));
  }
  static kj::Promise<bool> ReadMore(kj::AsyncInputStream& body, std::string& text,
                                    uint64_t bytes_max) {
    constexpr size_t kChunkBytes = 64 << 10;
    const size_t had = text.size();
    text.resize(had + kChunkBytes);
    return body.tryRead(text.data() + had, 1, kChunkBytes)
        .then([&body, &text, had, bytes_max](size_t got) -> kj::Promise<bool> {
          text.resize(had + got);
          if (got == 0) return true;
          if (text.size() > bytes_max) return false;
          return ReadMore(body, text, bytes_max);
        });
  }

  const TokenGrant* Authenticate(const kj::HttpHeaders& request_headers) const {
    KJ_IF_MAYBE (value, request_headers.get(headers_.authorization)) {
      constexpr std::string_view kBearer = "Bearer ";
      const std::string_view given(value->begin(), value->size());
      if (!given.starts_with(kBearer)) return nullptr;
      const std::string_view token = given.substr(kBearer.size());
      if (token.find_first_not_of("\r\n ") == std::string_view::npos) return nullptr;
      return state_.tokens->Find(token);
    }
    return nullptr;
  }

  bool StaleReads(const kj::HttpHeaders& request_headers) const {
    KJ_IF_MAYBE (value, request_headers.get(headers_.stale_reads)) {
      return *value == "true" || *value == "1";
    }
    return false;
  }

  static bool IsJson(const kj::HttpHeaders& request_headers) {
    KJ_IF_MAYBE (value, request_headers.get(kj::HttpHeaderId::CONTENT_TYPE)) {
      const std::string_view type(value->begin(), value->size());
      std::string media(type.substr(0, type.find(';')));
      while (!media.empty() && media.back() == ' ') media.pop_back();
      for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return media == kJson;
    }
    return false;
  }

  kj::Promise<void> Unauthenticated(const kj::HttpHeaders& request_headers, Response& response) {
    const bool given = request_headers.get(headers_.authorization) != nullptr;
    HttpError error{401, "Unauthorized", "unauthenticated",
                    "send Authorization: Bearer <token> (a token the RPC port takes)"};
    kj::Promise<void> delay = kj::READY_NOW;
    if (given) {
      state_.metrics.logins_failed_total.Increment();
      error.message = "wrong token";
      delay = state_.timer.afterDelay(kFailedAuthenticationDelay);
    }
    return delay.then([this, &response, error = std::move(error)]() mutable {
      kj::HttpHeaders headers(*headers_.table);
      headers.set(headers_.authenticate, "Bearer realm=\"ledger\"");
      return Error(response, error, headers);
    });
  }

  kj::Promise<void> MethodNotAllowed(Response& response, kj::StringPtr allowed) {
    kj::HttpHeaders headers(*headers_.table);
    headers.set(headers_.allow, allowed);
    return Error(response,
                 {405, "Method Not Allowed", "method_not_allowed",
                  absl::StrCat("this path takes ", allowed.cStr())},
                 headers);
  }

  kj::Promise<void> TooLarge(Response& response) {
    return Error(response,
                 {413, "Payload Too Large", "body_too_large",
                  absl::StrCat("a body takes at most ", state_.options.limits.http_body_bytes_max,
                               " bytes (--max-http-body-bytes)")});
  }

  kj::Promise<void> Error(Response& response, const HttpError& error) {
    kj::HttpHeaders headers(*headers_.table);
    return Error(response, error, headers);
  }
  kj::Promise<void> Error(Response& response, const HttpError& error, kj::HttpHeaders& headers) {
    state_.metrics.HttpResponses(error.status).Increment();
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, kJson);
    if (error.status == 429) headers.set(headers_.retry_after, "1");
    return Send(response, headers, error.status, error.status_text, ErrorBody(error));
  }

  // A Connection of its own for a request: the RPC's limits per connection, and a token
  // reload revokes it (ending a stream) like an RPC connection. Listed while the request runs.
  kj::Own<Connection> Open(const TokenGrant& grant, bool stale_reads) {
    auto connection = kj::refcounted<Connection>();
    connection->authenticated = true;
    connection->grant = grant;
    connection->stale_reads = stale_reads;
    connection->closer = kj::newPromiseAndFulfiller<void>().fulfiller;
    state_.connections.insert(connection.get());
    return connection;
  }
  auto Listed(Connection& connection) {
    return kj::defer([this, &connection] { state_.connections.erase(&connection); });
  }

  // The body's bytes count against the server's in-flight memory while the call runs.
  class BodyGuard {
   public:
    BodyGuard(ServiceState& state, uint64_t bytes) : state_(state), bytes_(bytes) {
      state_.inflight_bytes += bytes_;
    }
    ~BodyGuard() { state_.inflight_bytes -= bytes_; }
    KJ_DISALLOW_COPY(BodyGuard);

   private:
    ServiceState& state_;
    uint64_t bytes_;
  };

  kj::Promise<void> Call(capnp::InterfaceSchema::Method method, std::string body,
                         const TokenGrant& grant, bool stale_reads, Response& response) {
    if (state_.inflight_bytes + body.size() > state_.options.limits.inflight_bytes_max) {
      return Error(response, {429, "Too Many Requests", "overloaded",
                              "the server is at its in-flight memory limit"});
    }
    auto guard = kj::heap<BodyGuard>(state_, body.size());
    kj::Own<Connection> connection = Open(grant, stale_reads);
    auto listed = Listed(*connection);
    capnp::DynamicCapability::Client ledger =
        rpc::Ledger::Client(NewLedger(state_, kj::addRef(*connection)))
            .castAs<capnp::DynamicCapability>(capnp::Schema::from<rpc::Ledger>());
    auto request =
        ledger.newRequest(method, capnp::MessageSize{body.size() / kBodyBytesPerWord, 0});
    if (absl::Status decoded = DecodeJson(body, request); !decoded.ok()) {
      return Error(response,
                   {400, "Bad Request", "invalid_argument", std::string(decoded.message())});
    }
    body = std::string();  // the request message holds it now
    return request.send()
        .then(
            [this, &response](capnp::Response<capnp::DynamicStruct>&& results) {
              auto text = std::string();
              EncodeJson(results, text);
              text += '\n';
              state_.metrics.HttpResponses(200).Increment();
              kj::HttpHeaders headers(*headers_.table);
              headers.set(kj::HttpHeaderId::CONTENT_TYPE, kJson);
              return Send(response, headers, 200, "OK", std::move(text));
            },
            [this, &response](kj::Exception&& exception) {
              return Error(response, ErrorOf(exception));
            })
        .attach(kj::mv(guard), kj::mv(listed), kj::mv(connection), kj::mv(ledger));
  }

  // GET /v1/changes/stream?from=N[&checkpoints=true]: the subscription's changes as JSON lines.
  kj::Promise<void> Stream(std::string_view query, const TokenGrant& grant, bool stale_reads,
                           Response& response) {
    uint64_t from = 0;
    bool with_checkpoints = false;
    const auto parameters = ParseQuery(query);
    std::string problem = parameters.has_value() ? "" : "a parameter given twice";
    if (parameters.has_value()) {
      for (const auto& [name, value] : *parameters) {
        if (name == "from") {
          const std::optional<u128> parsed = ParseDecimal(value, UINT64_MAX);
          if (!parsed.has_value()) problem = "from: expected a decimal change sequence";
          from = static_cast<uint64_t>(parsed.value_or(0));
        } else if (name == "checkpoints") {
          if (value != "true" && value != "false") problem = "checkpoints: true or false";
          with_checkpoints = value == "true";
        } else {
          problem = absl::StrCat("unknown parameter \"", name.substr(0, 64), "\"");
        }
      }
    }
    if (!problem.empty()) {
      return Error(response, {400, "Bad Request", "invalid_argument", std::move(problem)});
    }
    kj::Own<Connection> connection = Open(grant, stale_reads);
    auto listed = Listed(*connection);
    rpc::Ledger::Client ledger(NewLedger(state_, kj::addRef(*connection)));
    auto sink = kj::refcounted<Sink>();
    auto request = ledger.subscribeRequest();
    request.setFromSequence(from);
    request.setWithCheckpoints(with_checkpoints);
    request.setConsumer(kj::heap<FeedConsumer>(kj::addRef(*sink)));
    Sink& lines = *sink;
    return request.send()
        .then(
            [this, &response, &lines](capnp::Response<rpc::Ledger::SubscribeResults>&& results) {
              rpc::Subscription::Client subscription = results.getSubscription();
              state_.metrics.HttpResponses(200).Increment();
              kj::HttpHeaders headers(*headers_.table);
              headers.set(kj::HttpHeaderId::CONTENT_TYPE, "application/x-ndjson");
              headers.set(headers_.cache_control, "no-store");
              kj::Own<kj::AsyncOutputStream> out = response.send(200, "OK", headers);
              kj::AsyncOutputStream& stream = *out;
              return Write(lines, stream).attach(kj::mv(out), kj::mv(subscription));
            },
            [this, &response](kj::Exception&& exception) {
              return Error(response, ErrorOf(exception));
            })
        .attach(kj::defer([sink = kj::mv(sink)]() mutable { sink->Close(); }), kj::mv(listed),
                kj::mv(connection), kj::mv(ledger));
  }

  // Writes the sink's lines as they come, an empty line after kKeepAliveInterval without one,
  // until the last line is written (or a write fails: the client went).
  kj::Promise<void> Write(Sink& sink, kj::AsyncOutputStream& out) {
    if (!sink.lines.empty()) {
      auto text = kj::heap<std::string>(std::move(sink.lines.front().text));
      kj::Own<kj::PromiseFulfiller<void>> written = kj::mv(sink.lines.front().written);
      sink.lines.pop_front();
      const bool last = sink.ending && sink.lines.empty();
      kj::Promise<void> sent = out.write(text->data(), text->size());
      return sent.attach(kj::mv(text))
          .then(
              [this, &sink, &out, last, written = kj::mv(written)]() mutable -> kj::Promise<void> {
                written->fulfill();
                if (last) return kj::READY_NOW;
                return Write(sink, out);
              });
    }
    auto woken = kj::newPromiseAndFulfiller<void>();
    sink.wake = kj::mv(woken.fulfiller);
    return woken.promise.then([] { return false; })
        .exclusiveJoin(
            state_.timer.afterDelay(HttpApi::kKeepAliveInterval).then([] { return true; }))
        .then([this, &sink, &out](bool idle) -> kj::Promise<void> {
          if (!idle) return Write(sink, out);
          sink.wake = nullptr;
          return out.write("\n", 1).then([this, &sink, &out] { return Write(sink, out); });
        });
  }

  ServiceState& state_;
  const Headers& headers_;
  const std::map<std::string, capnp::InterfaceSchema::Method, std::less<>>& methods_;
  const ConsoleFiles* console_;  // null: no console
  const std::function<std::string()> render_metrics_;
};

kj::HttpServerSettings Settings() {
  kj::HttpServerSettings settings;
  settings.headerTimeout = 15 * kj::SECONDS;
  return settings;
}

}  // namespace

class HttpApi::Impl final : private kj::TaskSet::ErrorHandler {
 public:
  Impl(ServiceState& state, const ConsoleFiles* console,
       std::function<std::string()> render_metrics)
      : state_(state),
        methods_(Methods()),
        service_(state, headers_, methods_, console, std::move(render_metrics)),
        server_(state.timer, *headers_.table, service_, Settings()),
        connections_(*this) {}

  kj::Promise<void> Listen(kj::ConnectionReceiver& receiver) {
    return receiver.accept().then([this, &receiver](kj::Own<kj::AsyncIoStream> connection) {
      Serve(kj::mv(connection));
      return Listen(receiver);
    });
  }

  uint32_t open_connections() const { return open_connections_; }

 private:
  void Serve(kj::Own<kj::AsyncIoStream> connection) {
    if (open_connections_ >= state_.options.limits.http_connections_max) {
      state_.metrics.http_connections_rejected_total.Increment();
      return;  // dropping the stream closes the socket
    }
    ++open_connections_;
    connections_.add(
        server_.listenHttp(kj::mv(connection)).attach(kj::defer([this] { --open_connections_; })));
  }

  // A peer that sent garbage, timed out or went away: KJ answered it (400, 408) if it could.
  void taskFailed(kj::Exception&&) override {}

  ServiceState& state_;
  Headers headers_;
  const std::map<std::string, capnp::InterfaceSchema::Method, std::less<>> methods_;
  ApiService service_;
  kj::HttpServer server_;  // borrows headers_ and service_
  uint32_t open_connections_ = 0;
  kj::TaskSet connections_;  // last: destroyed first, while the rest still exists
};

HttpApi::HttpApi(ServiceState& state, const ConsoleFiles* console,
                 std::function<std::string()> render_metrics)
    : impl_(std::make_unique<Impl>(state, console, std::move(render_metrics))) {}
HttpApi::~HttpApi() = default;

kj::Promise<void> HttpApi::Listen(kj::ConnectionReceiver& receiver) {
  return impl_->Listen(receiver);
}

uint32_t HttpApi::open_connections() const { return impl_->open_connections(); }

}  // namespace ledger::net::internal
