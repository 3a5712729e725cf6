#include "net/internal/core.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "base/thread.h"
#include "net/server_metrics.h"
#include "replica/checkpoint.h"
#include "replica/log_schema.h"

namespace ledger::net::internal {

kj::Promise<void> Worker::Run(kj::Function<void()> job) {
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(Job{kj::mv(job), kj::mv(paf.fulfiller)});
    if (!thread_.joinable() && !stopping_) {
      thread_ = std::thread([this] {
        base::NameThisThread(name_);
        if (slice_ns_ != 0) base::SetThisThreadSliceNs(slice_ns_);
        Loop();
      });
    }
  }
  wake_.notify_one();
  return kj::mv(paf.promise);
}

void Worker::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  jobs_.clear();
}

void Worker::Loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    Job job = kj::mv(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job.run();
    job.done->fulfill();
    lock.lock();
  }
}

EngineTurn::~EngineTurn() { core_.ReleaseEngine(); }

kj::Promise<void> Core::ReadHistory(kj::Function<void()> job) {
  return history_.Run([this, job = kj::mv(job)]() mutable {
    const uint64_t start_ns = base::MonotonicNs();
    job();
    metrics_->cold_history_read_seconds.Observe(base::MonotonicNs() - start_ns);
  });
}

engine::EngineOptions EngineOptionsOf(const ServerOptions& options) {
  engine::EngineOptions engine;
  engine.accounts_capacity = options.accounts_capacity;
  engine.transfers_capacity = options.transfers_capacity;
  engine.accounts_max = options.accounts_max;
  engine.transfers_max = options.transfers_max;
  engine.change_feed_capacity = options.feed_retention;
  engine.hot_transfers = options.hot_transfers;
  engine.shard_count = options.shard_count;
  engine.shard_threads = options.shard_threads;
  return engine;
}

absl::StatusOr<std::unique_ptr<Core>> Core::Open(const ServerOptions& options,
                                                 kj::UnixEventPort& port,
                                                 const std::function<void(std::string_view)>& log,
                                                 ServerMetrics& metrics) {
  std::unique_ptr<Core> core(new Core());
  core->history_.set_slice_ns(options.reply_slice_ns);
  core->metrics_ = &metrics;
  core->log_ = log;
  const int event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  core->event_fd_ = event_fd;
  core->observer_ = kj::heap<kj::UnixEventPort::FdObserver>(
      port, event_fd, kj::UnixEventPort::FdObserver::OBSERVE_READ);

  replica::ReplicaOptions replica;
  replica.engine = EngineOptionsOf(options);
  replica.use_io_uring = options.use_io_uring;
  replica.snapshot_interval_ops = options.snapshot_interval_ops;
  replica.log = log;
  if (!options.checkpoint_key.empty()) {
    LEDGER_ASSIGN_OR_RETURN(replica.checkpoint_key,
                            replica::ParseCheckpointKey(options.checkpoint_key));
    replica.checkpoint_file = options.checkpoint_file;
    replica.checkpoint_interval_ops = options.checkpoint_interval_ops;
  }
  replica.replicated = !options.group.name.empty();
  core->replicated_ = replica.replicated;
  core->entry_bytes_max_ = replica::LogSchema().entry_size_max_bytes();
  Core* raw = core.get();
  replica.on_group_done = [raw](const wal::GroupDone& done) { raw->OnGroupDone(done); };
  replica.on_checkpoint = [raw](const replica::SignedCheckpoint& checkpoint) {
    raw->OnCheckpoint(checkpoint);
  };
  // Only a group member keeps its entries for followers: a server alone copies nothing.
  // On the apply thread (or the loop), with the turn held: BeforeChange made the room.
  if (replica.replicated) {
    replica.on_entry = [raw](const wal::EntryHeader& header, std::span<const std::byte> body) {
      raw->ring_->Append(header, body);
    };
  }
  LEDGER_ASSIGN_OR_RETURN(core->replica_,
                          replica::Replica::Open(options.data_dir, std::move(replica)));
  if (core->replicated_) {
    // Two whole chunks at least (a follower makes room for one at once), and a slot for as
    // many entries as fit.
    const uint64_t ring_bytes = std::max(options.group.ring_bytes,
                                         2 * (kReplicationChunkBytesMax + core->entry_bytes_max_));
    core->ring_ = std::make_unique<EntryRing>(ring_bytes, ring_bytes / kSmallestEntryBytes,
                                              core->replica_->last_op());
  }
  core->durable_change_next_ = core->engine().change_sequence_next();
  core->durable_timestamp_ns_ = core->engine().last_timestamp_ns();  // recovered: all durable
  core->last_op_ = core->replica_->last_op();
  core->AfterChange();
  return core;
}

