// libFuzzer target for the snapshot reader: a snapshot file's and its extent's bytes -> header,
// directory id, body checksum and section framing (wal/snapshot_file.h) -> the extent list and
// the extents it names (replica/recovery.h: RestoreSnapshot) -> Engine::Restore, which must
// trust nothing (engine/engine.h).
//
// Input: byte 0 is a set of flags (tests/fuzz/fuzz_util.h: kFixChecksums); bytes 1..4 the
// snapshot file's size n (little-endian, cut to what the input holds); then the snapshot file's
// n bytes; the rest, when there is any, is one extent file. Each file is named by the op its
// header holds (bytes 32..39), as the writer names them.
//
// Verdicts: RestoreSnapshot returns an engine or an error. An engine it returns must hold a
// state the engine itself stands behind: a snapshot of it restores to the same state hash, and
// a batch applied to it passes the engine's whole-state checks (LEDGER_EXPENSIVE_CHECKS, on in
// this build). A crash, a sanitizer report or a broken check is a bug.
//
// Seeds: LEDGER_FUZZ_WRITE_SEEDS=DIR snapshot_fuzz writes snapshots of the seed ledger
// (tests/fuzz/seed_ledger.h) that the real writers wrote, with and without extents, and exits.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "engine/engine.h"
#include "engine/snapshot.h"
#include "replica/internal/snapshot.h"
#include "replica/recovery.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/seed_ledger.h"
#include "tests/wal/memory_storage.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"

