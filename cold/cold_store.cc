#include "cold/cold_store.h"

#include <algorithm>
#include <limits>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/thread.h"
#include "cold/format.h"
#include "cold/internal/filter_file.h"
#include "cold/internal/id_filter.h"
#include "cold/internal/run.h"

namespace ledger::cold {

using engine::BalanceFact;
using engine::ColdFacts;
using engine::ColdResolution;
using engine::ColdReversals;
using engine::ColdTransfer;
using engine::ExpiryFact;
using engine::FailureRecord;
using internal::LowerBound;
using internal::Run;

WrittenRun::WrittenRun() = default;
WrittenRun::WrittenRun(WrittenRun&&) noexcept = default;
WrittenRun& WrittenRun::operator=(WrittenRun&&) noexcept = default;
WrittenRun::~WrittenRun() = default;

namespace {

// The filter grows by half before it gets sparser than 16 / 1.5 = 10.7 bits per id: it never
// takes more than 2 bytes per id (past its 64 KiB minimum).
constexpr uint64_t kFilterGrowthNumerator = 3;
constexpr uint64_t kFilterGrowthDenominator = 2;
constexpr uint64_t kFilterCapacityMin = 32768;

uint64_t MaxOf(uint64_t timestamp_max_ns) {
  return timestamp_max_ns == 0 ? std::numeric_limits<uint64_t>::max() : timestamp_max_ns;
}

size_t LimitOf(uint32_t limit, size_t out_size) {
  return limit == 0 ? out_size : std::min<size_t>(limit, out_size);
}

uint64_t IdCount(const Run& run) { return run.Count<IdEntry>(RunSection::kIds); }

void InsertIds(std::span<const IdEntry> entries, internal::IdFilter& filter) {
  filter.InsertAll(entries, [](const IdEntry& entry) { return entry.id; });
}

// Inserts a run's ids into `filter`; a run opened from disk gets its fences from the same pass
// (before any reader).
absl::Status AddRunIds(Run& run, internal::IdFilter& filter) {
  std::vector<TransferId> fences;
  uint64_t index = 0;
  LEDGER_RETURN_IF_ERROR(run.ForEachIds([&](std::span<const IdEntry> entries) {
    InsertIds(entries, filter);
    for (const IdEntry& entry : entries) {
      if (index++ % Run::kFenceStride == 0) fences.push_back(entry.id);
    }
  }));
  if (!run.has_fences()) run.SetFences(std::move(fences));
  return absl::OkStatus();
}

// Inserts a run's ids into `filter`, changing nothing of the run (any thread).
absl::Status InsertRunIds(const Run& run, internal::IdFilter& filter) {
  return run.ForEachIds([&](std::span<const IdEntry> entries) { InsertIds(entries, filter); });
}

// Whether the run may hold facts booked in [min_ns, max_ns].
bool Overlaps(const Run& run, uint64_t min_ns, uint64_t max_ns) {
  return run.header().begin_ns <= max_ns && run.header().end_ns > min_ns;
}

// Calls visit(index) for indexes [begin, end) in order, or reversed, until it returns false.
template <typename Visit>
void Walk(uint64_t begin, uint64_t end, bool reversed, Visit&& visit) {
  for (uint64_t k = 0; k < end - begin; ++k) {
    if (!visit(reversed ? end - 1 - k : begin + k)) return;
  }
}

// Calls visit(run) for the runs in time order, or newest first, until it returns false.
// `runs`: the store's own, or a PublishedRuns' copy.
template <typename Runs, typename Visit>
void WalkRuns(const Runs& runs, bool reversed, Visit&& visit) {
  Walk(0, runs.size(), reversed, [&](uint64_t r) { return visit(*runs[r]); });
}

// The range of a section sorted by (account, timestamp) whose entries name `account` in
// [min_ns, max_ns].
template <typename Entry, typename AccountOf, typename TimeOf>
std::pair<uint64_t, uint64_t> AccountRange(const Run& run, RunSection section,
                                           const AccountId& account, uint64_t min_ns,
                                           uint64_t max_ns, AccountOf&& account_of,
                                           TimeOf&& time_of) {
  const uint64_t begin = LowerBound<Entry>(run, section, [&](const Entry& entry) {
    return account_of(entry) < account || (account_of(entry) == account && time_of(entry) < min_ns);
  });
  const uint64_t end = LowerBound<Entry>(run, section, [&](const Entry& entry) {
    return account_of(entry) < account ||
           (account_of(entry) == account && time_of(entry) <= max_ns);
  });
  return {begin, std::max(begin, end)};
}

// The range of kAccounts whose entries name `account` in [min_ns, max_ns]: each end found by
// the account fences in one block, the two blocks read side by side, each with the `margin`
// entries around it that a page may walk into from that end.
std::pair<uint64_t, uint64_t> AccountEntries(const Run& run, const AccountId& account,
                                             uint64_t min_ns, uint64_t max_ns, uint64_t margin) {
  const auto before_min = [&](const AccountId& a, uint64_t at_ns) {
    return a < account || (a == account && at_ns < min_ns);
  };
  const auto up_to_max = [&](const AccountId& a, uint64_t at_ns) {
    return a < account || (a == account && at_ns <= max_ns);
  };
  const auto first_block = internal::AccountBlock(run, before_min);
  const auto last_block = internal::AccountBlock(run, up_to_max);
  internal::PrefetchAccountBlock(run, first_block, margin);
  if (last_block != first_block) internal::PrefetchAccountBlock(run, last_block, margin);
  const uint64_t begin = internal::AccountLowerBound(run, first_block, before_min);
  const uint64_t end = internal::AccountLowerBound(run, last_block, up_to_max);
  return {begin, std::max(begin, end)};
}

}  // namespace

ColdStore::ColdStore(std::string directory, wal::Storage& storage)
    : directory_(std::move(directory)), storage_(storage) {}

// A larger filter built on a thread of its own from the ids of the runs published when it
// started. Built on the writer's thread, its reads (24 bytes per cold id with pread: 2.4 GB
// at 100M ids) held up the next runs for seconds, and with them, once the window filled, every
// batch (8.5 s at 143M transfers).
struct ColdStore::GrowingFilter {
  uint64_t capacity_ids = 0;
  size_t run_count = 0;  // runs_[0, run_count) are in it
  std::unique_ptr<internal::IdFilter> filter;
  absl::Status status;             // the thread's, once built
  std::atomic<bool> built{false};  // the thread is done with the fields above
  std::jthread thread;             // last: stopped and joined first
};

ColdStore::~ColdStore() = default;

uint64_t ColdStore::filter_bytes() const { return filter_->size_bytes(); }

uint64_t ColdStore::fence_bytes() const {
  uint64_t bytes = 0;
  for (const auto& run : runs_) {
    if (run->has_fences()) bytes += run->fences().size() * sizeof(TransferId);
    bytes += run->account_fences().size_bytes();
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<ColdStore>> ColdStore::Open(const std::string& directory,
                                                           wal::Storage& storage) {
  return OpenWith(directory, storage, /*writable=*/true, /*load_ids=*/true);
}

absl::StatusOr<std::unique_ptr<ColdStore>> ColdStore::OpenIdsLater(const std::string& directory,
                                                                   wal::Storage& storage) {
  return OpenWith(directory, storage, /*writable=*/true, /*load_ids=*/false);
}

absl::StatusOr<std::unique_ptr<ColdStore>> ColdStore::OpenReadOnly(const std::string& directory,
                                                                   wal::Storage& storage) {
  return OpenWith(directory, storage, /*writable=*/false, /*load_ids=*/true);
}

absl::Status ColdStore::LoadIds() {
  absl::StatusOr<internal::SavedIds> saved = internal::LoadSavedIds(storage_, directory_, runs_);
  if (!saved.ok()) {
    if (!runs_.empty()) {
      ids_note_ = absl::StrCat("ids read from every run's id section (saved filter not used: ",
                               saved.status().message(), ")");
    }
    LEDGER_ASSIGN_OR_RETURN(filter_, BuildFilter(&filter_capacity_ids_));
    ids_loaded_.store(true, std::memory_order_release);
    return absl::OkStatus();
  }
  const size_t saved_runs = saved->fences.size();
  for (size_t r = 0; r < saved_runs; ++r) {
    saved_id_count_ += IdCount(*runs_[r]);
    if (!runs_[r]->has_fences()) runs_[r]->SetFences(std::move(saved->fences[r]));
  }
  // The runs written after the file: their ids read.
  for (size_t r = saved_runs; r < runs_.size(); ++r) {
    LEDGER_RETURN_IF_ERROR(AddRunIds(*runs_[r], *saved->filter));
  }
  ids_note_ = absl::StrCat("ids: saved filter for ", saved_runs, " runs, ",
                           runs_.size() - saved_runs, " more runs' id sections read");
  filter_ = std::move(saved->filter);
  filter_capacity_ids_ = saved->capacity_ids;
  ids_loaded_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ColdStore>> ColdStore::OpenWith(const std::string& directory,
                                                               wal::Storage& storage, bool writable,
                                                               bool load_ids) {
  std::unique_ptr<ColdStore> store(new ColdStore(directory, storage));
  store->writable_ = writable;
  absl::StatusOr<std::vector<std::string>> names = storage.List(directory);
  if (absl::IsNotFound(names.status()) && writable) {
    LEDGER_RETURN_IF_ERROR(storage.CreateDirectory(directory));
    const size_t slash = directory.find_last_of('/');
    LEDGER_RETURN_IF_ERROR(
        storage.SyncDirectory(slash == std::string::npos ? "." : directory.substr(0, slash)));
    names = std::vector<std::string>();
  }
  LEDGER_RETURN_IF_ERROR(names.status());
  std::vector<uint64_t> sequences;
  bool removed = false;
  for (const std::string& name : *names) {
    if (absl::EndsWith(name, kTemporarySuffix)) {  // a run whose write never finished
      ++store->leftover_count_;
      if (!writable) continue;
      LEDGER_RETURN_IF_ERROR(storage.Remove(absl::StrCat(directory, "/", name)));
      removed = true;
    } else if (const std::optional<uint64_t> sequence = RunSequenceOf(name)) {
      sequences.push_back(*sequence);
    }
  }
  if (removed) LEDGER_RETURN_IF_ERROR(storage.SyncDirectory(directory));
  std::sort(sequences.begin(), sequences.end());
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i] != i + 1) {
      return absl::DataLossError(absl::StrCat("cold store ", directory, ": run ", i + 1,
                                              " is missing (", RunFileName(i + 1), ")"));
    }
    const std::string path = absl::StrCat(directory, "/", RunFileName(sequences[i]));
    LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<Run> run, Run::Open(storage, path));
    LEDGER_RETURN_IF_ERROR(store->AddRun(std::move(run)));
  }
  if (load_ids) LEDGER_RETURN_IF_ERROR(store->LoadIds());
  return store;
}

