// A connection to an AMQP 0-9-1 broker (RabbitMQ), over librabbitmq: the change feed's
// forwarder publishes with it (persistent messages, publisher confirms), and its tests and
// benchmark consume with it. One thread at a time; every wait is bounded by timeout_ms.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ledger::feed {

struct BrokerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 5672;
  std::string vhost = "/";
  std::string user = "guest";
  std::string password = "guest";
  uint64_t timeout_ms = 10'000;  // connecting, logging in, each declaration and confirm wait
};

struct Message {
  std::string routing_key;
  std::string message_id;  // the change's sequence: consumers deduplicate by it
  std::string body;
};

class Broker {
 public:
  // Connects, logs in and opens channel 1. Unavailable when the broker cannot be reached.
  static absl::StatusOr<std::unique_ptr<Broker>> Connect(const BrokerOptions& options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // A durable topic exchange (idempotent).
  absl::Status DeclareExchange(const std::string& exchange);
  // A durable queue bound to `exchange` with `binding_key` ("#": everything).
  absl::Status DeclareQueue(const std::string& queue, const std::string& exchange,
                            const std::string& binding_key);

  // Publishes every message (persistent, application/json, mandatory) to `exchange` in order
  // and returns once the broker confirmed them all: each is then stored by every durable queue
  // it routes to. FailedPrecondition (the connection stays usable) when the broker returned a
  // message that no queue is bound for; Unavailable (the connection is then unusable) on a
  // refusal or a lost connection. On either, some may have been stored, none is known to be.
  absl::Status PublishConfirmed(const std::string& exchange, std::span<const Message> messages);

  // Starts consuming `queue`, at most `prefetch` deliveries unacknowledged.
  absl::Status Consume(const std::string& queue, uint16_t prefetch);
  // The next delivery, or nullopt when none came within `timeout_ms`. Deliveries are
  // acknowledged together, a quarter of `prefetch` at a time and whenever one is awaited in
  // vain: a consumer that stops (or crashes) before that gets the rest again.
  absl::StatusOr<std::optional<Message>> Next(uint64_t timeout_ms);

 private:
  struct State;
  explicit Broker(std::unique_ptr<State> state);
  absl::Status ReplyStatus(const char* what);
  absl::Status AckTaken();
  std::unique_ptr<State> state_;
};

}  // namespace ledger::feed
