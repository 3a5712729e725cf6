// The etcd client against a real etcd, and against an HTTP server that answers nonsense.
#include "cluster/etcd.h"

#include <gtest/gtest.h>

#include <string>

#include "kj/async-io.h"
#include "kj/compat/http.h"
#include "tests/cluster/etcd_process.h"

namespace ledger::cluster {
namespace {

using testing::EtcdProcess;

constexpr uint64_t kSecondNs = 1'000'000'000;

EtcdCondition Unchanged(const std::string& key, int64_t mod_revision) {
  return {key, EtcdCondition::Target::kModRevision, mod_revision};
}

class EtcdTest : public ::testing::Test {
 protected:
  ~EtcdTest() noexcept override {}  // KJ's members may throw from their destructors; not here
  void SetUp() override {
    ASSERT_FALSE(testing::EtcdBinary().empty()) << "etcd is missing: run tools/setup.sh";
    ASSERT_TRUE(started_) << etcd_.log();
  }

  EtcdClient Client(std::vector<std::string> endpoints = {}) {
    if (endpoints.empty()) endpoints = {etcd_.endpoint()};
    return EtcdClient(*io_.provider,
                      EtcdOptions{.endpoints = endpoints, .request_timeout_ns = 2 * kSecondNs});
  }

  template <typename T>
  T Wait(kj::Promise<T> promise) {
    return promise.wait(io_.waitScope);
  }

  EtcdProcess etcd_;
  const bool started_ = etcd_.Start();
  // Set up after etcd started: a KJ timer counts from the loop's last wake-up, and a start
  // that blocked for a while would otherwise end the first request's timeout at once.
  kj::AsyncIoContext io_ = kj::setupAsyncIo();
};

TEST_F(EtcdTest, PutGetAndCompareAndSetKeepBinaryBytes) {
  EtcdClient etcd = Client();
  const std::string key("group/\0config", 13);
  const std::string value("\xff\x00\x01 value", 9);
  absl::StatusOr<std::optional<EtcdKeyValue>> absent = Wait(etcd.Get(key));
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->has_value());

  absl::StatusOr<bool> created = Wait(etcd.PutIf({Unchanged(key, 0)}, key, value));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(*created);
  absl::StatusOr<bool> created_again = Wait(etcd.PutIf({Unchanged(key, 0)}, key, "other"));
  ASSERT_TRUE(created_again.ok()) << created_again.status();
  EXPECT_FALSE(*created_again) << "the key exists: a create must not overwrite it";

  absl::StatusOr<std::optional<EtcdKeyValue>> stored = Wait(etcd.Get(key));
  ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status();
  EXPECT_EQ((*stored)->key, key);
  EXPECT_EQ((*stored)->value, value);
  EXPECT_GT((*stored)->create_revision, 0);
  EXPECT_EQ((*stored)->mod_revision, (*stored)->create_revision);

  const int64_t seen = (*stored)->mod_revision;
  absl::StatusOr<bool> swapped = Wait(etcd.PutIf({Unchanged(key, seen)}, key, "second"));
  ASSERT_TRUE(swapped.ok() && *swapped) << swapped.status();
  absl::StatusOr<bool> stale = Wait(etcd.PutIf({Unchanged(key, seen)}, key, "stale writer"));
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_FALSE(*stale);
  EXPECT_EQ((*Wait(etcd.Get(key)))->value, "second");

  absl::StatusOr<int64_t> revision = Wait(etcd.Put(key, "third"));
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_GT(*revision, seen);
  EXPECT_EQ((*Wait(etcd.Get(key)))->mod_revision, *revision);
}

TEST_F(EtcdTest, ElectionHasOneLeaderAndANewEpochAfterItsLeaseEnds) {
  EtcdClient etcd = Client();
  absl::StatusOr<int64_t> lease_a = Wait(etcd.GrantLease(2));
  absl::StatusOr<int64_t> lease_b = Wait(etcd.GrantLease(2));
  ASSERT_TRUE(lease_a.ok() && lease_b.ok()) << lease_a.status() << lease_b.status();
  EXPECT_NE(*lease_a, *lease_b);

  absl::StatusOr<EtcdLeadership> a = Wait(etcd.Campaign("group", *lease_a, "a", kSecondNs));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->election, "group");
  EXPECT_EQ(a->lease, *lease_a);
  absl::StatusOr<EtcdLeadership> b_early =
      Wait(etcd.Campaign("group", *lease_b, "b", kSecondNs / 5));
  EXPECT_TRUE(absl::IsDeadlineExceeded(b_early.status())) << b_early.status();

