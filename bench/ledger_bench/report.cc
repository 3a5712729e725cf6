// ledger-bench's report (report.h): percentiles, and the text, JSON and SVG forms of one run.
// Everything here runs once, after the load: it is written for clarity, not speed.
#include "bench/ledger_bench/report.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ledger::bench {
namespace {

constexpr double kNsPerS = 1e9;
constexpr double kNsPerMs = 1e6;
constexpr double kNsPerUs = 1e3;
constexpr double kBytesPerMiB = 1024.0 * 1024.0;
constexpr double kTwoTo64 = 18446744073709551616.0;

// Debian's Abseil has its own string_view, which StrCat takes; std::string_view needs this.
absl::string_view Sv(std::string_view text) { return absl::string_view(text.data(), text.size()); }

// The percentiles every form of the report shows: name, nearest rank in percent, field.
struct Percentile {
  const char* name;
  uint64_t percent;
  uint64_t LatencySummary::*field_ns;
};
constexpr Percentile kPercentiles[] = {
    {"p1", 1, &LatencySummary::p1_ns},    {"p10", 10, &LatencySummary::p10_ns},
    {"p50", 50, &LatencySummary::p50_ns}, {"p90", 90, &LatencySummary::p90_ns},
    {"p99", 99, &LatencySummary::p99_ns}, {"p100", 100, &LatencySummary::p100_ns},
};
constexpr int kPercentileCount = static_cast<int>(std::size(kPercentiles));

// Rates are doubles that a zero-length run can make NaN or infinite: shown as 0.
uint64_t Rounded(double value) {
  if (!(value > 0)) return 0;  // negative or NaN
  if (value >= kTwoTo64) return UINT64_MAX;
  return static_cast<uint64_t>(value + 0.5);
}

std::string Thousands(uint64_t value) {
  const std::string digits = absl::StrCat(value);
  std::string text;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) text += ',';
    text += digits[i];
  }
  return text;
}

// Microseconds below a millisecond (a fast batch), milliseconds above.
std::string LatencyText(uint64_t ns) {
  const auto value_ns = static_cast<double>(ns);
  if (ns < 1'000'000) return absl::StrFormat("%.1f µs", value_ns / kNsPerUs);
  return absl::StrFormat("%.3f ms", value_ns / kNsPerMs);
}

std::string ShareText(double share) {
  return absl::StrFormat("%.4g%%", std::isfinite(share) ? share * 100 : 0);
}

// ---- Text ----------------------------------------------------------------------------------

std::string WorkloadLine(const WorkloadEcho& w) {
  return absl::StrFormat("%s transfers over %s accounts, %s, ids %s, seed %d",
                         Thousands(w.transfers), Thousands(w.accounts), w.distribution, w.id_order,
                         w.seed);
}

std::string LoadLine(const WorkloadEcho& w) {
  const std::string loop = w.rate_per_s > 0
                               ? absl::StrCat("open loop at ", Thousands(w.rate_per_s), "/s")
                               : std::string("closed loop");
  return absl::StrFormat("batches of %s, %d connections x %d in flight, %s, %s records",
                         Thousands(w.batch_events), w.connections, w.inflight_per_connection, loop,
                         w.wire);
}

std::string ServerLine(const WorkloadEcho& w) {
  return absl::StrFormat("%s, %d shards", w.server, w.server_shards);
}

void Row(std::string_view label, std::string_view value, std::string* text) {
  absl::StrAppendFormat(text, "%-15s%s\n", label, value);
}

std::string LatencyRow(const LatencySummary& latency, std::string_view what) {
  if (latency.count == 0) return "none measured";
  std::string row;
  for (const Percentile& p : kPercentiles) {
    absl::StrAppend(&row, p.name, " ", LatencyText(latency.*p.field_ns), "  ");
  }
  absl::StrAppend(&row, "(", Thousands(latency.count), " ", Sv(what), ")");
  return row;
}

