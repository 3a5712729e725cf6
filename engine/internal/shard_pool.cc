#include "engine/internal/shard_pool.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/thread.h"

namespace ledger::engine::internal {

WaitPolicy WaitPolicyFor(uint32_t lane_count) {
  if (lane_count <= std::thread::hardware_concurrency()) return {4096, 2'000'000};
  return {64, 0};
}

ShardPool::ShardPool(uint32_t lane_count)
    : lane_count_(lane_count), wait_(WaitPolicyFor(lane_count)) {
  for (uint32_t lane = 1; lane < lane_count_; ++lane) {
    threads_.emplace_back([this, lane] {
      base::NameThisThread(absl::StrCat("shard-lane-", lane).c_str());
      WorkerLoop(lane);
    });
  }
}

ShardPool::~ShardPool() {
  stopping_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void ShardPool::RunErased(void* context, PhaseFunction function) {
  context_ = context;
  function_ = function;
  running_.store(lane_count_ - 1, std::memory_order_relaxed);
  // Release: the workers see the phase (and everything the caller wrote before it).
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  function(context, 0);
  WaitUntil(running_, wait_, [](uint32_t running) { return running == 0; });
}

void ShardPool::WorkerLoop(uint32_t lane) {
  uint32_t seen = 0;
  while (true) {
    WaitUntil(generation_, wait_, [&](uint32_t generation) { return generation != seen; });
    if (stopping_.load(std::memory_order_relaxed)) return;
    seen = generation_.load(std::memory_order_acquire);
    function_(context_, lane);
    // Release: the caller sees what this lane wrote.
    if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) running_.notify_all();
  }
}

}  // namespace ledger::engine::internal