absl::Status ColdStore::AddRun(std::unique_ptr<Run> run) {
  const RunHeader& header = run->header();
  if (header.sequence != runs_.size() + 1 || (!runs_.empty() && header.begin_ns != end_ns_)) {
    return absl::DataLossError(absl::StrCat(
        "cold run ", run->path(), ": sequence ", header.sequence, " covers [", header.begin_ns,
        ", ", header.end_ns, "), but the runs before it end at ", end_ns_));
  }
  end_ns_ = header.end_ns;
  transfer_count_ += run->Count<Transfer>(RunSection::kTransfers);
  failure_count_ += run->Count<FailureRecord>(RunSection::kFailures);
  std::lock_guard lock(publish_mutex_);
  runs_.push_back(std::move(run));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<internal::IdFilter>> ColdStore::BuildFilter(
    uint64_t* capacity_ids) const {
  uint64_t id_count = 0;
  for (const auto& run : runs_) id_count += IdCount(*run);
  *capacity_ids = std::max(id_count, kFilterCapacityMin);
  auto filter = std::make_unique<internal::IdFilter>(*capacity_ids);
  for (const auto& run : runs_) LEDGER_RETURN_IF_ERROR(AddRunIds(*run, *filter));
  return filter;
}

absl::StatusOr<WrittenRun> ColdStore::Write(const ColdFacts& facts) {
  LEDGER_REQUIRE(writable_);
  if (written_unpublished_) {
    return absl::FailedPreconditionError("cold store: the last run written is not published");
  }
  if (facts.begin_ns > end_ns_ && !runs_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cold store: facts from ", facts.begin_ns,
                                                      " would leave a gap after ", end_ns_));
  }
  // What the store holds already is left out (the facts' first part after a restore).
  const auto first_new = [this](const auto& list, auto time_of) {
    return std::find_if(list.begin(), list.end(),
                        [&](const auto& fact) { return time_of(fact) >= end_ns_; }) -
           list.begin();
  };
  const auto transfer_at = [](const Transfer& t) { return t.timestamp_ns; };
  const auto expiry_at = [](const ExpiryFact& e) { return e.timestamp_ns; };
  const auto balance_at = [](const BalanceFact& b) { return b.balance.timestamp_ns; };
  std::vector<FailureRecord> failures;
  for (const FailureRecord& failure : facts.failures) {
    if (!FindAnywhere(failure.event.id).has_value()) failures.push_back(failure);
  }
  internal::RunFacts run_facts;
  run_facts.begin_ns = runs_.empty() ? facts.begin_ns : end_ns_;
  run_facts.end_ns = std::max(facts.end_ns, run_facts.begin_ns);
  run_facts.transfers = std::span(facts.transfers).subspan(first_new(facts.transfers, transfer_at));
  run_facts.failures = failures;
  run_facts.expiries = std::span(facts.expiries).subspan(first_new(facts.expiries, expiry_at));
  run_facts.balances = std::span(facts.balances).subspan(first_new(facts.balances, balance_at));
  WrittenRun written;
  if (facts.end_ns > end_ns_ || !failures.empty() || runs_.empty()) {
    LEDGER_ASSIGN_OR_RETURN(written, WriteNewRun(run_facts));
  }  // else all held already (a replay over a store written before): no run
  written_unpublished_ = true;
  return written;
}

