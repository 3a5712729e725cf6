// Runs the real ledgerd as a child process on a free loopback port with a temporary data
// directory. The child dies with the test (PR_SET_PDEATHSIG), so no server outlives a crash.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/client.h"
#include "tests/build_path.h"
#include "tests/wal/wal_test_util.h"

namespace ledger::net::testing {

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `command` through the shell, quietly; whether it succeeded.
inline bool Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Writes a token file as ledgerd wants it: its owner's only (mode 0600), or it refuses to start.
inline void WriteTokenFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

struct SpawnOptions {
  std::vector<std::pair<std::string, std::string>> environment;  // added to the test's
  bool own_process_group = false;  // its pid is then a group the caller can end whole
};

// Forks and execs `argv`; stdin is /dev/null, stdout and stderr go to `log_path`; it gets
// SIGKILL if the test dies. Returns the pid (or -1).
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path,
                   const SpawnOptions& options = {}) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  if (options.own_process_group) setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  for (const auto& [name, value] : options.environment) setenv(name.c_str(), value.c_str(), 1);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int nothing = open("/dev/null", O_RDONLY);
  dup2(nothing, 0);
  dup2(log, 1);
  dup2(log, 2);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

// Exit code, or 128 + signal.
inline int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A loopback port free now (for servers that take their ports as flags, not 0). The small race
// with other processes taking it first shows as the server failing to start.
inline uint16_t FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// A socket connected to an IPv4 host:port, or -1.
inline int ConnectTo(const std::string& address) {
  const size_t colon = address.rfind(':');
  sockaddr_in socket_address{};
  socket_address.sin_family = AF_INET;
  socket_address.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &socket_address.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&socket_address), sizeof(socket_address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// GET over a plain socket: the test needs no HTTP client. `headers`: more header lines, each
// ending with "\r\n".
inline std::string HttpGet(const std::string& address, const std::string& path,
                           const std::string& headers = "") {
  const int fd = ConnectTo(address);
  if (fd < 0) return "";
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + "\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) return "";
  shutdown(fd, SHUT_WR);  // the whole request is sent: the server answers and closes
  std::string response;
  char buffer[4096];
  ssize_t got;
  while ((got = read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, static_cast<size_t>(got));
  close(fd);
  return response;
}

// The value of the sample `series` (name and labels, as rendered) in Prometheus exposition
// text; -1 when absent.
inline double MetricValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

class ServerProcess {
 public:
  // Small tables: tests start many servers and committing memory takes time.
  static std::vector<std::string> DefaultFlags() {
    return {"--accounts-capacity", "1024", "--transfers-capacity",    "4096",
            "--feed-retention",    "4096", "--snapshot-interval-ops", "0"};
  }

  // `data_dir`: where the data directory goes (it must not exist); by default in a temporary
  // directory of the test's.
  explicit ServerProcess(const std::vector<std::string>& init_flags = {},
                         const std::string& data_dir = "")
      : data_dir_(data_dir.empty() ? directory_.path() + "/data" : data_dir) {
    std::vector<std::string> argv = {LEDGERD_BINARY, "init", "--data-dir", data_dir_};
    argv.insert(argv.end(), init_flags.begin(), init_flags.end());
    const pid_t pid = Spawn(argv, log_path());
    init_exit_code_ = WaitExit(pid);
    token_ = ReadWholeFile(data_dir_ + "/token");
    while (!token_.empty() && token_.back() == '\n') token_.pop_back();
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      WaitExit(pid_);
    }
  }

  // Starts the server and waits until it listens. False when it exited instead.
  bool Start(std::vector<std::string> extra_flags = DefaultFlags()) {
    const std::string ready = directory_.path() + "/ready";
    unlink(ready.c_str());
    std::vector<std::string> argv = launcher_;
    for (const std::string& arg :
         {LEDGERD_BINARY, std::string("--data-dir"), data_dir_, std::string("--listen"),
          std::string("127.0.0.1:0"), std::string("--ready-file"), ready}) {
      argv.push_back(arg);
    }
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    pid_ = Spawn(argv, log_path());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string lines = ReadWholeFile(ready);  // written whole (renamed into place)
      if (!lines.empty()) {
        // One address a line: RPC, metrics, HTTP (empty when not served).
        std::istringstream in(lines);
        std::getline(in, address_);
        std::getline(in, metrics_address_);
        std::getline(in, http_address_);
        return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        start_exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  // Runs the server through this prefix (e.g. `ip netns exec HOST`), which must exec it.
  void set_launcher(std::vector<std::string> launcher) { launcher_ = std::move(launcher); }

  // The disk is lost: a new, empty data directory (a new directory id) in its place.
  bool Reinitialize() {
    if (pid_ > 0) return false;
    std::filesystem::remove_all(data_dir_);
    return WaitExit(Spawn({LEDGERD_BINARY, "init", "--data-dir", data_dir_}, log_path())) == 0;
  }

  // SIGSTOP / SIGCONT: the process stops answering without closing its sockets.
  void Pause() { kill(pid_, SIGSTOP); }
  void Resume() { kill(pid_, SIGCONT); }

  // SIGTERM, then the exit code.
  int Stop() { return Signal(SIGTERM); }
  // SIGKILL: the crash.
  int Kill() { return Signal(SIGKILL); }

  int init_exit_code() const { return init_exit_code_; }
  // The exit code of a server that exited instead of listening (Start returned false).
  int start_exit_code() const { return start_exit_code_; }
  pid_t pid() const { return pid_; }
  const std::string& address() const { return address_; }
  const std::string& metrics_address() const { return metrics_address_; }  // empty: none
  const std::string& http_address() const { return http_address_; }        // empty: none
  const std::string& token() const { return token_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string log_path() const { return directory_.path() + "/ledgerd.log"; }
  std::string log() const { return ReadWholeFile(log_path()); }

 private:
  int Signal(int signal) {
    if (pid_ <= 0) return -1;
    kill(pid_, signal);
    const int code = WaitExit(pid_);
    pid_ = -1;
    return code;
  }

  wal::testing::TemporaryDirectory directory_;
  std::vector<std::string> launcher_;
  std::string data_dir_;
  std::string token_;
  std::string address_;
  std::string metrics_address_;
  std::string http_address_;
  int init_exit_code_ = -1;
  int start_exit_code_ = -1;
  pid_t pid_ = -1;
};

// A client of `server` logged in with `token` (the server's own by default); null, with a test
// failure, when that fails.
inline std::unique_ptr<Client> Connect(const ServerProcess& server, std::string token = "") {
  ClientOptions options;
  options.address = server.address();
  options.token = token.empty() ? server.token() : std::move(token);
  auto client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

}  // namespace ledger::net::testing
