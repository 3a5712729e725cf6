// ledger-bench's report (bench/ledger_bench/report.h): nearest-rank percentiles, the text
// report, JSON that stays valid whatever the strings hold, an SVG that stays well-formed and
// finite for degenerate runs, and a progress bar that draws only on a terminal.
#include "bench/ledger_bench/report.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace ledger::bench {
namespace {

constexpr uint64_t kMs = 1'000'000;  // nanoseconds

// A plausible closed-loop run that passed validation.
Report SampleReport() {
  Report r;
  r.workload.accounts = 10'000;
  r.workload.transfers = 1'000'000;
  r.workload.batch_events = 8'190;
  r.workload.connections = 4;
  r.workload.inflight_per_connection = 2;
  r.workload.distribution = "zipf:1.0";
  r.workload.pending_share = 0.1;
  r.workload.post_share = 0.4;
  r.workload.void_share = 0.4;
  r.workload.expire_share = 0.2;
  r.workload.chain_share = 0.05;
  r.workload.id_order = "sequential";
  r.workload.seed = 18'000'000'000'000'000'042u;  // beyond 2^53
  r.workload.server_shards = 4;
  r.workload.server = "spawned";
  r.transfers_acknowledged = 1'000'000;
  r.batches = 123;
  r.duration_ns = 810 * kMs;
  r.transfers_per_s = 1'234'567.4;
  r.batch_latency = {123, 250'000, 400'000, 1'500 * 1'000, 2 * kMs, 5 * kMs, 12 * kMs};
  r.query_latency = {50, 20'000, 30'000, 40'000, 50'000, 60'000, 70'000};
  r.has_server_stats = true;
  r.server_rss_bytes = 64ull << 20;
  r.server_cpu_ns = 456'000'000;
  r.server_cpu_ns_per_transfer = 456;
  r.throughput = {{200 * kMs, 250'000}, {400 * kMs, 300'000}, {810 * kMs, 450'000}};
  r.validation = {true, 1'000'000, 0, "", true, 10'000, 0, ""};
  return r;
}

// Everything written to `file` so far.
std::string Contents(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  size_t size = 0;
  while ((size = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, size);
  return text;
}

std::string Text(const Report& report) {
  std::FILE* file = std::tmpfile();
  EXPECT_NE(file, nullptr);
  PrintText(report, file);
  std::string text = Contents(file);
  std::fclose(file);
  return text;
}

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// A structural check in place of a parser: outside strings, brackets nest and close; inside
// strings, no raw control byte and only JSON's escapes; no NaN or infinity anywhere.
void ExpectValidJsonShape(const std::string& json) {
  std::string open;  // the brackets not yet closed
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      ASSERT_GE(static_cast<unsigned char>(c), 0x20) << "raw control byte at " << i;
      if (c == '\\') {
        ASSERT_LT(i + 1, json.size());
        ASSERT_NE(std::string("\"\\/bfnrtu").find(json[i + 1]), std::string::npos) << i;
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      open += c;
    } else if (c == '}' || c == ']') {
      ASSERT_FALSE(open.empty()) << "unbalanced at " << i;
      ASSERT_EQ(open.back(), c == '}' ? '{' : '[') << "mismatched at " << i;
      open.pop_back();
    } else {
      ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) ||
                  std::string(" \n:,.-+").find(c) != std::string::npos)
          << "unexpected '" << c << "' at " << i;
    }
  }
  EXPECT_FALSE(in_string);
  EXPECT_TRUE(open.empty());
  EXPECT_FALSE(Contains(json, ": nan") || Contains(json, ": inf") || Contains(json, ": -inf"));
}

// A structural check of XML: tags nest and close, '<' and '&' appear only as markup or an
// entity, attribute values are quoted, and there is one root element.
void ExpectWellFormedXml(const std::string& xml) {
  std::vector<std::string> open;
  size_t roots = 0;
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&') {
      const size_t end = xml.find(';', i);
      ASSERT_NE(end, std::string::npos);
      const std::string entity = xml.substr(i, end - i + 1);
      ASSERT_TRUE(entity == "&amp;" || entity == "&lt;" || entity == "&gt;" || entity == "&quot;" ||
                  entity == "&apos;")
          << entity;
      continue;
    }
    const auto byte = static_cast<unsigned char>(xml[i]);
    ASSERT_TRUE(byte >= 0x20 || xml[i] == '\n') << "control byte at " << i;
    if (xml[i] == '>') FAIL() << "stray '>' at " << i;
    if (xml[i] != '<') continue;
    const size_t end = xml.find('>', i);
    ASSERT_NE(end, std::string::npos);
    const std::string tag = xml.substr(i + 1, end - i - 1);
    ASSERT_EQ(tag.find('<'), std::string::npos) << tag;
    ASSERT_EQ(CountOf(tag, "\"") % 2, 0u) << tag;
    if (tag[0] == '/') {
      ASSERT_FALSE(open.empty()) << tag;
      EXPECT_EQ(open.back(), tag.substr(1));
      open.pop_back();
    } else if (tag.back() != '/') {
      if (open.empty()) ++roots;
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end;
  }
  EXPECT_TRUE(open.empty());
  EXPECT_EQ(roots, 1u);
}

// The `points` of the first polyline, counted.
size_t PolylinePoints(const std::string& svg) {
  const size_t polyline = svg.find("<polyline");
  if (polyline == std::string::npos) return 0;
  const size_t begin = svg.find("points=\"", polyline) + 8;
  const std::string points = svg.substr(begin, svg.find('"', begin) - begin);
  return CountOf(points, ",");
}

void ExpectFiniteNumbers(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_FALSE(Contains(lower, "nan")) << text;
  EXPECT_FALSE(Contains(lower, "inf")) << text;
}

// ---- Summarize -----------------------------------------------------------------------------

TEST(Summarize, EmptyGivesZeros) {
  std::vector<uint64_t> samples;
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.p1_ns + s.p10_ns + s.p50_ns + s.p90_ns + s.p99_ns + s.p100_ns, 0u);
}

