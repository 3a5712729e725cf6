// The cold store on disk (docs/cold-store.md): the facts a windowed engine let go of, as
// immutable run files (cold/format.h) in one directory, read through engine/cold.h's
// ColdReader, and an id filter in memory that answers "never stored" for new ids without a
// disk read.
//
// Threads. Reads (the ColdReader methods) run on any thread, several at once. Writing takes
// two steps so the slow part runs off the reading thread: Write makes facts durable as a new
// run (one Write at a time, on any thread, side by side with reads), and Publish makes the
// run visible to reads (on the thread that coordinates the readers, while none runs: a
// replica calls it between batches). Until then reads answer as before.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/cold.h"
#include "wal/storage.h"

namespace ledger::cold {

struct IdEntry;
namespace internal {
class IdFilter;
class Run;
struct RunFacts;
struct RunScratch;
}  // namespace internal

// The order of ColdStore::ReadFacts' balances: by time, then account.
inline bool ByTimeThenAccount(const engine::BalanceFact& a, const engine::BalanceFact& b) {
  return a.balance.timestamp_ns != b.balance.timestamp_ns
             ? a.balance.timestamp_ns < b.balance.timestamp_ns
             : a.account_id < b.account_id;
}

// A run written by ColdStore::Write and not yet published.
struct WrittenRun {
  std::unique_ptr<internal::Run> run;
  std::unique_ptr<internal::IdFilter> grown_filter;  // when the store's filter had to grow
  uint64_t grown_filter_capacity_ids = 0;
  // Not OK: a larger filter could not be built (a run's ids did not read back). The filter in
  // use goes on, holding every id (denser: more new ids search the runs); a larger one is tried
  // again once the ids have grown by half. For the operator's log.
  absl::Status filter_growth;
  uint64_t transfer_count = 0;
  uint64_t failure_count = 0;
  WrittenRun();
  WrittenRun(WrittenRun&&) noexcept;
  WrittenRun& operator=(WrittenRun&&) noexcept;
  ~WrittenRun();
};

// The ids a batch names that may be cold, for ColdStore::ReadAhead: its own (a retry's: only
// looked up) and those it refers to (a reservation posted or voided, a transfer reversed:
// looked up, and their resolutions or reversals searched as well).
struct ReadAheadIds {
  std::vector<TransferId> own;
  std::vector<TransferId> referenced;
  bool empty() const { return own.empty() && referenced.empty(); }
};

// What ColdStore::ReadAhead found for a batch's ids: while that batch applies (UseAnswers),
// the store answers lookups of them from here and searches only the runs published since, so
// the binary searches of every run happen once, on the read-ahead thread, not again on the
// thread that applies.
class ReadAheadAnswers {
 public:
  bool empty() const { return answers_.empty(); }

 private:
  friend class ColdStore;
  struct Answer {
    TransferId id;
    std::optional<engine::ColdTransfer> found;  // in any run
  };
  std::vector<Answer> answers_;  // by id
  size_t run_count_ = 0;         // the runs searched: the first run_count_ by sequence
};

// The runs published when it was taken, read on any thread, also while the store publishes
// more (the store's own reads must not overlap Publish): a server answers questions about old
// history from it beside the batches being applied. Cheap to take (a copy of the run list);
// must not outlive its store. Answers as ColdStore's methods of the same names.
class PublishedRuns {
 public:
  PublishedRuns();
  PublishedRuns(const PublishedRuns&);
  ~PublishedRuns();
  // false: never stored (the id filter, in memory).
  bool MayHold(const TransferId& id) const;
  void PrefetchFilter(const TransferId& id) const;
  std::optional<engine::ColdTransfer> FindTransfer(const TransferId& id, uint64_t before_ns) const;
  size_t GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const;
  size_t GetAccountBalances(const AccountFilter& filter, std::span<AccountBalance> out) const;

