#include "replica/internal/snapshot.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/assert.h"

namespace ledger::replica::internal {

namespace {

using engine::SnapshotSectionKind;

bool Is(uint32_t kind, SnapshotSectionKind wanted) { return kind == static_cast<uint32_t>(wanted); }

// An image's sections as wal/ writes them: the extent's (the transfers), or the snapshot
// file's (the others, then the extents it names).
class ImageSource final : public wal::SnapshotSource {
 public:
  ImageSource(const engine::EngineSnapshot& image, bool extent, std::span<const ExtentRef> refs)
      : image_(image), extent_(extent), refs_(refs) {}
  uint64_t last_timestamp_ns() const override { return image_.last_timestamp_ns(); }
  absl::Status Stream(StartSection start, WriteBytes write) const override {
    LEDGER_RETURN_IF_ERROR(image_.Stream(
        [&](SnapshotSectionKind kind, uint32_t record_size_bytes, uint64_t size_bytes) {
          return start(static_cast<uint32_t>(kind), record_size_bytes, size_bytes);
        },
        write,
        [&](SnapshotSectionKind kind) {
          return (kind == SnapshotSectionKind::kTransfers) == extent_;
        }));
    if (extent_) return absl::OkStatus();
    LEDGER_RETURN_IF_ERROR(start(kExtentRefsSection, sizeof(ExtentRef), refs_.size_bytes()));
    return write(std::as_bytes(refs_));
  }

 private:
  const engine::EngineSnapshot& image_;
  bool extent_;
  std::span<const ExtentRef> refs_;
};

template <typename T>
std::vector<T> CopyRecords(std::span<const std::byte> bytes) {
  std::vector<T> records(bytes.size() / sizeof(T));
  if (!records.empty()) std::memcpy(records.data(), bytes.data(), records.size() * sizeof(T));
  return records;
}

// The extents a snapshot file names; nullopt when it names none (its window is in the file).
absl::StatusOr<std::optional<std::vector<ExtentRef>>> ExtentRefsOf(
    const wal::LoadedSnapshot& snapshot, const std::string& path) {
  std::optional<std::vector<ExtentRef>> refs;
  bool transfers_inside = false;
  bool changes_inside = false;
  for (const wal::SnapshotSection& section : snapshot.sections) {
    transfers_inside |= Is(section.kind, SnapshotSectionKind::kTransfers);
    changes_inside |= Is(section.kind, SnapshotSectionKind::kChanges);
    if (section.kind != kExtentRefsSection) continue;
    if (refs.has_value() || section.record_size_bytes != sizeof(ExtentRef) ||
        section.bytes.size() % sizeof(ExtentRef) != 0) {
      return absl::DataLossError(absl::StrCat("snapshot ", path, ": malformed extent list"));
    }
    refs = CopyRecords<ExtentRef>(section.bytes);
  }
  const auto names_changes = [&] {
    return std::any_of(refs->begin(), refs->end(),
                       [](const ExtentRef& ref) { return ref.change_count > 0; });
  };
  if (refs.has_value() && (transfers_inside || (changes_inside && names_changes()))) {
    return absl::DataLossError(absl::StrCat(
        "snapshot ", path, ": holds transfers, or changes, that it names in extents too"));
  }
  return refs;
}

// The extent files `refs` name, by op.
std::vector<uint64_t> OpsOf(std::span<const ExtentRef> refs) {
  std::vector<uint64_t> ops;
  for (const ExtentRef& ref : refs) ops.push_back(ref.op);
  return ops;
}

// The newest `count` records of an extent's section of `kind`, as a piece of the engine's
// section.
absl::Status TakeNewest(const wal::LoadedSnapshot& extent, const std::string& path,
                        SnapshotSectionKind kind, uint32_t record_size_bytes, uint64_t count,
                        std::vector<engine::SnapshotSection>& sections) {
  for (const wal::SnapshotSection& section : extent.sections) {
    if (section.kind != static_cast<uint32_t>(kind)) continue;
    if (section.record_size_bytes != record_size_bytes ||
        section.bytes.size() / record_size_bytes < count) {
      return absl::DataLossError(absl::StrCat(path, ": section ", section.kind,
                                              " holds fewer records than its snapshot names"));
    }
    sections.push_back({kind, record_size_bytes, section.bytes.last(count * record_size_bytes)});
    return absl::OkStatus();
  }
  if (count == 0) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat(path, ": section ", static_cast<uint32_t>(kind), " missing"));
}

}  // namespace

engine::CaptureOptions SnapshotWriter::NextCapture() const {
  if (chain_.extents.empty() || chain_.extents.size() >= extents_max_) return {};
  return {chain_.through_timestamp_ns};
}

