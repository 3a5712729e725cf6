#include "cold/internal/filter_file.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/hash.h"

namespace ledger::cold::internal {

namespace {

constexpr uint64_t kWordsPerPiece = 8192;  // words copied out of the filter at a time

Hash128 HeaderChecksumOf(const FilterFileHeader& header) {
  return base::HashBytes128(
      std::as_bytes(std::span(&header, 1)).first(offsetof(FilterFileHeader, checksum)));
}

template <typename T>
std::span<const std::byte> BytesOf(const T& value) {
  return std::as_bytes(std::span(&value, 1));
}

absl::Status Damaged(const std::string& path, const char* why) {
  return absl::DataLossError(absl::StrCat(path, ": ", why));
}

}  // namespace

absl::Status SaveIds(wal::Storage& storage, const std::string& directory, const IdFilter& filter,
                     uint64_t capacity_ids, std::span<const Run* const> runs) {
  const std::string path = absl::StrCat(directory, "/", kFilterFileName);
  const std::string temporary_path = absl::StrCat(path, kTemporarySuffix);
  storage.Remove(temporary_path).IgnoreError();           // a leftover of a crash
  wal::TemporaryFile temporary(storage, temporary_path);  // gone if the disk fills half way
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> file,
                          storage.Open(temporary_path, {.create_new = true, .direct = true}));
  wal::BlockWriter writer(*file, wal::BlockWriter::kBesideTheLogBytes);
  LEDGER_RETURN_IF_ERROR(writer.Put(sizeof(FilterFileHeader), {}));  // the header last
  base::Hasher128 body_hasher;
  const auto append = [&](std::span<const std::byte> bytes) {
    body_hasher.Update(bytes);
    return writer.Append(bytes);
  };
  uint64_t fence_count = 0;
  for (const Run* run : runs) {
    if (!run->has_fences()) return absl::FailedPreconditionError("a run's fences are not loaded");
    const uint64_t run_fences = run->fences().size();
    LEDGER_RETURN_IF_ERROR(append(BytesOf(run->header().checksum)));
    LEDGER_RETURN_IF_ERROR(append(BytesOf(run_fences)));
    fence_count += run_fences;
  }
  for (const Run* run : runs) {
    LEDGER_RETURN_IF_ERROR(append(std::as_bytes(std::span(run->fences()))));
  }
  std::vector<uint64_t> piece(kWordsPerPiece);
  for (uint64_t first = 0; first < filter.word_count(); first += kWordsPerPiece) {
    const uint64_t count = std::min(kWordsPerPiece, filter.word_count() - first);
    for (uint64_t i = 0; i < count; ++i) piece[i] = filter.Word(first + i);
    LEDGER_RETURN_IF_ERROR(append(std::as_bytes(std::span(piece).first(count))));
  }
  FilterFileHeader header{};
  header.magic = kFilterFileMagic;
  header.format_version = kFilterFileVersion;
  header.run_count = runs.size();
  header.capacity_ids = capacity_ids;
  header.word_count = filter.word_count();
  header.fence_count = fence_count;
  header.body_size_bytes = writer.end() - sizeof(FilterFileHeader);
  header.body_checksum = body_hasher.Digest();
  header.checksum = HeaderChecksumOf(header);
  LEDGER_RETURN_IF_ERROR(writer.Finish());
  LEDGER_RETURN_IF_ERROR(writer.RewriteFirstBlock(BytesOf(header)));
  LEDGER_RETURN_IF_ERROR(file->Truncate(sizeof(FilterFileHeader) + header.body_size_bytes));
  LEDGER_RETURN_IF_ERROR(file->Sync());
  file.reset();
  LEDGER_RETURN_IF_ERROR(storage.Rename(temporary_path, path));
  temporary.Keep();
  return storage.SyncDirectory(directory);
}

