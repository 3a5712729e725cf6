// HTTP/1.1 over a plain socket, for the HTTP API's tests: the test needs no HTTP library, and
// the attacks need bytes no library would send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/net/server_process.h"

namespace ledger::net::testing {

struct HttpReply {
  int status = 0;  // 0: no answer (the connection was closed or timed out)
  std::string head;
  std::string body;  // de-chunked
};

// A connected socket to host:port, or -1.
inline int HttpConnect(const std::string& address) { return ConnectTo(address); }

inline bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t wrote = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (wrote <= 0) return false;
    sent += static_cast<size_t>(wrote);
  }
  return true;
}

// Reads until the peer closes or `timeout` passes.
inline std::string ReadUntilClosed(int fd, std::chrono::milliseconds timeout) {
  std::string bytes;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd poll_fd{fd, POLLIN, 0};
    if (poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got <= 0) break;
    bytes.append(buffer, static_cast<size_t>(got));
  }
  return bytes;
}

// The body of a chunked message (as far as it arrived).
inline std::string Dechunk(const std::string& chunked) {
  std::string body;
  size_t at = 0;
  while (at < chunked.size()) {
    const size_t line_end = chunked.find("\r\n", at);
    if (line_end == std::string::npos) break;
    const size_t length = std::strtoull(chunked.substr(at, line_end - at).c_str(), nullptr, 16);
    if (length == 0) break;
    body += chunked.substr(line_end + 2, length);
    at = line_end + 2 + length + 2;
  }
  return body;
}

inline HttpReply ParseReply(const std::string& bytes) {
  HttpReply reply;
  const size_t end = bytes.find("\r\n\r\n");
  if (bytes.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return reply;
  reply.status = std::atoi(bytes.c_str() + 9);
  reply.head = bytes.substr(0, end);
  reply.body = bytes.substr(end + 4);
  if (reply.head.find("Transfer-Encoding: chunked") != std::string::npos) {
    reply.body = Dechunk(reply.body);
  }
  return reply;
}

// One request on a connection of its own ("Connection: close"). `headers`: more header lines,
// each ending with "\r\n"; a body gets its Content-Length.
inline HttpReply HttpRequest(const std::string& address, const std::string& method,
                             const std::string& path, const std::string& headers,
                             const std::string& body = "",
                             std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const int fd = HttpConnect(address);
  if (fd < 0) return {};
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers;
  if (!body.empty() || method == "POST") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  HttpReply reply;
  // The whole request is sent: the server answers, then sees the end and closes.
  if (SendAll(fd, request) && shutdown(fd, SHUT_WR) == 0) {
    reply = ParseReply(ReadUntilClosed(fd, timeout));
  }
  close(fd);
  return reply;
}

// Ledger 7 (USD) with accounts 1 and 2 (code 1), over HTTP: the status of the first request
// that was not answered 200, else 200.
inline int CreateLedgerWithTwoAccounts(const std::string& address, const std::string& auth) {
  const HttpReply ledger = HttpRequest(address, "POST", "/v1/createLedgers", auth,
                                       R"({"ledgers":[{"id":7,"assetCode":"USD"}]})");
  if (ledger.status != 200) return ledger.status;
  return HttpRequest(
             address, "POST", "/v1/createAccounts", auth,
             R"({"accounts":[{"id":"1","ledger":7,"code":1},{"id":"2","ledger":7,"code":1}]})")
      .status;
}

inline bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

inline std::string BearerAndJson(const std::string& token) {
  return "Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\n";
}

}  // namespace ledger::net::testing
