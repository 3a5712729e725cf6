#include "replica/internal/cooler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/thread.h"

namespace ledger::replica::internal {

namespace {
// After a failed write, the next try waits this many batches (a full disk is not fixed by
// retrying at once, and each failure is logged).
constexpr uint64_t kRetryAfterBatches = 1000;
// Evicting costs the thread that applies about 90 ns a transfer: a run's million at once
// stalled every batch in flight for 90 ms (240 ms the first time). After each batch the
// cooler evicts this many more at most, twice a full batch, so it keeps ahead of the batches.
constexpr uint64_t kEvictStepTransfers = 16'384;
}  // namespace

Cooler::Cooler(cold::ColdStore& store, CoolerOptions options)
    : store_(store), options_(std::move(options)) {
  LEDGER_REQUIRE(options_.hot_transfers > 0 && options_.run_facts_max > 0);
  thread_ = std::thread([this] {
    base::NameThisThread("cold-writer");
    RunWriter();
  });
}

Cooler::~Cooler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Cooler::RunWriter() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || (writing_ && !result_.has_value()); });
    if (writing_ && !result_.has_value()) {
      lock.unlock();
      // facts_ is the owner's again only once result_ is set.
      absl::StatusOr<cold::WrittenRun> written = store_.Write(facts_);
      lock.lock();
      result_ = std::move(written);
      has_result_.store(true, std::memory_order_release);
      done_.notify_all();
      continue;
    }
    return;  // stopping, nothing in hand
  }
}

void Cooler::AfterBatch(engine::Engine& engine, uint64_t op, uint64_t fact_count,
                        uint64_t durable_op) {
  fact_total_ += fact_count;
  marks_.push_back({op, engine.last_timestamp_ns() + 1, fact_total_});
  (void)Settle(engine, /*wait=*/false);  // a failure is logged and retried
  if (writing_) return;
  if (facts_.end_ns != 0) {  // exported, and its write failed
    if (retry_after_batches_ > 0 && --retry_after_batches_ > 0) return;
    std::lock_guard lock(mutex_);
    writing_ = true;  // the failed write again: its facts are exported already
    wake_.notify_one();
    return;
  }
  if (engine.hot_transfer_count() < options_.hot_transfers / 2) return;
  // While the last run is still being evicted, the window is fuller than it will be: the next
  // run waits for that (else runs come smaller and more numerous), unless the window is three
  // quarters full.
  if (!evict_steps_ns_.empty() && engine.hot_transfer_count() < options_.hot_transfers / 4 * 3) {
    return;
  }
  if (const std::optional<uint64_t> boundary =
          TakeBoundary(durable_op, options_.hot_transfers / 4)) {
    StartWrite(engine, *boundary);
  }
}

void Cooler::Begin(const engine::Engine& engine, uint64_t op) {
  MarkRecoveredWindow(engine);
  marks_.push_back({op, engine.last_timestamp_ns() + 1, fact_total_});
}

void Cooler::MarkRecoveredWindow(const engine::Engine& engine) {
  // The replay's marks count only the facts it booked, not the restored ones before them.
  marks_.clear();
  fact_total_ = exported_fact_total_;
  if (engine.ExportBoundary(0) > engine.last_timestamp_ns()) return;
  for (uint64_t taken = options_.run_facts_max;; taken += options_.run_facts_max) {
    const uint64_t end_ns = engine.ExportBoundary(taken);
    // The last mark counts a whole run, whatever is left: the counts only bound the runs.
    fact_total_ += options_.run_facts_max;
    marks_.push_back({/*op=*/0, end_ns, fact_total_});  // durable: restored or replayed
    if (end_ns > engine.last_timestamp_ns()) return;
  }
}

absl::Status Cooler::BeforeReplayedEntry(engine::Engine& engine, uint64_t fact_count) {
  // No marks of the restored window here: AfterReplayedEntry would then write runs of it while
  // the server recovers (seen: 14 to 17 s instead of 12). Begin marks it.
  if (engine.HasRoomFor(0, fact_count)) return absl::OkStatus();
  marks_.clear();
  // Runs of run_facts_max, oldest first, until the entry fits: the whole window in one run was
  // up to 16M facts in memory at once, and the replay waited for all of them to be written.
  while (engine.exported_before_ns() <= engine.last_timestamp_ns()) {
    StartWrite(engine, engine.ExportBoundary(options_.run_facts_max));
    LEDGER_RETURN_IF_ERROR(Settle(engine, /*wait=*/true));
    if (engine.HasRoomFor(0, fact_count)) break;
  }
  return absl::OkStatus();
}

absl::Status Cooler::AfterReplayedEntry(engine::Engine& engine, uint64_t op, uint64_t fact_count) {
  fact_total_ += fact_count;
  marks_.push_back({op, engine.last_timestamp_ns() + 1, fact_total_});
  if (engine.hot_transfer_count() < options_.hot_transfers / 2) return absl::OkStatus();
  if (const std::optional<uint64_t> boundary = TakeBoundary(op, options_.hot_transfers / 4)) {
    // The marks count only what was replayed: the first boundary would also take the whole
    // restored window before them.
    StartWrite(engine, std::min(*boundary, engine.ExportBoundary(options_.run_facts_max)));
    return Settle(engine, /*wait=*/true);
  }
  return absl::OkStatus();
}

