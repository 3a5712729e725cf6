// One run file (cold/format.h): written once from a batch of facts, then mapped and read.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/assert.h"
#include "cold/format.h"
#include "engine/cold.h"
#include "wal/storage.h"

namespace ledger::cold::internal {

// The facts of one run, already cut to what the store lacks.
struct RunFacts {
  uint64_t begin_ns = 0;
  uint64_t end_ns = 0;
  std::span<const Transfer> transfers;
  std::span<const engine::FailureRecord> failures;
  std::span<const engine::ExpiryFact> expiries;
  std::span<const engine::BalanceFact> balances;
};

// The sorted sections of the run being written, kept from one run to the next so their memory
// is reused (the writer's thread owns it). After WriteRun, `ids` holds the run's ids.
struct RunScratch {
  std::vector<engine::BalanceFact> balances;
  std::vector<IdEntry> ids;
  std::vector<AccountEntry> accounts;
  std::vector<AccountEntry> accounts_unsorted;  // in booking order, before grouping
  std::vector<uint32_t> account_slots;          // each unsorted entry's account, numbered
  std::vector<ResolutionEntry> resolutions;
  std::vector<ReversalEntry> reversals;
  std::vector<AccountFence> account_fences;
};

// Writes run `sequence` into `directory` durably: under a temporary name, synced, renamed, and
// the directory synced. InvalidArgument when the transfers are not in booking order inside
// [begin_ns, end_ns).
absl::Status WriteRun(wal::Storage& storage, const std::string& directory, uint64_t sequence,
                      const RunFacts& facts, RunScratch& scratch);

// A run mapped for reading. Thread-safe: its bytes never change, and a chunk's check is
// recorded in an atomic bitmap (two threads may both check a chunk; both agree).
class Run {
 public:
  // Reads and checks the header and the checksums section; DataLoss naming the file when they
  // do not hold.
  static absl::StatusOr<std::unique_ptr<Run>> Open(wal::Storage& storage, const std::string& path);

  const RunHeader& header() const { return header_; }
  const std::string& path() const { return path_; }

  template <typename Record>
  uint64_t Count(RunSection section) const {
    return header_.sections[static_cast<size_t>(section)].size_bytes / sizeof(Record);
  }
  // The record at `index` of `section`, its chunks checked first. A chunk that fails its
  // check stops the process, naming the file and the chunk: the store must never answer
  // "nothing" for what it cannot read (engine/cold.h).
  // `index` must be below Count<Record>(section) (checked: a position read from the run that
  // is not, and which Verify would have named, stops the process).
  template <typename Record>
  const Record& At(RunSection section, uint64_t index) const {
    const SectionExtent& extent = header_.sections[static_cast<size_t>(section)];
    // Compared before multiplying: index * sizeof(Record) may wrap for a position read from a
    // damaged run, and a wrapped offset would pass CheckRange.
    LEDGER_REQUIRE(index < Count<Record>(section), index, extent.size_bytes);
    const uint64_t offset = index * sizeof(Record);
    CheckRange(extent, offset, sizeof(Record));
    return *reinterpret_cast<const Record*>(bytes_.get() + extent.offset + offset);
  }

  // Starts reading records [index, index + count) of `section` from the disk, if they are not
  // in memory, without waiting (several pages a read will want are then read side by side).
  template <typename Record>
  void Prefetch(RunSection section, uint64_t index, uint64_t count = 1) const {
    const SectionExtent& extent = header_.sections[static_cast<size_t>(section)];
    const uint64_t records = Count<Record>(section);
    if (index >= records || count > records - index) return;  // no product that could wrap
    const uint64_t offset = index * sizeof(Record);
    const uint64_t size_bytes = count * sizeof(Record);
    file_->PrefetchMapped(bytes_.get() + extent.offset + offset, size_bytes);
  }