 private:
  friend class ColdStore;
  std::vector<const internal::Run*> runs_;            // by sequence
  std::shared_ptr<const internal::IdFilter> filter_;  // null: not loaded yet (search every run)
};

class ColdStore final : public engine::ColdReader {
 public:
  // Opens the store in `directory` (created when missing), which `storage` holds: removes what
  // a write left half-done (temporary files), checks every run's header and checksums section,
  // and fills the id filter from the runs' id sections. DataLoss naming the file when a run is
  // damaged or missing (runs are numbered and cover consecutive time ranges).
  static absl::StatusOr<std::unique_ptr<ColdStore>> Open(const std::string& directory,
                                                         wal::Storage& storage);
  // As Open, without reading the runs' ids: until LoadIds returns, the store answers only
  // FindTransfer, FindResolution and FindReversals (searching every run, without the filter),
  // on one thread other than LoadIds' (a replica reads the ids on a thread of their own while
  // it restores its snapshot, which checks its reservations against the store).
  static absl::StatusOr<std::unique_ptr<ColdStore>> OpenIdsLater(const std::string& directory,
                                                                 wal::Storage& storage);
  // Fills the id filter and the runs' fences (Open does it): from the filter file saved with
  // the runs (internal/filter_file.h) and the id sections of the runs written after it, or,
  // when there is none or it does not match the runs, from every run's id section.
  absl::Status LoadIds();
  // How LoadIds went, for the operator's log: "ids: saved filter for 140 runs, 1 run read" or
  // why the saved filter was not used.
  const std::string& ids_note() const { return ids_note_; }
  // For tools beside a live server: changes nothing (a missing directory is NotFound, and a
  // half-written run is left alone and counted in leftover_count()).
  static absl::StatusOr<std::unique_ptr<ColdStore>> OpenReadOnly(const std::string& directory,
                                                                 wal::Storage& storage);
  ~ColdStore() override;

  // Every fact booked before it is here (a recorded failure: by its id, whatever its time).
  uint64_t end_ns() const { return end_ns_; }
  uint64_t run_count() const { return runs_.size(); }
  uint64_t transfer_count() const { return transfer_count_; }
  uint64_t failure_count() const { return failure_count_; }
  uint64_t filter_bytes() const;
  // Memory of the runs' fences: ids (internal::Run::fences, 16 bytes per 256 cold ids) and
  // accounts (format.h's AccountFence, 24 bytes per 512 account entries, two per transfer).
  // Same thread as Publish.
  uint64_t fence_bytes() const;
  // Lookups of an id that passed the filter and searched the runs (present ids and the
  // filter's false positives).
  uint64_t run_searches() const { return run_searches_.load(std::memory_order_relaxed); }
  const std::string& directory() const { return directory_; }

  // Makes the facts the store lacks durable as the next run (those booked before end_ns() it
  // holds already, and failures whose id it has; engine/cold.h's ColdFacts says why they come
  // again). When it holds them all (a replay over a store written before), writes nothing and
  // returns a WrittenRun without a run, which Publish takes as well. FailedPrecondition when
  // facts.begin_ns is past end_ns() (a gap), or a written run is not yet published; I/O errors as
  // they come (nothing is then visible, and the next Open removes the leftovers).
  absl::StatusOr<WrittenRun> Write(const engine::ColdFacts& facts);
  // Also lets the pages lookups have touched in the mapped runs leave the process's resident
  // memory (they stay in the page cache): RSS is the store's memory, not what was read.
  void Publish(WrittenRun written);
  // Write and Publish, for callers that read on the same thread (tests, tools).
  absl::Status Append(const engine::ColdFacts& facts);

  // Whether `id` may be cold (the id filter: never a disk read). Same thread as Publish.
  bool MayHold(const TransferId& id) const;
  // Brings the filter's block for `id` towards the cache, ahead of MayHold or FindTransfer.
  void PrefetchTransfer(const TransferId& id) const override;
  // Looks up each id in the runs (into `answers`), and for the referenced ones reads into
  // memory (the page cache and this process's mappings) what a lookup of a resolution of it
  // and of its reversals will touch, so a batch that asks them next does not wait for the
  // disk. Any thread, at any time, also while Publish runs.
  void ReadAhead(const ReadAheadIds& ids, ReadAheadAnswers& answers) const;
  // FindTransfer takes its answers for their ids from `answers` (null: none) until the next
  // call. Same thread as Publish and the lookups; `answers` outlives its use.
  void UseAnswers(const ReadAheadAnswers* answers) { answers_ = answers; }
  // The runs published so far. Any thread.
  PublishedRuns Published() const;

