// The server's check of its own log on disk (the Ledger method verifyLog): replica::VerifyLog,
// as `ledger-wal verify` runs it, on a thread of its own (it reads the whole log: never on the
// event loop), from the log's first op through the durable op when it starts. One runs at a
// time; the last one's outcome is kept until the next starts.
//
// Threads: Start, status and Stop on the loop thread; the check on its own thread, which only
// reads the data directory (a read-only wal::Directory of its own) and writes the status under
// a mutex. Stop (and the destructor) abandon a check in progress between two entries and join.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "base/hash.h"
#include "net/server_metrics.h"

namespace ledger::net::internal {

class LogVerifier {
 public:
  enum class State : uint8_t { kNever, kRunning, kIntact, kCorrupt, kFailed };
  struct Status {
    State state = State::kNever;
    uint64_t started_at_ns = 0;  // wall clock
    uint64_t finished_at_ns = 0;
    uint64_t first_op = 0;
    uint64_t through_op = 0;
    uint64_t checked_op = 0;
    uint64_t entry_count = 0;
    uint64_t bytes_read = 0;
    base::Hash128 chain_head;
    std::string message;
  };

  // `metrics` is borrowed for the verifier's lifetime. bytes_per_second_max: how fast a check
  // may read the log (0: as fast as it can), so a check does not take a busy server's disk.
  LogVerifier(std::string data_dir, uint64_t bytes_per_second_max, ServerMetrics& metrics);
  ~LogVerifier();  // Stop()
  LogVerifier(const LogVerifier&) = delete;
  LogVerifier& operator=(const LogVerifier&) = delete;

  // Starts a check through `through_op` (the server's durable op now) unless one is running.
  void Start(uint64_t through_op);
  Status status() const;
  // Abandons a check in progress and waits for its thread. Later Starts do nothing.
  void Stop();

 private:
  void Run(uint64_t through_op);
  void Finish(State state, std::string message);
  // Waits, when reading faster than bytes_per_second_max, until `bytes` may have been read;
  // returns at once when stopped.
  void Throttle(uint64_t bytes, uint64_t start_ns);

  const std::string data_dir_;
  const uint64_t bytes_per_second_max_;
  ServerMetrics& metrics_;
  mutable std::mutex mutex_;
  std::condition_variable stopped_;  // wakes a throttled check when Stop is called
  Status status_;                    // guarded by mutex_
  std::atomic<bool> stop_{false};
  std::thread thread_;  // started and joined on the loop thread
};

}  // namespace ledger::net::internal