namespace ledger::wal {
namespace {

using fuzz::kFixChecksums;

constexpr size_t kPrefixBytes = 5;  // flags, the snapshot file's size

// The op in a snapshot or extent header, which names its file (1 when it is too short).
uint64_t OpOf(std::span<const std::byte> file) {
  if (file.size() < offsetof(SnapshotHeader, op) + sizeof(uint64_t)) return 1;
  uint64_t op;
  std::memcpy(&op, file.data() + offsetof(SnapshotHeader, op), sizeof(op));
  return op;
}

// Recomputes a snapshot or extent file's body size, body checksum and header checksum. In a
// snapshot file, the extent list's checksums are first set to the extent's (when there is one).
void FixChecksums(std::span<std::byte> file, const Hash128* extent_body_checksum) {
  if (file.size() < sizeof(SnapshotHeader)) return;
  SnapshotHeader header;
  std::memcpy(&header, file.data(), sizeof(header));
  const std::span<std::byte> body = file.subspan(sizeof(SnapshotHeader));
  if (extent_body_checksum != nullptr) {
    uint64_t position = 0;
    for (uint32_t i = 0;
         i < header.section_count && body.size() - position >= sizeof(SectionHeader); ++i) {
      SectionHeader section;
      std::memcpy(&section, body.data() + position, sizeof(section));
      position += sizeof(section);
      const uint64_t size = std::min<uint64_t>(section.size_bytes, body.size() - position);
      if (section.kind == replica::internal::kExtentRefsSection) {
        for (uint64_t at = 0; at + sizeof(replica::internal::ExtentRef) <= size;
             at += sizeof(replica::internal::ExtentRef)) {
          std::memcpy(
              body.data() + position + at + offsetof(replica::internal::ExtentRef, body_checksum),
              extent_body_checksum, sizeof(Hash128));
        }
      }
      position += size;
    }
  }
  header.body_size_bytes = body.size();
  header.body_checksum = HashBytes(body);
  header.checksum = HeaderChecksum(header);
  std::memcpy(file.data(), &header, sizeof(header));
}

// A restored engine must stand behind its state.
void CheckRestored(const engine::Engine& restored) {
  const std::unique_ptr<engine::EngineSnapshot> image = restored.CaptureSnapshot();
  absl::StatusOr<std::unique_ptr<engine::Engine>> again =
      engine::Engine::Restore(fuzz::SmallEngineOptions(), image->sections());
  if (!again.ok()) {
    std::fprintf(stderr, "a snapshot of a restored engine does not restore: %s\n",
                 again.status().ToString().c_str());
    std::abort();
  }
  LEDGER_ASSERT((*again)->ComputeStateHash() == restored.ComputeStateHash());
  // A batch on the restored state: expiries come due, and the engine's whole-state checks run.
  const uint64_t last_ns = (*again)->last_timestamp_ns();
  if (last_ns < (uint64_t{1} << 62)) {
    std::vector<Transfer> transfers = {fuzz::SeedTransfer(900, 1, 3, 1),
                                       fuzz::SeedTransfer(901, 4, 1, 1)};
    std::vector<CreateTransferResult> results(transfers.size());
    (*again)->CreateTransfers(transfers, last_ns + uint64_t{1'000'000'000'000}, results);
  }
}

// One input; true when it restores.
bool RunInput(const uint8_t* data, size_t size) {
  if (size < kPrefixBytes) return false;
  const uint8_t flags = data[0];
  const size_t snapshot_bytes = std::min<size_t>(fuzz::ReadU32(data + 1), size - kPrefixBytes);
  std::vector<std::byte> snapshot(
      reinterpret_cast<const std::byte*>(data) + kPrefixBytes,
      reinterpret_cast<const std::byte*>(data) + kPrefixBytes + snapshot_bytes);
  std::vector<std::byte> extent(
      reinterpret_cast<const std::byte*>(data) + kPrefixBytes + snapshot_bytes,
      reinterpret_cast<const std::byte*>(data) + size);
  if ((flags & kFixChecksums) != 0) {
    FixChecksums(extent, nullptr);
    Hash128 extent_body_checksum;
    if (extent.size() >= sizeof(SnapshotHeader)) {
      std::memcpy(&extent_body_checksum, extent.data() + offsetof(SnapshotHeader, body_checksum),
                  sizeof(Hash128));
    }
    FixChecksums(snapshot, extent.empty() ? nullptr : &extent_body_checksum);
  }
  testing::MemoryStorage storage;
  const std::unique_ptr<Directory> directory =
      fuzz::MakeDirectory(storage, kSegmentSizeMinBytes, /*writable=*/false);
  const uint64_t op = OpOf(snapshot);
  fuzz::PutFile(storage, directory->SnapshotPath(op), snapshot);
  if (!extent.empty()) fuzz::PutFile(storage, directory->ExtentPath(OpOf(extent)), extent);
  absl::StatusOr<replica::RestoredSnapshot> restored =
      replica::RestoreSnapshot(*directory, op, fuzz::SmallEngineOptions());
  if (!restored.ok()) return false;
  LEDGER_ASSERT(restored->header.op == op, restored->header.op, op);
  CheckRestored(*restored->engine);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Seeds

// An engine's image as wal/ streams it: every section in the snapshot file, no extents (the
// layout before extents, which still restores).
class ImageSource final : public SnapshotSource {
 public:
  // `image` outlives this.
  explicit ImageSource(const engine::EngineSnapshot& image) : image_(image) {}
  uint64_t last_timestamp_ns() const override { return image_.last_timestamp_ns(); }
  absl::Status Stream(StartSection start, WriteBytes write) const override {
    return image_.Stream(
        [&](engine::SnapshotSectionKind kind, uint32_t record_size_bytes, uint64_t size_bytes) {
          return start(static_cast<uint32_t>(kind), record_size_bytes, size_bytes);
        },
        write);
  }

 private:
  const engine::EngineSnapshot& image_;
};

void WriteInputSeed(const std::string& seeds, const std::string& name, uint8_t flags,
                    std::span<const std::byte> snapshot, std::span<const std::byte> extent) {
  std::vector<std::byte> input = {std::byte{flags}};
  fuzz::AppendU32(input, static_cast<uint32_t>(snapshot.size()));
  input.insert(input.end(), snapshot.begin(), snapshot.end());
  input.insert(input.end(), extent.begin(), extent.end());
  // A seed that does not restore would only teach the fuzzer a refusal.
  LEDGER_ASSERT(RunInput(reinterpret_cast<const uint8_t*>(input.data()), input.size()), name);
  fuzz::WriteSeed(seeds, name, input);
}

// Snapshots of the seed ledger after `batches` batches (op = batches), with extents (the
// replica's writer) and without.
void WriteSeedsAfter(const std::string& seeds, size_t batches) {
  const std::unique_ptr<engine::Engine> engine =
      fuzz::SeedEngine(fuzz::SmallEngineOptions(), batches);
  const uint64_t op = batches;
  const Hash128 chain_hash{op, ~op};  // not checked here: recovery matches it with the log
  const std::string suffix = "_op_" + std::to_string(op);
  {
    testing::MemoryStorage storage;
    const std::unique_ptr<Directory> directory =
        fuzz::MakeDirectory(storage, kSegmentSizeMinBytes, /*writable=*/true);
    LEDGER_ASSERT(replica::WriteSnapshot(*directory, op, chain_hash, *engine).ok());
    const std::vector<std::byte> snapshot = fuzz::GetFile(storage, directory->SnapshotPath(op));
    std::vector<std::byte> extent;
    if (storage.Exists(directory->ExtentPath(op))) {
      extent = fuzz::GetFile(storage, directory->ExtentPath(op));
    }
    WriteInputSeed(seeds, "extents" + suffix, 0, snapshot, extent);
    WriteInputSeed(seeds, "extents_fix_checksums" + suffix, kFixChecksums, snapshot, extent);
  }
  {
    testing::MemoryStorage storage;
    const std::unique_ptr<Directory> directory =
        fuzz::MakeDirectory(storage, kSegmentSizeMinBytes, /*writable=*/true);
    const std::unique_ptr<engine::EngineSnapshot> image = engine->CaptureSnapshot();
    LEDGER_ASSERT(WriteSnapshot(*directory, op, chain_hash, ImageSource(*image)).ok());
    const std::vector<std::byte> snapshot = fuzz::GetFile(storage, directory->SnapshotPath(op));
    WriteInputSeed(seeds, "whole" + suffix, 0, snapshot, {});
    WriteInputSeed(seeds, "whole_fix_checksums" + suffix, kFixChecksums, snapshot, {});
  }
}

void WriteSeeds(const std::string& seeds) {
  WriteSeedsAfter(seeds, 3);
  WriteSeedsAfter(seeds, fuzz::SeedBatches().size());
}

}  // namespace
}  // namespace ledger::wal

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("LEDGER_FUZZ_WRITE_SEEDS")) {
    ledger::wal::WriteSeeds(directory);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ledger::wal::RunInput(data, size);
  return 0;
}
