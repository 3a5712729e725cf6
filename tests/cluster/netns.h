// Several hosts on one machine for the cluster harness: each host is a network namespace with
// one interface (eth0, 10.77.0.<host + 1>/24) on a bridge that lives in a namespace of its
// own, so nothing of the machine's own network changes and nothing here is reachable from
// outside it. Faults are iptables rules on a host's INPUT chain. Needs root, ip and iptables
// (tools/setup.sh installs iproute2 and iptables); the namespaces are removed when the Network
// ends, and their names carry the test's pid so that runs side by side do not meet.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ledger::cluster::testing {

class Network {
 public:
  // Root with ip and iptables: the harness can build hosts here.
  static bool Available() {
    return geteuid() == 0 && access("/usr/sbin/ip", X_OK) == 0 &&
           access("/usr/sbin/iptables", X_OK) == 0;
  }

  explicit Network(int hosts) : prefix_(absl::StrCat("lg", getpid() % 1'000'000)), hosts_(hosts) {
    ok_ = Sh(absl::StrCat("ip netns add ", prefix_, "-sw")) &&
          Sh(absl::StrCat("ip -n ", prefix_, "-sw link add br0 type bridge")) &&
          Sh(absl::StrCat("ip -n ", prefix_, "-sw link set br0 up"));
    for (int host = 0; ok_ && host < hosts; ++host) ok_ = AddHost(host);
  }

  ~Network() {
    if (original_ns_ >= 0) {
      setns(original_ns_, CLONE_NEWNET);
      close(original_ns_);
    }
    for (int host = 0; host < hosts_; ++host) Sh(absl::StrCat("ip netns del ", Name(host)), true);
    Sh(absl::StrCat("ip netns del ", prefix_, "-sw"), true);
  }

  bool ok() const { return ok_; }
  std::string ip(int host) const { return absl::StrCat("10.77.0.", host + 1); }
  // The prefix that runs a program on `host`.
  std::vector<std::string> Launcher(int host) const {
    return {"/usr/sbin/ip", "netns", "exec", Name(host)};
  }

  // Moves the calling thread into `host`; threads it starts later are there too (a new thread
  // takes its creator's namespaces). The Network moves it back when it ends.
  bool Enter(int host) {
    if (original_ns_ < 0) original_ns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const int fd = open(absl::StrCat("/var/run/netns/", Name(host)).c_str(), O_RDONLY | O_CLOEXEC);
    const bool entered = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) close(fd);
    return entered;
  }

  // `host` drops every packet from `from` (one way: `from` still hears `host`).
  bool Drop(int host, int from) {
    return Iptables(host, absl::StrCat("-A INPUT -s ", ip(from), " -j DROP"));
  }
  // `host` drops this share of the packets from every other host.
  bool Lose(int host, double share) {
    return Iptables(host, absl::StrFormat("-A INPUT -s 10.77.0.0/24 -m statistic --mode random "
                                          "--probability %.3f -j DROP",
                                          share));
  }
  // Every rule gone.
  bool Heal() {
    bool healed = true;
    for (int host = 0; host < hosts_; ++host) healed = Iptables(host, "-F INPUT") && healed;
    return healed;
  }

 private:
  std::string Name(int host) const { return absl::StrCat(prefix_, "-h", host); }

  bool AddHost(int host) {
    const std::string ns = Name(host);
    const std::string port = absl::StrCat(prefix_, "-v", host);  // the bridge's side
    return Sh("ip netns add " + ns) &&
           Sh(absl::StrCat("ip link add ", port, " type veth peer name eth0 netns ", ns)) &&
           Sh(absl::StrCat("ip link set ", port, " netns ", prefix_, "-sw")) &&
           Sh(absl::StrCat("ip -n ", prefix_, "-sw link set ", port, " master br0 up")) &&
           Sh(absl::StrCat("ip -n ", ns, " addr add ", ip(host), "/24 dev eth0")) &&
           Sh(absl::StrCat("ip -n ", ns, " link set eth0 up")) &&
           Sh(absl::StrCat("ip -n ", ns, " link set lo up"));
  }

  bool Iptables(int host, const std::string& rule) {
    return Sh(absl::StrCat("ip netns exec ", Name(host), " iptables -w ", rule));
  }

  static bool Sh(const std::string& command, bool quiet = false) {
    return std::system((command + (quiet ? " >/dev/null 2>&1" : "")).c_str()) == 0;
  }

  std::string prefix_;
  int hosts_ = 0;
  bool ok_ = false;
  int original_ns_ = -1;
};

}  // namespace ledger::cluster::testing
