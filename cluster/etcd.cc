#include "cluster/etcd.h"

#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "cluster/internal/json.h"

namespace ledger::cluster {
namespace {

using internal::Base64;
using internal::BytesMember;
using internal::Int64Member;
using internal::Json;
using internal::Member;
using Answer = internal::JsonDocument;

absl::StatusOr<EtcdKeyValue> ParseKeyValue(Json::Reader object) {
  EtcdKeyValue kv;
  LEDGER_ASSIGN_OR_RETURN(kv.key, BytesMember(object, "key"));
  LEDGER_ASSIGN_OR_RETURN(kv.value, BytesMember(object, "value"));
  LEDGER_ASSIGN_OR_RETURN(kv.create_revision, Int64Member(object, "create_revision"));
  LEDGER_ASSIGN_OR_RETURN(kv.mod_revision, Int64Member(object, "mod_revision"));
  LEDGER_ASSIGN_OR_RETURN(kv.lease, Int64Member(object, "lease"));
  return kv;
}

// The first key-value of a range answer (`kvs`), if any.
absl::StatusOr<std::optional<EtcdKeyValue>> FirstKeyValue(Json::Reader range) {
  std::optional<Json::Reader> kvs = Member(range, "kvs");
  if (!kvs) return std::optional<EtcdKeyValue>();
  if (!kvs->isArray()) return absl::DataLossError("etcd: 'kvs' is not an array");
  if (kvs->getArray().size() == 0) return std::optional<EtcdKeyValue>();
  LEDGER_ASSIGN_OR_RETURN(EtcdKeyValue kv, ParseKeyValue(kvs->getArray()[0]));
  return std::optional<EtcdKeyValue>(std::move(kv));
}

// etcd's refusal (a non-200 answer carries {"error", "code", "message"}) as a status.
absl::Status Refusal(uint32_t http_status, const Answer* answer) {
  std::string message = absl::StrCat("HTTP ", http_status);
  if (answer != nullptr) {
    if (std::optional<Json::Reader> text = Member(answer->root, "message");
        text && text->isString()) {
      message = text->getString().cStr();
    }
  }
  constexpr int64_t kGrpcUnavailable = 14;
  absl::StatusOr<int64_t> code =
      answer != nullptr ? Int64Member(answer->root, "code") : absl::StatusOr<int64_t>(0);
  if (http_status == 503 || (code.ok() && *code == kGrpcUnavailable)) {
    return absl::UnavailableError(absl::StrCat("etcd: ", message));
  }
  return absl::FailedPreconditionError(absl::StrCat("etcd: ", message));
}

}  // namespace

// A connection per request. etcd's gateway ends an error's chunked answer with HTTP trailers
// (Grpc-Trailer-*), which KJ 0.9 leaves unread: a reused connection would then fail to parse
// the next answer. Coordination makes a few requests a second; a loopback or LAN connect costs
// far less than the lease's slack.
kj::HttpClientSettings Settings() {
  kj::HttpClientSettings settings;
  settings.idleTimeout = 0 * kj::SECONDS;
  return settings;
}

class EtcdClient::Impl {
 public:
  Impl(kj::AsyncIoProvider& io, EtcdOptions options)
      : timer_(io.getTimer()),
        options_(std::move(options)),
        http_(kj::newHttpClient(timer_, header_table_, io.getNetwork(), nullptr, Settings())) {}

  // POSTs `body` to `path` on one endpoint after another (from the last that answered) until
  // one answers; waits up to timeout_ns on each. `rotate_on_timeout` false: a timeout is
  // DeadlineExceeded at once (a campaign that waited its time is not a dead endpoint).
  // A request with the usual timeout, tried on every endpoint.
  kj::Promise<absl::StatusOr<Answer>> Call(std::string path, std::string body) {
    return Call(std::move(path), std::move(body), options_.request_timeout_ns, true);
  }

