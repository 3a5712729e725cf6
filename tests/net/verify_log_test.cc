// verifyLog against the real ledgerd, over HTTP/JSON: a live server's log checks out intact
// through its durable op with the log's own chain head; a byte flipped in an entry's body is
// reported corrupt, naming the file and offset; a start while one runs answers the running one;
// a token limited to some ledgers is refused; a check in progress does not hold up a shutdown.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/types.h"
#include "replica/log_schema.h"
#include "replica/log_verify.h"
#include "tests/net/hostile_util.h"
#include "tests/net/http_client.h"
#include "tests/net/server_process.h"
#include "wal/directory.h"
#include "wal/log_reader.h"

namespace ledger::net {
namespace {

using testing::BearerAndJson;
using testing::Contains;
using testing::HttpReply;
using testing::HttpRequest;
using testing::ServerProcess;

// A field of a flat JSON answer, as its text ("intact", 12, "34").
std::string Field(const std::string& body, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  const size_t at = body.find(key);
  if (at == std::string::npos) return "";
  size_t start = at + key.size();
  if (body[start] == '"') {
    ++start;
    return body.substr(start, body.find('"', start) - start);
  }
  return body.substr(start, body.find_first_of(",}", start) - start);
}

std::string Decimal(base::Hash128 hash) {
  u128 value = (static_cast<u128>(hash.high) << 64) | hash.low;
  std::string text;
  do {
    text.insert(text.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return text;
}

HttpReply VerifyLog(const std::string& http, const std::string& token, bool start) {
  return HttpRequest(http, "POST", "/v1/verifyLog", BearerAndJson(token),
                     start ? R"({"start":true})" : R"({"start":false})");
}

// Polls until the check is no longer running; its last answer.
std::string AwaitVerification(const std::string& http, const std::string& token) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    body = VerifyLog(http, token, false).body;
    if (Field(body, "state") != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return body;
}

// A ledger, two accounts and `batches` batches of `per_batch` transfers, over HTTP.
void Book(const std::string& http, const std::string& token, int batches, int per_batch) {
  const std::string auth = BearerAndJson(token);
  ASSERT_EQ(testing::CreateLedgerWithTwoAccounts(http, auth), 200);
  for (int batch = 0; batch < batches; ++batch) {
    std::string body = R"({"transfers":[)";
    for (int i = 0; i < per_batch; ++i) {
      absl::StrAppend(&body, i > 0 ? "," : "", R"({"id":")", 1000 + batch * per_batch + i,
                      R"(","debitAccountId":"1","creditAccountId":"2","amount":"1","ledger":7,)",
                      R"("code":1})");
    }
    const HttpReply booked = HttpRequest(http, "POST", "/v1/createTransfers", auth, body + "]}");
    ASSERT_EQ(booked.status, 200) << booked.body.substr(0, 300);
  }
}

uint64_t LastOp(const std::string& http, const std::string& token) {
  const HttpReply info = HttpRequest(http, "POST", "/v1/info", BearerAndJson(token), "{}");
  return std::stoull(Field(info.body, "lastOp"));
}

TEST(VerifyLog, ALiveServersLogIsIntactThroughItsDurableOpWithItsChainHead) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(testing::FlagsWith({"--http", "127.0.0.1:0"}))) << server.log();
  const std::string& http = server.http_address();
  HttpReply reply = VerifyLog(http, server.token(), false);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(Field(reply.body, "state"), "never");
  EXPECT_EQ(Field(reply.body, "startedAtNs"), "0");
  Book(http, server.token(), 20, 50);
  const uint64_t last_op = LastOp(http, server.token());
  const uint64_t before_ns = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
  reply = VerifyLog(http, server.token(), true);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const std::string body = AwaitVerification(http, server.token());
  EXPECT_EQ(Field(body, "state"), "intact") << body;
  EXPECT_EQ(Field(body, "firstOp"), "1") << body;
  EXPECT_EQ(Field(body, "throughOp"), std::to_string(last_op)) << body;
  EXPECT_EQ(Field(body, "checkedOp"), std::to_string(last_op)) << body;
  EXPECT_EQ(Field(body, "entries"), std::to_string(last_op)) << body;
  EXPECT_GT(std::stoull(Field(body, "bytesRead")), 20u * 50 * 152) << body;
  EXPECT_EQ(Field(body, "message"), "") << body;
  EXPECT_GE(std::stoull(Field(body, "startedAtNs")), before_ns) << body;
  EXPECT_GE(std::stoull(Field(body, "finishedAtNs")), std::stoull(Field(body, "startedAtNs")));
  // The chain head is the log's own at that op, as ledger-wal verify reads it.
  auto directory = wal::Directory::Open(server.data_dir(), /*writable=*/false);
  ASSERT_TRUE(directory.ok()) << directory.status();
  replica::LogVerifyOptions options;
  options.through_op = last_op;
  replica::LogVerifyTally tally;
  const auto scan = replica::VerifyLog(**directory, options, &tally);
  ASSERT_TRUE(scan.ok()) << scan.status();
  EXPECT_EQ(scan->last_op, last_op);
  EXPECT_EQ(Field(body, "chainHead"), Decimal(scan->last_chain_hash)) << body;
  // Every field of the schema's LogVerification, in its order.
  EXPECT_TRUE(Contains(body, R"({"verification":{"state":"intact","startedAtNs":")")) << body;
  // Counted in the metrics.
  const HttpReply metrics =
      HttpRequest(http, "GET", "/v1/metrics", "Authorization: Bearer " + server.token() + "\r\n");
  EXPECT_TRUE(Contains(metrics.body, "ledger_log_verifications_total{result=\"intact\"} 1"))
      << metrics.body;
  EXPECT_TRUE(Contains(metrics.body, "ledger_log_verification_corrupt 0")) << metrics.body;
  testing::ExpectCleanShutdown(server);
}

// Where the body of the first entry of the `group_index`th group of segment 0 starts.
uint64_t BodyOffset(const std::string& data_dir, int group_index, std::string* segment_path) {
  auto directory = wal::Directory::Open(data_dir, /*writable=*/false);
  EXPECT_TRUE(directory.ok()) << directory.status();
  *segment_path = (*directory)->SegmentPath(0);
  std::vector<uint64_t> groups;
  wal::ScanOptions options = replica::LogScanOptions();
  options.on_group = [&](const wal::LogPosition& at, uint64_t) {
    if (at.segment_index == 0) groups.push_back(at.offset);
  };
  EXPECT_TRUE(wal::ScanLog(**directory, options, nullptr).ok());
  EXPECT_GT(groups.size(), static_cast<size_t>(group_index));
  return groups.at(static_cast<size_t>(group_index)) + sizeof(wal::GroupHeader) +
         sizeof(wal::EntryHeader) + 100;
}

TEST(VerifyLog, AByteFlippedInAnEntrysBodyIsCorruptNamingTheFileAndOffset) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(testing::FlagsWith({"--http", "127.0.0.1:0"}))) << server.log();
  const std::string& http = server.http_address();
  Book(http, server.token(), 10, 100);
  // The third group holds the first batch of transfers (ledger and accounts come first).
  std::string segment;
  const uint64_t offset = BodyOffset(server.data_dir(), 2, &segment);
  const int fd = open(segment.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char byte = 0;
  ASSERT_EQ(pread(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  byte = static_cast<char>(byte ^ 0x10);
  ASSERT_EQ(pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  close(fd);
  ASSERT_EQ(VerifyLog(http, server.token(), true).status, 200);
  const std::string body = AwaitVerification(http, server.token());
  EXPECT_EQ(Field(body, "state"), "corrupt") << body;
  EXPECT_TRUE(Contains(body, "WAL corruption in " + segment + " at offset ")) << body;
  EXPECT_TRUE(Contains(body, "fails its checksum")) << body;
  EXPECT_EQ(Field(body, "checkedOp"), "2") << body;  // the ledger and the accounts
  EXPECT_NE(Field(body, "finishedAtNs"), "0") << body;
  const HttpReply metrics =
      HttpRequest(http, "GET", "/v1/metrics", "Authorization: Bearer " + server.token() + "\r\n");
  EXPECT_TRUE(Contains(metrics.body, "ledger_log_verifications_total{result=\"corrupt\"} 1"))
      << metrics.body;
  EXPECT_TRUE(Contains(metrics.body, "ledger_log_verification_corrupt 1")) << metrics.body;
  // The server goes on serving what it holds in memory.
  EXPECT_EQ(LastOp(http, server.token()), 12u);
  testing::ExpectCleanShutdown(server);
}

TEST(VerifyLog, AStartWhileOneRunsAnswersTheRunningOneAndAShutdownAbandonsIt) {
  ServerProcess server;
  const std::string tokens = server.data_dir() + "/../tokens";
  testing::WriteTokenFile(
      tokens,
      "read reader-token-0001\nread limited-token-001 ledgers=7\nadmin admin-token-00001\n");
  // ~90 KB of log read at 20 KB/s: several seconds.
  ASSERT_TRUE(server.Start(testing::FlagsWith({"--http", "127.0.0.1:0", "--tokens-file", tokens,
                                               "--verify-log-max-bytes-per-second", "20000"})))
      << server.log();
  const std::string& http = server.http_address();
  Book(http, "admin-token-00001", 6, 100);
  HttpReply reply = VerifyLog(http, "limited-token-001", true);
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_TRUE(Contains(reply.body, "verifyLog spans every ledger")) << reply.body;
  const std::string first = VerifyLog(http, "reader-token-0001", true).body;
  EXPECT_EQ(Field(first, "state"), "running") << first;
  EXPECT_EQ(Field(first, "throughOp"), "8") << first;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string again = VerifyLog(http, "reader-token-0001", true).body;
  EXPECT_EQ(Field(again, "state"), "running") << again;
  EXPECT_EQ(Field(again, "startedAtNs"), Field(first, "startedAtNs"));
  EXPECT_LT(std::stoull(Field(again, "checkedOp")), 8u) << again;
  EXPECT_EQ(Field(again, "finishedAtNs"), "0");
  const auto stopping = std::chrono::steady_clock::now();
  EXPECT_EQ(server.Stop(), 0) << server.log();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, std::chrono::seconds(3));
  testing::ExpectNoCrashInLog(server.log());
}

}  // namespace
}  // namespace ledger::net