kj::Promise<void> Core::ExpireOnTime(kj::Timer& timer, std::function<bool()> may_sequence) {
  return timer.afterDelay(kExpiryTickInterval)
      .then([this] { return TakeEngine(); })
      .then([this, &timer, may_sequence = std::move(may_sequence)](
                kj::Own<EngineTurn> turn) mutable -> kj::Promise<void> {
        NoteRoom();
        if (!may_sequence()) {
          turn = nullptr;
          return ExpireOnTime(timer, std::move(may_sequence));
        }
        BeforeChange({});
        absl::StatusOr<std::optional<replica::BatchReceipt>> tick = replica_->ExpireDue();
        if (!tick.ok() && tick.status().GetPayload(replica::kStorageFullPayload).has_value()) {
          // Holds come due wait for space like any write; the next tick releases them.
          turn = nullptr;
          return ExpireOnTime(timer, std::move(may_sequence));
        }
        if (!tick.ok()) {
          return KJ_EXCEPTION(FAILED, "expiry tick", std::string(tick.status().message()));
        }
        if (tick->has_value()) {
          NoteApplied(**tick);
          AfterChange();
        }
        turn = nullptr;
        return ExpireOnTime(timer, std::move(may_sequence));
      });
}

void Core::NoteRoom() {
  const bool missing = !has_room();
  if (missing == room_missing_logged_) return;
  room_missing_logged_ = missing;
  if (!log_) return;
  log_(missing ? absl::StrCat("storage full: writes are refused until space is freed (",
                              replica_->log_writer().room_status().message(), ")")
               : std::string("storage: room again for the log; writes are taken again"));
}

