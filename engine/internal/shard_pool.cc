#include "engine/internal/shard_pool.h"

namespace ledger::engine::internal {

ShardPool::ShardPool(uint32_t shard_count) : shard_count_(shard_count) {
  for (uint32_t shard = 1; shard < shard_count_; ++shard) {
    threads_.emplace_back([this, shard] { WorkerLoop(shard); });
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
  running_.store(shard_count_ - 1, std::memory_order_relaxed);
  // Release: the workers see the phase (and everything the caller wrote before it).
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  function(context, 0);
  for (uint32_t running = running_.load(std::memory_order_acquire); running != 0;
       running = running_.load(std::memory_order_acquire)) {
    running_.wait(running, std::memory_order_acquire);
  }
}

void ShardPool::WorkerLoop(uint32_t shard) {
  uint32_t seen = 0;
  while (true) {
    uint32_t generation = generation_.load(std::memory_order_acquire);
    while (generation == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      generation = generation_.load(std::memory_order_acquire);
    }
    if (stopping_.load(std::memory_order_relaxed)) return;
    seen = generation;
    function_(context_, shard);
    // Release: the caller sees what this shard wrote.
    if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) running_.notify_all();
  }
}

}  // namespace ledger::engine::internal
