// The id filter and the runs' fences saved beside the runs (ids.filter in the store's
// directory), so that opening a store reads 2 bytes per cold id, once, instead of every run's
// 24-byte id entries (docs/cold-store.md, "Opening"). The file names the runs whose ids it
// holds by their header checksums; a store whose runs differ (rebuilt) ignores it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cold/format.h"
#include "cold/internal/id_filter.h"
#include "cold/internal/run.h"
#include "wal/storage.h"

namespace ledger::cold::internal {

inline constexpr char kFilterFileName[] = "ids.filter";
inline constexpr uint64_t kFilterFileMagic = 0x5245544c49464449ULL;  // "IDFILTER"
inline constexpr uint32_t kFilterFileVersion = 1;

// Then, in order: each run's header checksum (16 bytes) and fence count (8), every run's fences
// (16 each, run after run), the filter's words (8 each). Checksums: XXH3-128.
struct FilterFileHeader {
  uint64_t magic;
  uint32_t format_version;
  uint32_t reserved0;
  uint64_t run_count;     // the runs 1..run_count, whose ids the filter holds
  uint64_t capacity_ids;  // the filter's (IdFilter(capacity_ids))
  uint64_t word_count;
  uint64_t fence_count;
  uint64_t body_size_bytes;
  uint64_t reserved1;
  Hash128 body_checksum;
  uint8_t reserved2[32];
  Hash128 checksum;  // of the bytes before it
};
static_assert(sizeof(FilterFileHeader) == 128 && offsetof(FilterFileHeader, checksum) == 112);

// What a filter file holds.
struct SavedIds {
  std::unique_ptr<IdFilter> filter;
  uint64_t capacity_ids = 0;
  std::vector<std::vector<TransferId>> fences;  // of runs 1..fences.size()
};

// Writes `filter`, which holds the ids of exactly `runs` (the store's first runs, in sequence
// order, each with its fences), durably in place of the previous file.
absl::Status SaveIds(wal::Storage& storage, const std::string& directory, const IdFilter& filter,
                     uint64_t capacity_ids, std::span<const Run* const> runs);

// Reads the file back, checked against `runs` (the store's, from 1): NotFound when there is
// none, DataLoss when it is damaged, FailedPrecondition when its runs are not the store's.
absl::StatusOr<SavedIds> LoadSavedIds(wal::Storage& storage, const std::string& directory,
                                      std::span<const std::unique_ptr<Run>> runs);

}  // namespace ledger::cold::internal