  // Checks every chunk of every run (DataLoss naming the file and chunk that fail) and that the
  // id filter holds every id of every run.
  absl::Status Verify() const;
  // Every fact the store holds booked in [begin_ns, end_ns): transfers, expiries and failures
  // in booking order, balances by time then account (for tools that compare it with a replay).
  void ReadFacts(uint64_t begin_ns, uint64_t end_ns, engine::ColdFacts& out) const;
  uint64_t leftover_count() const { return leftover_count_; }

  std::optional<engine::ColdTransfer> FindTransfer(const TransferId& id,
                                                   uint64_t before_ns) const override;
  engine::ColdResolution FindResolution(const TransferId& pending_id,
                                        uint64_t before_ns) const override;
  engine::ColdReversals FindReversals(const TransferId& id, uint64_t before_ns,
                                      std::span<TransferId> ids_out) const override;
  size_t GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const override;
  size_t GetAccountBalances(const AccountFilter& filter,
                            std::span<AccountBalance> out) const override;
  size_t QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const override;

 private:
  ColdStore(std::string directory, wal::Storage& storage);
  static absl::StatusOr<std::unique_ptr<ColdStore>> OpenWith(const std::string& directory,
                                                             wal::Storage& storage, bool writable,
                                                             bool load_ids);
  absl::Status AddRun(std::unique_ptr<internal::Run> run);
  absl::StatusOr<WrittenRun> WriteNewRun(const internal::RunFacts& run_facts);
  // A filter of every published id, sized for them (*capacity_ids).
  absl::StatusOr<std::unique_ptr<internal::IdFilter>> BuildFilter(uint64_t* capacity_ids) const;
  // Write's: the larger filter to publish with its run (`ids`, making id_count in all) into
  // `written`, once one built beside is ready; nothing until then (cold_store.cc).
  void TakeGrownFilter(std::span<const IdEntry> ids, uint64_t id_count, WrittenRun& written);
  void StartGrowingFilter(uint64_t capacity_ids);
  // runs_, as the pointers a reader on another thread keeps.
  std::vector<const internal::Run*> RunPointers() const;
  std::optional<engine::ColdTransfer> FindAnywhere(const TransferId& id) const;

  std::string directory_;
  wal::Storage& storage_;
  std::vector<std::unique_ptr<internal::Run>> runs_;  // by sequence
  // Shared with ReadAhead, which may hold the one it found while Publish replaces it.
  std::shared_ptr<internal::IdFilter> filter_;
  uint64_t filter_capacity_ids_ = 0;
  // The ids the saved filter file holds (the writer's thread saves it again once the store has
  // an eighth more), and what LoadIds did.
  uint64_t saved_id_count_ = 0;
  std::string ids_note_;
  // Held by Publish while it changes runs_ and filter_, and by ReadAhead while it copies them.
  mutable std::mutex publish_mutex_;
  uint64_t end_ns_ = 0;
  uint64_t transfer_count_ = 0;
  uint64_t failure_count_ = 0;
  bool written_unpublished_ = false;
  std::unique_ptr<internal::RunScratch> scratch_;  // Write's: one run at a time
  bool writable_ = true;
  uint64_t leftover_count_ = 0;
  mutable std::atomic<uint64_t> run_searches_{0};
  const ReadAheadAnswers* answers_ = nullptr;  // UseAnswers'
  std::atomic<bool> ids_loaded_{false};        // filter_ and every run's fences are set
  // The writer's: a larger filter being built on its own thread. Last: it reads runs_, so it
  // is stopped and joined before they go.
  struct GrowingFilter;
  std::unique_ptr<GrowingFilter> growing_filter_;
  uint64_t grow_again_at_ids_ = 0;  // after a failed growth, the ids before the next try
};

}  // namespace ledger::cold
