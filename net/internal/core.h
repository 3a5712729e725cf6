// The server's ledger: the replica (replica/replica.h) and the machinery that holds replies
// until the log is durable, on the KJ event loop.
//
// Threading (docs/architecture.md, "The server"): the loop reads requests and
// writes replies. The engine has one user at a time, in order of asking (TakeEngine): a batch
// applies on the apply thread, so the loop goes on meanwhile; any other use of the engine
// (queries, the change feed, expiry ticks) runs on the loop when its turn comes. Questions
// that old history alone answers (replica::ColdHistory) need no turn: they run on the history
// thread beside the batch being applied. The read-ahead thread reads what a batch will ask the
// cold store. The log writer's thread only reports finished groups (GroupDone) through
// atomics and an eventfd; the checkpointer's thread hands over each keyed checkpoint through a
// ring (checkpoint_ring.h) and the same eventfd.
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
#include "kj/function.h"
#include "net/internal/checkpoint_ring.h"
#include "net/internal/entry_ring.h"
#include "net/server.h"
#include "replica/replica.h"

namespace ledger::net {
struct ServerMetrics;
}

namespace ledger::net::internal {

// How often the server looks for reservations past their deadline: the most a release can lag.
inline constexpr kj::Duration kExpiryTickInterval = 100 * kj::MILLISECONDS;

// A thread that runs jobs one at a time, in order of Run; each job's promise resolves on the
// loop that called Run. Started with its first job.
class Worker {
 public:
  explicit Worker(const char* name) : name_(name) {}  // the thread's name (base/thread.h)
  ~Worker() { Stop(); }
  // The thread's turns on a core (base::SetThisThreadSliceNs), set before its first job; 0:
  // the kernel's default.
  void set_slice_ns(uint64_t slice_ns) { slice_ns_ = slice_ns; }
  kj::Promise<void> Run(kj::Function<void()> job);
  // Waits for the job running, and stops the thread; jobs not yet run are dropped (their
  // promises break).
  void Stop();

 private:
  void Loop();
  struct Job {
    kj::Function<void()> run;
    kj::Own<kj::CrossThreadPromiseFulfiller<void>> done;
  };
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  const char* name_;
  uint64_t slice_ns_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

// What a job on the engine may log: a job that logs more than one entry (a follower's chunk)
// says how many and their bytes, and the ring of recent entries makes room for them all first.
struct EntryRoom {
  uint64_t bytes = 0;  // 0: one entry of the largest size
  uint64_t entries = 1;
};

class Core;

// The engine, taken (Core::TakeEngine): while one exists, nothing else uses the engine, and
// dropping it lets the next taker in. Loop thread.
class EngineTurn {
 public:
  explicit EngineTurn(Core& core) : core_(core) {}
  ~EngineTurn();
  KJ_DISALLOW_COPY(EngineTurn);

 private:
  Core& core_;
};

// The engine's options a server's take (its tables, window and shards).
engine::EngineOptions EngineOptionsOf(const ServerOptions& options);

class Core final : private kj::TaskSet::ErrorHandler {
 public:
  // Opens and recovers the data directory and starts the log. `port` is the loop's; `log`
  // receives operator messages; the log writer's thread counts its groups in `metrics`. All
  // three outlive the core.
  static absl::StatusOr<std::unique_ptr<Core>> Open(
      const ServerOptions& options, kj::UnixEventPort& port,
      const std::function<void(std::string_view)>& log, ServerMetrics& metrics);
  ~Core();

  // Only while the engine is taken (TakeEngine), or on the apply thread (Apply).
  replica::Replica& replica() { return *replica_; }
  const engine::Engine& engine() const { return replica_->engine(); }
  // The last op applied and noted (NoteApplied): what a reply waits to be durable.
  uint64_t last_op() const { return last_op_; }

  // Resolves with the engine once every earlier taker has let go of it.
  kj::Promise<kj::Own<EngineTurn>> TakeEngine();
  // Runs `job` on the apply thread with the engine `turn` took; the turn comes back once the
  // job is done, for the caller to read what it changed on the loop. A caller that is gone by
  // then (a cancelled call) lets go of it: the job always runs to its end first.
  kj::Promise<kj::Own<EngineTurn>> Apply(kj::Own<EngineTurn> turn, kj::Function<void()> job,
                                         EntryRoom room = {});
  // Old history as it stood after the last batch (null without a window, or before anything
  // went cold), and the thread that reads it.
  std::shared_ptr<const replica::ColdHistory> cold_history() const { return cold_history_; }
  // Runs `job` on the history thread, timed into ledger_cold_history_read_seconds.
  kj::Promise<void> ReadHistory(kj::Function<void()> job);

  // Resolves once every op up to `op` is acknowledged (acknowledged_op()); breaks if the log
  // failed (nothing after the failure is ever acknowledged).
  kj::Promise<void> WaitDurable(uint64_t op);
  // Durable here, and in a replica group also committed by the group (NoteGroupCommitted):
  // what replies and reads wait for.
  uint64_t acknowledged_op() const;
  // Fails every WaitDurable still waiting (Unavailable: outcome unknown). At shutdown, when a
  // group member stopped leading and what it waits for will not come: the calls end while
  // what they refer to still exists.
  void AbandonWaiters();
  // In a replica group: the group's committed op moved (the leader's count of its in-sync
  // members' durable ops, or what a follower's leader said). Never goes back.
  void NoteGroupCommitted(uint64_t op);
  // The apply thread's wait for the group's commit (a full window) gives up: a follower
  // stopped following, and the engine must come back. Any thread.
  void InterruptGroupCommitWait() { replica_->InterruptCommitWait(); }
  uint64_t group_committed_op() const { return group_committed_op_; }
  bool replicated() const { return replicated_; }
  // The recent sealed entries, for followers (entry_ring.h): loop thread; group members only.
  const EntryRing& entry_ring() const { return *ring_; }
  // Called on the loop after new entries were published in the ring.
  void set_on_published(std::function<void()> on_published) {
    on_published_ = std::move(on_published);
  }
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
  // The newest keyed checkpoints signed (with a checkpoint key), each once in its file.
  const CheckpointRing& checkpoints() const { return checkpoints_; }
  // Called on the loop after a wake-up that found new checkpoints (subscriptions).
  void set_on_checkpoints(std::function<void()> on_checkpoints) {
    on_checkpoints_ = std::move(on_checkpoints);
  }