  kj::Promise<absl::StatusOr<Answer>> Call(std::string path, std::string body, uint64_t timeout_ns,
                                           bool rotate_on_timeout, size_t tries_done = 0,
                                           absl::Status last_error = absl::OkStatus()) {
    if (options_.endpoints.empty()) {
      return absl::StatusOr<Answer>(absl::InvalidArgumentError("etcd: no endpoints"));
    }
    if (tries_done == options_.endpoints.size()) {
      return absl::StatusOr<Answer>(absl::UnavailableError(
          absl::StrCat("etcd: no endpoint answered ", path, " (", options_.endpoints.size(),
                       " tried; last: ", last_error.message(), ")")));
    }
    const size_t endpoint = (current_ + tries_done) % options_.endpoints.size();
    return CallOne(endpoint, path, body, timeout_ns)
        .then([this, path = std::move(path), body = std::move(body), timeout_ns, rotate_on_timeout,
               tries_done, endpoint](
                  absl::StatusOr<Answer> answer) mutable -> kj::Promise<absl::StatusOr<Answer>> {
          const bool timed_out = absl::IsDeadlineExceeded(answer.status());
          if (answer.ok() || !(absl::IsUnavailable(answer.status()) || timed_out) ||
              (timed_out && !rotate_on_timeout)) {
            if (answer.ok()) current_ = endpoint;
            return kj::mv(answer);
          }
          return Call(std::move(path), std::move(body), timeout_ns, rotate_on_timeout,
                      tries_done + 1, answer.status());
        });
  }

 private:
  kj::Promise<absl::StatusOr<Answer>> CallOne(size_t endpoint, const std::string& path,
                                              const std::string& body, uint64_t timeout_ns) {
    std::string url = absl::StrCat("http://", options_.endpoints[endpoint], path);
    kj::HttpHeaders headers(header_table_);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, "application/json");
    kj::HttpClient::Request request =
        http_->request(kj::HttpMethod::POST, kj::StringPtr(url.c_str()), headers,
                       static_cast<uint64_t>(body.size()));
    auto owned_body = kj::heap<std::string>(body);
    kj::Promise<void> sent = request.body->write(owned_body->data(), owned_body->size())
                                 .attach(kj::mv(request.body), kj::mv(owned_body));
    const uint64_t limit = options_.response_bytes_max;
    kj::Promise<absl::StatusOr<Answer>> answered =
        sent.then([response = kj::mv(request.response)]() mutable { return kj::mv(response); })
            .then([limit](kj::HttpClient::Response response) {
              const uint32_t status = response.statusCode;
              kj::Promise<kj::String> text = response.body->readAllText(limit);
              return text.attach(kj::mv(response.body)).then([status](kj::String reply) {
                absl::StatusOr<Answer> answer =
                    internal::ParseJsonObject(reply.asArray(), "etcd's answer");
                if (status != 200) {
                  return absl::StatusOr<Answer>(Refusal(status, answer.ok() ? &*answer : nullptr));
                }
                return answer;
              });
            })
            .catch_([](kj::Exception&& exception) {
              return absl::StatusOr<Answer>(absl::UnavailableError(
                  absl::StrCat("etcd: ", exception.getDescription().cStr())));
            });
    kj::Promise<absl::StatusOr<Answer>> timeout =
        timer_.afterDelay(static_cast<int64_t>(timeout_ns) * kj::NANOSECONDS).then([path] {
          return absl::StatusOr<Answer>(
              absl::DeadlineExceededError(absl::StrCat("etcd: no answer to ", path, " in time")));
        });
    return answered.exclusiveJoin(kj::mv(timeout));
  }

  kj::Timer& timer_;
  const EtcdOptions options_;
  kj::HttpHeaderTable header_table_;
  kj::Own<kj::HttpClient> http_;
  size_t current_ = 0;  // the endpoint that answered last
};

EtcdClient::EtcdClient(kj::AsyncIoProvider& io, EtcdOptions options)
    : impl_(kj::heap<Impl>(io, std::move(options))) {}
EtcdClient::~EtcdClient() = default;

