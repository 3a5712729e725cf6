#include "replica/install.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "cold/cold_store.h"
#include "cold/format.h"
#include "replica/internal/snapshot.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "wal/log_reader.h"

namespace ledger::replica {

namespace {

std::string ColdDirectoryOf(const wal::Directory& directory) { return directory.path() + "/cold"; }

// The cold store's run sequences, ascending (none when it has no directory yet).
absl::StatusOr<std::vector<uint64_t>> ListColdRuns(const wal::Directory& directory) {
  absl::StatusOr<std::vector<std::string>> names =
      directory.storage().List(ColdDirectoryOf(directory));
  if (absl::IsNotFound(names.status())) return std::vector<uint64_t>();
  LEDGER_RETURN_IF_ERROR(names.status());
  std::vector<uint64_t> sequences;
  for (const std::string& name : *names) {
    if (const std::optional<uint64_t> sequence = cold::RunSequenceOf(name)) {
      sequences.push_back(*sequence);
    }
  }
  std::sort(sequences.begin(), sequences.end());
  return sequences;
}

// What the directory holds that an install would replace, or empty when nothing.
absl::StatusOr<std::string> WhatItHolds(const wal::Directory& directory) {
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> snapshots, directory.ListSnapshots());
  if (!snapshots.empty()) return absl::StrCat("a snapshot at op ", snapshots.front());
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> extents, directory.ListExtents());
  if (!extents.empty()) return absl::StrCat("a snapshot extent at op ", extents.front());
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> runs, ListColdRuns(directory));
  if (!runs.empty()) return absl::StrCat(runs.size(), " cold runs");
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> segments, directory.ListSegments());
  if (segments != std::vector<uint64_t>{0}) return std::string("archived segments");
  LEDGER_ASSIGN_OR_RETURN(const wal::ScanResult log,
                          wal::ScanLog(directory, LogScanOptions(),
                                       [](const wal::EntryHeader&, std::span<const std::byte>) {
                                         return absl::OkStatus();
                                       }));
  if (log.entry_count > 0) return absl::StrCat("a log through op ", log.last_op);
  return std::string();
}

absl::Status RemoveAll(const wal::Directory& directory, const std::vector<uint64_t>& numbers,
                       std::string (wal::Directory::*path_of)(uint64_t) const) {
  for (const uint64_t number : numbers) {
    LEDGER_RETURN_IF_ERROR(directory.storage().Remove((directory.*path_of)(number)));
  }
  return absl::OkStatus();
}

}  // namespace

wal::Hash128 SectionsChecksum(std::span<const engine::SnapshotSection> sections) {
  base::Hasher128 hasher;
  for (const engine::SnapshotSection& section : sections) {
    hasher.UpdateValue(static_cast<uint32_t>(section.kind));
    hasher.UpdateValue(section.record_size_bytes);
    hasher.UpdateValue(static_cast<uint64_t>(section.bytes.size()));
    hasher.Update(section.bytes);
  }
  return hasher.Digest();
}

// ---------------------------------------------------------------------------------------------
// What a member sends

struct SnapshotImage::Loaded {
  internal::LoadedEngineSnapshot snapshot;
};

SnapshotImage::~SnapshotImage() = default;

absl::StatusOr<std::unique_ptr<SnapshotImage>> SnapshotImage::Open(
    const wal::Directory& directory) {
  std::unique_ptr<SnapshotImage> image(new SnapshotImage());
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> snapshot_ops, directory.ListSnapshots());
  for (const uint64_t op : snapshot_ops) {  // newest first
    absl::StatusOr<internal::LoadedEngineSnapshot> loaded = internal::LoadSnapshot(directory, op);
    if (!loaded.ok()) continue;  // damaged: an older one may do
    image->op_ = op;
    image->chain_hash_ = loaded->snapshot.header.chain_hash;
    image->loaded_ = std::make_unique<Loaded>(Loaded{std::move(*loaded)});
    break;
  }
  if (image->loaded_ == nullptr) {
    return absl::NotFoundError(absl::StrCat(directory.path(), " holds no snapshot that loads"));
  }
  // After the snapshot: every run it needs was written before it.
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> sequences, ListColdRuns(directory));
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i] != i + 1) {
      return absl::DataLossError(absl::StrCat("the cold store lacks ", cold::RunFileName(i + 1)));
    }
    const std::string path = ColdDirectoryOf(directory) + "/" + cold::RunFileName(sequences[i]);
    LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<wal::File> file, directory.storage().Open(path, {}));
    LEDGER_ASSIGN_OR_RETURN(const uint64_t size_bytes, file->Size());
    image->cold_runs_.push_back({sequences[i], size_bytes});
    image->cold_files_.push_back(std::move(file));
  }
  return image;
}