TEST(Summarize, OneSampleIsEveryPercentile) {
  std::vector<uint64_t> samples = {777};
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.count, 1u);
  for (const uint64_t p : {s.p1_ns, s.p10_ns, s.p50_ns, s.p90_ns, s.p99_ns, s.p100_ns}) {
    EXPECT_EQ(p, 777u);
  }
}

TEST(Summarize, OneToHundredGivesTheRanksAndSortsInPlace) {
  std::vector<uint64_t> samples(100);
  std::iota(samples.begin(), samples.end(), 1);
  std::shuffle(samples.begin(), samples.end(), std::mt19937_64(42));
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.p1_ns, 1u);
  EXPECT_EQ(s.p10_ns, 10u);
  EXPECT_EQ(s.p50_ns, 50u);
  EXPECT_EQ(s.p90_ns, 90u);
  EXPECT_EQ(s.p99_ns, 99u);
  EXPECT_EQ(s.p100_ns, 100u);
  EXPECT_TRUE(std::is_sorted(samples.begin(), samples.end()));
}

TEST(Summarize, NearestRankRoundsUpWhenRanksFallBetweenSamples) {
  std::vector<uint64_t> samples = {100, 90, 80, 70, 60, 50, 40, 30, 20, 10};
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.p1_ns, 10u);    // rank ceil(0.1) = 1
  EXPECT_EQ(s.p10_ns, 10u);   // rank 1
  EXPECT_EQ(s.p50_ns, 50u);   // rank 5
  EXPECT_EQ(s.p90_ns, 90u);   // rank 9
  EXPECT_EQ(s.p99_ns, 100u);  // rank ceil(9.9) = 10
  EXPECT_EQ(s.p100_ns, 100u);
}

TEST(Summarize, DuplicatesAndExtremes) {
  std::vector<uint64_t> samples = {UINT64_MAX, 0, 0, 5};
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.p1_ns, 0u);
  EXPECT_EQ(s.p50_ns, 0u);          // rank 2
  EXPECT_EQ(s.p90_ns, UINT64_MAX);  // rank ceil(3.6) = 4
  EXPECT_EQ(s.p100_ns, UINT64_MAX);
}

// ---- PrintText -----------------------------------------------------------------------------

