// Runs a real etcd (Debian's etcd-server, installed by tools/setup.sh) as a child process on
// free loopback ports with a temporary data directory. It dies with the test
// (PR_SET_PDEATHSIG) and is killed by its pid when the fixture ends.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/net/server_process.h"

namespace ledger::cluster::testing {

using net::testing::FreeLoopbackPort;  // etcd takes its ports as flags, not 0

inline std::string EtcdBinary() {
  for (const char* path : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

class EtcdProcess {
 public:
  EtcdProcess() : data_dir_(directory_.path() + "/etcd") {}
  // On a host of the harness's network: its address, and the prefix that runs a program there.
  EtcdProcess(std::string host, std::vector<std::string> launcher)
      : data_dir_(directory_.path() + "/etcd"),
        host_(std::move(host)),
        launcher_(std::move(launcher)),
        client_port_(2379),
        peer_port_(2380) {}
  ~EtcdProcess() { Kill(); }

  // Starts etcd and waits until it answers a read. False (with its log) when it does not.
  bool Start() {
    if (client_port_ == 0) {
      client_port_ = FreeLoopbackPort();
      peer_port_ = FreeLoopbackPort();
    }
    const std::string client_url = "http://" + endpoint();
    const std::string peer_url = "http://" + host_ + ":" + std::to_string(peer_port_);
    std::vector<std::string> argv = launcher_;
    for (const std::string& arg :
         {EtcdBinary(), std::string("--name"), std::string("test"), std::string("--data-dir"),
          data_dir_, std::string("--listen-client-urls"), client_url,
          std::string("--advertise-client-urls"), client_url, std::string("--listen-peer-urls"),
          peer_url, std::string("--initial-advertise-peer-urls"), peer_url,
          std::string("--initial-cluster"), "test=" + peer_url, std::string("--log-outputs"),
          std::string("stderr")}) {
      argv.push_back(arg);
    }
    pid_ = net::testing::Spawn(argv, directory_.path() + "/etcd.log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (net::testing::HttpGet(endpoint(), "/health").find("\"health\":\"true\"") !=
          std::string::npos) {
        return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      net::testing::WaitExit(pid_);
      pid_ = -1;
    }
  }
  // SIGSTOP / SIGCONT: etcd stops answering without closing its sockets.
  void Pause() { kill(pid_, SIGSTOP); }
  void Resume() { kill(pid_, SIGCONT); }

  std::string endpoint() const { return host_ + ":" + std::to_string(client_port_); }
  std::string log() const { return net::testing::ReadWholeFile(directory_.path() + "/etcd.log"); }

 private:
  wal::testing::TemporaryDirectory directory_;
  std::string data_dir_;
  std::string host_ = "127.0.0.1";
  std::vector<std::string> launcher_;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ledger::cluster::testing
