#include "bench/ledger_bench/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ledger::bench {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(300);  // committing 10M transfers' tables

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Forks and execs `argv`, output appended to `log_path`; the child dies with us.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  dup2(log, 1);
  dup2(log, 2);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

int WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string Tail(const std::string& log) {
  return log.size() > 2000 ? log.substr(log.size() - 2000) : log;
}

// True once `response` holds its headers and as many body bytes as Content-Length says.
bool BodyComplete(const std::string& response) {
  const size_t headers_end = response.find("\r\n\r\n");
  if (headers_end == std::string::npos) return false;
  const size_t field = response.find("Content-Length: ");
  if (field == std::string::npos || field > headers_end) return false;
  const size_t digits = field + 16;
  size_t length = 0;
  if (!absl::SimpleAtoi(response.substr(digits, response.find("\r\n", digits) - digits), &length)) {
    return false;
  }
  return response.size() >= headers_end + 4 + length;
}

absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError("the address needs :port");
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), address.substr(colon + 1).c_str(), &hints, &found) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", address));
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool connected = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!connected) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  // Read up to the end of the body: the server may keep the connection open regardless.
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", address, "\r\nConnection: close\r\n\r\n");
  std::string response;
  if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[16384];
    ssize_t got;
    while ((got = read(fd, buffer, sizeof(buffer))) > 0) {
      response.append(buffer, static_cast<size_t>(got));
      if (BodyComplete(response)) break;
    }
  }
  close(fd);
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("no metrics from ", address));
  }
  return response;
}

}  // namespace

std::string DefaultLedgerdBinary() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "ledgerd";
  // build/bench/ledger_bench/ledger-bench -> build/tools/ledgerd
  return (self.parent_path().parent_path().parent_path() / "tools" / "ledgerd").string();
}

absl::StatusOr<std::unique_ptr<SpawnedServer>> SpawnedServer::Start(
    const std::string& ledgerd_binary, uint64_t accounts_capacity, uint64_t transfers_capacity,
    const std::vector<std::string>& extra_flags) {
  if (access(ledgerd_binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot run ", ledgerd_binary, " (see --ledgerd)"));
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/ledger-bench-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  std::unique_ptr<SpawnedServer> server(new SpawnedServer());
  server->directory_ = pattern;
  const std::string data_dir = pattern + "/data";
  const std::string log_path = pattern + "/ledgerd.log";
  const std::string ready = pattern + "/ready";
  server->token_file_ = data_dir + "/token";

  if (WaitExit(Spawn({ledgerd_binary, "init", "--data-dir", data_dir}, log_path)) != 0) {
    return absl::InternalError(
        absl::StrCat("ledgerd init failed: ", Tail(ReadWholeFile(log_path))));
  }
  std::vector<std::string> argv = {ledgerd_binary,
                                   "--data-dir",
                                   data_dir,
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--metrics",
                                   "127.0.0.1:0",
                                   "--ready-file",
                                   ready,
                                   "--accounts-capacity",
                                   absl::StrCat(accounts_capacity),
                                   "--transfers-capacity",
                                   absl::StrCat(transfers_capacity)};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  server->pid_ = Spawn(argv, log_path);
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string lines = ReadWholeFile(ready);  // renamed into place whole
    if (!lines.empty()) {
      // One address a line: RPC, metrics, HTTP (empty when not served).
      std::vector<std::string> parts = absl::StrSplit(lines, '\n');
      server->address_ = parts.empty() ? "" : parts[0];
      server->metrics_address_ = parts.size() > 1 ? parts[1] : "";
      server->http_address_ = parts.size() > 2 ? parts[2] : "";
      return server;
    }
    int status = 0;
    if (waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->pid_ = -1;
      return absl::InternalError(
          absl::StrCat("ledgerd exited at start: ", Tail(ReadWholeFile(log_path))));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("ledgerd did not start listening within 300 s");
}

int SpawnedServer::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const int code = WaitExit(pid_);
  pid_ = -1;
  return code;
}

SpawnedServer::~SpawnedServer() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    WaitExit(pid_);
  }
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

absl::StatusOr<ServerStats> ScrapeServerStats(const std::string& metrics_address) {
  absl::StatusOr<std::string> text = HttpGet(metrics_address, "/metrics");
  if (!text.ok()) return text.status();
  ServerStats stats;
  bool has_cpu = false, has_rss = false;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::pair<absl::string_view, absl::string_view> field = absl::StrSplit(line, ' ');
    if (field.first == "process_cpu_seconds_total") {
      double seconds = 0;
      has_cpu = absl::SimpleAtod(field.second, &seconds);
      stats.cpu_ns = static_cast<uint64_t>(seconds * 1e9);
    } else if (field.first == "process_resident_memory_bytes") {
      has_rss = absl::SimpleAtoi(field.second, &stats.rss_bytes);
    }
  }
  if (!has_cpu || !has_rss) return absl::NotFoundError("the server reports no process metrics");
  return stats;
}

}  // namespace ledger::bench