std::span<const engine::SnapshotSection> SnapshotImage::sections() const {
  return loaded_->snapshot.sections;
}

absl::Status SnapshotImage::ReadColdRun(size_t index, uint64_t offset,
                                        std::span<std::byte> out) const {
  if (index >= cold_runs_.size() || offset > cold_runs_[index].size_bytes ||
      out.size() > cold_runs_[index].size_bytes - offset) {
    return absl::OutOfRangeError("past the end of the cold run");
  }
  return cold_files_[index]->Read(offset, out);
}

// ---------------------------------------------------------------------------------------------
// Installing it

Installation::~Installation() = default;

absl::StatusOr<std::unique_ptr<Installation>> Installation::Begin(const wal::Directory& directory) {
  LEDGER_REQUIRE(directory.writable());
  LEDGER_RETURN_IF_ERROR(AbandonInstall(directory));
  LEDGER_ASSIGN_OR_RETURN(const std::string held, WhatItHolds(directory));
  if (!held.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("a snapshot is installed only on a directory that holds nothing yet; ",
                     directory.path(), " holds ", held));
  }
  LEDGER_RETURN_IF_ERROR(directory.SetInstallPending(true));
  return std::unique_ptr<Installation>(new Installation(directory));
}

absl::Status Installation::StartColdRun(uint64_t sequence, uint64_t size_bytes) {
  if (run_file_ != nullptr || sequence != next_sequence_) {
    return absl::InvalidArgumentError(
        absl::StrCat("cold run ", sequence, " does not follow run ", next_sequence_ - 1));
  }
  wal::Storage& storage = directory_.storage();
  const std::string cold_directory = ColdDirectoryOf(directory_);
  if (sequence == 1) {
    absl::Status created = storage.CreateDirectory(cold_directory);
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
    LEDGER_RETURN_IF_ERROR(directory_.SyncDirectory());
  }
  const std::string path =
      absl::StrCat(cold_directory, "/", cold::RunFileName(sequence), cold::kTemporarySuffix);
  LEDGER_ASSIGN_OR_RETURN(run_file_, storage.Open(path, {.writable = true, .create_new = true}));
  run_sequence_ = sequence;
  run_size_bytes_ = size_bytes;
  run_written_bytes_ = 0;
  return absl::OkStatus();
}

absl::Status Installation::WriteColdRun(std::span<const std::byte> bytes) {
  if (run_file_ == nullptr || bytes.size() > run_size_bytes_ - run_written_bytes_) {
    return absl::InvalidArgumentError("more bytes than the cold run holds");
  }
  LEDGER_RETURN_IF_ERROR(run_file_->Write(run_written_bytes_, bytes));
  run_written_bytes_ += bytes.size();
  return absl::OkStatus();
}

absl::Status Installation::EndColdRun() {
  if (run_file_ == nullptr || run_written_bytes_ != run_size_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat("cold run ", run_sequence_, " got ",
                                                   run_written_bytes_, " of its ", run_size_bytes_,
                                                   " bytes"));
  }
  LEDGER_RETURN_IF_ERROR(run_file_->Sync());
  run_file_.reset();
  const std::string path =
      absl::StrCat(ColdDirectoryOf(directory_), "/", cold::RunFileName(run_sequence_));
  LEDGER_RETURN_IF_ERROR(
      directory_.storage().Rename(absl::StrCat(path, cold::kTemporarySuffix), path));
  LEDGER_RETURN_IF_ERROR(directory_.storage().SyncDirectory(ColdDirectoryOf(directory_)));
  ++next_sequence_;
  return absl::OkStatus();
}

