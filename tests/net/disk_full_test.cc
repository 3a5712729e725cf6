// A full disk on a real file system: ledgerd's data directory on a small ext4 image the test
// makes and loop-mounts (root only), filled up by the client until the log cannot reserve its
// next segment. The server must:
//   - refuse writes with a clear "storage full" error (ResourceExhausted, kStorageFullPayload),
//     and say so in its log and its metrics;
//   - stay up and answer reads with everything it acknowledged;
//   - leave no temporary file behind (a snapshot or segment that failed half way);
//   - stop cleanly (exit 0), its snapshot written or not, and start again on the full disk;
//   - take writes again by itself once space is freed, and lose nothing acknowledged.
#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "net/client.h"
#include "tests/net/server_process.h"
#include "tests/wal/wal_test_util.h"

namespace ledger::net {
namespace {

using testing::Connect;
using testing::ServerProcess;
using testing::Shell;

constexpr uint64_t kImageMib = 96;
constexpr uint64_t kSegmentMib = 8;
constexpr uint64_t kFreeMib = 20;  // left by the ballast: two segments and a bit, not three
constexpr uint32_t kLedgerId = wal::testing::kTestLedger;
constexpr uint64_t kBatchEvents = 8190;
constexpr int kBatchesMax = 60;  // the disk is full well before

// An ext4 file system in an image file, mounted for the test's life.
class MountedImage {
 public:
  MountedImage(const std::string& image, const std::string& mount_point, uint64_t size_mib)
      : mount_point_(mount_point) {
    std::filesystem::create_directories(mount_point);
    mounted_ = Shell(absl::StrCat("truncate -s ", size_mib, "M ", image)) &&
               Shell(absl::StrCat("mkfs.ext4 -q -F -m 0 ", image)) &&
               Shell(absl::StrCat("mount -o loop ", image, " ", mount_point));
  }
  ~MountedImage() {
    if (mounted_) Shell(absl::StrCat("umount ", mount_point_));
  }
  bool mounted() const { return mounted_; }

 private:
  std::string mount_point_;
  bool mounted_ = false;
};

uint64_t FreeBytes(const std::string& path) {
  struct statvfs info {};
  if (statvfs(path.c_str(), &info) != 0) return 0;
  return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
}

// The names in `directory` ending with ".tmp".
std::vector<std::string> Temporaries(const std::string& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 4 && name.ends_with(".tmp")) names.push_back(name);
  }
  return names;
}

// No temporary left once any snapshot still being written has ended (within 20 s).
bool NoTemporariesSettle(const std::string& directory) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Temporaries(directory).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const std::string& name : Temporaries(directory)) ADD_FAILURE() << "left behind: " << name;
  return false;
}

