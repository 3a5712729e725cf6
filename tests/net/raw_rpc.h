// Raw TCP, and Cap'n Proto RPC without our client library, on the calling thread's own event loop:
// for tests that must send what the client library never would.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <span>
#include <string>

#include "capnp/rpc-twoparty.h"
#include "kj/async-io.h"
#include "kj/timer.h"
#include "net/ledger.capnp.h"

namespace ledger::net::testing {

inline constexpr auto kCallTimeout = 30 * kj::SECONDS;

class RpcConnection {
 public:
  explicit RpcConnection(const std::string& address) : io_(kj::setupAsyncIo()) {
    stream_ = io_.provider->getNetwork()
                  .parseAddress(address.c_str())
                  .wait(io_.waitScope)
                  ->connect()
                  .wait(io_.waitScope);
    network_ = kj::heap<capnp::TwoPartyVatNetwork>(*stream_, capnp::rpc::twoparty::Side::CLIENT);
    rpc_ = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(capnp::makeRpcClient(*network_));
    capnp::MallocMessageBuilder vat_message;
    auto vat_id = vat_message.initRoot<capnp::rpc::twoparty::VatId>();
    vat_id.setSide(capnp::rpc::twoparty::Side::SERVER);
    gateway_ = kj::heap<rpc::Gateway::Client>(rpc_->bootstrap(vat_id).castAs<rpc::Gateway>());
  }

  rpc::Gateway::Client& gateway() { return *gateway_; }
  kj::WaitScope& wait_scope() { return io_.waitScope; }

  kj::Promise<capnp::Response<rpc::Gateway::LoginResults>> Login(const std::string& token) {
    auto request = gateway_->loginRequest();
    request.setToken(kj::arrayPtr(reinterpret_cast<const kj::byte*>(token.data()), token.size()));
    return request.send();
  }

  // Waits for `promise`; the exception it failed with (a timeout counts), or null.
  template <typename T>
  kj::Maybe<kj::Exception> Failure(kj::Promise<T>&& promise) {
    auto bounded = io_.provider->getTimer().timeoutAfter(kCallTimeout, kj::mv(promise));
    KJ_IF_MAYBE (exception, kj::runCatchingExceptions([&]() { bounded.wait(io_.waitScope); })) {
      return kj::mv(*exception);
    }
    return nullptr;
  }

 private:
  kj::AsyncIoContext io_;
  kj::Own<kj::AsyncIoStream> stream_;
  kj::Own<capnp::TwoPartyVatNetwork> network_;
  kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc_;
  kj::Own<rpc::Gateway::Client> gateway_;
};

// A raw TCP connection (IPv4), for tests that send or withhold what no client would.
enum class SendOutcome { kSent, kClosed, kStalled };

class RawSocket {
 public:
  // Connects to "host:port" (IPv4). A small receive buffer makes a client that never reads
  // back up sooner. `source`, when given, is the local address to connect from (any of
  // 127.0.0.0/8 reaches a loopback server: a test's clients can come from many addresses).
  explicit RawSocket(const std::string& address, int receive_buffer_bytes = 0,
                     const std::string& source = "") {
    const size_t colon = address.rfind(':');
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
    if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &peer.sin_addr) != 1) return;
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    if (receive_buffer_bytes > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof(receive_buffer_bytes));
    }
    if (!source.empty()) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      if (inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1 ||
          bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
        Close();
        return;
      }
    }
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&peer), sizeof(peer)) != 0) Close();
  }
  ~RawSocket() { Close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }  // for a test's own polling; -1 when not connected

  // Writes all of `bytes`, unless the server closes the connection (kClosed) or takes nothing
  // for `stall` (kStalled: it stopped reading this connection).
  SendOutcome Send(std::span<const std::byte> bytes, std::chrono::milliseconds stall) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      pollfd poll_fd{fd_, POLLOUT, 0};
      const int ready = poll(&poll_fd, 1, static_cast<int>(stall.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) return SendOutcome::kStalled;
      if ((poll_fd.revents & (POLLERR | POLLHUP)) != 0) return SendOutcome::kClosed;
      const ssize_t count =
          send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (count < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (count < 0) return SendOutcome::kClosed;
      sent += static_cast<size_t>(count);
    }
    return SendOutcome::kSent;
  }

  // True when the server closes the connection within `timeout`; what it sends is dropped, or
  // kept in `received`, and counted in `bytes_read` when given.
  bool WaitClosed(std::chrono::milliseconds timeout, std::string* received = nullptr,
                  std::atomic<uint64_t>* bytes_read = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[65536];
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return false;
      pollfd poll_fd{fd_, POLLIN, 0};
      const int ready = poll(&poll_fd, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      const ssize_t count = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (count < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (count <= 0) return true;  // EOF, or reset
      if (received != nullptr) received->append(buffer, static_cast<size_t>(count));
      if (bytes_read != nullptr) bytes_read->fetch_add(static_cast<uint64_t>(count));
    }
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

inline std::string Describe(const kj::Maybe<kj::Exception>& failure) {
  KJ_IF_MAYBE (exception, failure) {
    return exception->getDescription().cStr();
  }
  return "(no failure)";
}

}  // namespace ledger::net::testing
