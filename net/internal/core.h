// The server's ledger: the replica (replica/replica.h) and the machinery that holds replies
// until the log is durable, on the KJ event loop.
//
// Threading: everything here runs on the KJ event loop thread, except the log writer's thread,
// which only reports finished groups (GroupDone) through atomics and an eventfd.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "kj/async-unix.h"
#include "kj/async.h"
#include "kj/debug.h"
#include "net/server.h"
#include "replica/replica.h"

namespace ledger::net {
struct ServerMetrics;
}

namespace ledger::net::internal {

// How often the server looks for reservations past their deadline: the most a release can lag.
inline constexpr kj::Duration kExpiryTickInterval = 100 * kj::MILLISECONDS;

class Core {
 public:
  // Opens and recovers the data directory and starts the log. `port` is the loop's; `log`
  // receives operator messages; the log writer's thread counts its groups in `metrics`. All
  // three outlive the core.
  static absl::StatusOr<std::unique_ptr<Core>> Open(
      const ServerOptions& options, kj::UnixEventPort& port,
      const std::function<void(std::string_view)>& log, ServerMetrics& metrics);
  ~Core();

  replica::Replica& replica() { return *replica_; }
  const engine::Engine& engine() const { return replica_->engine(); }
  uint64_t last_op() const { return replica_->last_op(); }

  // Resolves once every op up to `op` is durable; breaks if the log failed (nothing after the
  // failure is ever acknowledged).
  kj::Promise<void> WaitDurable(uint64_t op);
  // For reads: durable through everything applied so far.
  kj::Promise<void> WaitReadable() { return WaitDurable(last_op()); }
  // After each state-changing batch: where the change feed stands at its op.
  void NoteApplied(const replica::BatchReceipt& receipt);
  // Changes below this are durable (subscriptions push only those).
  uint64_t durable_change_next() const { return durable_change_next_; }
  // Called on the loop after each wake-up, once waiters are resolved (subscriptions).
  void set_on_durable(std::function<void()> on_durable) { on_durable_ = std::move(on_durable); }

  // Runs forever: resolves waiters when the writer reports groups. Breaks when the log fails.
  kj::Promise<void> WatchDurability();
  // Everything applied is durable and no reply waits.
  bool Idle() const { return waiters_.empty() && durable_op() >= last_op(); }
  uint64_t durable_op() const { return replica_->durable_op(); }
  absl::Status log_status() const { return replica_->log_status(); }

  // Runs forever: an expiry tick (Replica::ExpireDue) every kExpiryTickInterval, so a
  // reservation is released within that of its deadline when no request arrives. Breaks if
  // the log fails.
  kj::Promise<void> ExpireOnTime(kj::Timer& timer);
  // Writes a snapshot of the state at the last op (graceful shutdown).
  absl::Status SnapshotNow() { return replica_->SnapshotNow(); }

 private:
  struct Waiter {
    uint64_t op;
    kj::Own<kj::PromiseFulfiller<void>> fulfiller;
  };
  struct Mark {
    uint64_t op;
    uint64_t change_next;
  };

  Core() = default;
  void OnGroupDone(const wal::GroupDone& done);  // writer thread
  void ResolveWaiters();

  int event_fd_ = -1;  // before the replica: its writer thread writes to it until it stops
  std::unique_ptr<replica::Replica> replica_;
  kj::Own<kj::UnixEventPort::FdObserver> observer_;
  std::deque<Waiter> waiters_;  // in op order
  std::deque<Mark> marks_;      // change feed position after each op not yet durable
  uint64_t durable_change_next_ = 0;
  std::function<void()> on_durable_;
  ServerMetrics* metrics_ = nullptr;  // borrowed
};

}  // namespace ledger::net::internal
