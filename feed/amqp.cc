#include "feed/amqp.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ledger::feed {
namespace {

amqp_bytes_t Bytes(const std::string& text) {
  return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
}

std::string Text(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

timeval Timeval(uint64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
}

constexpr amqp_channel_t kChannel = 1;

}  // namespace

struct Broker::State {
  amqp_connection_state_t connection = nullptr;
  uint64_t timeout_ms = 0;
  uint64_t next_tag = 1;  // the delivery tag of the next message published (confirm mode)
  bool confirming = false;
  // Consuming: deliveries taken and not yet acknowledged, the last one's tag, and how many to
  // acknowledge at once (one basic.ack with `multiple` is far cheaper for the broker).
  uint32_t unacked = 0;
  uint64_t last_delivery_tag = 0;
  uint32_t ack_every = 1;
  ~State() {
    if (connection == nullptr) return;
    amqp_channel_close(connection, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(connection, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(connection);
  }
};

Broker::Broker(std::unique_ptr<State> state) : state_(std::move(state)) {}
Broker::~Broker() = default;

absl::StatusOr<std::unique_ptr<Broker>> Broker::Connect(const BrokerOptions& options) {
  auto state = std::make_unique<State>();
  state->timeout_ms = options.timeout_ms;
  state->connection = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(state->connection);
  if (socket == nullptr) return absl::ResourceExhaustedError("AMQP: no socket");
  timeval timeout = Timeval(options.timeout_ms);
  if (const int status =
          amqp_socket_open_noblock(socket, options.host.c_str(), options.port, &timeout);
      status != AMQP_STATUS_OK) {
    return absl::UnavailableError(absl::StrCat("AMQP: cannot reach ", options.host, ":",
                                               options.port, ": ", amqp_error_string2(status)));
  }
  amqp_set_rpc_timeout(state->connection, &timeout);
  amqp_set_handshake_timeout(state->connection, &timeout);
  const amqp_rpc_reply_t login =
      amqp_login(state->connection, options.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                 options.user.c_str(), options.password.c_str());
  auto broker = std::unique_ptr<Broker>(new Broker(std::move(state)));
  if (login.reply_type != AMQP_RESPONSE_NORMAL) return broker->ReplyStatus("login");
  amqp_channel_open(broker->state_->connection, kChannel);
  if (absl::Status opened = broker->ReplyStatus("channel.open"); !opened.ok()) return opened;
  return broker;
}

absl::Status Broker::ReplyStatus(const char* what) {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_->connection);
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return absl::OkStatus();
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return absl::UnavailableError(
          absl::StrCat("AMQP ", what, ": ", amqp_error_string2(reply.library_error)));
    case AMQP_RESPONSE_SERVER_EXCEPTION: {
      std::string text;
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        text = Text(static_cast<amqp_connection_close_t*>(reply.reply.decoded)->reply_text);
      } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        text = Text(static_cast<amqp_channel_close_t*>(reply.reply.decoded)->reply_text);
      }
      return absl::UnavailableError(absl::StrCat("AMQP ", what, ": the broker said: ", text));
    }
    default:
      return absl::UnavailableError(absl::StrCat("AMQP ", what, ": no reply"));
  }
}

absl::Status Broker::DeclareExchange(const std::string& exchange) {
  amqp_exchange_declare(state_->connection, kChannel, Bytes(exchange), amqp_cstring_bytes("topic"),
                        /*passive=*/0, /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                        amqp_empty_table);
  return ReplyStatus("exchange.declare");
}

absl::Status Broker::DeclareQueue(const std::string& queue, const std::string& exchange,
                                  const std::string& binding_key) {
  amqp_queue_declare(state_->connection, kChannel, Bytes(queue), /*passive=*/0, /*durable=*/1,
                     /*exclusive=*/0, /*auto_delete=*/0, amqp_empty_table);
  if (absl::Status declared = ReplyStatus("queue.declare"); !declared.ok()) return declared;
  amqp_queue_bind(state_->connection, kChannel, Bytes(queue), Bytes(exchange), Bytes(binding_key),
                  amqp_empty_table);
  return ReplyStatus("queue.bind");
}

