// A real RabbitMQ broker for the tests (Debian's rabbitmq-server, installed by tools/setup.sh):
// its own node name, ports (AMQP, distribution, and an epmd of its own) and data directory under
// a temporary directory, loopback only. The broker and its epmd run in process groups of their
// own that the test ends (SIGKILL for a crash, SIGTERM to stop); they die with the test.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "feed/amqp.h"
#include "tests/net/server_process.h"
#include "tests/wal/wal_test_util.h"

namespace ledger::feed::testing {

inline constexpr char kRabbitMqServer[] = "/usr/lib/rabbitmq/bin/rabbitmq-server";

using net::testing::FreeLoopbackPort;

// Forks and execs `argv` with `environment` added, in a process group of its own (the broker's
// script starts the VM as a child), output to `log_path`. The pid (= the group), or -1.
inline pid_t SpawnGroup(const std::vector<std::string>& argv,
                        std::vector<std::pair<std::string, std::string>> environment,
                        const std::string& log_path) {
  return net::testing::Spawn(argv, log_path, {std::move(environment), true});
}

// Ends a process group and reaps its leader.
inline void EndGroup(pid_t& pid, int signal) {
  if (pid <= 0) return;
  kill(-pid, signal);
  int status = 0;
  waitpid(pid, &status, 0);
  if (signal == SIGTERM) {
    // The broker's VM outlives its wrapper script by a moment: wait for the group to be gone.
    for (int i = 0; i < 300 && kill(-pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  kill(-pid, SIGKILL);
  pid = -1;
}

class RabbitMqProcess {
 public:
  RabbitMqProcess()
      : amqp_port_(FreeLoopbackPort()),
        dist_port_(FreeLoopbackPort()),
        epmd_port_(FreeLoopbackPort()) {
    const std::string base = directory_.path();
    std::ofstream(base + "/enabled_plugins") << "[].\n";
    std::ofstream(base + "/rabbitmq.conf") << "loopback_users.guest = true\n";
    std::ofstream(base + "/.erlang.cookie") << "ledger-test-cookie";
    chmod((base + "/.erlang.cookie").c_str(), 0400);
  }
  ~RabbitMqProcess() {
    EndGroup(broker_pid_, SIGKILL);
    EndGroup(epmd_pid_, SIGKILL);
  }

  // Starts the broker (and its epmd, the first time) and waits until it takes a login. Its data
  // directory is kept across restarts: durable queues and persistent messages survive.
  bool Start() {
    const std::string base = directory_.path();
    if (epmd_pid_ <= 0) {
      epmd_pid_ = SpawnGroup({"/usr/bin/epmd", "-port", std::to_string(epmd_port_)}, {},
                             base + "/epmd.log");
    }
    broker_pid_ = SpawnGroup(
        {kRabbitMqServer},
        {{"HOME", base},
         {"ERL_EPMD_PORT", std::to_string(epmd_port_)},
         {"RABBITMQ_NODENAME", "ledger-test-" + std::to_string(amqp_port_) + "@localhost"},
         {"RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"},
         {"RABBITMQ_NODE_PORT", std::to_string(amqp_port_)},
         {"RABBITMQ_DIST_PORT", std::to_string(dist_port_)},
         {"RABBITMQ_MNESIA_BASE", base + "/mnesia"},
         {"RABBITMQ_LOG_BASE", base + "/log"},
         {"RABBITMQ_CONFIG_FILE", base + "/rabbitmq"},
         {"RABBITMQ_ENABLED_PLUGINS_FILE", base + "/enabled_plugins"},
         {"RABBITMQ_FEATURE_FLAGS_FILE", base + "/feature_flags"},
         {"RABBITMQ_PLUGINS_EXPAND_DIR", base + "/plugins-expand"}},
        base + "/rabbitmq.log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Connect().ok()) return true;
      if (waitpid(broker_pid_, nullptr, WNOHANG) == broker_pid_) {
        broker_pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  void Kill() { EndGroup(broker_pid_, SIGKILL); }
  void Stop() { EndGroup(broker_pid_, SIGTERM); }

  BrokerOptions options() const {
    BrokerOptions options;
    options.port = amqp_port_;
    options.timeout_ms = 5'000;
    return options;
  }
  absl::StatusOr<std::unique_ptr<Broker>> Connect() const { return Broker::Connect(options()); }
  std::string address() const { return "127.0.0.1:" + std::to_string(amqp_port_); }
  std::string log() const {
    std::ifstream in(directory_.path() + "/rabbitmq.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  wal::testing::TemporaryDirectory directory_;
  uint16_t amqp_port_;
  uint16_t dist_port_;
  uint16_t epmd_port_;
  pid_t epmd_pid_ = -1;
  pid_t broker_pid_ = -1;
};

}  // namespace ledger::feed::testing
