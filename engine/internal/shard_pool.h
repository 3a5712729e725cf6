// The threads of a sharded engine: shard_count - 1 workers that run each phase of a batch for
// shards 1..N-1 while the calling thread runs shard 0 (docs/shards.md). Between batches the
// workers sleep.
//
// Waiting is adaptive: std::atomic::wait spins briefly, then sleeps on a futex; a notify
// makes a system call only when someone sleeps.
#pragma once

#include <immintrin.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "base/assert.h"

namespace ledger::engine::internal {

// Pause instructions a waiting shard spins for before it sleeps: ~100 us when every shard
// has a core of its own (a batch's phases and cross-shard steps follow each other closely,
// and a futex wake-up costs tens of microseconds), a few when shards share cores (a spinning
// shard would take the core from the one it waits for).
int SpinsBeforeSleep(uint32_t shard_count);

// Returns once done(word's value) holds: spins first, then sleeps on the word until a
// notify_all.
template <typename T, typename Done>
void WaitUntil(const std::atomic<T>& word, int spins, Done&& done) {
  T seen = word.load(std::memory_order_acquire);
  for (int spin = 0; !done(seen); ++spin) {
    if (spin < spins) {
      _mm_pause();
    } else {
      word.wait(seen, std::memory_order_acquire);
    }
    seen = word.load(std::memory_order_acquire);
  }
}

class ShardPool {
 public:
  explicit ShardPool(uint32_t shard_count);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  // Runs phase(shard) for every shard, shard 0 on the calling thread; returns when all have
  // returned, and everything they wrote is visible to the caller (and to the next phase).
  template <typename Phase>
  void Run(Phase& phase) {
    RunErased(&phase,
              [](void* context, uint32_t shard) { (*static_cast<Phase*>(context))(shard); });
  }

 private:
  using PhaseFunction = void (*)(void* context, uint32_t shard);
  void RunErased(void* context, PhaseFunction function);
  void WorkerLoop(uint32_t shard);

  const uint32_t shard_count_;
  const int spins_;
  void* context_ = nullptr;
  PhaseFunction function_ = nullptr;
  std::atomic<uint32_t> generation_{0};  // bumped to start a phase (or to stop)
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> running_{0};  // workers still in the phase
  std::vector<std::thread> threads_;
};

// Cross-shard steps inside a phase (docs/shards.md, "Cross-shard units"): the k-th such step
// of a batch runs on shard 0 while every other shard waits at it, so it sees and may change
// every shard's tables. Reset before each batch's apply phase.
class Rendezvous {
 public:
  explicit Rendezvous(uint32_t shard_count)
      : others_(shard_count - 1), spins_(SpinsBeforeSleep(shard_count)) {}
  void Reset() {
    arrived_.store(0, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
  }
  // Shard 0: waits until every other shard has arrived at step k.
  void AwaitOthers(uint32_t step) {
    const uint32_t target = (step + 1) * others_;
    WaitUntil(arrived_, spins_, [&](uint32_t arrived) { return arrived >= target; });
  }
  // Shard 0: step k is done.
  void Release(uint32_t step) {
    done_.store(step + 1, std::memory_order_release);
    done_.notify_all();
  }
  // Other shards: arrive at step k and wait until shard 0 has done it.
  void ArriveAndWait(uint32_t step) {
    arrived_.fetch_add(1, std::memory_order_acq_rel);
    arrived_.notify_all();
    WaitUntil(done_, spins_, [&](uint32_t done) { return done > step; });
  }

 private:
  const uint32_t others_;
  const int spins_;
  std::atomic<uint32_t> arrived_{0};
  std::atomic<uint32_t> done_{0};
};

}  // namespace ledger::engine::internal