void ColdStore::StartGrowingFilter(uint64_t capacity_ids) {
  auto growing = std::make_unique<GrowingFilter>();
  growing->capacity_ids = capacity_ids;
  growing->run_count = runs_.size();
  growing->thread =
      std::jthread([growing = growing.get(), runs = RunPointers()](std::stop_token stop) {
        base::NameThisThread("cold-filter");
        growing->filter = std::make_unique<internal::IdFilter>(growing->capacity_ids);
        for (const Run* run : runs) {
          growing->status = stop.stop_requested() ? absl::CancelledError("cold store closing")
                                                  : InsertRunIds(*run, *growing->filter);
          if (!growing->status.ok()) break;
        }
        growing->built.store(true, std::memory_order_release);
      });
  growing_filter_ = std::move(growing);
}

// Once the ids pass 1.5 times the filter's capacity, a larger one is built beside (the filter
// in use takes the new ids meanwhile, denser for a while); the first Write after it is built
// takes it over, with the ids of the runs written since and `ids`. Waited for only when the
// ids pass twice the capacity (at 8 bits per id, about 2% of new ids would search the runs).
// A build that fails (a damaged run's ids) must not fail the run: the filter in use still
// holds every id, and a Write that failed each time would stop the window from moving, and
// with it, once full, every batch.
void ColdStore::TakeGrownFilter(std::span<const IdEntry> ids, uint64_t id_count,
                                WrittenRun& written) {
  if (growing_filter_ == nullptr) {
    if (id_count * kFilterGrowthDenominator <= filter_capacity_ids_ * kFilterGrowthNumerator ||
        id_count < grow_again_at_ids_) {
      return;
    }
    StartGrowingFilter(std::max(id_count, kFilterCapacityMin));
  }
  if (!growing_filter_->built.load(std::memory_order_acquire) &&
      id_count <= 2 * filter_capacity_ids_) {
    return;
  }
  growing_filter_->thread.join();
  const std::unique_ptr<GrowingFilter> growing = std::move(growing_filter_);
  absl::Status status = growing->status;
  for (size_t r = growing->run_count; status.ok() && r < runs_.size(); ++r) {
    status = InsertRunIds(*runs_[r], *growing->filter);
  }
  if (!status.ok()) {
    grow_again_at_ids_ = id_count + id_count / 2;
    written.filter_growth = std::move(status);
    return;
  }
  InsertIds(ids, *growing->filter);
  written.grown_filter_capacity_ids = growing->capacity_ids;
  written.grown_filter = std::move(growing->filter);
}

