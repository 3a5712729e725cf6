// A new member installs another's newest snapshot and cold store (replica/install.h) and goes
// on from there with the entries after it: the same chain and state as the member it came
// from, also after its restart. What does not hold together is refused, the directory stays
// marked, and abandoning the install leaves it as new.
#include "replica/install.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cold/format.h"
#include "replica/recovery.h"
#include "replica/replica.h"
#include "tests/replica/sealing_replica.h"
#include "tests/wal/wal_test_util.h"
#include "wal/directory.h"

namespace ledger::replica {
namespace {

using testing::InitDirectory;
using testing::SealedEntry;
using testing::SealingReplica;
using wal::Directory;
using wal::EntryHeader;
using wal::testing::TemporaryDirectory;
namespace wal_testing = wal::testing;

ReplicaOptions OptionsWith(uint64_t hot_transfers) {
  ReplicaOptions options;
  options.engine.hot_transfers = hot_transfers;
  return testing::TestOptions(options);
}

// The member that sends: it books and keeps a copy of every entry it seals.
struct Source : SealingReplica {
  using SealingReplica::SealingReplica;

  void Book(uint64_t seed, int batches) {
    ASSERT_NO_FATAL_FAILURE(CreateLedgerAndAccounts());
    ASSERT_NO_FATAL_FAILURE(MoreTransfers(seed, batches));
  }

  void MoreTransfers(uint64_t seed, int batches) {
    for (int i = 0; i < batches; ++i) {
      std::vector<Transfer> batch = wal_testing::TestTransfers(seed, replica->last_op() + 1, 40);
      std::vector<CreateTransferResult> results(batch.size());
      ASSERT_TRUE(replica->Submit<Transfer>(batch, results).ok());
    }
    ASSERT_TRUE(replica->WaitDurable(replica->last_op()).ok());
  }
};

// Copies of an image's sections, as a receiver holds them (and may find damaged).
struct ReceivedSections {
  std::vector<std::vector<std::byte>> bytes;
  std::vector<engine::SnapshotSection> sections;