absl::StatusOr<SavedIds> LoadSavedIds(wal::Storage& storage, const std::string& directory,
                                      std::span<const std::unique_ptr<Run>> runs) {
  const std::string path = absl::StrCat(directory, "/", kFilterFileName);
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> file, storage.Open(path, {}));
  LEDGER_ASSIGN_OR_RETURN(const uint64_t size, file->Size());
  if (size < sizeof(FilterFileHeader)) return Damaged(path, "shorter than its header");
  LEDGER_ASSIGN_OR_RETURN(const std::shared_ptr<const std::byte> mapping, file->MapReadOnly(size));
  FilterFileHeader header;
  std::memcpy(&header, mapping.get(), sizeof(header));
  if (header.magic != kFilterFileMagic || header.format_version != kFilterFileVersion ||
      header.checksum != HeaderChecksumOf(header) ||
      header.body_size_bytes != size - sizeof(header)) {
    return Damaged(path, "header is malformed, of another version, or does not match the file");
  }
  const std::span<const std::byte> body(mapping.get() + sizeof(header), header.body_size_bytes);
  if (base::HashBytes128(body) != header.body_checksum) return Damaged(path, "checksum fails");
  // The header is checked: its counts describe the body, whose size follows from them.
  const uint64_t runs_bytes = header.run_count * (sizeof(Hash128) + sizeof(uint64_t));
  if (header.run_count > body.size() / (sizeof(Hash128) + sizeof(uint64_t)) ||
      header.fence_count > body.size() / sizeof(TransferId) ||
      header.word_count > body.size() / sizeof(uint64_t) ||
      runs_bytes + header.fence_count * sizeof(TransferId) + header.word_count * sizeof(uint64_t) !=
          body.size()) {
    return Damaged(path, "sections do not add up to the file");
  }
  if (header.run_count > runs.size()) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": holds the ids of ", header.run_count,
                                                      " runs, the store has ", runs.size()));
  }
  // Before the filter is built: its size follows from capacity_ids, which only this check
  // bounds by the file's size (a damaged capacity must not size an allocation).
  if (header.capacity_ids > body.size() ||
      IdFilter::WordCountFor(header.capacity_ids) != header.word_count) {
    return Damaged(path, "its filter's size does not match its capacity");
  }
  SavedIds saved;
  saved.capacity_ids = header.capacity_ids;
  saved.filter = std::make_unique<IdFilter>(header.capacity_ids);
  const std::byte* fences = body.data() + runs_bytes;
  for (uint64_t r = 0; r < header.run_count; ++r) {
    Hash128 checksum;
    uint64_t fence_count;
    const std::byte* entry = body.data() + r * (sizeof(Hash128) + sizeof(uint64_t));
    std::memcpy(&checksum, entry, sizeof(checksum));
    std::memcpy(&fence_count, entry + sizeof(checksum), sizeof(fence_count));
    if (checksum != runs[r]->header().checksum) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": run ", r + 1, " is not the one whose ids it holds"));
    }
    // Fences steer every lookup in the run: they must be the run's (every kFenceStride-th id,
    // ascending), or a stored id could be missed and a retry booked twice.
    const uint64_t id_count = runs[r]->Count<IdEntry>(RunSection::kIds);
    const uint64_t fences_left =
        static_cast<uint64_t>(body.data() + runs_bytes + header.fence_count * sizeof(TransferId) -
                              fences) /
        sizeof(TransferId);
    if (fence_count != (id_count + Run::kFenceStride - 1) / Run::kFenceStride ||
        fence_count > fences_left) {
      return Damaged(path, "fences do not match their run");
    }
    std::vector<TransferId>& run_fences = saved.fences.emplace_back(fence_count);
    if (fence_count > 0) {
      std::memcpy(run_fences.data(), fences, fence_count * sizeof(TransferId));
    }
    for (uint64_t i = 1; i < fence_count; ++i) {
      if (!(run_fences[i - 1] < run_fences[i])) return Damaged(path, "fences out of order");
    }
    fences += fence_count * sizeof(TransferId);
  }
  const std::byte* words = body.data() + runs_bytes + header.fence_count * sizeof(TransferId);
  if (fences != words) return Damaged(path, "fences do not add up");
  for (uint64_t i = 0; i < header.word_count; ++i) {
    uint64_t word;
    std::memcpy(&word, words + i * sizeof(word), sizeof(word));
    saved.filter->SetWord(i, word);
  }
  return saved;
}

}  // namespace ledger::cold::internal