void WorkloadRows(const WorkloadEcho& w, std::string* text) {
  Row("workload:", WorkloadLine(w), text);
  Row("", LoadLine(w), text);
  Row("",
      absl::StrCat(absl::StrFormat("pending %s (posted %s, voided %s, left to expire %s), "
                                   "chains %s, cross-shard %s",
                                   ShareText(w.pending_share), ShareText(w.post_share),
                                   ShareText(w.void_share), ShareText(w.expire_share),
                                   ShareText(w.chain_share), ShareText(w.cross_shard_share)),
                   w.resubmit_share > 0 ? ", resubmitted " + ShareText(w.resubmit_share) : ""),
      text);
  Row("server:", ServerLine(w), text);
}

void ResultRows(const Report& r, std::string* text) {
  Row("accepted:",
      absl::StrFormat("%s transfers/s (%s transfers in %.3f s, %s batches)",
                      Thousands(Rounded(r.transfers_per_s)), Thousands(r.transfers_acknowledged),
                      static_cast<double>(r.duration_ns) / kNsPerS, Thousands(r.batches)),
      text);
  if (r.workload.rate_per_s > 0) {
    Row("offered:",
        absl::StrFormat("%s transfers/s, %s batches late", Thousands(Rounded(r.offered_per_s)),
                        Thousands(r.batches_late)),
        text);
  }
  Row("batch latency:", LatencyRow(r.batch_latency, "batches"), text);
  if (r.batch_latency.count != 0) {
    Row("",
        absl::StrFormat("the slowest batch was sent %.3f s into the load",
                        static_cast<double>(r.slowest_batch_sent_ns) / 1e9),
        text);
  }
  Row("query latency:", LatencyRow(r.query_latency, "queries"), text);
  if (r.cold_lookup_latency.count != 0) {
    Row("old lookups:", LatencyRow(r.cold_lookup_latency, "during the load"), text);
    Row("old pages:", LatencyRow(r.cold_page_latency, "during the load"), text);
    Row("round trips:", LatencyRow(r.round_trip_latency, "info calls beside them"), text);
  }
  Row("server usage:",
      r.has_server_stats ? absl::StrFormat("RSS %.1f MiB, CPU %s ns/transfer",
                                           static_cast<double>(r.server_rss_bytes) / kBytesPerMiB,
                                           Thousands(Rounded(r.server_cpu_ns_per_transfer)))
                         : std::string("n/a"),
      text);
  if (r.steal_share >= 0) {
    Row("machine:",
        absl::StrFormat("%.1f%% of CPU time stolen by the hypervisor during the load",
                        r.steal_share * 100),
        text);
  }
  Row("client usage:",
      absl::StrFormat("CPU %s ns/transfer (this process: generating, encoding, checking)",
                      Thousands(Rounded(r.client_cpu_ns_per_transfer))),
      text);
}

void ValidationRows(const Validation& v, std::string* text) {
  if (!v.ran) {
    Row("validation:", "not run", text);
  } else if (v.ok()) {
    Row("validation:",
        absl::StrFormat("PASSED (%s results as expected%s, trial balance ok, %s accounts match)",
                        Thousands(v.results_checked),
                        v.resubmits_exist == 0
                            ? ""
                            : " (" + Thousands(v.resubmits_exist) + " resubmissions exist)",
                        Thousands(v.accounts_checked)),
        text);
  } else {
    Row("validation:",
        absl::StrFormat("FAILED: %s of %s results unexpected, trial balance %s, %s of %s "
                        "accounts mismatched",
                        Thousands(v.results_unexpected), Thousands(v.results_checked),
                        v.trial_balance_ok ? "ok" : "WRONG", Thousands(v.accounts_mismatched),
                        Thousands(v.accounts_checked)),
        text);
    if (!v.first_unexpected.empty()) Row("", "first unexpected: " + v.first_unexpected, text);
    if (!v.first_mismatch.empty()) Row("", "first mismatch: " + v.first_mismatch, text);
  }
}

// ---- JSON ----------------------------------------------------------------------------------

// Quotes and backslashes escaped, control and non-ASCII bytes as \u00XX (as the tools' JSON
// does), so the output is valid JSON whatever bytes a description holds.
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      absl::StrAppendFormat(&out, "\\u%04x", byte);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// JSON has no NaN or infinity: a rate a zero-length run cannot have is null.
std::string JsonReal(double value) {
  return std::isfinite(value) ? absl::StrFormat("%.15g", value) : std::string("null");
}

