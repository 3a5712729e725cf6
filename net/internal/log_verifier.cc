#include "net/internal/log_verifier.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/thread.h"
#include "replica/log_verify.h"
#include "wal/directory.h"

namespace ledger::net::internal {

LogVerifier::LogVerifier(std::string data_dir, uint64_t bytes_per_second_max,
                         ServerMetrics& metrics)
    : data_dir_(std::move(data_dir)),
      bytes_per_second_max_(bytes_per_second_max),
      metrics_(metrics) {}

LogVerifier::~LogVerifier() { Stop(); }

void LogVerifier::Start(uint64_t through_op) {
  {
    std::lock_guard lock(mutex_);
    if (status_.state == State::kRunning || stop_.load()) return;
  }
  if (thread_.joinable()) thread_.join();  // the last check ended: its thread is ending too
  {
    std::lock_guard lock(mutex_);
    status_ = Status{};
    status_.state = State::kRunning;
    status_.started_at_ns = base::RealtimeNs();
    status_.through_op = through_op;
  }
  thread_ = std::thread([this, through_op] {
    base::NameThisThread("log-verifier");
    Run(through_op);
  });
}

LogVerifier::Status LogVerifier::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void LogVerifier::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
  }
  stopped_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LogVerifier::Throttle(uint64_t bytes, uint64_t start_ns) {
  if (bytes_per_second_max_ == 0) return;
  const uint64_t due_ns = static_cast<uint64_t>(static_cast<double>(bytes) * 1e9 /
                                                static_cast<double>(bytes_per_second_max_));
  const uint64_t elapsed_ns = base::MonotonicNs() - start_ns;
  if (due_ns <= elapsed_ns) return;
  std::unique_lock lock(mutex_);
  stopped_.wait_for(lock, std::chrono::nanoseconds(due_ns - elapsed_ns),
                    [this] { return stop_.load(); });
}

void LogVerifier::Run(uint64_t through_op) {
  if (through_op == 0) return Finish(State::kIntact, "");  // nothing durable to check yet
  absl::StatusOr<std::unique_ptr<wal::Directory>> directory =
      wal::Directory::Open(data_dir_, /*writable=*/false);
  if (!directory.ok()) return Finish(State::kFailed, directory.status().ToString());
  const uint64_t start_ns = base::MonotonicNs();
  replica::LogVerifyOptions options;
  options.through_op = through_op;
  options.stop = &stop_;
  options.on_bytes = [this](uint64_t bytes) {
    std::lock_guard lock(mutex_);
    status_.bytes_read = bytes;
  };
  options.on_entry = [this, start_ns](const replica::LogVerifyTally& tally) {
    {
      std::lock_guard lock(mutex_);
      status_.first_op = tally.first_op;
      status_.checked_op = tally.checked_op;
      status_.entry_count = tally.entry_count;
      status_.chain_head = tally.chain_head;
    }
    Throttle(tally.entry_bytes, start_ns);
  };
  replica::LogVerifyTally tally;
  const absl::StatusOr<wal::ScanResult> scan = replica::VerifyLog(**directory, options, &tally);
  if (absl::IsCancelled(scan.status())) return Finish(State::kFailed, "abandoned: stopped");
  if (absl::IsDataLoss(scan.status())) {
    return Finish(State::kCorrupt, std::string(scan.status().message()));
  }
  if (!scan.ok()) return Finish(State::kFailed, scan.status().ToString());
  if (scan->entry_count == 0 || scan->last_op < through_op) {
    // The server made entries through through_op durable: a log that ends before it lost them.
    std::string message = absl::StrCat("the log ends at op ", scan->last_op, ", before op ",
                                       through_op, ", which the server had made durable");
    if (scan->torn_tail) {
      absl::StrAppend(&message, ": ", (*directory)->SegmentPath(scan->torn_at.segment_index),
                      " at offset ", scan->torn_at.offset, ": ", scan->torn_reason);
    }
    return Finish(State::kCorrupt, std::move(message));
  }
  Finish(State::kIntact, "");
}

void LogVerifier::Finish(State state, std::string message) {
  const bool abandoned = stop_.load();
  {
    std::lock_guard lock(mutex_);
    status_.state = state;
    status_.message = std::move(message);
    status_.finished_at_ns = base::RealtimeNs();
  }
  if (abandoned) return;  // the server is stopping: no outcome to count
  switch (state) {
    case State::kIntact:
      metrics_.LogVerifications(LogVerificationResult::kIntact).Increment();
      metrics_.log_verification_corrupt.Set(0);
      break;
    case State::kCorrupt:
      metrics_.LogVerifications(LogVerificationResult::kCorrupt).Increment();
      metrics_.log_verification_corrupt.Set(1);
      break;
    default:
      metrics_.LogVerifications(LogVerificationResult::kFailed).Increment();
      break;
  }
}

}  // namespace ledger::net::internal
