// The server's ledger: the replica (replica/replica.h) and the machinery that holds replies
// until the log is durable, on the KJ event loop.
//
// Threading: everything here runs on the KJ event loop thread, except the log writer's thread,
// which only reports finished groups (GroupDone) through atomics and an eventfd.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
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
  // Every booking at or before this is durable.
  uint64_t durable_timestamp_ns() const { return durable_timestamp_ns_; }
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

  // History beyond memory: a batch of transfers whose ids may be cold waits until a
  // read-ahead thread has brought what its lookups touch into memory, so the loop never
  // waits for the disk; batches stay in arrival order (a batch behind a waiting one waits
  // too). MustQueue says whether this batch must (its ids go to the read-ahead); then
  // EnterQueue returns its turn: `ready` resolves when it may be submitted, and the caller
  // lets go of `slot` once it has submitted the batch (or failed, or was cancelled), which
  // lets the next one go.
  bool MustQueue(std::span<const Transfer> events);
  class QueueSlot {
   public:
    QueueSlot(Core& core, kj::Own<kj::PromiseFulfiller<void>> done)
        : core_(&core), done_(kj::mv(done)) {}
    ~QueueSlot() { Leave(); }
    void Leave() {
      if (core_ == nullptr) return;
      --core_->queued_;
      done_->fulfill();
      core_ = nullptr;
    }

   private:
    Core* core_;
    kj::Own<kj::PromiseFulfiller<void>> done_;
  };
  struct Turn {
    kj::Promise<void> ready;
    kj::Own<QueueSlot> slot;
    // The read-ahead's lookups (filled once `ready` resolves), for Replica::UseColdAnswers
    // while the batch is submitted.
    std::shared_ptr<cold::ReadAheadAnswers> answers;
  };
  Turn EnterQueue();

 private:
  struct Waiter {
    uint64_t op;
    kj::Own<kj::PromiseFulfiller<void>> fulfiller;
  };
  struct Mark {
    uint64_t op;
    uint64_t change_next;
    uint64_t last_timestamp_ns;  // the engine's after the op
  };

  Core() = default;
  void OnGroupDone(const wal::GroupDone& done);  // writer thread
  void ResolveWaiters();
  void RunReadAhead();  // the read-ahead thread

  struct ReadAheadJob {
    cold::ReadAheadIds ids;
    std::shared_ptr<cold::ReadAheadAnswers> answers;
    kj::Own<kj::CrossThreadPromiseFulfiller<void>> done;
  };

  int event_fd_ = -1;  // before the replica: its writer thread writes to it until it stops
  std::unique_ptr<replica::Replica> replica_;
  kj::Own<kj::UnixEventPort::FdObserver> observer_;
  std::deque<Waiter> waiters_;  // in op order
  std::deque<Mark> marks_;      // change feed position after each op not yet durable
  uint64_t durable_change_next_ = 0;
  uint64_t durable_timestamp_ns_ = 0;
  std::function<void()> on_durable_;
  ServerMetrics* metrics_ = nullptr;  // borrowed

  // The queue of batches waiting for cold reads (loop thread).
  cold::ReadAheadIds cold_ids_;  // MustQueue's finds, for EnterQueue
  uint64_t queued_ = 0;
  kj::Maybe<kj::ForkedPromise<void>> queue_tail_;  // the last queued batch submitted
  // The read-ahead thread and its jobs (started with the first).
  std::mutex read_ahead_mutex_;
  std::condition_variable read_ahead_wake_;
  std::deque<ReadAheadJob> read_ahead_jobs_;
  bool read_ahead_stopping_ = false;
  std::thread read_ahead_thread_;
};

}  // namespace ledger::net::internal