absl::Status Installation::Finish(uint64_t op, const wal::Hash128& chain_hash,
                                  std::span<const engine::SnapshotSection> sections,
                                  const wal::Hash128& sections_checksum,
                                  engine::EngineOptions options) {
  if (run_file_ != nullptr) return absl::InvalidArgumentError("a cold run is unfinished");
  if (op == 0) return absl::InvalidArgumentError("a snapshot follows an op");
  if (SectionsChecksum(sections) != sections_checksum) {
    return absl::DataLossError("the snapshot's sections arrived damaged (checksum)");
  }
  std::unique_ptr<cold::ColdStore> store;
  if (options.hot_transfers > 0 || next_sequence_ > 1) {
    LEDGER_ASSIGN_OR_RETURN(
        store, cold::ColdStore::Open(ColdDirectoryOf(directory_), directory_.storage()));
    LEDGER_RETURN_IF_ERROR(store->Verify());  // every chunk: the runs came over the network
  }
  options.cold = options.hot_transfers > 0 ? store.get() : nullptr;
  absl::StatusOr<std::unique_ptr<engine::Engine>> engine =
      engine::Engine::Restore(options, sections);
  if (!engine.ok()) {
    return absl::DataLossError(
        absl::StrCat("the snapshot sent does not restore: ", engine.status().message()));
  }
  if (store != nullptr && (*engine)->cold_before_ns() > store->end_ns()) {
    return absl::DataLossError(absl::StrCat("the cold store sent ends at ", store->end_ns(),
                                            " ns, before the snapshot's cold boundary ",
                                            (*engine)->cold_before_ns(), " ns"));
  }
  LEDGER_RETURN_IF_ERROR(WriteSnapshot(directory_, op, chain_hash, **engine));
  // The log starts after the snapshot: the first segment is 1, so recovery knows the entries
  // before it are elsewhere (replica/recovery.cc), and segment 0 (empty) goes.
  LEDGER_RETURN_IF_ERROR(directory_.CreateSegment(1));
  LEDGER_RETURN_IF_ERROR(directory_.storage().Remove(directory_.SegmentPath(0)));
  LEDGER_RETURN_IF_ERROR(directory_.SyncDirectory());
  return directory_.SetInstallPending(false);
}

absl::Status AbandonInstall(const wal::Directory& directory) {
  LEDGER_REQUIRE(directory.writable());
  LEDGER_ASSIGN_OR_RETURN(const bool pending, directory.InstallPending());
  if (!pending) return absl::OkStatus();
  wal::Storage& storage = directory.storage();
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> snapshots, directory.ListSnapshots());
  LEDGER_RETURN_IF_ERROR(RemoveAll(directory, snapshots, &wal::Directory::SnapshotPath));
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> extents, directory.ListExtents());
  LEDGER_RETURN_IF_ERROR(RemoveAll(directory, extents, &wal::Directory::ExtentPath));
  const std::string cold_directory = ColdDirectoryOf(directory);
  absl::StatusOr<std::vector<std::string>> cold_names = storage.List(cold_directory);
  if (cold_names.ok()) {
    for (const std::string& name : *cold_names) {
      LEDGER_RETURN_IF_ERROR(storage.Remove(cold_directory + "/" + name));
    }
    LEDGER_RETURN_IF_ERROR(storage.SyncDirectory(cold_directory));
  } else if (!absl::IsNotFound(cold_names.status())) {
    return cold_names.status();
  }
  // Segment 0 was empty when the install began, and the install only removes it.
  LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> segments, directory.ListSegments());
  if (segments.empty() || segments.front() != 0) {
    LEDGER_RETURN_IF_ERROR(directory.CreateSegment(0));
  }
  segments.erase(std::remove(segments.begin(), segments.end(), 0), segments.end());
  LEDGER_RETURN_IF_ERROR(RemoveAll(directory, segments, &wal::Directory::SegmentPath));
  LEDGER_RETURN_IF_ERROR(directory.SyncDirectory());
  return directory.SetInstallPending(false);
}

}  // namespace ledger::replica