// The server's log says `text` within 5 s (it notes the disk's state at its expiry tick).
bool LogSays(const ServerProcess& server, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::vector<std::string> ServerFlags() {
  return {"--accounts-capacity", "1024",       "--transfers-capacity",    "262144",
          "--feed-retention",    "4096",       "--snapshot-interval-ops", "4",
          "--metrics",           "127.0.0.1:0"};
}

void CreateAccounts(Client& client) {
  const Ledger ledger = wal::testing::TestLedger();
  LedgerResult ledger_result;
  ASSERT_TRUE(client.CreateLedgers({&ledger, 1}, {&ledger_result, 1}).ok());
  ASSERT_EQ(ledger_result.status, CreateLedgerResult::kOk);
  Account accounts[2]{};
  for (int i = 0; i < 2; ++i) {
    accounts[i].id = AccountId::From(static_cast<uint64_t>(i + 1));
    accounts[i].ledger = kLedgerId;
    accounts[i].code = 1;
  }
  AccountResult account_results[2];
  ASSERT_TRUE(client.CreateAccounts(accounts, account_results).ok());
  ASSERT_EQ(account_results[0].status, CreateAccountResult::kOk);
  ASSERT_EQ(account_results[1].status, CreateAccountResult::kOk);
}

// Books one batch of transfers of 1 from account 1 to account 2, with ids from `next_id`.
absl::Status BookBatch(Client& client, uint64_t& next_id) {
  std::vector<Transfer> batch(kBatchEvents);
  for (Transfer& transfer : batch) {
    transfer.id = TransferId::From(next_id++);
    transfer.debit_account_id = AccountId::From(1);
    transfer.credit_account_id = AccountId::From(2);
    transfer.amount = Amount::From(1);
    transfer.ledger = kLedgerId;
    transfer.code = 1;
  }
  std::vector<TransferResult> results(batch.size());
  const absl::Status status = client.CreateTransfers(batch, results);
  if (status.ok()) {
    for (TransferResult result : results) EXPECT_EQ(result.status, CreateTransferResult::kOk);
  }
  return status;
}

// Books batches until one is refused (at most kBatchesMax), counting what was acknowledged.
absl::Status BookUntilRefused(Client& client, uint64_t& next_id, uint64_t& acknowledged) {
  for (int i = 0; i < kBatchesMax; ++i) {
    const absl::Status status = BookBatch(client, next_id);
    if (!status.ok()) return status;
    acknowledged += kBatchEvents;
  }
  return absl::OkStatus();
}

bool IsStorageFull(const absl::Status& status) {
  return absl::IsResourceExhausted(status) && status.GetPayload(kStorageFullPayload).has_value() &&
         status.message().find("storage full: ") != absl::string_view::npos;
}

// Account 2's credits: every acknowledged transfer, and nothing else.
void ExpectCredits(Client& client, uint64_t acknowledged) {
  const AccountId id = AccountId::From(2);
  absl::StatusOr<std::vector<Account>> accounts = client.LookupAccounts({&id, 1});
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  ASSERT_EQ(accounts->size(), 1u);
  EXPECT_EQ((*accounts)[0].credits_posted, Amount::From(acknowledged));
}

TEST(DiskFull, WritesAreRefusedReadsGoOnAndWritingResumesOnceSpaceIsFreed) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a file system image needs root";
  wal::testing::TemporaryDirectory directory;
  const std::string mount_point = directory.Sub("mnt");
  MountedImage image(directory.Sub("disk.img"), mount_point, kImageMib);
  ASSERT_TRUE(image.mounted()) << "cannot make and loop-mount an ext4 image";
  {
    ServerProcess server({"--segment-size-mib", std::to_string(kSegmentMib)},
                         mount_point + "/data");
    ASSERT_EQ(server.init_exit_code(), 0) << server.log();
    ASSERT_TRUE(server.Start(ServerFlags())) << server.log();
    // The disk is filled but for kFreeMib.
    const std::string ballast = mount_point + "/ballast";
    const uint64_t ballast_mib = FreeBytes(mount_point) / (1 << 20) - kFreeMib;
    ASSERT_TRUE(Shell(absl::StrCat("fallocate -l ", ballast_mib, "M ", ballast)));

    uint64_t next_id = 1, acknowledged = 0;
    {
      std::unique_ptr<Client> client = Connect(server);
      ASSERT_NE(client, nullptr);
      CreateAccounts(*client);
      const absl::Status refused = BookUntilRefused(*client, next_id, acknowledged);
      ASSERT_TRUE(IsStorageFull(refused)) << refused;
      // Some were booked first (the disk had room for two segments), and reads go on.
      EXPECT_GE(acknowledged, 4 * kBatchEvents);
      ExpectCredits(*client, acknowledged);
      EXPECT_TRUE(client->GetServerInfo().ok());
      // Refused again, not half booked: the balances did not move.
      const absl::Status again = BookBatch(*client, next_id);
      EXPECT_TRUE(IsStorageFull(again)) << again;
      ExpectCredits(*client, acknowledged);
    }
    const std::string metrics = testing::HttpGet(server.metrics_address(), "/metrics");
    EXPECT_NE(metrics.find("\nledger_storage_full 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("ledger_requests_rejected_total{reason=\"storage_full\"} 2"),
              std::string::npos);
    EXPECT_TRUE(NoTemporariesSettle(server.data_dir()));
    EXPECT_TRUE(LogSays(server, "storage full: writes are refused")) << server.log();

    // A stop on the full disk is clean (its snapshot may not fit), and the server starts again.
    EXPECT_EQ(server.Stop(), 0) << server.log();
    EXPECT_TRUE(Temporaries(server.data_dir()).empty());
    ASSERT_TRUE(server.Start(ServerFlags())) << server.log();
    {
      std::unique_ptr<Client> client = Connect(server);
      ASSERT_NE(client, nullptr);
      ExpectCredits(*client, acknowledged);
      // The stop gave back what the process held (snapshots it had pruned but still mapped):
      // filled again.
      const uint64_t free_mib = FreeBytes(mount_point) / (1 << 20);
      if (free_mib > kFreeMib / 2) {
        ASSERT_TRUE(
            Shell(absl::StrCat("fallocate -l ", free_mib - kFreeMib / 2, "M ", ballast, "-2")));
      }
      const absl::Status still = BookUntilRefused(*client, next_id, acknowledged);
      ASSERT_TRUE(IsStorageFull(still)) << still;
      ExpectCredits(*client, acknowledged);

      // Space freed: writes are taken again within the writer's retry interval.
      ASSERT_TRUE(std::filesystem::remove(ballast));
      std::filesystem::remove(ballast + "-2");
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      absl::Status resumed = still;
      while (!resumed.ok() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        resumed = BookBatch(*client, next_id);
        EXPECT_TRUE(resumed.ok() || IsStorageFull(resumed)) << resumed;
      }
      ASSERT_TRUE(resumed.ok()) << resumed;
      acknowledged += kBatchEvents;
      for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(BookBatch(*client, next_id).ok());
        acknowledged += kBatchEvents;
      }
      ExpectCredits(*client, acknowledged);
    }
    EXPECT_TRUE(LogSays(server, "room again for the log")) << server.log();
    EXPECT_EQ(server.Stop(), 0) << server.log();
    ASSERT_TRUE(server.Start(ServerFlags())) << server.log();
    std::unique_ptr<Client> client = Connect(server);
    ASSERT_NE(client, nullptr);
    ExpectCredits(*client, acknowledged);
    client.reset();
    EXPECT_EQ(server.Stop(), 0) << server.log();
    EXPECT_TRUE(Temporaries(server.data_dir()).empty());
  }
}

}  // namespace
}  // namespace ledger::net
