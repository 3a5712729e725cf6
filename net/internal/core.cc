#include "net/internal/core.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "net/server_metrics.h"

namespace ledger::net::internal {

absl::StatusOr<std::unique_ptr<Core>> Core::Open(const ServerOptions& options,
                                                 kj::UnixEventPort& port,
                                                 const std::function<void(std::string_view)>& log,
                                                 ServerMetrics& metrics) {
  std::unique_ptr<Core> core(new Core());
  core->metrics_ = &metrics;
  const int event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  core->event_fd_ = event_fd;
  core->observer_ = kj::heap<kj::UnixEventPort::FdObserver>(
      port, event_fd, kj::UnixEventPort::FdObserver::OBSERVE_READ);

  replica::ReplicaOptions replica;
  replica.engine.accounts_capacity = options.accounts_capacity;
  replica.engine.transfers_capacity = options.transfers_capacity;
  replica.engine.accounts_max = options.accounts_max;
  replica.engine.transfers_max = options.transfers_max;
  replica.engine.change_feed_capacity = options.feed_retention;
  replica.engine.hot_transfers = options.hot_transfers;
  replica.engine.shard_count = options.shard_count;
  replica.engine.shard_threads = options.shard_threads;
  replica.use_io_uring = options.use_io_uring;
  replica.snapshot_interval_ops = options.snapshot_interval_ops;
  replica.log = log;
  Core* raw = core.get();
  replica.on_group_done = [raw](const wal::GroupDone& done) { raw->OnGroupDone(done); };
  LEDGER_ASSIGN_OR_RETURN(core->replica_,
                          replica::Replica::Open(options.data_dir, std::move(replica)));
  core->durable_change_next_ = core->engine().change_sequence_next();
  core->durable_timestamp_ns_ = core->engine().last_timestamp_ns();  // recovered: all durable
  return core;
}

kj::Promise<void> Core::ExpireOnTime(kj::Timer& timer) {
  return timer.afterDelay(kExpiryTickInterval).then([this, &timer]() -> kj::Promise<void> {
    absl::StatusOr<std::optional<replica::BatchReceipt>> tick = replica_->ExpireDue();
    if (!tick.ok()) {
      return KJ_EXCEPTION(FAILED, "expiry tick", std::string(tick.status().message()));
    }
    if (tick->has_value()) NoteApplied(**tick);
    return ExpireOnTime(timer);
  });
}

Core::~Core() {
  // The read-ahead thread reads the replica's store: it stops first (jobs left are dropped,
  // which breaks their batches' promises: the loop is gone by now).
  {
    std::lock_guard lock(read_ahead_mutex_);
    read_ahead_stopping_ = true;
  }
  read_ahead_wake_.notify_all();
  if (read_ahead_thread_.joinable()) read_ahead_thread_.join();
  read_ahead_jobs_.clear();
  // The replica stops its threads first, so no callback runs after the eventfd closes.
  replica_.reset();
  observer_ = nullptr;
  if (event_fd_ >= 0) close(event_fd_);
}

bool Core::MustQueue(std::span<const Transfer> events) {
  cold_ids_.own.clear();
  cold_ids_.referenced.clear();
  replica_->ColdCandidates(events, cold_ids_);
  return queued_ > 0 || !cold_ids_.empty();
}

Core::Turn Core::EnterQueue() {
  kj::Promise<void> read = kj::READY_NOW;
  std::shared_ptr<cold::ReadAheadAnswers> answers;
  metrics_->cold_read_ahead_batches_total.Increment();
  if (!cold_ids_.empty()) {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    read = kj::mv(paf.promise);
    answers = std::make_shared<cold::ReadAheadAnswers>();
    {
      std::lock_guard lock(read_ahead_mutex_);
      read_ahead_jobs_.push_back({std::move(cold_ids_), answers, kj::mv(paf.fulfiller)});
      if (!read_ahead_thread_.joinable()) {
        read_ahead_thread_ = std::thread([this] { RunReadAhead(); });
      }
    }
    read_ahead_wake_.notify_one();
    cold_ids_ = {};
  }
  // After the batch before it, however that ended (a failed batch must not stall the queue).
  kj::Promise<void> before = kj::READY_NOW;
  KJ_IF_MAYBE (tail, queue_tail_) {
    before = tail->addBranch().catch_([](kj::Exception&&) {});
  }
  auto done = kj::newPromiseAndFulfiller<void>();
  ++queued_;
  queue_tail_ = done.promise.fork();
  return Turn{before.then([read = kj::mv(read)]() mutable { return kj::mv(read); }),
              kj::heap<QueueSlot>(*this, kj::mv(done.fulfiller)), std::move(answers)};
}

void Core::RunReadAhead() {
  std::unique_lock lock(read_ahead_mutex_);
  for (;;) {
    read_ahead_wake_.wait(lock, [&] { return read_ahead_stopping_ || !read_ahead_jobs_.empty(); });
    if (read_ahead_stopping_) return;
    ReadAheadJob job = std::move(read_ahead_jobs_.front());
    read_ahead_jobs_.pop_front();
    lock.unlock();
    replica_->ReadAhead(job.ids, *job.answers);
    job.done->fulfill();
    lock.lock();
  }
}

void Core::OnGroupDone(const wal::GroupDone& done) {
  if (done.ok) {
    metrics_->wal_groups_total.Increment();
    metrics_->wal_entries_total.Add(done.entry_count);
    metrics_->wal_written_bytes_total.Add(done.bytes);
    metrics_->wal_flush_latency_seconds.Observe(done.write_ns);
  }
  const uint64_t one = 1;
  // Cannot fail short of a bad descriptor; a full counter (2^64 - 2 wake-ups) cannot happen.
  [[maybe_unused]] const ssize_t written = write(event_fd_, &one, sizeof(one));
}

kj::Promise<void> Core::WaitDurable(uint64_t op) {
  if (durable_op() >= op) return kj::READY_NOW;
  const absl::Status status = log_status();
  if (!status.ok()) {
    return KJ_EXCEPTION(FAILED, "the ledger's log failed; nothing more is acknowledged",
                        status.ToString().c_str());
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  LEDGER_ASSERT(waiters_.empty() || waiters_.back().op <= op, waiters_.back().op, op);
  waiters_.push_back(Waiter{op, kj::mv(paf.fulfiller)});
  return kj::mv(paf.promise);
}

void Core::NoteApplied(const replica::BatchReceipt& receipt) {
  marks_.push_back(Mark{receipt.op, receipt.change_sequence_next, engine().last_timestamp_ns()});
}

void Core::ResolveWaiters() {
  const uint64_t durable = durable_op();
  while (!waiters_.empty() && waiters_.front().op <= durable) {
    waiters_.front().fulfiller->fulfill();
    waiters_.pop_front();
  }
  while (!marks_.empty() && marks_.front().op <= durable) {
    durable_change_next_ = marks_.front().change_next;
    durable_timestamp_ns_ = marks_.front().last_timestamp_ns;
    marks_.pop_front();
  }
  const absl::Status status = log_status();
  if (status.ok()) return;
  for (Waiter& waiter : waiters_) {
    waiter.fulfiller->reject(KJ_EXCEPTION(FAILED,
                                          "the ledger's log failed; this batch is not acknowledged",
                                          status.ToString().c_str()));
  }
  waiters_.clear();
}

kj::Promise<void> Core::WatchDurability() {
  return observer_->whenBecomesReadable().then([this]() -> kj::Promise<void> {
    uint64_t count;
    while (read(event_fd_, &count, sizeof(count)) > 0) {
    }
    ResolveWaiters();
    if (on_durable_) on_durable_();
    const absl::Status status = log_status();
    if (!status.ok()) {
      return KJ_EXCEPTION(FAILED, "the ledger's log failed", status.ToString().c_str());
    }
    return WatchDurability();
  });
}

}  // namespace ledger::net::internal