TEST(PrintText, ClosedLoopShowsWorkloadRateLatencyAndServer) {
  const std::string text = Text(SampleReport());
  EXPECT_TRUE(Contains(text, "1,000,000 transfers over 10,000 accounts, zipf:1.0")) << text;
  EXPECT_TRUE(Contains(text, "seed 18000000000000000042")) << text;
  EXPECT_TRUE(Contains(text, "batches of 8,190, 4 connections x 2 in flight, closed loop"));
  EXPECT_TRUE(Contains(text, "pending 10% (posted 40%, voided 40%, left to expire 20%)"));
  EXPECT_TRUE(Contains(text, "spawned, 4 shards")) << text;
  EXPECT_TRUE(Contains(text, "1,234,567 transfers/s (1,000,000 transfers in 0.810 s, 123 "))
      << text;
  EXPECT_FALSE(Contains(text, "offered")) << text;
  EXPECT_TRUE(Contains(text, "p1 250.0 µs  p10 400.0 µs  p50 1.500 ms  p90 2.000 ms")) << text;
  EXPECT_TRUE(Contains(text, "p100 12.000 ms  (123 batches)")) << text;
  EXPECT_TRUE(Contains(text, "p1 20.0 µs")) << text;
  EXPECT_TRUE(Contains(text, "(50 queries)")) << text;
  EXPECT_TRUE(Contains(text, "RSS 64.0 MiB, CPU 456 ns/transfer")) << text;
  EXPECT_TRUE(Contains(text, "PASSED (1,000,000 results as expected, trial balance ok, 10,000 "))
      << text;
}

TEST(PrintText, OpenLoopShowsOfferedRateAndLateBatches) {
  Report report = SampleReport();
  report.workload.rate_per_s = 2'000'000;
  report.offered_per_s = 1'999'999.6;
  report.batches_late = 1'234;
  const std::string text = Text(report);
  EXPECT_TRUE(Contains(text, "open loop at 2,000,000/s")) << text;
  EXPECT_TRUE(Contains(text, "2,000,000 transfers/s, 1,234 batches late")) << text;
}

TEST(PrintText, NoServerStatsSaysNotAvailable) {
  Report report = SampleReport();
  report.has_server_stats = false;
  const std::string text = Text(report);
  EXPECT_TRUE(Contains(text, "server usage:  n/a")) << text;
  EXPECT_FALSE(Contains(text, "MiB")) << text;
}

TEST(PrintText, FailedValidationShowsCountsAndFirstFailures) {
  Report report = SampleReport();
  report.validation = {true,  1'000, 3, "transfer 17: ok, expected exceeds_credits",
                       false, 500,   2, "account 9: debits_posted 10, expected 12"};
  const std::string text = Text(report);
  EXPECT_TRUE(Contains(text,
                       "FAILED: 3 of 1,000 results unexpected, trial balance WRONG, 2 of "
                       "500 accounts mismatched"))
      << text;
  EXPECT_TRUE(Contains(text, "first unexpected: transfer 17: ok, expected exceeds_credits"));
  EXPECT_TRUE(Contains(text, "first mismatch: account 9: debits_posted 10, expected 12"));
  EXPECT_FALSE(Contains(text, "PASSED"));
}

TEST(PrintText, DegenerateRunPrintsZerosNotNan) {
  Report report;
  report.transfers_per_s = std::nan("");
  report.workload.pending_share = std::numeric_limits<double>::infinity();
  const std::string text = Text(report);
  EXPECT_TRUE(Contains(text, "validation:    not run")) << text;
  EXPECT_TRUE(Contains(text, "batch latency: none measured")) << text;
  EXPECT_TRUE(Contains(text, "0 transfers/s")) << text;
  ExpectFiniteNumbers(text);
}

// ---- ToJson --------------------------------------------------------------------------------

TEST(ToJson, HasStableKeysWithUnits) {
  const std::string json = ToJson(SampleReport());
  ExpectValidJsonShape(json);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.substr(json.size() - 2), "}\n");
  for (const char* needle :
       {"\"accounts\": 10000",
        "\"batch_events\": 8190",
        "\"distribution\": \"zipf:1.0\"",
        "\"pending_share\": 0.1,",
        "\"chain_share\": 0.05,",
        "\"seed\": \"18000000000000000042\"",
        "\"server\": \"spawned\"}",
        "\"transfers_acknowledged\": 1000000,",
        "\"duration_ns\": 810000000,",
        "\"transfers_per_s\": 1234567.4,",
        "\"offered_per_s\": 0,",
        "\"batch_latency_ns\": {\"count\": 123, \"p1\": 250000, \"p10\": 400000, \"p50\": "
        "1500000, \"p90\": 2000000, \"p99\": 5000000, \"p100\": 12000000}",
        "\"query_latency_ns\": {\"count\": 50, \"p1\": 20000,",
        "\"has_server_stats\": true,",
        "\"server_rss_bytes\": 67108864,",
        "\"server_cpu_ns_per_transfer\": 456,",
        "\"throughput\": [\n    {\"end_ns\": 200000000, \"transfers\": 250000},\n",
        "{\"end_ns\": 810000000, \"transfers\": 450000}\n  ],",
        "\"validation\": {\"ran\": true, \"results_checked\": 1000000,",
        "\"first_mismatch\": \"\", \"ok\": true}\n}"}) {
    EXPECT_TRUE(Contains(json, needle)) << needle << "\nin\n" << json;
  }
}

