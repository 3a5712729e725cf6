#include "feed/forwarder.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ledger::feed {
namespace {

constexpr std::array<const char*, 5> kKindNames = {"singlePhase", "pending", "posted", "voided",
                                                   "expired"};

// Sleeps `ms`, returning early once *stop is set.
void Pause(const ForwarderOptions& options, uint64_t ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until &&
         (options.stop == nullptr || !options.stop->load())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(ms, 10)));
  }
}

bool Stopping(const ForwarderOptions& options) {
  return options.stop != nullptr && options.stop->load();
}

absl::Status SyncedWrite(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  const bool written =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  const int error = errno;
  close(fd);
  if (!written) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(error)));
  return absl::OkStatus();
}

// Tells the operator when a side goes away and when it is back, once each.
class Outage {
 public:
  Outage(const ForwarderOptions& options, const char* side) : options_(options), side_(side) {}
  void Down(const absl::Status& why) {
    if (!down_ && options_.log)
      options_.log(absl::StrCat(side_, " unavailable, retrying: ", why.message()));
    down_ = true;
  }
  void Up() {
    if (down_ && options_.log) options_.log(absl::StrCat(side_, " is back"));
    down_ = false;
  }

 private:
  const ForwarderOptions& options_;
  const char* side_;
  bool down_ = false;
};

// How many of a page's messages, from the first, the broker stored, and why it stopped there.
struct Published {
  size_t stored = 0;
  absl::Status status;
};

// Publishes `messages` in one confirm round, or one at a time when `one_by_one`: then it stops
// at the first message the broker returns or refuses, so none after it reaches a queue before
// it does (a queue whose binding appears mid-round would otherwise take a later change first).
Published PublishPage(Broker& broker, const std::string& exchange,
                      std::span<const Message> messages, bool one_by_one) {
  if (!one_by_one) {
    absl::Status status = broker.PublishConfirmed(exchange, messages);
    return {status.ok() ? messages.size() : 0, std::move(status)};
  }
  for (size_t at = 0; at < messages.size(); ++at) {
    absl::Status status = broker.PublishConfirmed(exchange, messages.subspan(at, 1));
    if (!status.ok()) return {at, std::move(status)};
  }
  return {messages.size(), absl::OkStatus()};
}

}  // namespace

std::string RoutingKey(const net::FeedChange& change) {
  const auto kind = static_cast<size_t>(change.kind);
  return absl::StrCat("ledger.", change.transfer.ledger, ".",
                      kind < kKindNames.size() ? kKindNames[kind] : "unknown");
}

absl::StatusOr<std::optional<uint64_t>> ReadCursor(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot be read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string line = text.str();
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  uint64_t next = 0;
  if (line.empty() || !absl::SimpleAtoi(line, &next)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a cursor (the next change's sequence, in decimal)"));
  }
  return next;
}

absl::Status WriteCursor(const std::string& path, uint64_t next_sequence) {
  const std::string temporary = path + ".tmp";
  if (absl::Status written = SyncedWrite(temporary, absl::StrCat(next_sequence, "\n"));
      !written.ok()) {
    return written;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  // The rename is durable once the directory is.
  const std::string directory = std::filesystem::path(path).parent_path().string();
  const int fd = open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  return absl::OkStatus();
}

absl::Status RunForwarder(const ForwarderOptions& options) {
  absl::StatusOr<std::optional<uint64_t>> saved = ReadCursor(options.cursor_file);
  if (!saved.ok()) return saved.status();
  uint64_t cursor = saved->value_or(options.from_sequence);
  if (options.log) {
    options.log(absl::StrCat("forwarding changes from ", cursor, " to exchange ", options.exchange,
                             saved->has_value() ? " (the cursor file's)" : ""));
  }
  std::unique_ptr<net::Client> client;
  std::unique_ptr<Broker> broker;
  Outage ledger_outage(options, "the ledger");
  Outage broker_outage(options, "the broker");
  Outage routing_outage(options, "the routing");
  // One at a time after every connect and every returned message, until a whole page is stored:
  // a broker just restarted may not have recovered its bindings yet.
  bool one_by_one = true;
  std::vector<Message> messages;
  while (!Stopping(options)) {
    if (client == nullptr) {
      absl::StatusOr<std::unique_ptr<net::Client>> connected = net::Client::Connect(options.ledger);
      if (absl::IsUnauthenticated(connected.status()) ||
          absl::IsPermissionDenied(connected.status())) {
        return connected.status();
      }
      if (!connected.ok()) {
        ledger_outage.Down(connected.status());
        Pause(options, options.retry_interval_ms);
        continue;
      }
      client = std::move(*connected);
      ledger_outage.Up();
    }
    absl::StatusOr<net::ChangePage> page = client->GetChanges(cursor, options.batch_changes);
    if (absl::IsFailedPrecondition(page.status()) || absl::IsPermissionDenied(page.status())) {
      return absl::Status(page.status().code(), absl::StrCat("cannot go on from change ", cursor,
                                                             ": ", page.status().message()));
    }
    if (!page.ok()) {
      ledger_outage.Down(page.status());
      client = nullptr;
      Pause(options, options.retry_interval_ms);
      continue;
    }
    if (page->changes.empty()) {
      Pause(options, options.poll_interval_ms);
      continue;
    }
    if (broker == nullptr) {
      absl::StatusOr<std::unique_ptr<Broker>> connected = Broker::Connect(options.broker);
      absl::Status declared =
          connected.ok() ? (*connected)->DeclareExchange(options.exchange) : connected.status();
      if (!declared.ok()) {
        broker_outage.Down(declared);
        Pause(options, options.retry_interval_ms);
        continue;  // the same page again, once it is back
      }
      broker = std::move(*connected);
      broker_outage.Up();
      one_by_one = true;
    }
    messages.clear();
    for (const net::FeedChange& change : page->changes) {
      messages.push_back(
          {RoutingKey(change), absl::StrCat(change.sequence), net::ChangeJson(change)});
    }
    const Published published = PublishPage(*broker, options.exchange, messages, one_by_one);
    if (published.stored > 0) {
      cursor = published.stored == messages.size() ? page->next_sequence
                                                   : page->changes[published.stored].sequence;
      if (absl::Status recorded = WriteCursor(options.cursor_file, cursor); !recorded.ok()) {
        return recorded;
      }
    }
    if (absl::IsFailedPrecondition(published.status)) {
      routing_outage.Down(published.status);  // from the returned change on, once it routes
      one_by_one = true;
      Pause(options, options.retry_interval_ms);
      continue;
    }
    if (!published.status.ok()) {
      broker_outage.Down(published.status);  // the same changes again, once it is back
      broker = nullptr;
      Pause(options, options.retry_interval_ms);
      continue;
    }
    routing_outage.Up();
    one_by_one = false;
  }
  if (options.log) options.log(absl::StrCat("stopped; the next change is ", cursor));
  return absl::OkStatus();
}

}  // namespace ledger::feed