  explicit ReceivedSections(const SnapshotImage& image) {
    for (const engine::SnapshotSection& section : image.sections()) {
      bytes.emplace_back(section.bytes.begin(), section.bytes.end());
    }
    for (size_t i = 0; i < bytes.size(); ++i) {
      sections.push_back(
          {image.sections()[i].kind, image.sections()[i].record_size_bytes, bytes[i]});
    }
  }
};

// The image's cold runs written into `installation` in pieces of an odd size; `damage_at`,
// when set, flips that byte of the first run long enough on the way.
void CopyColdRuns(const SnapshotImage& image, Installation& installation,
                  std::optional<uint64_t> damage_at = std::nullopt) {
  std::vector<std::byte> piece(1000);
  bool damaged = false;
  for (size_t index = 0; index < image.cold_runs().size(); ++index) {
    const SnapshotImage::ColdRun& run = image.cold_runs()[index];
    ASSERT_TRUE(installation.StartColdRun(run.sequence, run.size_bytes).ok());
    for (uint64_t offset = 0; offset < run.size_bytes; offset += piece.size()) {
      const std::span<std::byte> out =
          std::span(piece).first(std::min<uint64_t>(piece.size(), run.size_bytes - offset));
      ASSERT_TRUE(image.ReadColdRun(index, offset, out).ok());
      if (!damaged && damage_at && *damage_at >= offset && *damage_at < offset + out.size()) {
        out[*damage_at - offset] ^= std::byte{0x40};
        damaged = true;
      }
      ASSERT_TRUE(installation.WriteColdRun(out).ok());
    }
    ASSERT_TRUE(installation.EndColdRun().ok());
  }
}

// An install of `image` into `directory` from Begin to Finish (its status in *finished), the
// image's cold runs and sections damaged on the way when asked.
void InstallImage(const SnapshotImage& image, const Directory& directory,
                  const engine::EngineOptions& options, absl::Status* finished,
                  std::optional<uint64_t> damage_run_at = std::nullopt,
                  const std::function<void(ReceivedSections&)>& damage_sections = {}) {
  auto installation = Installation::Begin(directory);
  ASSERT_TRUE(installation.ok()) << installation.status();
  ASSERT_NO_FATAL_FAILURE(CopyColdRuns(image, **installation, damage_run_at));
  ReceivedSections received(image);
  if (damage_sections) damage_sections(received);
  *finished = (*installation)
                  ->Finish(image.op(), image.chain_hash(), received.sections,
                           SectionsChecksum(image.sections()), options);
}

class Install : public ::testing::TestWithParam<uint64_t> {};  // the hot window (0: all)

TEST_P(Install, NewMemberGoesOnFromTheImageWithTheSameChainAndState) {
  TemporaryDirectory temporary;
  const ReplicaOptions options = OptionsWith(GetParam());
  Source source(InitDirectory(temporary, "source"), options);
  ASSERT_NE(source.replica, nullptr);
  ASSERT_NO_FATAL_FAILURE(source.Book(11, 120));
  ASSERT_TRUE(source.replica->SnapshotNow().ok());
  ASSERT_NO_FATAL_FAILURE(source.MoreTransfers(11, 60));

  absl::StatusOr<std::unique_ptr<SnapshotImage>> image =
      SnapshotImage::Open(source.replica->directory());
  ASSERT_TRUE(image.ok()) << image.status();
  const uint64_t op = (*image)->op();
  ASSERT_EQ(op, 122u);
  ASSERT_LT(op, source.replica->last_op()) << "entries follow the snapshot";
  EXPECT_EQ((*image)->chain_hash(), source.entries[op - 1].header.chain_hash);
  if (GetParam() != 0) {
    ASSERT_GT((*image)->cold_runs().size(), 1u) << "history went cold";
  }

  const std::string path = InitDirectory(temporary, "new");
  {
    auto directory = Directory::Open(path, /*writable=*/true);
    ASSERT_TRUE(directory.ok());
    absl::Status finished;
    ASSERT_NO_FATAL_FAILURE(InstallImage(**image, **directory, options.engine, &finished));
    ASSERT_TRUE(finished.ok()) << finished;
    EXPECT_FALSE(*(*directory)->InstallPending());
    EXPECT_EQ(*(*directory)->ListSegments(), std::vector<uint64_t>{1}) << "the log starts after";
  }

  auto member = Replica::Open(path, options);
  ASSERT_TRUE(member.ok()) << member.status();
  EXPECT_EQ((*member)->last_op(), op);
  EXPECT_EQ((*member)->chain_hash(), (*image)->chain_hash());
  for (size_t i = op; i < source.entries.size(); ++i) {
    const SealedEntry& entry = source.entries[i];
    absl::StatusOr<BatchReceipt> receipt = (*member)->AppendReplicated(entry.header, entry.body);
    ASSERT_TRUE(receipt.ok()) << receipt.status();
  }
  EXPECT_EQ((*member)->chain_hash(), source.replica->chain_hash());
  EXPECT_EQ((*member)->engine().ComputeStateHash(), source.replica->engine().ComputeStateHash());
  ASSERT_TRUE((*member)->WaitDurable((*member)->last_op()).ok());

  // Its own log and snapshot bring it back: the first entry links to the installed snapshot.
  member->reset();
  member = Replica::Open(path, options);
  ASSERT_TRUE(member.ok()) << member.status();
  EXPECT_EQ((*member)->last_op(), source.replica->last_op());
  EXPECT_EQ((*member)->engine().ComputeStateHash(), source.replica->engine().ComputeStateHash());

  // A directory that holds something is never installed over.
  member->reset();
  auto directory = Directory::Open(path, /*writable=*/true);
  ASSERT_TRUE(directory.ok());
  absl::StatusOr<std::unique_ptr<Installation>> again = Installation::Begin(**directory);
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
  EXPECT_FALSE(*(*directory)->InstallPending());
}

TEST_P(Install, DamagedImageIsRefusedAndAbandoningLeavesTheDirectoryAsNew) {
  TemporaryDirectory temporary;
  const ReplicaOptions options = OptionsWith(GetParam());
  Source source(InitDirectory(temporary, "source"), options);
  ASSERT_NE(source.replica, nullptr);
  ASSERT_NO_FATAL_FAILURE(source.Book(12, 120));
  ASSERT_TRUE(source.replica->SnapshotNow().ok());
  auto image = SnapshotImage::Open(source.replica->directory());
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string path = InitDirectory(temporary, "new");
  auto directory = Directory::Open(path, /*writable=*/true);
  ASSERT_TRUE(directory.ok());

  // A section's byte flipped on the way.
  absl::Status finished;
  ASSERT_NO_FATAL_FAILURE(InstallImage(**image, **directory, options.engine, &finished,
                                       std::nullopt, [](ReceivedSections& received) {
                                         received.bytes.back()[received.bytes.back().size() / 2] ^=
                                             std::byte{1};
                                       }));
  EXPECT_TRUE(absl::IsDataLoss(finished)) << finished;
  EXPECT_TRUE(*(*directory)->InstallPending()) << "marked until abandoned";
  // A marked directory is not recovered: its owner must abandon the install first.
  directory->reset();
  auto refused = Replica::Open(path, options);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  directory = Directory::Open(path, /*writable=*/true);
  ASSERT_TRUE(directory.ok());

  // A byte of a cold run's first section (its first transfer) flipped on the way: its
  // chunk's checksum tells.
  if (GetParam() != 0) {  // Begin abandons the last install first
    ASSERT_NO_FATAL_FAILURE(InstallImage(**image, **directory, options.engine, &finished, 4100));
    EXPECT_TRUE(absl::IsDataLoss(finished)) << finished;
  }
  // Runs out of order, or short, are refused as they come.
  {
    auto installation = Installation::Begin(**directory);
    ASSERT_TRUE(installation.ok()) << installation.status();
    EXPECT_TRUE(absl::IsInvalidArgument((*installation)->StartColdRun(2, 4096)));
    ASSERT_TRUE((*installation)->StartColdRun(1, 4096).ok());
    std::vector<std::byte> bytes(5000);
    EXPECT_TRUE(absl::IsInvalidArgument((*installation)->WriteColdRun(bytes)));
    EXPECT_TRUE(absl::IsInvalidArgument((*installation)->EndColdRun()));
  }

  ASSERT_TRUE(AbandonInstall(**directory).ok());
  EXPECT_FALSE(*(*directory)->InstallPending());
  EXPECT_EQ(*(*directory)->ListSegments(), std::vector<uint64_t>{0});
  EXPECT_TRUE((*directory)->ListSnapshots()->empty());
  EXPECT_FALSE(std::filesystem::exists(path + "/cold/" + cold::RunFileName(1)));
  directory->reset();
  auto member = Replica::Open(path, options);
  ASSERT_TRUE(member.ok()) << member.status();
  EXPECT_EQ((*member)->last_op(), 0u) << "as new";
}

// A crash in Finish between its steps (the snapshot written, the log's first segment made,
// the old one removed): abandoning empties it again, and a new install succeeds.
TEST(InstallCrash, AbandonUndoesEveryStepOfFinish) {
  TemporaryDirectory temporary;
  const ReplicaOptions options = OptionsWith(64);
  Source source(InitDirectory(temporary, "source"), options);
  ASSERT_NE(source.replica, nullptr);
  ASSERT_NO_FATAL_FAILURE(source.Book(13, 120));
  ASSERT_TRUE(source.replica->SnapshotNow().ok());
  auto image = SnapshotImage::Open(source.replica->directory());
  ASSERT_TRUE(image.ok()) << image.status();
  for (int step = 0; step < 3; ++step) {
    const std::string path = InitDirectory(temporary, absl::StrCat("new", step));
    auto directory = Directory::Open(path, /*writable=*/true);
    ASSERT_TRUE(directory.ok());
    auto installation = Installation::Begin(**directory);
    ASSERT_TRUE(installation.ok());
    ASSERT_NO_FATAL_FAILURE(CopyColdRuns(**image, **installation));
    // What Finish did up to the crash.
    ASSERT_TRUE(
        WriteSnapshot(**directory, (*image)->op(), (*image)->chain_hash(), source.replica->engine())
            .ok());
    if (step >= 1) {
      ASSERT_TRUE((*directory)->CreateSegment(1).ok());
    }
    if (step >= 2) {
      ASSERT_TRUE(std::filesystem::remove((*directory)->SegmentPath(0)));
    }
    installation->reset();
    directory->reset();
    directory = Directory::Open(path, /*writable=*/true);
    ASSERT_TRUE(directory.ok());
    ASSERT_TRUE(AbandonInstall(**directory).ok());
    EXPECT_EQ(*(*directory)->ListSegments(), std::vector<uint64_t>{0}) << step;
    absl::Status finished;
    ASSERT_NO_FATAL_FAILURE(InstallImage(**image, **directory, options.engine, &finished));
    ASSERT_TRUE(finished.ok()) << finished;
    directory->reset();
    auto member = Replica::Open(path, options);
    ASSERT_TRUE(member.ok()) << member.status();
    EXPECT_EQ((*member)->last_op(), (*image)->op());
  }
}

INSTANTIATE_TEST_SUITE_P(Window, Install, ::testing::Values(0, 64),
                         [](const ::testing::TestParamInfo<uint64_t>& param_info) {
                           return param_info.param == 0 ? "AllInMemory" : "HotWindow64";
                         });

}  // namespace
}  // namespace ledger::replica
