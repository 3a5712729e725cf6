// Metrics: values, exact rendering, bucket boundaries, concurrent updates, the label names of
// every result code (checked against the RPC schema), and /metrics served over a real socket.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "capnp/schema.h"
#include "engine/result_names.h"
#include "kj/async-io.h"
#include "kj/compat/http.h"
#include "net/ledger.capnp.h"
#include "net/metrics_http.h"
#include "net/server_metrics.h"

namespace ledger::net {
namespace {

TEST(Counter, AddsIncrements) {
  Counter counter;
  EXPECT_EQ(counter.Value(), 0u);
  counter.Increment();
  counter.Add(41);
  EXPECT_EQ(counter.Value(), 42u);
}

TEST(Gauge, SetsAddsAndGoesBelowZero) {
  Gauge gauge;
  gauge.Set(5);
  gauge.Add(-7);
  gauge.Increment();
  gauge.Decrement();
  gauge.Decrement();
  EXPECT_EQ(gauge.Value(), -3);
}

TEST(Histogram, ValueEqualToABoundCountsInThatBucket) {
  const uint64_t bounds[] = {10, 20, 30};
  Histogram histogram(bounds, HistogramUnit::kBytes);
  for (uint64_t value : {0u, 10u, 11u, 20u, 21u, 30u, 31u, 1000u}) histogram.Observe(value);
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.bucket_counts, (std::vector<uint64_t>{2, 2, 2, 2}));
  EXPECT_EQ(snapshot.count, 8u);
  EXPECT_EQ(snapshot.sum, 0u + 10 + 11 + 20 + 21 + 30 + 31 + 1000);
}

TEST(Histogram, ValuesAboveTheLastBoundCountOnlyInInf) {
  const uint64_t bounds[] = {1};
  Histogram histogram(bounds, HistogramUnit::kNanoseconds);
  histogram.Observe(UINT64_MAX);
  EXPECT_EQ(histogram.Read().bucket_counts, (std::vector<uint64_t>{0, 1}));
}

TEST(FormatSeconds, IsExactDecimalWithoutTrailingZeros) {
  EXPECT_EQ(FormatSeconds(0), "0");
  EXPECT_EQ(FormatSeconds(1), "0.000000001");
  EXPECT_EQ(FormatSeconds(50'000), "0.00005");
  EXPECT_EQ(FormatSeconds(1'500'000), "0.0015");
  EXPECT_EQ(FormatSeconds(1'000'000'000), "1");
  EXPECT_EQ(FormatSeconds(2'500'000'000), "2.5");
  EXPECT_EQ(FormatSeconds(60'000'000'010), "60.00000001");
  EXPECT_EQ(FormatSeconds(UINT64_MAX), "18446744073.709551615");
}

TEST(Registry, RendersTheExpositionFormatExactly) {
  Registry registry;
  registry.AddCounter("demo_requests_total", "Requests served.").Add(3);
  Family<Counter>& events =
      registry.AddCounterFamily("demo_events_total", "Events by \"kind\".\nSecond \\ line.",
                                {"kind", "result"}, {{"a", "ok"}, {"b", "say \"hi\"\n\\"}});
  events.child(1).Increment();
  registry.AddGauge("demo_level", "A level.").Set(-7);
  const uint64_t latency_bounds_ns[] = {1'000'000, 1'500'000, 2'000'000'000};
  Histogram& latency = registry.AddHistogram("demo_latency_seconds", "Latency.", latency_bounds_ns,
                                             HistogramUnit::kNanoseconds);
  latency.Observe(1'000'000);
  latency.Observe(1'200'000);
  latency.Observe(3'000'000'000);
  const uint64_t size_bounds[] = {512, 4096};
  Family<Histogram>& sizes = registry.AddHistogramFamily(
      "demo_size_bytes", "Sizes.", {"op"}, {{"x"}}, size_bounds, HistogramUnit::kBytes);
  sizes.child(0).Observe(100);
  sizes.child(0).Observe(5000);

  EXPECT_EQ(registry.Render(), R"(# HELP demo_requests_total Requests served.
# TYPE demo_requests_total counter
demo_requests_total 3
# HELP demo_events_total Events by "kind".\nSecond \\ line.
# TYPE demo_events_total counter
demo_events_total{kind="a",result="ok"} 0
demo_events_total{kind="b",result="say \"hi\"\n\\"} 1
# HELP demo_level A level.
# TYPE demo_level gauge
demo_level -7
# HELP demo_latency_seconds Latency.
# TYPE demo_latency_seconds histogram
demo_latency_seconds_bucket{le="0.001"} 1
demo_latency_seconds_bucket{le="0.0015"} 2
demo_latency_seconds_bucket{le="2"} 2
demo_latency_seconds_bucket{le="+Inf"} 3
demo_latency_seconds_sum 3.0022
demo_latency_seconds_count 3
# HELP demo_size_bytes Sizes.
# TYPE demo_size_bytes histogram
demo_size_bytes_bucket{op="x",le="512"} 1
demo_size_bytes_bucket{op="x",le="4096"} 1
demo_size_bytes_bucket{op="x",le="+Inf"} 2
demo_size_bytes_sum{op="x"} 5100
demo_size_bytes_count{op="x"} 2
)");
}

TEST(Registry, FindReturnsTheChildWithThoseLabels) {
  Registry registry;
  Family<Gauge>& family =
      registry.AddGaugeFamily("demo_gauge", "Demo.", {"a", "b"}, {{"1", "2"}, {"1", "3"}});
  EXPECT_EQ(&family.Find({"1", "3"}), &family.child(1));
  EXPECT_EQ(&family.Find({"1", "2"}), &family.child(0));
}

TEST(RegistryDeathTest, DuplicateNamesAndBadLabelsAreOurBug) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // re-executes: safe beside other threads
  Registry registry;
  registry.AddCounter("demo_total", "Demo.");
  EXPECT_DEATH(registry.AddCounter("demo_total", "Again."), "assertion failed");
  EXPECT_DEATH(registry.AddGauge("0demo", "Bad name."), "assertion failed");
  EXPECT_DEATH(registry.AddCounterFamily("demo_a_total", "Twice.", {"x"}, {{"1"}, {"1"}}),
               "assertion failed");
  EXPECT_DEATH(registry.AddCounterFamily("demo_b_total", "Short.", {"x", "y"}, {{"1"}}),
               "assertion failed");
  const uint64_t bounds[] = {1};
  EXPECT_DEATH(
      registry.AddHistogramFamily("demo_c", "le.", {"le"}, {{"1"}}, bounds, HistogramUnit::kBytes),
      "assertion failed");
  const uint64_t unsorted[] = {2, 1};
  EXPECT_DEATH(Histogram(unsorted, HistogramUnit::kBytes), "assertion failed");
}

// Four writers on every kind of metric while a fifth thread renders: the totals are exact
// (ThreadSanitizer checks the rest).
TEST(Registry, ConcurrentUpdatesSumExactly) {
  constexpr int kThreadCount = 4;
  constexpr uint64_t kUpdatesPerThread = 100'000;
  Registry registry;
  Counter& counter = registry.AddCounter("demo_total", "Demo.");
  Gauge& gauge = registry.AddGauge("demo_gauge", "Demo.");
  const uint64_t bounds[] = {10, 100};
  Histogram& histogram =
      registry.AddHistogram("demo_bytes", "Demo.", bounds, HistogramUnit::kBytes);
  std::atomic<bool> done{false};
  std::thread renderer([&] {
    while (!done.load()) EXPECT_FALSE(registry.Render().empty());
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreadCount; ++t) {
    writers.emplace_back([&] {
      for (uint64_t i = 0; i < kUpdatesPerThread; ++i) {
        counter.Increment();
        gauge.Add(2);
        gauge.Decrement();
        histogram.Observe(i % 200);  // 0..199: 11 at most 10, 90 in (10, 100], 99 above
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  done.store(true);
  renderer.join();

  constexpr uint64_t kTotal = kThreadCount * kUpdatesPerThread;
  EXPECT_EQ(counter.Value(), kTotal);
  EXPECT_EQ(gauge.Value(), static_cast<int64_t>(kTotal));
  Histogram::Snapshot snapshot = histogram.Read();
  EXPECT_EQ(snapshot.count, kTotal);
  EXPECT_EQ(snapshot.bucket_counts,
            (std::vector<uint64_t>{kTotal / 200 * 11, kTotal / 200 * 90, kTotal / 200 * 99}));
  EXPECT_EQ(snapshot.sum, kTotal / 200 * (199 * 200 / 2));
}

// ---------------------------------------------------------------------------------------------
// Label values.

// "existsWithDifferentUserData128" -> "exists_with_different_user_data_128".
std::string SnakeCase(std::string_view camel) {
  std::string snake;
  for (size_t i = 0; i < camel.size(); ++i) {
    char c = camel[i];
    bool starts_word = std::isupper(static_cast<unsigned char>(c)) ||
                       (std::isdigit(static_cast<unsigned char>(c)) && i > 0 &&
                        !std::isdigit(static_cast<unsigned char>(camel[i - 1])));
    if (starts_word && i > 0) snake.push_back('_');
    snake.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return snake;
}

// Every value of the engine's enum has a distinct, non-empty name, equal to the snake_case of
// the RPC schema's enumerant with the same number; the value past the end is "unknown".
template <typename Result, typename Status>
void ExpectNamesMatchTheSchema(size_t count) {
  capnp::EnumSchema::EnumerantList enumerants = capnp::Schema::from<Status>().getEnumerants();
  ASSERT_EQ(enumerants.size(), count);
  std::set<std::string_view> seen;
  for (size_t i = 0; i < count; ++i) {
    const std::string_view name = ResultName(static_cast<Result>(i));
    EXPECT_FALSE(name.empty()) << i;
    EXPECT_TRUE(seen.insert(name).second) << name;
    capnp::EnumSchema::Enumerant enumerant = enumerants[static_cast<uint>(i)];
    EXPECT_EQ(enumerant.getOrdinal(), i);
    EXPECT_EQ(name, SnakeCase(enumerant.getProto().getName().cStr())) << i;
  }
  EXPECT_EQ(std::string_view(ResultName(static_cast<Result>(count))), "unknown");
}

TEST(ResultName, EveryCodeHasTheSchemasName) {
  EXPECT_EQ(SnakeCase("existsWithDifferentUserData128"), "exists_with_different_user_data_128");
  ExpectNamesMatchTheSchema<CreateLedgerResult, rpc::CreateLedgerStatus>(kCreateLedgerResultCount);
  ExpectNamesMatchTheSchema<CreateAccountResult, rpc::CreateAccountStatus>(
      kCreateAccountResultCount);
  ExpectNamesMatchTheSchema<CreateTransferResult, rpc::CreateTransferStatus>(
      kCreateTransferResultCount);
  EXPECT_STREQ(ResultName(CreateTransferResult::kExceedsCredits), "exceeds_credits");
}

TEST(LabelNames, EveryValueHasADistinctName) {
  std::set<std::string_view> operations, methods, reasons;
  for (const engine::OperationInfo& info : engine::kOperations) {
    EXPECT_TRUE(operations.insert(OperationName(info.operation)).second);
  }
  for (size_t i = 0; i < kQueryMethodCount; ++i) {
    EXPECT_TRUE(methods.insert(QueryMethodName(static_cast<QueryMethod>(i))).second);
  }
  for (size_t i = 0; i < kRejectReasonCount; ++i) {
    EXPECT_TRUE(reasons.insert(RejectReasonName(static_cast<RejectReason>(i))).second);
  }
  EXPECT_EQ(operations.count(""), 0u);
  EXPECT_EQ(methods.count(""), 0u);
  EXPECT_EQ(reasons.count(""), 0u);
  EXPECT_EQ(OperationName(Operation::kCreateTransfers), "create_transfers");
  EXPECT_EQ(BatchOutcomeName(BatchOutcome::kRejected), "rejected");
  EXPECT_EQ(QueryMethodName(QueryMethod::kGetAccountTransfers), "get_account_transfers");
  EXPECT_EQ(RejectReasonName(RejectReason::kEngineFull), "engine_full");
}

// ---------------------------------------------------------------------------------------------
// ServerMetrics.

bool Contains(const std::string& text, std::string_view line) {
  return text.find("\n" + std::string(line) + "\n") != std::string::npos;
}

TEST(ServerMetrics, AccessorsReachTheChildWithTheirLabels) {
  Registry registry;
  ServerMetrics metrics(registry);
  metrics.Event(CreateTransferResult::kExceedsCredits).Increment();
  metrics.Event(CreateAccountResult::kLedgerNotFound).Add(2);
  metrics.Event(CreateLedgerResult::kOk).Add(3);
  metrics.Batches(Operation::kCreateAccounts, BatchOutcome::kRejected).Increment();
  metrics.BatchLatency(Operation::kCreateTransfers).Observe(1'500'000);
  metrics.Queries(QueryMethod::kChanges).Increment();
  metrics.QueryLatency(QueryMethod::kTrialBalance).Observe(2'000'000'000);
  metrics.RequestsRejected(RejectReason::kIdsTooMany).Increment();
  metrics.last_op.Set(12);

  std::string text = registry.Render();
  for (std::string_view line : {
           R"(ledger_events_total{operation="create_transfers",result="exceeds_credits"} 1)",
           R"(ledger_events_total{operation="create_accounts",result="ledger_not_found"} 2)",
           R"(ledger_events_total{operation="create_ledgers",result="ok"} 3)",
           R"(ledger_events_total{operation="create_transfers",result="ok"} 0)",
           R"(ledger_batches_total{operation="create_accounts",outcome="rejected"} 1)",
           R"(ledger_batches_total{operation="create_accounts",outcome="ok"} 0)",
           R"(ledger_batch_latency_seconds_bucket{operation="create_transfers",le="0.001"} 0)",
           R"(ledger_batch_latency_seconds_bucket{operation="create_transfers",le="0.0025"} 1)",
           R"(ledger_batch_latency_seconds_sum{operation="create_transfers"} 0.0015)",
           R"(ledger_queries_total{method="changes"} 1)",
           R"(ledger_query_latency_seconds_bucket{method="trial_balance",le="1"} 0)",
           R"(ledger_query_latency_seconds_bucket{method="trial_balance",le="+Inf"} 1)",
           R"(ledger_requests_rejected_total{reason="ids_too_many"} 1)",
           "ledger_last_op 12",
           "ledger_up 1",
       }) {
    EXPECT_TRUE(Contains(text, line)) << line;
  }
  EXPECT_GT(metrics.start_time_seconds.Value(), 1'600'000'000);
}

TEST(ServerMetrics, ProcessMetricsReadThisProcess) {
  Registry registry;
  ServerMetrics metrics(registry);
  metrics.process_cpu_seconds_total.Set(1'500'000'000);
  EXPECT_TRUE(Contains(registry.Render(), "process_cpu_seconds_total 1.5"));
  EXPECT_TRUE(Contains(registry.Render(), "# TYPE process_cpu_seconds_total counter"));

  volatile uint64_t spin = 0;  // some CPU time to read back
  for (uint64_t i = 0; i < 20'000'000; ++i) spin = spin + i;
  metrics.UpdateProcessMetrics();
  EXPECT_GT(metrics.process_cpu_seconds_total.ValueNs(), 0u);
  EXPECT_LT(metrics.process_cpu_seconds_total.ValueNs(), 3'600'000'000'000u);
  // This test binary holds at least a megabyte and far less than the machine.
  EXPECT_GT(metrics.process_resident_memory_bytes.Value(), 1 << 20);
  EXPECT_LT(metrics.process_resident_memory_bytes.Value(), int64_t{16} << 30);
}

TEST(ServerMetrics, CountEventsTalliesEveryResult) {
  Registry registry;
  ServerMetrics metrics(registry);
  std::vector<CreateTransferResult> results(8190, CreateTransferResult::kOk);
  results[5] = CreateTransferResult::kExceedsDebits;
  results[6] = CreateTransferResult::kExceedsDebits;
  results[7] = CreateTransferResult::kLinkedEventFailed;
  metrics.CountEvents(results);
  metrics.CountEvents(std::span<const CreateAccountResult>());
  const CreateLedgerResult ledgers[] = {CreateLedgerResult::kExists};
  metrics.CountEvents(ledgers);

  EXPECT_EQ(metrics.Event(CreateTransferResult::kOk).Value(), 8187u);
  EXPECT_EQ(metrics.Event(CreateTransferResult::kExceedsDebits).Value(), 2u);
  EXPECT_EQ(metrics.Event(CreateTransferResult::kLinkedEventFailed).Value(), 1u);
  EXPECT_EQ(metrics.Event(CreateLedgerResult::kExists).Value(), 1u);
  uint64_t total = 0;
  for (size_t i = 0; i < metrics.events_total.child_count(); ++i) {
    total += metrics.events_total.child(i).Value();
  }
  EXPECT_EQ(total, 8191u);
}

// Every family is declared before its samples, and every sample line is `name[{...}] value`
// with a name of the declared family (Prometheus would refuse the scrape otherwise).
TEST(ServerMetrics, RendersOneSeriesPerPreallocatedChild) {
  Registry registry;
  ServerMetrics metrics(registry);
  std::string text = registry.Render();
  size_t event_lines = 0;
  std::string family;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.starts_with("# TYPE ")) {
      family = std::string(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.starts_with("# HELP ")) continue;
    ASSERT_FALSE(family.empty()) << line;
    EXPECT_TRUE(line.starts_with(family)) << line;
    EXPECT_NE(line.find(' '), std::string_view::npos) << line;
    if (line.starts_with("ledger_events_total{")) ++event_lines;
  }
  EXPECT_EQ(event_lines, kCreateLedgerResultCount + kCreateAccountResultCount +
                             size_t{kCreateTransferResultCount});
}

// ---------------------------------------------------------------------------------------------
// MetricsHttpServer.

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  MetricsHttpServerTest()
      : io_(kj::setupAsyncIo()),
        server_(io_.provider->getTimer(), [this] { return registry_.Render(); }) {
    registry_.AddCounter("demo_total", "Demo.").Add(7);
    kj::Own<kj::NetworkAddress> address =
        io_.provider->getNetwork().parseAddress("127.0.0.1", 0).wait(io_.waitScope);
    listener_ = address->listen();
    listening_ = server_.Listen(*listener_).eagerlyEvaluate([](kj::Exception&& exception) {
      ADD_FAILURE() << kj::str(exception).cStr();
    });
    kj::Own<kj::NetworkAddress> server_address =
        io_.provider->getNetwork()
            .parseAddress("127.0.0.1", listener_->getPort())
            .wait(io_.waitScope);
    client_ = kj::newHttpClient(io_.provider->getTimer(), header_table_, *server_address);
    server_address_ = kj::mv(server_address);
  }
  // KJ's destructors may throw (noexcept(false)); gtest's fixture destructor may not.
  ~MetricsHttpServerTest() noexcept override {}

  struct Reply {
    uint status_code = 0;
    std::string content_type;
    std::string body;
  };

  Reply Fetch(kj::HttpMethod method, kj::StringPtr url) {
    kj::HttpHeaders headers(header_table_);
    headers.set(kj::HttpHeaderId::HOST, "127.0.0.1");
    kj::HttpClient::Response response =
        client_->request(method, url, headers).response.wait(io_.waitScope);
    Reply reply;
    reply.status_code = response.statusCode;
    KJ_IF_MAYBE (content_type, response.headers->get(kj::HttpHeaderId::CONTENT_TYPE)) {
      reply.content_type = content_type->cStr();
    }
    reply.body = response.body->readAllText().wait(io_.waitScope).cStr();
    return reply;
  }

  kj::Own<kj::AsyncIoStream> Connect() { return server_address_->connect().wait(io_.waitScope); }

  // Runs the event loop until `condition` holds, for at most 5 s.
  template <typename Condition>
  bool WaitFor(Condition condition) {
    for (int i = 0; i < 5000 && !condition(); ++i) {
      io_.provider->getTimer().afterDelay(1 * kj::MILLISECONDS).wait(io_.waitScope);
    }
    return condition();
  }

  kj::AsyncIoContext io_;
  Registry registry_;
  MetricsHttpServer server_;
  kj::Own<kj::ConnectionReceiver> listener_;
  kj::Promise<void> listening_ = nullptr;
  kj::HttpHeaderTable header_table_;
  kj::Own<kj::NetworkAddress> server_address_;
  kj::Own<kj::HttpClient> client_;
};

TEST_F(MetricsHttpServerTest, GetMetricsReturnsTheRenderedText) {
  Reply reply = Fetch(kj::HttpMethod::GET, "/metrics");
  EXPECT_EQ(reply.status_code, 200u);
  EXPECT_EQ(reply.content_type, kMetricsContentType);
  EXPECT_EQ(reply.body, "# HELP demo_total Demo.\n# TYPE demo_total counter\ndemo_total 7\n");
  // The connection is reused and each scrape renders afresh.
  registry_.AddGauge("demo_gauge", "Later.").Set(1);
  EXPECT_NE(Fetch(kj::HttpMethod::GET, "/metrics").body.find("demo_gauge 1\n"), std::string::npos);
}

TEST_F(MetricsHttpServerTest, HeadReturnsHeadersWithoutABody) {
  Reply reply = Fetch(kj::HttpMethod::HEAD, "/metrics");
  EXPECT_EQ(reply.status_code, 200u);
  EXPECT_EQ(reply.content_type, kMetricsContentType);
  EXPECT_EQ(reply.body, "");
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/metrics").status_code, 200u);
}

TEST_F(MetricsHttpServerTest, AnythingElseIsNotFound) {
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/").status_code, 404u);
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/metricsx").status_code, 404u);
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/metrics/x").status_code, 404u);
  EXPECT_EQ(Fetch(kj::HttpMethod::POST, "/metrics").status_code, 404u);
  EXPECT_EQ(Fetch(kj::HttpMethod::DELETE, "/metrics").status_code, 404u);
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/metrics?name[]=x").status_code, 200u);
}

// Garbage gets an error response and a closed connection; the server carries on.
TEST_F(MetricsHttpServerTest, GarbageIsAnsweredAndClosed) {
  kj::Own<kj::AsyncIoStream> connection = Connect();
  kj::StringPtr garbage = "\x01\x02 not http at all\r\n\r\n";
  connection->write(garbage.begin(), garbage.size()).wait(io_.waitScope);
  kj::String reply = connection->readAllText(64 * 1024).wait(io_.waitScope);
  EXPECT_TRUE(kj::StringPtr(reply).startsWith("HTTP/1.1 4") ||
              kj::StringPtr(reply).startsWith("HTTP/1.1 5"))
      << reply.cStr();
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/metrics").status_code, 200u);
}

// Headers that never end: the server stops reading at its buffer limit and closes, rather
// than buffering all of them.
TEST_F(MetricsHttpServerTest, EndlessHeadersAreCutOff) {
  kj::Own<kj::AsyncIoStream> connection = Connect();
  std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: ";
  request.append(4 << 20, 'a');  // 4 MiB: far past KJ's 128 KiB header buffer
  bool write_failed = false;
  connection->write(request.data(), request.size())
      .then([] {}, [&](kj::Exception&&) { write_failed = true; })
      .wait(io_.waitScope);
  std::string reply;
  connection->readAllText(64 * 1024)
      .then([&](kj::String text) { reply = text.cStr(); }, [](kj::Exception&&) {})
      .wait(io_.waitScope);
  // Either the server answered 431/400 and closed, or it closed while we were still writing.
  EXPECT_TRUE(write_failed || reply.starts_with("HTTP/1.1 4")) << reply;
  EXPECT_TRUE(WaitFor([&] { return server_.open_connections() == 0; }));
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/metrics").status_code, 200u);
}

TEST_F(MetricsHttpServerTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  std::vector<kj::Own<kj::AsyncIoStream>> held;
  for (uint32_t i = 0; i < MetricsHttpServer::kConnectionsMax; ++i) held.push_back(Connect());
  ASSERT_TRUE(WaitFor([&] { return server_.open_connections() == held.size(); }));

  kj::Own<kj::AsyncIoStream> extra = Connect();
  EXPECT_EQ(extra->readAllText(1024).wait(io_.waitScope), "");  // closed without a word
  EXPECT_EQ(server_.rejected_connections(), 1u);

  held.clear();
  ASSERT_TRUE(WaitFor([&] { return server_.open_connections() == 0; }));
  EXPECT_EQ(Fetch(kj::HttpMethod::GET, "/metrics").status_code, 200u);
}

}  // namespace
}  // namespace ledger::net