  // Checks every chunk, then that every position the sorted sections hold names a record of
  // the run filed under the same id (account, reservation, reversed transfer): DataLoss naming
  // the first that fails. A run whose checksums hold but whose positions do not (a writer's
  // bug, or an edit whose checksums were recomputed: XXH3 is no MAC) stops a read of them.
  absl::Status Verify() const;
  // Lets the pages reads have touched leave this process's resident memory (they stay in the
  // page cache); the run reads on as before.
  void DropPages() const { file_->DropMappedPages(bytes_.get(), header_.file_size_bytes); }
  // Calls visit(entries) with the run's id entries, a chunk's worth at a time, read with pread
  // (and checked), not through the mapping: filling the id filter leaves no pages resident in
  // this process.
  absl::Status ForEachIds(const std::function<void(std::span<const IdEntry>)>& visit) const;

  // The fences of the id section: the id of every kFenceStride-th entry, in memory, so a
  // lookup searches them first and then one block of the section (a page or two) instead of
  // touching twenty pages of it: 16 bytes per 256 ids. Set once (SetFences, from the ids in
  // order); a lookup on another thread before that searches the whole section.
  static constexpr uint64_t kFenceStride = 256;
  bool has_fences() const { return has_fences_.load(std::memory_order_acquire); }
  void SetFences(std::vector<TransferId> fences) {
    fences_ = std::move(fences);
    has_fences_.store(true, std::memory_order_release);
  }
  const std::vector<TransferId>& fences() const { return fences_; }  // once has_fences()
  // The index of the entry holding `id`, or Count<IdEntry>(kIds) when there is none.
  // `read_block`: the block's pages are asked for together first (one read where the binary
  // search waited for two or three in turn), with the records at the same indexes, for readers
  // that mostly miss the page cache (old history); not for the engine's, whose blocks are
  // mostly cached (an madvise each cost a replay four times its time).
  uint64_t FindId(const TransferId& id, bool read_block = false) const;

  // The account fences (format 3; empty before): the key of every kAccountFenceStride-th entry
  // of kAccounts, read at open.
  std::span<const AccountFence> account_fences() const { return account_fences_; }

 private:
  Run() = default;
  void CheckRange(const SectionExtent& extent, uint64_t offset, uint64_t size_bytes) const;
  absl::Status CheckChunk(const SectionExtent& extent, uint64_t chunk_in_section) const;
  // Verify's second half: the sorted sections' positions (every chunk checked already).
  absl::Status CheckPositions() const;