absl::Status Cooler::ExportAndEvictAll(engine::Engine& engine, uint64_t fact_count,
                                       uint64_t durable_op,
                                       const std::function<void()>& snapshot_idle) {
  if (engine.HasRoomFor(0, fact_count)) return absl::OkStatus();
  if (!writing_ && facts_.end_ns != 0) {
    // A run whose write failed goes again first, now: the engine exports each fact once, so
    // the facts in hand are the only copy for the store.
    {
      std::lock_guard lock(mutex_);
      writing_ = true;
      wake_.notify_one();
    }
    LEDGER_RETURN_IF_ERROR(Settle(engine, /*wait=*/true));
  }
  if (const std::optional<uint64_t> boundary = TakeBoundary(durable_op, 0)) {
    StartWrite(engine, *boundary);
    LEDGER_RETURN_IF_ERROR(Settle(engine, /*wait=*/true));
  }
  if (!engine.HasRoomFor(0, fact_count) && engine.evictable_before_ns() != UINT64_MAX) {
    snapshot_idle();
    Evict(engine, /*all=*/true);
  }
  return absl::OkStatus();
}

absl::Status Cooler::MakeRoom(engine::Engine& engine, uint64_t fact_count, uint64_t durable_op,
                              const std::function<absl::Status(uint64_t op)>& durable_through,
                              const std::function<void()>& snapshot_idle) {
  if (engine.HasRoomFor(0, fact_count)) return absl::OkStatus();
  LEDGER_RETURN_IF_ERROR(Settle(engine, /*wait=*/true));
  // What may go now first: in a replica group the last ops wait for the group's commit, a
  // round trip away.
  LEDGER_RETURN_IF_ERROR(ExportAndEvictAll(engine, fact_count, durable_op, snapshot_idle));
  if (!engine.HasRoomFor(0, fact_count) && !marks_.empty()) {
    const uint64_t last_op = marks_.back().op;
    LEDGER_RETURN_IF_ERROR(durable_through(last_op));
    LEDGER_RETURN_IF_ERROR(ExportAndEvictAll(engine, fact_count, last_op, snapshot_idle));
  }
  if (engine.HasRoomFor(0, fact_count)) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the window of transfers in memory (", options_.hot_transfers,
      ") has no room for a batch of ", fact_count, " even with everything older evicted"));
}

std::optional<uint64_t> Cooler::TakeBoundary(uint64_t durable_op, uint64_t keep_facts) {
  size_t taken = marks_.size();
  for (size_t m = 0; m < marks_.size(); ++m) {
    const Mark& mark = marks_[m];
    if (mark.op > durable_op || fact_total_ - mark.fact_total < keep_facts) break;
    if (taken != marks_.size() && mark.fact_total - exported_fact_total_ > options_.run_facts_max)
      break;
    taken = m;
  }
  if (taken == marks_.size()) return std::nullopt;
  const Mark mark = marks_[taken];
  marks_.erase(marks_.begin(), marks_.begin() + static_cast<std::ptrdiff_t>(taken) + 1);
  exported_fact_total_ = mark.fact_total;
  return mark.end_ns;
}

void Cooler::StartWrite(engine::Engine& engine, uint64_t before_ns) {
  // Never over a failed write's facts: the next export starts after them, and the store would
  // begin (or go on) without them while the engine evicts them.
  LEDGER_ASSERT(facts_.end_ns == 0, facts_.end_ns);
  facts_.Clear();
  engine.ExportCold(std::max(before_ns, engine.exported_before_ns()), facts_);
  std::lock_guard lock(mutex_);
  writing_ = true;
  wake_.notify_one();
}

absl::Status Cooler::Settle(engine::Engine& engine, bool wait) {
  // After every batch: the lock only once the writer has a result (or when waiting for one).
  if (writing_ && (wait || has_result_.load(std::memory_order_acquire))) {
    std::optional<absl::StatusOr<cold::WrittenRun>> result;
    {
      std::unique_lock lock(mutex_);
      if (wait) done_.wait(lock, [&] { return result_.has_value(); });
      if (!result_.has_value()) return absl::OkStatus();  // still writing
      result = std::move(result_);
      result_.reset();
      has_result_.store(false, std::memory_order_relaxed);
      writing_ = false;
    }
    if (!result->ok()) {
      retry_after_batches_ = kRetryAfterBatches;
      if (options_.log) {
        options_.log(absl::StrCat("cold store: writing a run failed (retried later): ",
                                  result->status().ToString().c_str()));
      }
      return result->status();
    }
    if (!(*result)->filter_growth.ok() && options_.log) {
      options_.log(absl::StrCat(
          "cold store: a larger id filter could not be built (the one in use goes on, denser; "
          "run ledger-wal verify): ",
          (*result)->filter_growth.ToString()));
    }
    store_.Publish(std::move(**result));
    ++runs_written_;
    evict_before_ns_ = store_.end_ns();
    for (size_t i = kEvictStepTransfers; i < facts_.transfers.size(); i += kEvictStepTransfers) {
      evict_steps_ns_.push_back(facts_.transfers[i].timestamp_ns);  // before the i-th
    }
    evict_steps_ns_.push_back(evict_before_ns_);
    facts_.Clear();  // keeps its capacity for the next run (at most run_facts_max transfers)
  }
  Evict(engine, /*all=*/wait);
  return absl::OkStatus();
}

void Cooler::Evict(engine::Engine& engine, bool all) {
  while (!evict_steps_ns_.empty() && evict_steps_ns_.front() <= engine.cold_before_ns()) {
    evict_steps_ns_.pop_front();
  }
  const uint64_t step_ns =
      all || evict_steps_ns_.empty() ? evict_before_ns_ : evict_steps_ns_.front();
  // Not into the part of the window a snapshot image borrows (its extent's transfers).
  const uint64_t before_ns =
      std::min({step_ns, engine.exported_before_ns(), engine.evictable_before_ns()});
  if (before_ns <= engine.cold_before_ns()) return;
  engine.EvictBefore(before_ns);
}

}  // namespace ledger::replica::internal