absl::StatusOr<WrittenRun> ColdStore::WriteNewRun(const internal::RunFacts& run_facts) {
  const uint64_t sequence = runs_.size() + 1;
  if (scratch_ == nullptr) scratch_ = std::make_unique<internal::RunScratch>();
  LEDGER_RETURN_IF_ERROR(internal::WriteRun(storage_, directory_, sequence, run_facts, *scratch_));
  WrittenRun written;
  LEDGER_ASSIGN_OR_RETURN(
      written.run, Run::Open(storage_, absl::StrCat(directory_, "/", RunFileName(sequence))));
  written.transfer_count = run_facts.transfers.size();
  written.failure_count = run_facts.failures.size();
  const std::span<const IdEntry> ids = scratch_->ids;  // the run's, sorted, in memory
  std::vector<TransferId> fences;
  fences.reserve(ids.size() / Run::kFenceStride + 1);
  for (uint64_t i = 0; i < ids.size(); i += Run::kFenceStride) fences.push_back(ids[i].id);
  written.run->SetFences(std::move(fences));
  const uint64_t id_count = transfer_count_ + failure_count_ + ids.size();
  TakeGrownFilter(ids, id_count, written);
  if (written.grown_filter == nullptr) {
    // Readers may see these ids as "maybe" before the run is published: they then search the
    // published runs and find nothing, which is right until Publish.
    InsertIds(ids, *filter_);
  }
  // Once the store has an eighth more ids than the saved filter holds, saved again (about 16
  // bytes written per id over a store's life), so an open reads 2 bytes per id, not 24.
  if ((id_count - saved_id_count_) * 8 > saved_id_count_) {
    std::vector<const Run*> runs = RunPointers();
    runs.push_back(written.run.get());
    const internal::IdFilter& filter =
        written.grown_filter != nullptr ? *written.grown_filter : *filter_;
    const uint64_t capacity_ids =
        written.grown_filter != nullptr ? written.grown_filter_capacity_ids : filter_capacity_ids_;
    // Not saving it costs only the next open's time: the run is durable either way.
    if (internal::SaveIds(storage_, directory_, filter, capacity_ids, runs).ok()) {
      saved_id_count_ = id_count;
    }
  }
  return written;
}