// One JSON object; members on one line, or (`multiline`) one per line, indented.
class JsonObject {
 public:
  explicit JsonObject(bool multiline = false) : multiline_(multiline) {}
  JsonObject& Raw(std::string_view key, std::string_view json) {
    const char* separator = text_.empty() ? "" : (multiline_ ? "," : ", ");
    absl::StrAppend(&text_, separator, multiline_ ? "\n  " : "", JsonString(key), ": ", Sv(json));
    return *this;
  }
  JsonObject& Int(std::string_view key, uint64_t value) { return Raw(key, absl::StrCat(value)); }
  JsonObject& Real(std::string_view key, double value) { return Raw(key, JsonReal(value)); }
  JsonObject& Str(std::string_view key, std::string_view value) {
    return Raw(key, JsonString(value));
  }
  JsonObject& Bool(std::string_view key, bool value) { return Raw(key, value ? "true" : "false"); }
  std::string Close() const { return absl::StrCat("{", text_, multiline_ ? "\n}" : "}"); }

 private:
  bool multiline_;
  std::string text_;
};

std::string JsonWorkload(const WorkloadEcho& w) {
  return JsonObject()
      .Int("accounts", w.accounts)
      .Int("transfers", w.transfers)
      .Int("batch_events", w.batch_events)
      .Int("connections", w.connections)
      .Int("inflight_per_connection", w.inflight_per_connection)
      .Int("rate_per_s", w.rate_per_s)
      .Str("distribution", w.distribution)
      .Real("pending_share", w.pending_share)
      .Real("post_share", w.post_share)
      .Real("void_share", w.void_share)
      .Real("expire_share", w.expire_share)
      .Real("chain_share", w.chain_share)
      .Real("resubmit_share", w.resubmit_share)
      .Real("cross_shard_share", w.cross_shard_share)
      .Str("id_order", w.id_order)
      .Str("wire", w.wire)
      // A string: a random 64-bit seed exceeds 2^53, where readers holding numbers as doubles
      // would round it, and the seed is what replays the run.
      .Str("seed", absl::StrCat(w.seed))
      .Int("server_shards", w.server_shards)
      .Str("server", w.server)
      .Close();
}

std::string JsonLatency(const LatencySummary& latency) {
  JsonObject json;
  json.Int("count", latency.count);
  for (const Percentile& p : kPercentiles) json.Int(p.name, latency.*p.field_ns);
  return json.Close();
}

// One interval per line: a long run has thousands, and a diff of two runs stays readable.
std::string JsonThroughput(const std::vector<ThroughputPoint>& points) {
  if (points.empty()) return "[]";
  std::string json = "[";
  for (size_t i = 0; i < points.size(); ++i) {
    absl::StrAppend(
        &json, i == 0 ? "" : ",", "\n    ",
        JsonObject().Int("end_ns", points[i].end_ns).Int("transfers", points[i].transfers).Close());
  }
  return json + "\n  ]";
}

std::string JsonValidation(const Validation& v) {
  return JsonObject()
      .Bool("ran", v.ran)
      .Int("results_checked", v.results_checked)
      .Int("results_unexpected", v.results_unexpected)
      .Int("resubmits_exist", v.resubmits_exist)
      .Str("first_unexpected", v.first_unexpected)
      .Bool("trial_balance_ok", v.trial_balance_ok)
      .Int("accounts_checked", v.accounts_checked)
      .Int("accounts_mismatched", v.accounts_mismatched)
      .Str("first_mismatch", v.first_mismatch)
      .Bool("ok", v.ok())
      .Close();
}

// ---- SVG -----------------------------------------------------------------------------------

// A plot area, in SVG user units (pixels), inside a 900 x 600 image.
struct Area {
  double left, top, width, height;
  double Right() const { return left + width; }
  double Bottom() const { return top + height; }
};
constexpr int kSvgWidth = 900;
constexpr int kSvgHeight = 600;
constexpr Area kThroughputArea{80, 80, 790, 200};
constexpr Area kLatencyArea{80, 360, 790, 190};