  absl::StatusOr<std::optional<EtcdKeyValue>> leader = Wait(etcd.Leader("group"));
  ASSERT_TRUE(leader.ok() && leader->has_value()) << leader.status();
  EXPECT_EQ((*leader)->value, "a");
  EXPECT_EQ((*leader)->create_revision, a->create_revision);
  // b's abandoned campaign left no key behind: a still leads, and only a.
  EXPECT_EQ((*leader)->key, a->key);

  // b keeps its lease alive while a's runs out: b leads, with a later epoch.
  absl::StatusOr<EtcdLeadership> b =
      Wait(etcd.Campaign("group", *lease_b, "b", 10 * kSecondNs)
               .exclusiveJoin(io_.provider->getTimer().afterDelay(kj::SECONDS).then([&] {
                 return etcd.KeepAlive(*lease_b).then([](absl::StatusOr<int64_t>) {
                   return kj::Promise<absl::StatusOr<EtcdLeadership>>(kj::NEVER_DONE);
                 });
               })));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT(b->create_revision, a->create_revision);
  absl::StatusOr<int64_t> expired = Wait(etcd.KeepAlive(*lease_a));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0) << "a's lease ran out";
  EXPECT_EQ((*Wait(etcd.Leader("group")))->value, "b");
}

TEST_F(EtcdTest, ResignAndRevokeHandOverAtOnce) {
  EtcdClient etcd = Client();
  const int64_t lease_a = *Wait(etcd.GrantLease(60));
  const int64_t lease_b = *Wait(etcd.GrantLease(60));
  const int64_t lease_c = *Wait(etcd.GrantLease(60));
  absl::StatusOr<int64_t> alive = Wait(etcd.KeepAlive(lease_a));
  ASSERT_TRUE(alive.ok()) << alive.status();
  EXPECT_GT(*alive, 0);

  EtcdLeadership a = *Wait(etcd.Campaign("g", lease_a, "a", kSecondNs));
  kj::Promise<absl::StatusOr<EtcdLeadership>> b_waits =
      etcd.Campaign("g", lease_b, "b", 20 * kSecondNs);
  ASSERT_TRUE(Wait(etcd.Resign(a)).ok());
  absl::StatusOr<EtcdLeadership> b = Wait(kj::mv(b_waits));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GT(b->create_revision, a.create_revision);

  kj::Promise<absl::StatusOr<EtcdLeadership>> c_waits =
      etcd.Campaign("g", lease_c, "c", 20 * kSecondNs);
  ASSERT_TRUE(Wait(etcd.RevokeLease(lease_b)).ok());
  absl::StatusOr<EtcdLeadership> c = Wait(kj::mv(c_waits));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_GT(c->create_revision, b->create_revision);
  EXPECT_EQ(*Wait(etcd.KeepAlive(lease_b)), 0);

  absl::StatusOr<EtcdLeadership> on_revoked = Wait(etcd.Campaign("h", lease_b, "b", kSecondNs));
  EXPECT_TRUE(absl::IsFailedPrecondition(on_revoked.status())) << on_revoked.status();
  absl::Status resigned = Wait(etcd.Resign(*c));
  ASSERT_TRUE(resigned.ok()) << resigned;
  absl::StatusOr<std::optional<EtcdKeyValue>> none = Wait(etcd.Leader("g"));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
}