namespace {

std::string Quoted(int64_t number) { return absl::StrCat("\"", number, "\""); }

}  // namespace

kj::Promise<absl::StatusOr<int64_t>> EtcdClient::Put(std::string key, std::string value,
                                                     int64_t lease) {
  std::string body = absl::StrCat(R"({"key":")", Base64(key), R"(","value":")", Base64(value),
                                  R"(","lease":)", Quoted(lease), "}");
  return impl_->Call("/v3/kv/put", std::move(body))
      .then([](absl::StatusOr<Answer> answer) -> absl::StatusOr<int64_t> {
        LEDGER_RETURN_IF_ERROR(answer.status());
        std::optional<Json::Reader> header = Member(answer->root, "header");
        if (!header) return absl::DataLossError("etcd: a put's answer has no header");
        return Int64Member(*header, "revision");
      });
}

kj::Promise<absl::StatusOr<std::optional<EtcdKeyValue>>> EtcdClient::Get(std::string key) {
  std::string body = absl::StrCat(R"({"key":")", Base64(key), R"("})");
  return impl_->Call("/v3/kv/range", std::move(body))
      .then([](absl::StatusOr<Answer> answer) -> absl::StatusOr<std::optional<EtcdKeyValue>> {
        LEDGER_RETURN_IF_ERROR(answer.status());
        return FirstKeyValue(answer->root);
      });
}

kj::Promise<absl::StatusOr<bool>> EtcdClient::PutIf(std::vector<EtcdCondition> conditions,
                                                    std::string key, std::string value) {
  // An absent key's revisions compare as 0.
  std::string compares;
  for (const EtcdCondition& condition : conditions) {
    const bool create = condition.target == EtcdCondition::Target::kCreateRevision;
    absl::StrAppend(&compares, compares.empty() ? "" : ",", R"({"key":")", Base64(condition.key),
                    R"(","result":"EQUAL","target":")", create ? "CREATE" : "MOD", R"(",")",
                    create ? "create_revision" : "mod_revision", R"(":)",
                    Quoted(condition.revision), "}");
  }
  std::string body =
      absl::StrCat(R"({"compare":[)", compares, R"(],"success":[{"request_put":{"key":")",
                   Base64(key), R"(","value":")", Base64(value), R"("}}]})");
  return impl_->Call("/v3/kv/txn", std::move(body))
      .then([](absl::StatusOr<Answer> answer) -> absl::StatusOr<bool> {
        LEDGER_RETURN_IF_ERROR(answer.status());
        std::optional<Json::Reader> succeeded = Member(answer->root, "succeeded");
        if (!succeeded) return false;  // protobuf's JSON leaves out false
        if (!succeeded->isBoolean()) return absl::DataLossError("etcd: 'succeeded' is not a bool");
        return succeeded->getBoolean();
      });
}

kj::Promise<absl::StatusOr<int64_t>> EtcdClient::GrantLease(int64_t ttl_s) {
  return impl_->Call("/v3/lease/grant", absl::StrCat(R"({"TTL":)", Quoted(ttl_s), "}"))
      .then([](absl::StatusOr<Answer> answer) -> absl::StatusOr<int64_t> {
        LEDGER_RETURN_IF_ERROR(answer.status());
        if (std::optional<Json::Reader> error = Member(answer->root, "error");
            error && error->isString() && error->getString().size() > 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("etcd: lease refused: ", error->getString().cStr()));
        }
        LEDGER_ASSIGN_OR_RETURN(int64_t lease, Int64Member(answer->root, "ID"));
        if (lease == 0) return absl::DataLossError("etcd: a granted lease has no id");
        return lease;
      });
}