// The length in bytes of the UTF-8 sequence that starts `text` (not empty, not ASCII), or 0
// when it is malformed, overlong, a surrogate or beyond what XML allows.
size_t Utf8Length(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  const auto length = static_cast<size_t>(std::countl_one(lead));  // 2, 3 or 4 when valid
  if (length < 2 || length > 4 || length > text.size()) return 0;
  uint32_t value = lead & (0x7fu >> length);
  for (size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte & 0xc0) != 0x80) return 0;
    value = value << 6 | (byte & 0x3fu);
  }
  constexpr uint32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
  const bool valid = value >= kShortest[length] && value <= 0x10ffff &&
                     (value < 0xd800 || value > 0xdfff) && value != 0xfffe && value != 0xffff;
  return valid ? length : 0;
}

// Text content and attribute values, well-formed whatever the bytes: XML 1.0 allows no control
// characters but tab, newline and carriage return, nor malformed UTF-8; those become '?'.
std::string XmlEscape(std::string_view text) {
  constexpr std::string_view kSpecial = "&<>\"'";
  constexpr const char* kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      const size_t length = Utf8Length(text.substr(i));
      out += length == 0 ? std::string_view("?") : text.substr(i, length);
      i += std::max<size_t>(length, 1) - 1;
    } else if (const size_t special = kSpecial.find(c); special != std::string_view::npos) {
      out += kEntities[special];
    } else {
      out += byte < 0x20 && c != '\t' && c != '\n' && c != '\r' ? '?' : c;
    }
  }
  return out;
}

// `attributes` are written as given (ours, never escaped); `text` is escaped.
void SvgText(double x, double y, std::string_view attributes, std::string_view text,
             std::string* svg) {
  absl::StrAppendFormat(svg, "<text x=\"%.1f\" y=\"%.1f\" %s>%s</text>\n", x, y, attributes,
                        XmlEscape(text));
}

void SvgLine(double x1, double y1, double x2, double y2, std::string_view stroke,
             std::string* svg) {
  absl::StrAppendFormat(svg,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                        x1, y1, x2, y2, stroke);
}

// `attributes` as in SvgText.
void SvgRect(double x, double y, double width, double height, std::string_view attributes,
             std::string* svg) {
  absl::StrAppendFormat(svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" %s/>\n", x,
                        y, width, height, attributes);
}

void SvgFrame(const Area& a, std::string* svg) {
  SvgRect(a.left, a.top, a.width, a.height, "fill=\"none\" stroke=\"#333\"", svg);
}

// A note where a panel has nothing to draw.
void SvgNote(const Area& a, std::string_view note, std::string* svg) {
  SvgText(a.left + a.width / 2, a.top + a.height / 2, "text-anchor=\"middle\"", note, svg);
}

// A linear axis from 0: a round tick step (1, 2 or 5 times a power of ten) and a maximum that
// is a whole number of steps, about five ticks. A maximum of 0 (no data) gives the axis 0..1.
struct LinearAxis {
  double step;
  double max;
};
LinearAxis MakeLinearAxis(double data_max) {
  if (!(data_max > 0) || !std::isfinite(data_max)) data_max = 1;
  const double raw = data_max / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * magnitude;
  return {step, std::ceil(data_max / step) * step};
}

// Ticks at multiples of the step; the tolerance keeps the last one despite rounding.
template <typename Draw>
void ForEachTick(const LinearAxis& axis, Draw draw) {
  for (int i = 0; i * axis.step <= axis.max * (1 + 1e-9); ++i) draw(i * axis.step);
}

std::string SiLabel(double value) {
  if (value >= 1e6) return absl::StrFormat("%gM", value / 1e6);
  if (value >= 1e3) return absl::StrFormat("%gk", value / 1e3);
  return absl::StrFormat("%g", value);
}

