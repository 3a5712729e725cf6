// The threads of a sharded engine, its lanes (docs/shards.md): lane_count - 1 workers that run
// each phase of a batch for lanes 1..T-1 while the calling thread runs lane 0. Between batches
// the workers sleep.
//
// Waiting is adaptive (WaitPolicy): spin briefly, yield the core for a while, then sleep on a
// futex; a notify makes a system call only when someone sleeps.
#pragma once

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "base/assert.h"
#include "base/clock.h"

namespace ledger::engine::internal {

// How a waiting thread waits: `spins` pause instructions, then for `yield_ns` it polls and
// yields its core to any other runnable thread (sched_yield), then it sleeps on a futex.
// When every lane has a core: ~100 us of pauses (a batch's phases and cross-lane steps
// follow each other closely) and 2 ms of yielding (the gap between batches under load: a
// sleeping thread's virtual CPU is descheduled by the hypervisor, and waking it took 0.2 to
// 0.5 ms of each 2 ms batch here). When lanes share cores: a few pauses and no yielding (a
// spinning lane would take the core from the one it waits for).
struct WaitPolicy {
  int spins;
  uint64_t yield_ns;
};
WaitPolicy WaitPolicyFor(uint32_t lane_count);

// Returns once done(word's value) holds, waiting as `policy` says; a sleeper is woken by a
// notify_all. Never inlined, so profiles can tell waiting from work
// (bench/callgrind_sharded.sh).
template <typename T, typename Done>
[[gnu::noinline]] void WaitUntil(const std::atomic<T>& word, const WaitPolicy& policy,
                                 Done&& done) {
  T seen = word.load(std::memory_order_acquire);
  int spin = 0;
  uint64_t yield_until_ns = 0;
  while (!done(seen)) {
    if (spin < policy.spins) {
      ++spin;
      _mm_pause();
    } else {
      const uint64_t now_ns = base::MonotonicNs();
      if (yield_until_ns == 0) yield_until_ns = now_ns + policy.yield_ns;
      if (now_ns < yield_until_ns) {
        sched_yield();
      } else {
        word.wait(seen, std::memory_order_acquire);
      }
    }
    seen = word.load(std::memory_order_acquire);
  }
}

class ShardPool {
 public:
  explicit ShardPool(uint32_t lane_count);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  // Runs phase(lane) for every lane, lane 0 on the calling thread; returns when all have
  // returned, and everything they wrote is visible to the caller (and to the next phase).
  template <typename Phase>
  void Run(Phase& phase) {
    RunErased(&phase, [](void* context, uint32_t lane) { (*static_cast<Phase*>(context))(lane); });
  }

 private:
  using PhaseFunction = void (*)(void* context, uint32_t lane);
  void RunErased(void* context, PhaseFunction function);
  void WorkerLoop(uint32_t lane);

  const uint32_t lane_count_;
  const WaitPolicy wait_;
  void* context_ = nullptr;
  PhaseFunction function_ = nullptr;
  std::atomic<uint32_t> generation_{0};  // bumped to start a phase (or to stop)
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> running_{0};  // workers still in the phase
  std::vector<std::thread> threads_;
};

// Cross-lane units inside the apply phase (docs/shards.md, "A batch on several lanes"): the
// k-th such unit of a batch runs on its leader, the lowest lane of its footprint, while the
// footprint's other lanes wait at it; lanes outside it go on. Reset before each batch's apply
// phase with the batch's count of cross-lane units.
class Rendezvous {
 public:
  explicit Rendezvous(uint32_t lane_count) : wait_(WaitPolicyFor(lane_count)) {}
  void Reset(size_t step_count) {
    if (step_count > capacity_) {
      capacity_ = std::max(step_count, 2 * capacity_);
      steps_ = std::make_unique<Step[]>(capacity_);
    }
    for (size_t step = 0; step < step_count; ++step) {
      steps_[step].arrived.store(0, std::memory_order_relaxed);
      steps_[step].done.store(0, std::memory_order_relaxed);
    }
  }
  // The leader: waits until `others` lanes have arrived at step k.
  void AwaitOthers(uint32_t step, uint32_t others) {
    WaitUntil(steps_[step].arrived, wait_, [&](uint32_t arrived) { return arrived == others; });
  }
  // The leader: step k is done.
  void Release(uint32_t step) {
    steps_[step].done.store(1, std::memory_order_release);
    steps_[step].done.notify_all();
  }
  // The footprint's other lanes: arrive at step k and wait until its leader has done it.
  void ArriveAndWait(uint32_t step) {
    steps_[step].arrived.fetch_add(1, std::memory_order_acq_rel);
    steps_[step].arrived.notify_all();
    WaitUntil(steps_[step].done, wait_, [](uint32_t done) { return done != 0; });
  }

 private:
  struct alignas(64) Step {  // a line each: steps in flight at once are waited on apart
    std::atomic<uint32_t> arrived{0};
    std::atomic<uint32_t> done{0};
  };
  const WaitPolicy wait_;
  std::unique_ptr<Step[]> steps_;
  size_t capacity_ = 0;
};

}  // namespace ledger::engine::internal