  // Runs forever: resolves waiters when the writer reports groups. Breaks when the log fails.
  kj::Promise<void> WatchDurability();
  // Everything applied is durable here, no reply waits and nobody has the engine. (In a group
  // the last ops may never be committed: a member that does not lead cannot wait for that.)
  bool Idle() const { return waiters_.empty() && durable_op() >= last_op() && !engine_taken_; }
  uint64_t durable_op() const { return replica_->durable_op(); }
  absl::Status log_status() const { return replica_->log_status(); }

  // Runs forever: an expiry tick (Replica::ExpireDue) every kExpiryTickInterval, so a
  // reservation is released within that of its deadline when no request arrives. Breaks if
  // the log fails. `may_sequence`: whether this server may log entries of its own now (in a
  // replica group only the leader does: a follower's log is the leader's).
  kj::Promise<void> ExpireOnTime(kj::Timer& timer, std::function<bool()> may_sequence);
  // Whether the log can reserve room to grow (wal::LogWriter::room_status): while it cannot,
  // batches are refused as "storage full". Logs each change for the operator (at the expiry
  // tick, so within kExpiryTickInterval).
  bool has_room() const { return replica_->log_writer().has_room(); }
  // Writes a snapshot of the state at the last op (graceful shutdown; with the engine taken).
  absl::Status SnapshotNow() { return replica_->SnapshotNow(); }

  // History beyond memory: a batch of transfers whose ids may be cold waits until a
  // read-ahead thread has brought what its lookups touch into memory, so the apply thread
  // does not wait for the disk; batches stay in arrival order (a batch behind a waiting one waits
  // too). MustQueue says whether this batch must (its ids go to the read-ahead); then
  // EnterQueue returns its turn: `ready` resolves when it may take the engine, and the caller
  // lets go of `slot` once it has asked for it (or failed, or was cancelled), which lets the
  // next one go.
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

  friend class EngineTurn;
  Core() = default;
  void OnGroupDone(const wal::GroupDone& done);  // writer thread
  // The checkpointer's thread (the one that closes the replica, for the last checkpoint).
  void OnCheckpoint(const replica::SignedCheckpoint& checkpoint);
  void Wake();  // any thread: the loop runs WatchDurability's wake-up
  void ResolveWaiters();
  // Tells the operator when the log's room goes or comes back (has_room).
  void NoteRoom();
  void ReleaseEngine();  // an EngineTurn's end
  // Before the engine may change (the turn held): room in the ring for one more entry.
  void BeforeChange(EntryRoom room);
  // After the engine changed (the turn held): the loop's copies of what it shows elsewhere.
  void AfterChange();
  void taskFailed(kj::Exception&& exception) override;
  void RejectWaiters(const kj::Exception& exception);

  // Before the replica: its writer and checkpointer threads write to them until it stops.
  int event_fd_ = -1;
  CheckpointRing checkpoints_;
  uint64_t checkpoints_seen_ = 0;  // checkpoints_.next() at the last wake-up (loop)
  std::unique_ptr<replica::Replica> replica_;
  kj::Own<kj::UnixEventPort::FdObserver> observer_;
  std::deque<Waiter> waiters_;  // in op order
  std::deque<Mark> marks_;      // change feed position after each op not yet durable
  uint64_t durable_change_next_ = 0;
  uint64_t durable_timestamp_ns_ = 0;
  std::function<void()> on_durable_;
  std::function<void()> on_checkpoints_;
  std::function<void()> on_published_;
  bool replicated_ = false;
  uint64_t group_committed_op_ = 0;
  uint64_t entry_bytes_max_ = 0;      // the largest entry the log takes
  std::unique_ptr<EntryRing> ring_;   // in a group only; before the replica, which fills it
  ServerMetrics* metrics_ = nullptr;  // borrowed
  std::function<void(std::string_view)> log_;
  bool room_missing_logged_ =
      false;  // the operator was told the disk is full  // the operator was told the disk is full
  uint64_t last_op_ = 0;

  // The engine's takers: whether one has it, and those waiting, in order.
  bool engine_taken_ = false;
  std::deque<kj::Own<kj::PromiseFulfiller<kj::Own<EngineTurn>>>> engine_queue_;
  std::shared_ptr<const replica::ColdHistory> cold_history_;

  // The queue of batches waiting for cold reads (loop thread).
  cold::ReadAheadIds cold_ids_;  // MustQueue's finds, for EnterQueue
  uint64_t queued_ = 0;
  kj::Maybe<kj::ForkedPromise<void>> queue_tail_;  // the last queued batch submitted
  // Each stops before the replica, which they read.
  Worker read_ahead_{"read-ahead"};
  Worker history_{"history"};
  Worker apply_{"apply"};
  kj::TaskSet applying_{*this};  // each apply's return to the loop, whatever became of its caller
};

}  // namespace ledger::net::internal