  std::string path_;
  std::unique_ptr<wal::File> file_;
  RunHeader header_{};
  std::shared_ptr<const std::byte> bytes_;
  std::span<const Hash128> checksums_;
  std::unique_ptr<std::atomic<uint64_t>[]> checked_;  // one bit per chunk
  uint64_t chunk_bytes_ = kChunkBytes;                // the header's (version 1: 64 KiB)
  std::vector<TransferId> fences_;
  std::atomic<bool> has_fences_{false};
  std::vector<AccountFence> account_fences_;
};

// The first index in [begin, end) whose record is not less than the key (less(record) says
// "record < key"), reading through run.At.
template <typename Record, typename Less>
uint64_t LowerBoundIn(const Run& run, RunSection section, uint64_t begin, uint64_t end,
                      Less&& less) {
  uint64_t low = begin;
  uint64_t count = end - begin;
  while (count > 0) {
    const uint64_t half = count / 2;
    if (less(run.At<Record>(section, low + half))) {
      low += half + 1;
      count -= half + 1;
    } else {
      count = half;
    }
  }
  return low;
}

// LowerBoundIn over the whole section.
template <typename Record, typename Less>
uint64_t LowerBound(const Run& run, RunSection section, Less&& less) {
  return LowerBoundIn<Record>(run, section, 0, run.Count<Record>(section),
                              std::forward<Less>(less));
}

inline uint64_t Run::FindId(const TransferId& id, bool read_block) const {
  const uint64_t count = Count<IdEntry>(RunSection::kIds);
  uint64_t begin = 0;
  uint64_t end = count;
  if (has_fences()) {
    const auto after = std::upper_bound(fences_.begin(), fences_.end(), id);
    if (after == fences_.begin()) return count;  // below the first id
    begin = static_cast<uint64_t>(after - fences_.begin() - 1) * kFenceStride;
    end = std::min(begin + kFenceStride, count);
    // Above the last id (its page cached after the first time): no block to search. A new
    // sequential id that passed the filter then searches no run at all.
    if (after == fences_.end() && At<IdEntry>(RunSection::kIds, count - 1).id < id) return count;
    if (read_block) {
      Prefetch<IdEntry>(RunSection::kIds, begin, end - begin);
      // And the records at the same indexes: ids issued in booking order (sequential, ULIDs,
      // UUIDv7) sort as their records do, so the record sought is among them and arrives with
      // the block (one wait for the disk, not two); other ids only read 38 KB for nothing.
      Prefetch<Transfer>(RunSection::kTransfers, begin,
                         std::min(end, Count<Transfer>(RunSection::kTransfers)) - begin);
    }
  }
  const uint64_t index = LowerBoundIn<IdEntry>(
      *this, RunSection::kIds, begin, end, [&id](const IdEntry& entry) { return entry.id < id; });
  return index < end && At<IdEntry>(RunSection::kIds, index).id == id ? index : count;
}

// Where the account fences place the first entry of kAccounts whose key is not before the one
// sought (before(account_id, timestamp_ns) says "this key is before it"): the range to search,
// [begin, end), with the entry at begin - 1 before it and the one at end not (where they
// exist). The whole section without fences (format 2).
template <typename Before>
std::pair<uint64_t, uint64_t> AccountBlock(const Run& run, Before&& before) {
  const std::span<const AccountFence> fences = run.account_fences();
  const uint64_t count = run.Count<AccountEntry>(RunSection::kAccounts);
  if (fences.empty()) return {0, count};
  const uint64_t fences_before =
      static_cast<uint64_t>(std::partition_point(fences.begin(), fences.end(),
                                                 [&](const AccountFence& f) {
                                                   return before(f.account_id, f.timestamp_ns);
                                                 }) -
                            fences.begin());
  if (fences_before == 0) return {0, 0};
  return {(fences_before - 1) * kAccountFenceStride + 1,
          std::min(fences_before * kAccountFenceStride, count)};
}

// Starts reading a block's pages, with `margin` entries on either side (at least the one
// AccountLowerBound checks there; a page walks on from the bound), all in one read.
inline void PrefetchAccountBlock(const Run& run, std::pair<uint64_t, uint64_t> block,
                                 uint64_t margin) {
  if (run.account_fences().empty()) return;  // format 2: the section is searched page by page
  margin = std::max<uint64_t>(margin, 1);
  const uint64_t begin = block.first - std::min(block.first, margin);
  const uint64_t end =
      std::min(block.second + margin, run.Count<AccountEntry>(RunSection::kAccounts));
  run.Prefetch<AccountEntry>(RunSection::kAccounts, begin, end - begin);
}

// The first index of kAccounts whose key is not before the one sought, found in the block
// AccountBlock gave. If the entries around the block disagree with the fences (a run edited
// with its checksums recomputed), the whole section is searched: fences steer, never decide.
template <typename Before>
uint64_t AccountLowerBound(const Run& run, std::pair<uint64_t, uint64_t> block, Before&& before) {
  const auto entry_before = [&before](const AccountEntry& entry) {
    return before(entry.account_id, entry.timestamp_ns);
  };
  const uint64_t count = run.Count<AccountEntry>(RunSection::kAccounts);
  const bool placed = (block.first == 0 || entry_before(run.At<AccountEntry>(RunSection::kAccounts,
                                                                             block.first - 1))) &&
                      (block.second == count ||
                       !entry_before(run.At<AccountEntry>(RunSection::kAccounts, block.second)));
  if (!placed) block = {0, count};
  return LowerBoundIn<AccountEntry>(run, RunSection::kAccounts, block.first, block.second,
                                    entry_before);
}

}  // namespace ledger::cold::internal