absl::Status SnapshotWriter::Write(const engine::EngineSnapshot& image, uint64_t op,
                                   const wal::Hash128& chain_hash) {
  // The rest of the window: of each older extent, newest first, as many of the records it
  // held for the previous snapshot as are still in the window (which only moves forward).
  uint64_t transfers_needed = image.window_transfer_count() - image.transfer_count();
  std::vector<ExtentRef> refs;
  for (auto older = chain_.extents.rbegin(); older != chain_.extents.rend() && transfers_needed > 0;
       ++older) {
    ExtentRef ref = *older;
    ref.transfer_count = std::min(transfers_needed, older->transfer_count);
    ref.change_count = 0;  // the change feed is derived at restore (an extent of format 3's)
    transfers_needed -= ref.transfer_count;
    refs.push_back(ref);
  }
  if (transfers_needed > 0) {
    chain_ = {};  // the next snapshot writes its whole window
    return absl::InternalError(
        absl::StrCat("snapshot at op ", op, ": its extents lack ", transfers_needed,
                     " transfers of the window; the next one writes it all"));
  }
  std::reverse(refs.begin(), refs.end());
  // An extent only when there is something new (a snapshot again at the same op has nothing).
  if (image.transfer_count() > 0) {
    LEDGER_ASSIGN_OR_RETURN(
        const wal::SnapshotHeader extent,
        wal::WriteExtent(directory_, op, chain_hash, ImageSource(image, /*extent=*/true, {})));
    refs.push_back({op, image.transfer_count(), 0, 0, extent.body_checksum});
  }
  LEDGER_RETURN_IF_ERROR(
      wal::WriteSnapshot(directory_, op, chain_hash, ImageSource(image, /*extent=*/false, refs)));
  extents_named_[op] = OpsOf(refs);
  chain_ = {std::move(refs), image.last_timestamp_ns()};
  return absl::OkStatus();
}

absl::Status SnapshotWriter::Prune(size_t keep) {
  LEDGER_RETURN_IF_ERROR(wal::PruneSnapshots(directory_, keep));
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> snapshots, directory_.ListSnapshots());
  std::map<uint64_t, std::vector<uint64_t>> kept;
  for (const uint64_t op : snapshots) {
    if (auto known = extents_named_.find(op); known != extents_named_.end()) {
      kept.insert(*known);
      continue;
    }
    const std::string path = directory_.SnapshotPath(op);
    absl::StatusOr<wal::LoadedSnapshot> snapshot = wal::ReadSnapshot(directory_, op);
    // What an unreadable snapshot names is unknown: its extents stay until it is pruned.
    if (!snapshot.ok()) return absl::OkStatus();
    LEDGER_ASSIGN_OR_RETURN(const std::optional<std::vector<ExtentRef>> refs,
                            ExtentRefsOf(*snapshot, path));
    kept[op] = refs.has_value() ? OpsOf(*refs) : std::vector<uint64_t>{};
  }
  extents_named_ = std::move(kept);
  std::set<uint64_t> named;
  for (const auto& [op, extent_ops] : extents_named_)
    named.insert(extent_ops.begin(), extent_ops.end());
  LEDGER_ASSIGN_OR_RETURN(const std::vector<uint64_t> extents, directory_.ListExtents());
  for (const uint64_t op : extents) {
    if (named.contains(op)) continue;
    LEDGER_RETURN_IF_ERROR(directory_.storage().Remove(directory_.ExtentPath(op)));
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedEngineSnapshot> LoadSnapshot(const wal::Directory& directory, uint64_t op,
                                                  wal::BodyCheck check) {
  LoadedEngineSnapshot loaded;
  LEDGER_ASSIGN_OR_RETURN(loaded.snapshot, wal::ReadSnapshot(directory, op, check));
  const std::string& path = loaded.snapshot.path;
  LEDGER_ASSIGN_OR_RETURN(const std::optional<std::vector<ExtentRef>> refs,
                          ExtentRefsOf(loaded.snapshot, path));
  for (const wal::SnapshotSection& section : loaded.snapshot.sections) {
    if (section.kind == kExtentRefsSection) continue;
    loaded.sections.push_back(
        {static_cast<SnapshotSectionKind>(section.kind), section.record_size_bytes, section.bytes});
  }
  if (!refs.has_value()) return loaded;
  // Both sections even when no extent holds any of them (an empty window, or changes only in
  // the file itself, as from format 4 on): an empty piece changes nothing. Extents written
  // with format 3 may hold changes.
  loaded.sections.push_back({SnapshotSectionKind::kTransfers, sizeof(Transfer), {}});
  loaded.sections.push_back({SnapshotSectionKind::kChanges, sizeof(Change), {}});
  for (const ExtentRef& ref : *refs) {
    const std::string extent_path = directory.ExtentPath(ref.op);
    absl::StatusOr<wal::LoadedSnapshot> extent = wal::ReadExtent(directory, ref.op, check);
    if (!extent.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, " names ", extent_path, ": ", extent.status().message()));
    }
    if (extent->header.body_checksum != ref.body_checksum || ref.reserved != 0) {
      return absl::DataLossError(absl::StrCat(path, " names ", extent_path,
                                              ", which is not the extent it was written with"));
    }
    LEDGER_RETURN_IF_ERROR(TakeNewest(*extent, extent_path, SnapshotSectionKind::kTransfers,
                                      sizeof(Transfer), ref.transfer_count, loaded.sections));
    LEDGER_RETURN_IF_ERROR(TakeNewest(*extent, extent_path, SnapshotSectionKind::kChanges,
                                      sizeof(Change), ref.change_count, loaded.sections));
    loaded.extents.push_back(*std::move(extent));
  }
  loaded.chain = {*refs, loaded.snapshot.header.timestamp_ns};
  return loaded;
}

absl::Status CheckBodies(const LoadedEngineSnapshot& loaded) {
  LEDGER_RETURN_IF_ERROR(wal::CheckBody(loaded.snapshot));
  for (const wal::LoadedSnapshot& extent : loaded.extents) {
    absl::Status checked = wal::CheckBody(extent);
    if (!checked.ok()) {
      return absl::DataLossError(
          absl::StrCat(loaded.snapshot.path, " names ", extent.path, ": ", checked.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace ledger::replica::internal