void ColdStore::Publish(WrittenRun written) {
  LEDGER_REQUIRE(written_unpublished_);
  written_unpublished_ = false;
  for (const auto& run : runs_) run->DropPages();
  if (written.run == nullptr) return;  // nothing was new
  const absl::Status added = AddRun(std::move(written.run));
  LEDGER_ASSERT(added.ok(), std::string(added.message()));  // Write made it the next one
  if (written.grown_filter != nullptr) {
    std::lock_guard lock(publish_mutex_);
    filter_ = std::move(written.grown_filter);
    filter_capacity_ids_ = written.grown_filter_capacity_ids;
  }
}

absl::Status ColdStore::Append(const ColdFacts& facts) {
  LEDGER_ASSIGN_OR_RETURN(WrittenRun written, Write(facts));
  Publish(std::move(written));
  return absl::OkStatus();
}

absl::Status ColdStore::Verify() const {
  for (const auto& run : runs_) LEDGER_RETURN_IF_ERROR(run->Verify());
  // A filter that lacks an id would let a retry of it be booked again: every id must pass.
  for (const auto& run : runs_) {
    std::optional<TransferId> missing;
    LEDGER_RETURN_IF_ERROR(run->ForEachIds([&](std::span<const IdEntry> entries) {
      for (const IdEntry& entry : entries) {
        if (!missing.has_value() && !filter_->MayContain(entry.id)) missing = entry.id;
      }
    }));
    if (missing.has_value()) {
      return absl::DataLossError(absl::StrCat(
          "cold store ", directory_, ": the id filter lacks an id of run ", run->header().sequence,
          " (", missing->hi, ":", missing->lo, "); ", internal::kFilterFileName,
          " is wrong: delete it, the next start reads the runs' ids"));
    }
  }
  return absl::OkStatus();
}

void ColdStore::ReadFacts(uint64_t begin_ns, uint64_t end_ns, ColdFacts& out) const {
  out.Clear();
  out.begin_ns = begin_ns;
  out.end_ns = end_ns;
  const auto in_range = [&](uint64_t at_ns) { return at_ns >= begin_ns && at_ns < end_ns; };
  for (const auto& run : runs_) {
    for (uint64_t i = 0; i < run->Count<FailureRecord>(RunSection::kFailures); ++i) {
      const FailureRecord& failure = run->At<FailureRecord>(RunSection::kFailures, i);
      if (in_range(failure.event.timestamp_ns)) out.failures.push_back(failure);
    }
    if (end_ns == 0 || !Overlaps(*run, begin_ns, end_ns - 1)) continue;
    for (uint64_t i = 0; i < run->Count<Transfer>(RunSection::kTransfers); ++i) {
      const Transfer& transfer = run->At<Transfer>(RunSection::kTransfers, i);
      if (in_range(transfer.timestamp_ns)) out.transfers.push_back(transfer);
    }
    for (uint64_t i = 0; i < run->Count<ExpiryFact>(RunSection::kExpiries); ++i) {
      const ExpiryFact& expiry = run->At<ExpiryFact>(RunSection::kExpiries, i);
      if (in_range(expiry.timestamp_ns)) out.expiries.push_back(expiry);
    }
    for (uint64_t i = 0; i < run->Count<BalanceFact>(RunSection::kBalances); ++i) {
      const BalanceFact& balance = run->At<BalanceFact>(RunSection::kBalances, i);
      if (in_range(balance.balance.timestamp_ns)) out.balances.push_back(balance);
    }
  }
  std::sort(out.failures.begin(), out.failures.end(),
            [](const FailureRecord& a, const FailureRecord& b) {
              return a.event.timestamp_ns < b.event.timestamp_ns;
            });
  std::sort(out.balances.begin(), out.balances.end(), ByTimeThenAccount);
}