// A transfers/s rate per interval, at the interval's end. An interval of no length (a
// repeated or out-of-order end) has no rate and is left out.
struct RatePoint {
  double end_s;
  double per_s;
};
std::vector<RatePoint> Rates(const std::vector<ThroughputPoint>& throughput) {
  std::vector<RatePoint> rates;
  uint64_t start_ns = 0;
  for (const ThroughputPoint& point : throughput) {
    if (point.end_ns <= start_ns) continue;
    const auto interval_ns = static_cast<double>(point.end_ns - start_ns);
    rates.push_back({static_cast<double>(point.end_ns) / kNsPerS,
                     static_cast<double>(point.transfers) * kNsPerS / interval_ns});
    start_ns = point.end_ns;
  }
  return rates;
}

void ThroughputAxes(const Area& a, const LinearAxis& x, const LinearAxis& y, std::string* svg) {
  ForEachTick(y, [&](double value) {
    const double py = a.Bottom() - value / y.max * a.height;
    SvgLine(a.left, py, a.Right(), py, "#ddd", svg);
    SvgText(a.left - 6, py + 4, "text-anchor=\"end\"", SiLabel(value), svg);
  });
  ForEachTick(x, [&](double value) {
    const double px = a.left + value / x.max * a.width;
    SvgLine(px, a.Bottom(), px, a.Bottom() + 5, "#333", svg);
    SvgText(px, a.Bottom() + 18, "text-anchor=\"middle\"", absl::StrFormat("%g", value), svg);
  });
  SvgText(a.left + a.width / 2, a.Bottom() + 34, "text-anchor=\"middle\"",
          "seconds since the load started", svg);
  SvgFrame(a, svg);
}

void ThroughputPanel(const Report& report, std::string* svg) {
  const Area& a = kThroughputArea;
  const std::vector<RatePoint> rates = Rates(report.throughput);
  double max_s = 0;
  double max_per_s = 0;
  for (const RatePoint& rate : rates) {
    max_s = std::max(max_s, rate.end_s);
    max_per_s = std::max(max_per_s, rate.per_s);
  }
  const LinearAxis x = MakeLinearAxis(max_s);
  const LinearAxis y = MakeLinearAxis(max_per_s);
  SvgText(a.left, a.top - 10, "font-weight=\"bold\"",
          absl::StrCat("Transfers/s accepted per interval (mean ",
                       Thousands(Rounded(report.transfers_per_s)), "/s)"),
          svg);
  ThroughputAxes(a, x, y, svg);
  if (rates.empty()) {
    SvgNote(a, "no throughput samples", svg);
    return;
  }
  *svg += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
  for (size_t i = 0; i < rates.size(); ++i) {
    absl::StrAppendFormat(svg, "%s%.1f,%.1f", i == 0 ? "" : " ",
                          a.left + rates[i].end_s / x.max * a.width,
                          a.Bottom() - rates[i].per_s / y.max * a.height);
  }
  *svg += "\"/>\n";
}

// A log-scale axis in milliseconds, whole decades 10^low .. 10^high (low < high). Zero
// latencies (no positive value to take the log of) sit at the bottom.
struct LogAxis {
  int low;
  int high;
  // Where `ns` sits, from 0 (bottom) to 1 (top).
  double Fraction(uint64_t ns) const {
    const double ms = std::max(static_cast<double>(ns) / kNsPerMs, std::pow(10.0, low));
    return (std::log10(ms) - low) / (high - low);
  }
};
LogAxis MakeLogAxis(const LatencySummary& latency) {
  uint64_t min_ns = UINT64_MAX;  // of the positive percentiles
  uint64_t max_ns = 0;
  for (const Percentile& p : kPercentiles) {
    const uint64_t ns = latency.*p.field_ns;
    if (ns > 0) min_ns = std::min(min_ns, ns);
    max_ns = std::max(max_ns, ns);
  }
  if (max_ns == 0) return {-3, 0};  // all zero: 1 µs .. 1 ms, every bar empty
  const auto low = static_cast<int>(std::floor(std::log10(static_cast<double>(min_ns) / kNsPerMs)));
  const auto high = static_cast<int>(std::ceil(std::log10(static_cast<double>(max_ns) / kNsPerMs)));
  return {low, std::max(high, low + 1)};
}