kj::Promise<absl::StatusOr<int64_t>> EtcdClient::KeepAlive(int64_t lease) {
  // A stream of renewals on etcd's side; one request makes one answer, {"result": {...}}.
  return impl_->Call("/v3/lease/keepalive", absl::StrCat(R"({"ID":)", Quoted(lease), "}"))
      .then([](absl::StatusOr<Answer> answer) -> absl::StatusOr<int64_t> {
        LEDGER_RETURN_IF_ERROR(answer.status());
        std::optional<Json::Reader> result = Member(answer->root, "result");
        if (!result) return absl::DataLossError("etcd: a keepalive's answer has no result");
        return Int64Member(*result, "TTL");  // absent: 0, the lease has expired
      });
}

kj::Promise<absl::Status> EtcdClient::RevokeLease(int64_t lease) {
  return impl_->Call("/v3/lease/revoke", absl::StrCat(R"({"ID":)", Quoted(lease), "}"))
      .then([](absl::StatusOr<Answer> answer) { return answer.status(); });
}

namespace {

absl::StatusOr<EtcdLeadership> ParseLeadership(Json::Reader answer) {
  std::optional<Json::Reader> leader = Member(answer, "leader");
  if (!leader) return absl::DataLossError("etcd: a campaign's answer has no leader");
  EtcdLeadership leadership;
  LEDGER_ASSIGN_OR_RETURN(leadership.election, BytesMember(*leader, "name"));
  LEDGER_ASSIGN_OR_RETURN(leadership.key, BytesMember(*leader, "key"));
  LEDGER_ASSIGN_OR_RETURN(leadership.create_revision, Int64Member(*leader, "rev"));
  LEDGER_ASSIGN_OR_RETURN(leadership.lease, Int64Member(*leader, "lease"));
  if (leadership.create_revision <= 0) return absl::DataLossError("etcd: a leader without rev");
  return leadership;
}

}  // namespace

kj::Promise<absl::StatusOr<EtcdLeadership>> EtcdClient::Campaign(std::string election,
                                                                 int64_t lease, std::string value,
                                                                 uint64_t wait_ns) {
  // Cancelled by the timeout, the request's end cancels etcd's campaign, which deletes its key.
  std::string body = absl::StrCat(R"({"name":")", Base64(election), R"(","lease":)", Quoted(lease),
                                  R"(,"value":")", Base64(value), R"("})");
  return impl_->Call("/v3/election/campaign", std::move(body), wait_ns, false)
      .then([](absl::StatusOr<Answer> answer) -> absl::StatusOr<EtcdLeadership> {
        LEDGER_RETURN_IF_ERROR(answer.status());
        return ParseLeadership(answer->root);
      });
}

kj::Promise<absl::StatusOr<std::optional<EtcdKeyValue>>> EtcdClient::Leader(std::string election) {
  std::string body = absl::StrCat(R"({"name":")", Base64(election), R"("})");
  return impl_->Call("/v3/election/leader", std::move(body))
      .then([](absl::StatusOr<Answer> answer) -> absl::StatusOr<std::optional<EtcdKeyValue>> {
        if (absl::IsFailedPrecondition(answer.status()) &&
            answer.status().message().find("no leader") != std::string_view::npos) {
          return std::optional<EtcdKeyValue>();
        }
        LEDGER_RETURN_IF_ERROR(answer.status());
        std::optional<Json::Reader> kv = Member(answer->root, "kv");
        if (!kv) return std::optional<EtcdKeyValue>();
        LEDGER_ASSIGN_OR_RETURN(EtcdKeyValue leader, ParseKeyValue(*kv));
        return std::optional<EtcdKeyValue>(std::move(leader));
      });
}

kj::Promise<absl::Status> EtcdClient::Resign(const EtcdLeadership& leadership) {
  std::string body =
      absl::StrCat(R"({"leader":{"name":")", Base64(leadership.election), R"(","key":")",
                   Base64(leadership.key), R"(","rev":)", Quoted(leadership.create_revision),
                   R"(,"lease":)", Quoted(leadership.lease), "}}");
  return impl_->Call("/v3/election/resign", std::move(body))
      .then([](absl::StatusOr<Answer> answer) { return answer.status(); });
}

}  // namespace ledger::cluster