namespace {

// The transfer or failure with this id in the run, if it is there (read_block: Run::FindId).
std::optional<ColdTransfer> FindIn(const Run& run, const TransferId& id, bool read_block = false) {
  const uint64_t index = run.FindId(id, read_block);
  if (index == IdCount(run)) return std::nullopt;
  const IdEntry& entry = run.At<IdEntry>(RunSection::kIds, index);
  if ((entry.where & kInFailures) != 0) {
    const FailureRecord& failure =
        run.At<FailureRecord>(RunSection::kFailures, entry.where & ~kInFailures);
    return ColdTransfer{failure.event, failure.code};
  }
  return ColdTransfer{run.At<Transfer>(RunSection::kTransfers, entry.where),
                      CreateTransferResult::kOk};
}

// Ids are unique across runs, so the first run that has the id answers. The runs from
// before_ns on go first, oldest first, their ids only: an engine replaying the log over a store
// written ahead of it (recovery) asks for the ids it is booking now, which the store holds
// there, near its boundary; then the runs below, newest first (a retry is most often of a
// recent id).
template <typename Runs>
std::optional<ColdTransfer> FindInRuns(const Runs& runs, const TransferId& id, uint64_t before_ns,
                                       bool read_block = false) {
  const auto after = std::partition_point(runs.begin(), runs.end(), [before_ns](const auto& run) {
    return run->header().begin_ns < before_ns;
  });
  // An id in a run from before_ns on is not cold for this engine, and (ids being unique
  // across runs) in no older run: the answer is nothing, and its record is not read (a
  // replay over a store written ahead of it would read one for every id it books again).
  for (auto run = after; run != runs.end(); ++run) {
    if ((*run)->FindId(id, read_block) != IdCount(**run)) return std::nullopt;
  }
  std::optional<ColdTransfer> found;
  for (auto run = after; run != runs.begin() && !found;) found = FindIn(**--run, id, read_block);
  if (!found || found->record.timestamp_ns >= before_ns) return std::nullopt;
  return found;
}

template <typename Runs>
size_t AccountTransfersIn(const Runs& runs, const AccountFilter& filter, std::span<Transfer> out) {
  const bool debits = (filter.flags & filter_flags::kDebits) != 0;
  const bool credits = (filter.flags & filter_flags::kCredits) != 0;
  const bool reversed = (filter.flags & filter_flags::kReversed) != 0;
  const uint64_t max_ns = MaxOf(filter.timestamp_max_ns);
  const uint64_t value_max_ns = MaxOf(filter.value_time_max_ns);
  const size_t limit = LimitOf(filter.limit, out.size());
  size_t count = 0;
  WalkRuns(runs, reversed, [&](const Run& run) {
    if (!Overlaps(run, filter.timestamp_min_ns, max_ns)) return count < limit;
    // The entries a page will read come with the blocks, and the records (all over the run)
    // are asked for together: twice the room left, as some may be filtered out.
    const uint64_t wanted = 2 * (limit - count);
    const auto [begin, end] = AccountEntries(run, filter.account_id, filter.timestamp_min_ns,
                                             max_ns, std::min(wanted, kAccountFenceStride));
    uint64_t prefetched = 0;
    Walk(begin, end, reversed, [&](uint64_t i) {
      run.Prefetch<Transfer>(RunSection::kTransfers,
                             run.At<AccountEntry>(RunSection::kAccounts, i).position);
      return ++prefetched < wanted;
    });
    Walk(begin, end, reversed, [&](uint64_t i) {
      if (count >= limit) return false;
      const Transfer& t = run.At<Transfer>(RunSection::kTransfers,
                                           run.At<AccountEntry>(RunSection::kAccounts, i).position);
      const bool side = (t.debit_account_id == filter.account_id && debits) ||
                        (t.credit_account_id == filter.account_id && credits);
      const uint64_t value_ns = ValueTimeOf(t);
      if (side && (filter.code == 0 || t.code == filter.code) &&
          value_ns >= filter.value_time_min_ns && value_ns <= value_max_ns) {
        out[count++] = t;
      }
      return true;
    });
    return count < limit;
  });
  return count;
}

template <typename Runs>
size_t AccountBalancesIn(const Runs& runs, const AccountFilter& filter,
                         std::span<AccountBalance> out) {
  const bool reversed = (filter.flags & filter_flags::kReversed) != 0;
  const uint64_t max_ns = MaxOf(filter.timestamp_max_ns);
  const size_t limit = LimitOf(filter.limit, out.size());
  size_t count = 0;
  WalkRuns(runs, reversed, [&](const Run& run) {
    if (!Overlaps(run, filter.timestamp_min_ns, max_ns)) return count < limit;
    const auto [begin, end] = AccountRange<BalanceFact>(
        run, RunSection::kBalances, filter.account_id, filter.timestamp_min_ns, max_ns,
        [](const BalanceFact& b) { return b.account_id; },
        [](const BalanceFact& b) { return b.balance.timestamp_ns; });
    Walk(begin, end, reversed, [&](uint64_t i) {
      if (count >= limit) return false;
      out[count++] = run.At<BalanceFact>(RunSection::kBalances, i).balance;
      return true;
    });
    return count < limit;
  });
  return count;
}

}  // namespace

bool ColdStore::MayHold(const TransferId& id) const { return filter_->MayContain(id); }

