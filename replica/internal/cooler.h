// Keeps a windowed engine's memory bounded (docs/cold-store.md): once the window of transfers
// in memory is half full, it exports what the log has made durable, up to where about a
// quarter of the window stays hot, has the cold store write it as a run on the cooler's own
// thread, and once the run is durable publishes it and lets the engine evict those facts, a
// step after each batch.
//
// Only durable ops are exported: a fact in the cold store is never one the log could lose.
// Eviction stops short of what a live snapshot image borrows (its extent's part of the window).
//
// Threading: every method on the replica's owner thread (or recovery's), which owns the engine;
// the cooler's thread only calls ColdStore::Write.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cold/cold_store.h"
#include "engine/engine.h"

namespace ledger::replica::internal {

struct CoolerOptions {
  uint64_t hot_transfers = 0;  // the engine's window (EngineOptions::hot_transfers)
  // Facts per run at most (ReplicaOptions::cold_run_facts_max): at 2^20 a run's copy and its
  // sorted sections (~400 bytes a transfer while it is written) stay near 400 MB, and the
  // writer keeps pace in steps of a second or so.
  uint64_t run_facts_max = uint64_t{1} << 20;
  std::function<void(std::string_view)> log;  // write failures; may be empty
};

class Cooler {
 public:
  // The store outlives the cooler.
  Cooler(cold::ColdStore& store, CoolerOptions options);
  // Waits for a run being written: it is durable, and the next Open finds it.
  ~Cooler();

  // After each batch: `op` ends at the engine's last timestamp and brought `fact_count` facts
  // at most (its transfer events). Publishes and evicts a run written meanwhile, and starts
  // the next export once the window is half full, from ops up to durable_op.
  void AfterBatch(engine::Engine& engine, uint64_t op, uint64_t fact_count, uint64_t durable_op);
  // Once recovered (or restored), before the first batch: the state through `op` (durable)
  // may go cold like any batch's.
  void Begin(const engine::Engine& engine, uint64_t op);

  // During recovery (everything is durable): before an entry of `fact_count` facts, makes room
  // for it by writing and evicting runs of the oldest until it fits (a restored window may be
  // nearly full); after it, as AfterBatch but writing and evicting at once.
  absl::Status BeforeReplayedEntry(engine::Engine& engine, uint64_t fact_count);
  absl::Status AfterReplayedEntry(engine::Engine& engine, uint64_t op, uint64_t fact_count);

  // Before a batch of `fact_count` facts, when the window lacks room for it (the cooler fell
  // behind: a slow disk): exports through `durable_op` (what may be exported now) if that
  // makes room; else waits for the log (durable_through(op)) and the snapshot in progress
  // (snapshot_idle()), writes and evicts all it can at once. ResourceExhausted when the window
  // is too small for the batch even then; the store's error when it cannot write.
  absl::Status MakeRoom(engine::Engine& engine, uint64_t fact_count, uint64_t durable_op,
                        const std::function<absl::Status(uint64_t op)>& durable_through,
                        const std::function<void()>& snapshot_idle);

  uint64_t runs_written() const { return runs_written_; }

 private:
  struct Mark {
    uint64_t op;
    uint64_t end_ns;      // the engine's last timestamp after it, + 1
    uint64_t fact_total;  // facts up to and including it
  };

  // The newest mark at or below durable_op that leaves at least keep_facts after it and
  // exports at most run_facts_max (or the oldest such mark, when one batch is more); drops the
  // marks up to it.
  std::optional<uint64_t> TakeBoundary(uint64_t durable_op, uint64_t keep_facts);
  // Marks every run_facts_max of the transfers not yet exported, in place of any marks held (a
  // window restored from a snapshot has no marks of its batches, and a replay's count only
  // what it booked), so the first runs after a start are no larger than the others, where one
  // run reaching back to the snapshot held up to the whole window (16M facts).
  void MarkRecoveredWindow(const engine::Engine& engine);
  // MakeRoom's step: when the batch has no room, writes a run of everything through
  // durable_op and evicts everything written.
  absl::Status ExportAndEvictAll(engine::Engine& engine, uint64_t fact_count, uint64_t durable_op,
                                 const std::function<void()>& snapshot_idle);
  void StartWrite(engine::Engine& engine, uint64_t before_ns);
  // Publishes the written run (waiting for it when `wait`) and evicts as far as allowed.
  absl::Status Settle(engine::Engine& engine, bool wait);
  // Evicts as far as allowed: everything published (`all`), or the next step of it.
  void Evict(engine::Engine& engine, bool all);
  void RunWriter();

  cold::ColdStore& store_;
  CoolerOptions options_;
  std::deque<Mark> marks_;
  uint64_t fact_total_ = 0;
  uint64_t exported_fact_total_ = 0;     // fact_total_ at the last boundary taken
  uint64_t evict_before_ns_ = 0;         // published, not yet evicted below it
  std::deque<uint64_t> evict_steps_ns_;  // on the way there, rising; the last is it
  uint64_t runs_written_ = 0;

  // The handoff to the writer thread: one run at a time.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  engine::ColdFacts facts_;  // exported, kept until written (a failed write retries)
  bool writing_ = false;     // facts_ handed to the thread
  bool stopping_ = false;
  std::optional<absl::StatusOr<cold::WrittenRun>> result_;
  std::atomic<bool> has_result_{false};  // result_ is set: Settle need not lock to find out
  uint64_t retry_after_batches_ = 0;     // after a failed write
  std::thread thread_;
};

}  // namespace ledger::replica::internal