absl::Status Broker::PublishConfirmed(const std::string& exchange,
                                      std::span<const Message> messages) {
  amqp_connection_state_t connection = state_->connection;
  // The frames of the last round's confirms stay in the connection's pool until released: a
  // daemon that never released them would grow without bound.
  amqp_maybe_release_buffers(connection);
  if (!state_->confirming) {
    amqp_confirm_select(connection, kChannel);
    if (absl::Status selected = ReplyStatus("confirm.select"); !selected.ok()) return selected;
    state_->confirming = true;
  }
  const uint64_t first_tag = state_->next_tag;
  for (const Message& message : messages) {
    amqp_basic_properties_t properties{};
    properties._flags =
        AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
    properties.content_type = amqp_cstring_bytes("application/json");
    properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    properties.message_id = Bytes(message.message_id);
    const int status = amqp_basic_publish(connection, kChannel, Bytes(exchange),
                                          Bytes(message.routing_key), /*mandatory=*/1,
                                          /*immediate=*/0, &properties, Bytes(message.body));
    if (status != AMQP_STATUS_OK) {
      return absl::UnavailableError(absl::StrCat("AMQP publish: ", amqp_error_string2(status)));
    }
    ++state_->next_tag;
  }
  // Confirms come in order of publishing here (one channel), one or `multiple` at a time.
  std::vector<bool> confirmed(messages.size());
  size_t waiting = messages.size();
  std::string unroutable_key;  // set by a basic.return, which comes before the message's ack
  while (waiting > 0) {
    amqp_frame_t frame;
    timeval timeout = Timeval(state_->timeout_ms);
    const int status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout);
    if (status != AMQP_STATUS_OK) {
      return absl::UnavailableError(
          absl::StrCat("AMQP: waiting for confirms: ", amqp_error_string2(status)));
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    const amqp_method_number_t method = frame.payload.method.id;
    if (method == AMQP_BASIC_ACK_METHOD) {
      const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
      const uint64_t from = ack->multiple ? first_tag : ack->delivery_tag;
      for (uint64_t tag = std::max(from, first_tag); tag <= ack->delivery_tag; ++tag) {
        const size_t index = static_cast<size_t>(tag - first_tag);
        if (index < confirmed.size() && !confirmed[index]) {
          confirmed[index] = true;
          --waiting;
        }
      }
    } else if (method == AMQP_BASIC_RETURN_METHOD) {
      const auto* returned = static_cast<amqp_basic_return_t*>(frame.payload.method.decoded);
      if (unroutable_key.empty()) unroutable_key = Text(returned->routing_key);
    } else if (method == AMQP_BASIC_NACK_METHOD) {
      return absl::UnavailableError("AMQP: the broker refused a message (basic.nack)");
    } else if (method == AMQP_CHANNEL_CLOSE_METHOD || method == AMQP_CONNECTION_CLOSE_METHOD) {
      return absl::UnavailableError("AMQP: the broker closed the channel");
    }
  }
  if (!unroutable_key.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("AMQP: no queue is bound for routing key ",
                                                      unroutable_key,
                                                      " (the broker returned the message)"));
  }
  return absl::OkStatus();
}

absl::Status Broker::Consume(const std::string& queue, uint16_t prefetch) {
  state_->ack_every = std::max<uint32_t>(1, prefetch / 4u);
  amqp_basic_qos(state_->connection, kChannel, 0, prefetch, 0);
  if (absl::Status qos = ReplyStatus("basic.qos"); !qos.ok()) return qos;
  amqp_basic_consume(state_->connection, kChannel, Bytes(queue), amqp_empty_bytes,
                     /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  return ReplyStatus("basic.consume");
}

absl::StatusOr<std::optional<Message>> Broker::Next(uint64_t timeout_ms) {
  amqp_connection_state_t connection = state_->connection;
  amqp_maybe_release_buffers(connection);
  amqp_envelope_t envelope;
  timeval timeout = Timeval(timeout_ms);
  const amqp_rpc_reply_t reply = amqp_consume_message(connection, &envelope, &timeout, 0);
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      reply.library_error == AMQP_STATUS_TIMEOUT) {
    if (absl::Status acked = AckTaken(); !acked.ok()) return acked;
    return std::nullopt;
  }
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    return absl::UnavailableError(
        absl::StrCat("AMQP consume: ", reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                           ? amqp_error_string2(reply.library_error)
                                           : "the broker closed the channel"));
  }
  Message message;
  message.routing_key = Text(envelope.routing_key);
  if ((envelope.message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
    message.message_id = Text(envelope.message.properties.message_id);
  }
  message.body = Text(envelope.message.body);
  state_->last_delivery_tag = envelope.delivery_tag;
  amqp_destroy_envelope(&envelope);
  if (++state_->unacked >= state_->ack_every) {
    if (absl::Status acked = AckTaken(); !acked.ok()) return acked;
  }
  return message;
}

absl::Status Broker::AckTaken() {
  if (state_->unacked == 0) return absl::OkStatus();
  const int acked =
      amqp_basic_ack(state_->connection, kChannel, state_->last_delivery_tag, /*multiple=*/1);
  if (acked != AMQP_STATUS_OK) {
    return absl::UnavailableError(absl::StrCat("AMQP ack: ", amqp_error_string2(acked)));
  }
  state_->unacked = 0;
  return absl::OkStatus();
}

}  // namespace ledger::feed