TEST(ToJson, UnknownServerStatsAndNonFiniteRatesAreNull) {
  Report report = SampleReport();
  report.has_server_stats = false;
  report.transfers_per_s = std::nan("");
  report.offered_per_s = -std::numeric_limits<double>::infinity();
  report.throughput.clear();
  const std::string json = ToJson(report);
  ExpectValidJsonShape(json);
  for (const char* needle :
       {"\"has_server_stats\": false,", "\"server_rss_bytes\": null,", "\"server_cpu_ns\": null,",
        "\"server_cpu_ns_per_transfer\": null,", "\"transfers_per_s\": null,",
        "\"offered_per_s\": null,", "\"throughput\": [],"}) {
    EXPECT_TRUE(Contains(json, needle)) << needle << "\nin\n" << json;
  }
}

TEST(ToJson, EscapesQuotesBackslashesControlAndNonAsciiBytes) {
  Report report = SampleReport();
  report.validation.results_unexpected = 1;
  report.validation.first_unexpected = std::string("a\"b\\c\nd\te\x01\x7f") + "\xc2\xb5" + "}{]";
  report.workload.server = "host\"name:1";
  report.workload.distribution = std::string("hot\0x", 5);
  const std::string json = ToJson(report);
  ExpectValidJsonShape(json);
  EXPECT_TRUE(
      Contains(json, R"("first_unexpected": "a\"b\\c\u000ad\u0009e\u0001\u007f\u00c2\u00b5}{]")"))
      << json;
  EXPECT_TRUE(Contains(json, R"("server": "host\"name:1")")) << json;
  EXPECT_TRUE(Contains(json, R"("distribution": "hot\u0000x")")) << json;
  EXPECT_TRUE(Contains(json, "\"ok\": false}")) << json;
}

// ---- ToSvg ---------------------------------------------------------------------------------

TEST(ToSvg, IsOneWellFormedSvgWithAPointPerInterval) {
  const std::string svg = ToSvg(SampleReport());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_TRUE(Contains(svg, "width=\"900\" height=\"600\""));
  ExpectWellFormedXml(svg);
  ExpectFiniteNumbers(svg);
  EXPECT_EQ(PolylinePoints(svg), 3u);
  // 250k/0.2 s = 1.25M/s, 300k/0.2 s = 1.5M/s, 450k/0.41 s = 1.098M/s: an axis to 1.5M.
  EXPECT_TRUE(Contains(svg, ">1.5M</text>")) << svg;
  EXPECT_TRUE(Contains(svg, ">500k</text>")) << svg;
  EXPECT_TRUE(Contains(svg, ">0.8</text>")) << svg;  // seconds
  EXPECT_TRUE(Contains(svg, ">p99</text>")) << svg;
  EXPECT_TRUE(Contains(svg, ">12.000 ms</text>")) << svg;
  EXPECT_TRUE(Contains(svg, "1,000,000 transfers over 10,000 accounts")) << svg;
  EXPECT_EQ(CountOf(svg, "fill=\"#ff7f0e\""), 6u);  // one bar per percentile
}

TEST(ToSvg, EmptyRunHasNoNanNoPolylineAndStaysWellFormed) {
  const std::string svg = ToSvg(Report{});
  ExpectWellFormedXml(svg);
  ExpectFiniteNumbers(svg);
  EXPECT_EQ(PolylinePoints(svg), 0u);
  EXPECT_TRUE(Contains(svg, "no throughput samples"));
  EXPECT_TRUE(Contains(svg, "no batches measured"));
}

TEST(ToSvg, ZeroLatenciesAndZeroLengthIntervalsStayFinite) {
  Report report = SampleReport();
  report.batch_latency = {5, 0, 0, 0, 0, 0, 0};
  report.throughput = {{0, 10}, {100 * kMs, 0}, {100 * kMs, 5}, {300 * kMs, 0}};
  report.transfers_per_s = std::nan("");
  const std::string svg = ToSvg(report);
  ExpectWellFormedXml(svg);
  ExpectFiniteNumbers(svg);
  EXPECT_EQ(PolylinePoints(svg), 2u);             // the intervals of no length have no rate
  EXPECT_EQ(CountOf(svg, "height=\"0.0\""), 6u);  // every bar empty
}

TEST(ToSvg, OneLatencyValueAndHugeLatenciesStayFinite) {
  Report report = SampleReport();
  report.batch_latency = {1, kMs, kMs, kMs, kMs, kMs, kMs};
  ExpectFiniteNumbers(ToSvg(report));
  report.batch_latency = {2, 1, 1, 1, 1, UINT64_MAX, UINT64_MAX};
  ExpectFiniteNumbers(ToSvg(report));
}

TEST(ToSvg, EscapesMarkupControlBytesAndMalformedUtf8) {
  Report report = SampleReport();
  report.workload.distribution = "<hot> & \"cold\" 'x' \x01 \xc2\xb5 \xff \xed\xa0\x80 \xe2\x82";
  report.workload.server = "]]></text></svg>";
  const std::string svg = ToSvg(report);
  ExpectWellFormedXml(svg);
  EXPECT_TRUE(Contains(svg, "&lt;hot&gt; &amp; &quot;cold&quot; &apos;x&apos; ? \xc2\xb5 ? ??? ??"))
      << svg;
  EXPECT_TRUE(Contains(svg, "]]&gt;&lt;/text&gt;&lt;/svg&gt;")) << svg;
}

// ---- ProgressBar ---------------------------------------------------------------------------

TEST(ProgressBar, DrawsNothingWhenNotATerminal) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  ProgressBar bar(file, 1'000);
  for (uint64_t i = 0; i <= 10; ++i) bar.Update(i * 100, i * 1'000 * kMs);
  bar.Finish();
  EXPECT_EQ(Contents(file), "");
  std::fclose(file);
}

// A pseudo-terminal: the bar writes to its slave side, the test reads the master side.
class Pty {
 public:
  Pty() {
    master_ = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) return;
    const int slave = open(ptsname(master_), O_RDWR | O_NOCTTY);
    if (slave >= 0) slave_ = fdopen(slave, "w");
  }
  ~Pty() {
    if (slave_ != nullptr) std::fclose(slave_);
    if (master_ >= 0) close(master_);
  }
  std::FILE* slave() const { return slave_; }
  // What arrived on the master side within a short wait.
  std::string Read() const {
    std::string text;
    pollfd poll_fd{master_, POLLIN, 0};
    char buffer[1024];
    while (poll(&poll_fd, 1, 100) == 1) {
      const ssize_t size = read(master_, buffer, sizeof(buffer));
      if (size <= 0) break;
      text.append(buffer, static_cast<size_t>(size));
    }
    return text;
  }

 private:
  int master_ = -1;
  std::FILE* slave_ = nullptr;
};

TEST(ProgressBar, OnATerminalDrawsAtMostEveryHundredMsAndFinishClears) {
  Pty pty;
  if (pty.slave() == nullptr) GTEST_SKIP() << "no pseudo-terminal available";
  ProgressBar bar(pty.slave(), 10'000'000);
  const uint64_t start_ns = 5'000 * kMs;
  bar.Update(0, start_ns);  // starts the clock
  bar.Update(1'000, start_ns + 50 * kMs);
  EXPECT_EQ(pty.Read(), "");
  bar.Update(4'200'000, start_ns + 4'000 * kMs);  // 1,050,000/s, 5.8M left: ETA 6s
  const std::string line = pty.Read();
  EXPECT_EQ(line.rfind("\r[########............]  42%  4,200,000 / 10,000,000  1,050,000/s  "
                       "ETA 6s",
                       0),
            0u)
      << line;
  EXPECT_EQ(line.size(), 80u) << line;  // '\r' and a line padded to 79 columns
  bar.Update(4'300'000, start_ns + 4'099 * kMs);
  EXPECT_EQ(pty.Read(), "");
  bar.Finish();
  EXPECT_EQ(pty.Read(), "\r" + std::string(79, ' ') + "\r");
}

}  // namespace
}  // namespace ledger::bench