void LatencyBars(const Area& a, const LatencySummary& latency, std::string* svg) {
  const LogAxis axis = MakeLogAxis(latency);
  for (int decade = axis.low; decade <= axis.high; ++decade) {
    const double py = a.Bottom() - (decade - axis.low) * a.height / (axis.high - axis.low);
    SvgLine(a.left, py, a.Right(), py, "#ddd", svg);
    SvgText(a.left - 6, py + 4, "text-anchor=\"end\"", absl::StrFormat("%g", std::pow(10, decade)),
            svg);
  }
  const double slot = a.width / kPercentileCount;
  const double bar_width = slot * 0.5;
  for (int i = 0; i < kPercentileCount; ++i) {
    const uint64_t ns = latency.*kPercentiles[i].field_ns;
    const double height = axis.Fraction(ns) * a.height;
    const double left = a.left + slot * i + (slot - bar_width) / 2;
    SvgRect(left, a.Bottom() - height, bar_width, height, "fill=\"#ff7f0e\"", svg);
    SvgText(left + bar_width / 2, a.Bottom() - height - 4, "text-anchor=\"middle\"",
            LatencyText(ns), svg);
    SvgText(left + bar_width / 2, a.Bottom() + 18, "text-anchor=\"middle\"", kPercentiles[i].name,
            svg);
  }
}

void LatencyPanel(const Report& report, std::string* svg) {
  const Area& a = kLatencyArea;
  const LatencySummary& latency = report.batch_latency;
  SvgText(a.left, a.top - 10, "font-weight=\"bold\"",
          absl::StrCat("Batch latency percentiles, ms, log scale (", Thousands(latency.count),
                       " batches)"),
          svg);
  if (latency.count == 0) {
    SvgNote(a, "no batches measured", svg);
  } else {
    LatencyBars(a, latency, svg);
  }
  SvgFrame(a, svg);
}

// ---- Progress bar --------------------------------------------------------------------------

// start_ns_ holds this until the first Update: a caller's clock may well start at 0.
constexpr uint64_t kNotStarted = UINT64_MAX;
constexpr uint64_t kRedrawIntervalNs = 100'000'000;  // 10 redraws a second: smooth, and cheap
constexpr int kBarWidthChars = 20;
// Every line is padded to this width, so a shorter line covers a longer one; typical lines are
// ~75 characters, and 79 fits an 80-column terminal without wrapping.
constexpr int kLineWidthChars = 79;
constexpr double kEtaMaxS = 99 * 3600 + 59 * 60 + 59;  // keeps the conversion to int defined

std::string EtaText(double seconds) {
  const auto s = static_cast<int>(std::ceil(std::min(seconds, kEtaMaxS)));
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60);
}

std::string ProgressLine(uint64_t done, uint64_t total, uint64_t elapsed_ns) {
  const double fraction =
      total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const auto filled = static_cast<size_t>(fraction * kBarWidthChars);
  const double rate_per_s =
      elapsed_ns == 0 ? 0 : static_cast<double>(done) * kNsPerS / static_cast<double>(elapsed_ns);
  const uint64_t left = total > done ? total - done : 0;
  const std::string eta = rate_per_s > 0 ? EtaText(static_cast<double>(left) / rate_per_s) : "?";
  const std::string line = absl::StrCat(
      "[", std::string(filled, '#'), std::string(static_cast<size_t>(kBarWidthChars) - filled, '.'),
      "]", absl::StrFormat("%4d%%", static_cast<int>(fraction * 100)), "  ", Thousands(done), " / ",
      Thousands(total), "  ", Thousands(Rounded(rate_per_s)), "/s  ETA ", eta);
  return absl::StrFormat("\r%-*s", kLineWidthChars, line);
}

}  // namespace

LatencySummary Summarize(std::vector<uint64_t>& samples_ns) {
  LatencySummary summary;
  if (samples_ns.empty()) return summary;
  std::sort(samples_ns.begin(), samples_ns.end());
  summary.count = samples_ns.size();
  for (const Percentile& p : kPercentiles) {
    // Nearest rank: the smallest sample with at least p% of the set at or below it.
    const uint64_t rank = std::max<uint64_t>(1, (p.percent * summary.count + 99) / 100);
    summary.*p.field_ns = samples_ns[rank - 1];
  }
  return summary;
}