TEST_F(EtcdTest, EndpointsAreTriedInTurnAndNoneAnsweringIsUnavailable) {
  const std::string dead = "127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  EtcdClient etcd = Client({dead, etcd_.endpoint()});
  absl::StatusOr<int64_t> put = Wait(etcd.Put("k", "v"));
  ASSERT_TRUE(put.ok()) << put.status();

  etcd_.Pause();  // answers nothing, closes nothing: each try ends at the request timeout
  absl::StatusOr<int64_t> paused = Wait(etcd.Put("k", "w"));
  EXPECT_TRUE(absl::IsUnavailable(paused.status())) << paused.status();
  etcd_.Resume();
  absl::StatusOr<std::optional<EtcdKeyValue>> read = Wait(etcd.Get("k"));
  ASSERT_TRUE(read.ok()) << read.status();
  // An unanswered write is indefinite: etcd read it from its socket once resumed, or not.
  EXPECT_TRUE((*read)->value == "v" || (*read)->value == "w") << (*read)->value;

  etcd_.Kill();
  absl::StatusOr<std::optional<EtcdKeyValue>> gone = Wait(etcd.Get("k"));
  EXPECT_TRUE(absl::IsUnavailable(gone.status())) << gone.status();
}

// An HTTP server on the test's event loop that answers every request with one fixed reply.
class FixedReply final : public kj::HttpService {
 public:
  FixedReply(const kj::HttpHeaderTable& table, uint32_t status, std::string body)
      : table_(table), status_(status), body_(std::move(body)) {}
  kj::Promise<void> request(kj::HttpMethod, kj::StringPtr, const kj::HttpHeaders&,
                            kj::AsyncInputStream&, Response& response) override {
    kj::HttpHeaders headers(table_);
    auto stream = response.send(status_, "X", headers, static_cast<uint64_t>(body_.size()));
    auto written = stream->write(body_.data(), body_.size());
    return written.attach(kj::mv(stream));
  }

 private:
  const kj::HttpHeaderTable& table_;
  uint32_t status_;
  std::string body_;
};

absl::Status StatusOfPutAgainst(uint32_t status, std::string body) {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::HttpHeaderTable table;
  FixedReply service(table, status, std::move(body));
  kj::HttpServer server(io.provider->getTimer(), table, service);
  kj::Own<kj::ConnectionReceiver> listener =
      io.provider->getNetwork().parseAddress("127.0.0.1", 0).wait(io.waitScope)->listen();
  kj::Promise<void> serving = server.listenHttp(*listener);
  EtcdClient etcd(*io.provider,
                  EtcdOptions{.endpoints = {"127.0.0.1:" + std::to_string(listener->getPort())}});
  return etcd.Put("k", "v").wait(io.waitScope).status();
}

TEST(Etcd, AnswersThatAreNotEtcdsAreErrorsNotCrashes) {
  EXPECT_TRUE(absl::IsDataLoss(StatusOfPutAgainst(200, "not json"))) << "garbage";
  EXPECT_TRUE(absl::IsDataLoss(StatusOfPutAgainst(200, "[1,2]"))) << "not an object";
  EXPECT_TRUE(absl::IsDataLoss(StatusOfPutAgainst(200, R"({"x":1})"))) << "no header";
  EXPECT_TRUE(absl::IsDataLoss(StatusOfPutAgainst(200, R"({"header":{"revision":"12x"}})")));
  EXPECT_TRUE(absl::IsDataLoss(StatusOfPutAgainst(200, R"({"header":{"revision":1.5}})")));
  absl::Status refused =
      StatusOfPutAgainst(400, R"({"error":"bad","code":3,"message":"etcdserver: bad thing"})");
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find("bad thing"), std::string_view::npos) << refused;
  EXPECT_TRUE(absl::IsUnavailable(StatusOfPutAgainst(503, "{}")));
  EXPECT_TRUE(absl::IsFailedPrecondition(StatusOfPutAgainst(500, "<html>")));
  absl::StatusOr<int64_t> ok_revision;
  EXPECT_TRUE(StatusOfPutAgainst(200, R"({"header":{"revision":"7"}})").ok());
}

}  // namespace
}  // namespace ledger::cluster
