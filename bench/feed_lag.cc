// feed-lag: consumes the changes ledger-feed publishes and reports the rate they arrive at and
// their end-to-end lag: from the change's booking (its timestampNs, the ledger's wall clock on
// the same machine) to its delivery here. Duplicates (at-least-once) are counted, not timed.
//
//   feed-lag --amqp 127.0.0.1:5672 --queue NAME [--exchange ledger.changes] [--count N]
//            [--idle-ms 5000]
//
// Declares the queue (durable, bound to the exchange with "#") first, so start it before the
// load. Stops after N distinct changes, or once nothing arrived for idle-ms after the first.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/strings/numbers.h"
#include "feed/amqp.h"

namespace {

uint64_t WallNs() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

uint64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

// The change's booking timestamp: the first "timestampNs" of its JSON (the change's own).
uint64_t BookedNs(const std::string& body) {
  constexpr std::string_view kKey = "\"timestampNs\":\"";
  const size_t at = body.find(kKey);
  if (at == std::string::npos) return 0;
  uint64_t value = 0;
  for (size_t i = at + kKey.size(); i < body.size() && body[i] >= '0' && body[i] <= '9'; ++i) {
    value = value * 10 + static_cast<uint64_t>(body[i] - '0');
  }
  return value;
}

double Percentile(std::vector<uint64_t>& sorted, double share) {
  if (sorted.empty()) return 0;
  const size_t index =
      std::min(sorted.size() - 1, static_cast<size_t>(share * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[index]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  ledger::feed::BrokerOptions options;
  std::string queue = "feed-lag";
  std::string exchange = "ledger.changes";
  uint64_t count = 0;
  uint64_t idle_ms = 5000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--amqp") {
      const size_t colon = value.rfind(':');
      uint32_t port = 0;
      if (colon == std::string::npos || !absl::SimpleAtoi(value.substr(colon + 1), &port)) {
        std::fprintf(stderr, "feed-lag: --amqp HOST:PORT\n");
        return 64;
      }
      options.host = value.substr(0, colon);
      options.port = static_cast<uint16_t>(port);
    } else if (flag == "--queue") {
      queue = value;
    } else if (flag == "--exchange") {
      exchange = value;
    } else if (flag == "--count" && absl::SimpleAtoi(value, &count)) {
    } else if (flag == "--idle-ms" && absl::SimpleAtoi(value, &idle_ms)) {
    } else {
      std::fprintf(stderr, "feed-lag: unknown or bad flag %s\n", flag.c_str());
      return 64;
    }
  }
  auto broker = ledger::feed::Broker::Connect(options);
  if (!broker.ok()) {
    std::fprintf(stderr, "feed-lag: %s\n", broker.status().ToString().c_str());
    return 1;
  }
  for (const absl::Status& status :
       {(*broker)->DeclareExchange(exchange), (*broker)->DeclareQueue(queue, exchange, "#"),
        (*broker)->Consume(queue, 4096)}) {
    if (!status.ok()) {
      std::fprintf(stderr, "feed-lag: %s\n", status.ToString().c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "feed-lag: consuming %s\n", queue.c_str());
  std::unordered_set<uint64_t> seen;
  std::vector<uint64_t> lags_ns;
  uint64_t duplicates = 0;
  uint64_t first_ns = 0;
  uint64_t last_ns = 0;
  while (count == 0 || seen.size() < count) {
    auto message = (*broker)->Next(seen.empty() ? 600'000 : idle_ms);
    if (!message.ok()) {
      std::fprintf(stderr, "feed-lag: %s\n", message.status().ToString().c_str());
      return 1;
    }
    if (!message->has_value()) break;
    const uint64_t now_ns = WallNs();
    uint64_t sequence = 0;
    if (!absl::SimpleAtoi((*message)->message_id, &sequence) || !seen.insert(sequence).second) {
      ++duplicates;
      continue;
    }
    last_ns = MonotonicNs();
    if (first_ns == 0) first_ns = last_ns;
    const uint64_t booked_ns = BookedNs((*message)->body);
    lags_ns.push_back(now_ns > booked_ns ? now_ns - booked_ns : 0);
  }
  std::sort(lags_ns.begin(), lags_ns.end());
  const double seconds = static_cast<double>(last_ns - first_ns) / 1e9;
  std::printf(
      "feed-lag: %zu changes (%llu duplicates) in %.2f s: %.0f changes/s; lag from booking to "
      "delivery p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
      seen.size(), static_cast<unsigned long long>(duplicates), seconds,
      seconds > 0 ? static_cast<double>(seen.size()) / seconds : 0.0, Percentile(lags_ns, 0.5),
      Percentile(lags_ns, 0.99), Percentile(lags_ns, 1.0));
  return 0;
}