void PrintText(const Report& report, std::FILE* out) {
  std::string text;
  WorkloadRows(report.workload, &text);
  ResultRows(report, &text);
  ValidationRows(report.validation, &text);
  std::fputs(text.c_str(), out);
}

std::string ToJson(const Report& report) {
  const bool stats = report.has_server_stats;
  JsonObject json(/*multiline=*/true);
  json.Raw("workload", JsonWorkload(report.workload))
      .Int("transfers_acknowledged", report.transfers_acknowledged)
      .Int("batches", report.batches)
      .Int("duration_ns", report.duration_ns)
      .Real("transfers_per_s", report.transfers_per_s)
      .Real("offered_per_s", report.offered_per_s)
      .Int("batches_late", report.batches_late)
      .Raw("batch_latency_ns", JsonLatency(report.batch_latency))
      .Int("slowest_batch_sent_ns", report.slowest_batch_sent_ns)
      .Raw("query_latency_ns", JsonLatency(report.query_latency))
      .Raw("cold_lookup_latency_ns", JsonLatency(report.cold_lookup_latency))
      .Raw("cold_page_latency_ns", JsonLatency(report.cold_page_latency))
      .Raw("round_trip_latency_ns", JsonLatency(report.round_trip_latency))
      .Bool("has_server_stats", report.has_server_stats)
      // Unknown, not zero, when the server's metrics were out of reach.
      .Raw("server_rss_bytes", stats ? absl::StrCat(report.server_rss_bytes) : "null")
      .Raw("server_cpu_ns", stats ? absl::StrCat(report.server_cpu_ns) : "null")
      .Raw("server_cpu_ns_per_transfer",
           stats ? JsonReal(report.server_cpu_ns_per_transfer) : "null")
      .Real("client_cpu_ns_per_transfer", report.client_cpu_ns_per_transfer)
      .Raw("steal_share", report.steal_share >= 0 ? JsonReal(report.steal_share) : "null")
      .Raw("throughput", JsonThroughput(report.throughput))
      .Raw("validation", JsonValidation(report.validation));
  return json.Close() + "\n";
}

std::string ToSvg(const Report& report) {
  const WorkloadEcho& w = report.workload;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
      kSvgWidth, kSvgHeight, kSvgWidth, kSvgHeight);
  SvgRect(0, 0, kSvgWidth, kSvgHeight, "fill=\"white\"", &svg);
  SvgText(kSvgWidth / 2.0, 24, "text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"",
          absl::StrCat("ledger-bench: ", WorkloadLine(w)), &svg);
  SvgText(kSvgWidth / 2.0, 44, "text-anchor=\"middle\"",
          absl::StrCat(LoadLine(w), "; server ", ServerLine(w)), &svg);
  ThroughputPanel(report, &svg);
  LatencyPanel(report, &svg);
  return svg + "</svg>\n";
}

ProgressBar::ProgressBar(std::FILE* out, uint64_t total)
    : out_(out),
      total_(total),
      enabled_(out != nullptr && isatty(fileno(out)) == 1),
      start_ns_(kNotStarted) {}

void ProgressBar::Update(uint64_t done, uint64_t now_ns) {
  if (!enabled_) return;
  if (start_ns_ == kNotStarted) {  // no rate to show yet: the first draw waits a redraw interval
    start_ns_ = now_ns;
    last_draw_ns_ = now_ns;
    return;
  }
  if (now_ns < last_draw_ns_ || now_ns - last_draw_ns_ < kRedrawIntervalNs) return;
  last_draw_ns_ = now_ns;
  std::fputs(ProgressLine(done, total_, now_ns - start_ns_).c_str(), out_);
  std::fflush(out_);
}

void ProgressBar::Finish() {
  if (!enabled_) return;
  std::fprintf(out_, "\r%*s\r", kLineWidthChars, "");
  std::fflush(out_);
}

}  // namespace ledger::bench
