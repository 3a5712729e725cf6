// ledger-feed: publishes the ledger's change feed to a RabbitMQ exchange (docs/feed.md).
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "feed/forwarder.h"

namespace {

constexpr char kUsage[] =
    R"(ledger-feed: publishes every committed change of the ledger, in order, to a
RabbitMQ topic exchange, with publisher confirms; resumes from its cursor file after a crash of
either side (at least once: consumers deduplicate by the message id, the change's sequence).

Usage: ledger-feed --cursor-file FILE [flags]

  --cursor-file FILE        where it records the next change to publish (required; created
                            on the first run, then replaced atomically after each confirmed
                            batch)
  --from N                  the first change when there is no cursor file yet (default 0)
  --ledger HOST:PORT        the ledger's RPC address (default 127.0.0.1:7700)
  --token-file FILE         a token that may read the feed (default data/token)
  --amqp HOST:PORT          the broker (default 127.0.0.1:5672)
  --amqp-user NAME          (default guest)
  --amqp-password-file FILE the password (default: guest)
  --vhost NAME              (default /)
  --exchange NAME           the durable topic exchange, declared if missing (default
                            ledger.changes); routing keys are ledger.<ledger>.<kind>
  --batch N                 changes per read and confirm round (default 1024, at most 8190)
  --help                    this text

Runs until SIGTERM or SIGINT (it finishes the batch in flight). A side that is away is
retried every 500 ms, and so is a change no queue is bound for (published mandatory, the
broker returns it): bind a queue for every change, or the feed waits there. Exit status:
0 stopped, 64 wrong flags, 65 the cursor cannot go on (older than the ledger retains), 77 the
token was refused, 1 anything else.
)";

constexpr int kExitUsage = 64;
constexpr int kExitData = 65;
constexpr int kExitPermission = 77;

std::atomic<bool> stop_requested{false};

void OnSignal(int) { stop_requested.store(true); }

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ledger-feed: %s\n", message.c_str());
  return code;
}

bool SplitAddress(const std::string& address, std::string& host, uint16_t& port) {
  const size_t colon = address.rfind(':');
  uint32_t number = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &number) ||
      number == 0 || number > 65535) {
    return false;
  }
  host = address.substr(0, colon);
  port = static_cast<uint16_t>(number);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--cursor-file", ""},
                                              {"--from", "0"},
                                              {"--ledger", "127.0.0.1:7700"},
                                              {"--token-file", "data/token"},
                                              {"--amqp", "127.0.0.1:5672"},
                                              {"--amqp-user", "guest"},
                                              {"--amqp-password-file", ""},
                                              {"--vhost", "/"},
                                              {"--exchange", "ledger.changes"},
                                              {"--batch", "1024"}};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const auto found = flags.find(flag);
    if (found == flags.end() || i + 1 >= argc) {
      return Fail(kExitUsage, absl::StrCat(found == flags.end() ? "unknown flag " : "no value for ",
                                           flag, "\n", kUsage));
    }
    found->second = argv[++i];
  }
  ledger::feed::ForwarderOptions options;
  options.cursor_file = flags["--cursor-file"];
  options.exchange = flags["--exchange"];
  options.broker.user = flags["--amqp-user"];
  options.broker.vhost = flags["--vhost"];
  options.ledger.address = flags["--ledger"];
  if (options.cursor_file.empty())
    return Fail(kExitUsage, absl::StrCat("--cursor-file is required\n", kUsage));
  if (!absl::SimpleAtoi(flags["--from"], &options.from_sequence)) {
    return Fail(kExitUsage, "--from must be a whole number");
  }
  if (!absl::SimpleAtoi(flags["--batch"], &options.batch_changes) || options.batch_changes == 0 ||
      options.batch_changes > 8190) {
    return Fail(kExitUsage, "--batch must be 1 to 8190");
  }
  if (!SplitAddress(flags["--amqp"], options.broker.host, options.broker.port)) {
    return Fail(kExitUsage, "--amqp must be HOST:PORT");
  }
  absl::StatusOr<std::string> token = ledger::net::ReadTokenFile(flags["--token-file"]);
  if (!token.ok()) return Fail(kExitUsage, std::string(token.status().message()));
  options.ledger.token = *token;
  if (const std::string& file = flags["--amqp-password-file"]; !file.empty()) {
    std::ifstream in(file);
    if (!in || !std::getline(in, options.broker.password)) {
      return Fail(kExitUsage, absl::StrCat(file, ": cannot be read"));
    }
  }
  options.log = [](std::string_view message) {
    std::fprintf(stderr, "ledger-feed: %.*s\n", static_cast<int>(message.size()), message.data());
  };
  options.stop = &stop_requested;
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
  const absl::Status status = ledger::feed::RunForwarder(options);
  if (status.ok()) return 0;
  if (absl::IsFailedPrecondition(status)) return Fail(kExitData, std::string(status.message()));
  if (absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status)) {
    return Fail(kExitPermission, std::string(status.message()));
  }
  return Fail(1, status.ToString());
}