kj::Promise<kj::Own<EngineTurn>> Core::TakeEngine() {
  if (!engine_taken_ && engine_queue_.empty()) {
    engine_taken_ = true;
    return kj::heap<EngineTurn>(*this);
  }
  auto paf = kj::newPromiseAndFulfiller<kj::Own<EngineTurn>>();
  engine_queue_.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void Core::ReleaseEngine() {
  while (!engine_queue_.empty()) {
    kj::Own<kj::PromiseFulfiller<kj::Own<EngineTurn>>> next = kj::mv(engine_queue_.front());
    engine_queue_.pop_front();
    if (next->isWaiting()) {  // else its caller is gone
      next->fulfill(kj::heap<EngineTurn>(*this));
      return;
    }
  }
  engine_taken_ = false;
}

kj::Promise<kj::Own<EngineTurn>> Core::Apply(kj::Own<EngineTurn> turn, kj::Function<void()> job,
                                             EntryRoom room) {
  BeforeChange(room);
  auto back = kj::newPromiseAndFulfiller<kj::Own<EngineTurn>>();
  applying_.add(apply_.Run(kj::mv(job))
                    .then([this, turn = kj::mv(turn), back = kj::mv(back.fulfiller)]() mutable {
                      AfterChange();
                      back->fulfill(kj::mv(turn));
                    }));
  return kj::mv(back.promise);
}

void Core::BeforeChange(EntryRoom room) {
  if (ring_ != nullptr)
    ring_->MakeRoom(room.bytes == 0 ? entry_bytes_max_ : room.bytes, room.entries);
}

void Core::AfterChange() {
  if (ring_ != nullptr) {
    const uint64_t published_op = ring_->last_op();
    ring_->Publish();
    if (ring_->last_op() != published_op && on_published_) on_published_();
  }
  cold_history_ = replica_->TakeColdHistory();
  const engine::Engine& engine = replica_->engine();
  const engine::EngineStats stats = engine.GetStats();
  metrics_->accounts.Set(static_cast<int64_t>(stats.account_count));
  metrics_->transfers.Set(static_cast<int64_t>(stats.transfer_count));
  metrics_->failed_transfers.Set(static_cast<int64_t>(stats.failed_transfer_count));
  metrics_->hot_transfers.Set(static_cast<int64_t>(engine.hot_transfer_count()));
  if (const cold::ColdStore* store = replica_->cold_store()) {
    metrics_->cold_transfers.Set(static_cast<int64_t>(store->transfer_count()));
    metrics_->cold_runs.Set(static_cast<int64_t>(store->run_count()));
    metrics_->cold_filter_bytes.Set(static_cast<int64_t>(store->filter_bytes()));
    metrics_->cold_fence_bytes.Set(static_cast<int64_t>(store->fence_bytes()));
  }
}

void Core::taskFailed(kj::Exception&& exception) {
  log_(absl::StrCat("apply: ", exception.getDescription().cStr()));
}

Core::~Core() {
  // The threads read the replica: they stop first (jobs left are dropped, which breaks their
  // promises: the loop is gone by now).
  apply_.Stop();
  history_.Stop();
  read_ahead_.Stop();
  // The replica stops its threads first, so no callback runs after the eventfd closes.
  replica_.reset();
  observer_ = nullptr;
  if (event_fd_ >= 0) close(event_fd_);
}

bool Core::MustQueue(std::span<const Transfer> events) {
  cold_ids_.own.clear();
  cold_ids_.referenced.clear();
  if (cold_history_ != nullptr) cold_history_->ColdCandidates(events, cold_ids_);
  return queued_ > 0 || !cold_ids_.empty();
}

Core::Turn Core::EnterQueue() {
  kj::Promise<void> read = kj::READY_NOW;
  std::shared_ptr<cold::ReadAheadAnswers> answers;
  metrics_->cold_read_ahead_batches_total.Increment();
  if (!cold_ids_.empty()) {
    answers = std::make_shared<cold::ReadAheadAnswers>();
    read = read_ahead_.Run(
        [this, ids = std::move(cold_ids_), answers]() { replica_->ReadAhead(ids, *answers); });
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

void Core::OnGroupDone(const wal::GroupDone& done) {
  if (done.ok) {
    metrics_->wal_groups_total.Increment();
    metrics_->wal_entries_total.Add(done.entry_count);
    metrics_->wal_written_bytes_total.Add(done.bytes);
    metrics_->wal_flush_latency_seconds.Observe(done.write_ns);
  }
  Wake();
}

void Core::OnCheckpoint(const replica::SignedCheckpoint& checkpoint) {
  checkpoints_.Append(checkpoint);
  Wake();
}

void Core::Wake() {
  const uint64_t one = 1;
  // Cannot fail short of a bad descriptor; a full counter (2^64 - 2 wake-ups) cannot happen.
  [[maybe_unused]] const ssize_t written = write(event_fd_, &one, sizeof(one));
}

uint64_t Core::acknowledged_op() const {
  const uint64_t durable = durable_op();
  return replicated_ ? std::min(durable, group_committed_op_) : durable;
}

void Core::NoteGroupCommitted(uint64_t op) {
  if (op <= group_committed_op_) return;
  group_committed_op_ = op;
  replica_->NoteCommitted(op);
  ResolveWaiters();
  if (on_durable_) on_durable_();
}

kj::Promise<void> Core::WaitDurable(uint64_t op) {
  if (acknowledged_op() >= op) return kj::READY_NOW;
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
  last_op_ = receipt.op;
  marks_.push_back(Mark{receipt.op, receipt.change_sequence_next, engine().last_timestamp_ns()});
  // The log may have made it durable while the apply thread still worked on it: then no
  // wake-up is coming for it.
  if (acknowledged_op() >= receipt.op) {
    ResolveWaiters();
    if (on_durable_) on_durable_();
  }
}

void Core::ResolveWaiters() {
  const uint64_t durable = acknowledged_op();
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
  RejectWaiters(KJ_EXCEPTION(FAILED, "the ledger's log failed; this batch is not acknowledged",
                             status.ToString().c_str()));
}

void Core::AbandonWaiters() {
  RejectWaiters(KJ_EXCEPTION(DISCONNECTED,
                             "the server stopped before it could acknowledge this; its outcome "
                             "is unknown: retry it (ids make a retry safe)"));
}

void Core::RejectWaiters(const kj::Exception& exception) {
  for (Waiter& waiter : waiters_) waiter.fulfiller->reject(kj::cp(exception));
  waiters_.clear();
}

kj::Promise<void> Core::WatchDurability() {
  return observer_->whenBecomesReadable().then([this]() -> kj::Promise<void> {
    uint64_t count;
    while (read(event_fd_, &count, sizeof(count)) > 0) {
    }
    ResolveWaiters();
    if (on_durable_) on_durable_();
    if (const uint64_t signed_count = checkpoints_.next(); signed_count != checkpoints_seen_) {
      checkpoints_seen_ = signed_count;
      if (on_checkpoints_) on_checkpoints_();
    }
    const absl::Status status = log_status();
    if (!status.ok()) {
      return KJ_EXCEPTION(FAILED, "the ledger's log failed", status.ToString().c_str());
    }
    return WatchDurability();
  });
}

}  // namespace ledger::net::internal