void ColdStore::PrefetchTransfer(const TransferId& id) const { filter_->Prefetch(id); }

void ColdStore::ReadAhead(const ReadAheadIds& ids, ReadAheadAnswers& answers) const {
  const PublishedRuns published = Published();
  const std::vector<const Run*>& runs = published.runs_;
  answers.answers_.clear();
  answers.run_count_ = runs.size();
  // The lookup as FindTransfer makes it, newest run first (the checksum checks come with the
  // reads).
  const auto look_up = [&](const TransferId& id) {
    std::optional<ColdTransfer> found;
    for (auto run = runs.rbegin(); run != runs.rend() && !found; ++run) found = FindIn(**run, id);
    answers.answers_.push_back({id, found});
  };
  for (const TransferId& id : ids.own) {
    if (published.MayHold(id)) look_up(id);
  }
  // The sections FindResolution and FindReversals search, touched.
  for (const TransferId& id : ids.referenced) {
    if (!published.MayHold(id)) continue;
    look_up(id);
    for (const Run* run : runs) {
      (void)LowerBound<ResolutionEntry>(
          *run, RunSection::kResolutions,
          [&id](const ResolutionEntry& e) { return e.pending_id < id; });
      (void)LowerBound<ReversalEntry>(*run, RunSection::kReversals,
                                      [&id](const ReversalEntry& e) { return e.reverses_id < id; });
    }
  }
  std::sort(answers.answers_.begin(), answers.answers_.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
}

std::optional<ColdTransfer> ColdStore::FindAnywhere(const TransferId& id) const {
  return FindTransfer(id, std::numeric_limits<uint64_t>::max());
}

// FindInRuns, with the filter first and the read-ahead's answers.
std::optional<ColdTransfer> ColdStore::FindTransfer(const TransferId& id,
                                                    uint64_t before_ns) const {
  // Until LoadIds is done (a snapshot's restore on another thread checks its reservations
  // meanwhile), the runs are searched without the filter.
  if (ids_loaded_.load(std::memory_order_acquire) && !filter_->MayContain(id)) return std::nullopt;
  if (answers_ != nullptr) {
    const auto& answers = answers_->answers_;
    const auto answer =
        std::lower_bound(answers.begin(), answers.end(), id,
                         [](const auto& a, const TransferId& b) { return a.id < b; });
    if (answer != answers.end() && answer->id == id) {
      // Ids are unique across runs: found once is found for good; else only the newer runs.
      std::optional<ColdTransfer> found = answer->found;
      for (size_t r = answers_->run_count_; r < runs_.size() && !found; ++r) {
        found = FindIn(*runs_[r], id);
      }
      if (!found || found->record.timestamp_ns >= before_ns) return std::nullopt;
      return found;
    }
  }
  run_searches_.fetch_add(1, std::memory_order_relaxed);
  return FindInRuns(runs_, id, before_ns);
}

ColdResolution ColdStore::FindResolution(const TransferId& pending_id, uint64_t before_ns) const {
  ColdResolution resolution;
  for (const auto& run : runs_) {
    if (run->header().begin_ns >= before_ns) break;
    const uint64_t entries = run->Count<ResolutionEntry>(RunSection::kResolutions);
    for (uint64_t i = LowerBound<ResolutionEntry>(
             *run, RunSection::kResolutions,
             [&pending_id](const ResolutionEntry& entry) { return entry.pending_id < pending_id; });
         i < entries; ++i) {
      const ResolutionEntry& entry = run->At<ResolutionEntry>(RunSection::kResolutions, i);
      if (entry.pending_id != pending_id) break;
      if ((entry.where & kIsExpiry) != 0) {
        const ExpiryFact& expiry =
            run->At<ExpiryFact>(RunSection::kExpiries, entry.where & ~kIsExpiry);
        if (expiry.timestamp_ns >= before_ns) continue;
        resolution.status = PendingStatus::kExpired;
        resolution.expired_at_ns = expiry.timestamp_ns;
        return resolution;
      }
      const Transfer& resolver = run->At<Transfer>(RunSection::kTransfers, entry.where);
      if (resolver.timestamp_ns >= before_ns) continue;
      resolution.status = (resolver.flags & transfer_flags::kPostPending) != 0
                              ? PendingStatus::kPosted
                              : PendingStatus::kVoided;
      resolution.resolver = resolver;
      return resolution;
    }
  }
  return resolution;
}

ColdReversals ColdStore::FindReversals(const TransferId& id, uint64_t before_ns,
                                       std::span<TransferId> ids_out) const {
  ColdReversals reversals;
  for (const auto& run : runs_) {
    if (run->header().begin_ns >= before_ns) break;
    const uint64_t entries = run->Count<ReversalEntry>(RunSection::kReversals);
    for (uint64_t i = LowerBound<ReversalEntry>(
             *run, RunSection::kReversals,
             [&id](const ReversalEntry& entry) { return entry.reverses_id < id; });
         i < entries; ++i) {
      const ReversalEntry& entry = run->At<ReversalEntry>(RunSection::kReversals, i);
      if (entry.reverses_id != id) break;
      const Transfer& reversal = run->At<Transfer>(RunSection::kTransfers, entry.position);
      if (reversal.timestamp_ns >= before_ns) break;  // booking order within a run
      if (reversals.count < ids_out.size()) ids_out[reversals.count] = reversal.id;
      // Never overflows: the engine keeps reversals of a transfer within its amount.
      reversals.reversed = Amount::From(reversals.reversed.Get() + reversal.amount.Get());
      ++reversals.count;
    }
  }
  return reversals;
}

size_t ColdStore::GetAccountTransfers(const AccountFilter& filter, std::span<Transfer> out) const {
  return AccountTransfersIn(runs_, filter, out);
}

size_t ColdStore::GetAccountBalances(const AccountFilter& filter,
                                     std::span<AccountBalance> out) const {
  return AccountBalancesIn(runs_, filter, out);
}

std::vector<const Run*> ColdStore::RunPointers() const {
  // Runs never change or go while the store is open: the pointers stay good.
  std::vector<const Run*> runs;
  runs.reserve(runs_.size());
  for (const auto& run : runs_) runs.push_back(run.get());
  return runs;
}

PublishedRuns ColdStore::Published() const {
  PublishedRuns published;
  std::lock_guard lock(publish_mutex_);
  published.runs_ = RunPointers();
  if (ids_loaded_.load(std::memory_order_acquire)) published.filter_ = filter_;
  return published;
}

PublishedRuns::PublishedRuns() = default;
PublishedRuns::PublishedRuns(const PublishedRuns&) = default;
PublishedRuns::~PublishedRuns() = default;

bool PublishedRuns::MayHold(const TransferId& id) const {
  return filter_ == nullptr || filter_->MayContain(id);
}

void PublishedRuns::PrefetchFilter(const TransferId& id) const {
  if (filter_ != nullptr) filter_->Prefetch(id);
}

std::optional<ColdTransfer> PublishedRuns::FindTransfer(const TransferId& id,
                                                        uint64_t before_ns) const {
  if (!MayHold(id)) return std::nullopt;
  // Old history's lookups mostly miss the page cache: each block is read in one go.
  return FindInRuns(runs_, id, before_ns, /*read_block=*/true);
}

size_t PublishedRuns::GetAccountTransfers(const AccountFilter& filter,
                                          std::span<Transfer> out) const {
  return AccountTransfersIn(runs_, filter, out);
}

size_t PublishedRuns::GetAccountBalances(const AccountFilter& filter,
                                         std::span<AccountBalance> out) const {
  return AccountBalancesIn(runs_, filter, out);
}

// Scans the runs' records in the time range: the user data, ledger and code are not indexed in
// the runs (yet), so a selective query over a long range reads every record in it.
size_t ColdStore::QueryTransfers(const QueryFilter& filter, std::span<Transfer> out) const {
  const uint64_t max_ns = MaxOf(filter.timestamp_max_ns);
  const size_t limit = LimitOf(filter.limit, out.size());
  size_t count = 0;
  WalkRuns(runs_, filter.reversed, [&](const Run& run) {
    if (!Overlaps(run, filter.timestamp_min_ns, max_ns)) return count < limit;
    const uint64_t begin = LowerBound<Transfer>(
        run, RunSection::kTransfers,
        [&](const Transfer& t) { return t.timestamp_ns < filter.timestamp_min_ns; });
    const uint64_t end = LowerBound<Transfer>(
        run, RunSection::kTransfers, [&](const Transfer& t) { return t.timestamp_ns <= max_ns; });
    Walk(begin, std::max(begin, end), filter.reversed, [&](uint64_t i) {
      if (count >= limit) return false;
      const Transfer& t = run.At<Transfer>(RunSection::kTransfers, i);
      if ((filter.user_data_128.IsZero() || t.user_data_128 == filter.user_data_128) &&
          (filter.user_data_64 == 0 || t.user_data_64 == filter.user_data_64) &&
          (filter.user_data_32 == 0 || t.user_data_32 == filter.user_data_32) &&
          (filter.ledger == 0 || t.ledger == filter.ledger) &&
          (filter.code == 0 || t.code == filter.code)) {
        out[count++] = t;
      }
      return true;
    });
    return count < limit;
  });
  return count;
}

}  // namespace ledger::cold
