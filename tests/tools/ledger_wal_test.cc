// ledger-wal, run as a real process against data directories written through a replica:
// exit codes, what each command prints, and that nothing it is fed makes it crash or change a
// file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "replica/checkpoint.h"
#include "replica/replica.h"
#include "tests/build_path.h"
#include "tests/wal/wal_test_util.h"
#include "tools/amount_text.h"
#include "wal/directory.h"

extern char** environ;

namespace ledger::tools {
namespace {

using wal::testing::TemporaryDirectory;

// ---------------------------------------------------------------------------------------------
// Running the binary.

struct ToolRun {
  int exit_code = -1;  // -1 when it died of a signal
  int signal = 0;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs ledger-wal with `args`; stdout and stderr go through files in `scratch`.
ToolRun RunTool(const std::vector<std::string>& args, const std::string& scratch) {
  static int counter = 0;
  const std::string out_path = scratch + "/out-" + std::to_string(++counter);
  const std::string err_path = out_path + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<std::string> argv_strings = {LEDGER_WAL_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid;
  ToolRun run;
  const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(error, 0) << "cannot start " << argv[0];
  if (error != 0) return run;
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
  run.out = ReadFile(out_path);
  run.err = ReadFile(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return run;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// A minimal JSON reader: validates one object and keeps its top-level scalar members (strings
// unescaped only as far as the tool escapes them; numbers and literals as written).

class JsonObject {
 public:
  static std::optional<std::map<std::string, std::string>> Parse(const std::string& text) {
    JsonObject parser(text);
    std::map<std::string, std::string> members;
    if (!parser.Object(&members)) return std::nullopt;
    parser.SkipSpace();
    if (parser.position_ != text.size()) return std::nullopt;
    return members;
  }

 private:
  explicit JsonObject(const std::string& text) : text_(text) {}

  void SkipSpace() {
    while (position_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[position_])))
      ++position_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (position_ < text_.size() && text_[position_] == c) {
      ++position_;
      return true;
    }
    return false;
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (position_ < text_.size() && text_[position_] != '"') {
      char c = text_[position_++];
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (position_ >= text_.size()) return false;
        c = text_[position_++];
        if (c == 'u') {
          if (position_ + 4 > text_.size()) return false;
          c = static_cast<char>(std::stoi(text_.substr(position_, 4), nullptr, 16));
          position_ += 4;
        } else if (c != '"' && c != '\\' && c != '/') {
          return false;
        }
      }
      *out += c;
    }
    return Eat('"');
  }
  bool Value(std::string* scalar) {
    SkipSpace();
    if (position_ >= text_.size()) return false;
    const char c = text_[position_];
    if (c == '"') return String(scalar);
    if (c == '{') {
      std::map<std::string, std::string> ignored;
      return Object(&ignored);
    }
    if (c == '[') {
      ++position_;
      if (Eat(']')) return true;
      do {
        std::string ignored;
        if (!Value(&ignored)) return false;
      } while (Eat(','));
      return Eat(']');
    }
    const size_t start = position_;
    while (position_ < text_.size() &&
           std::string("-+.eE0123456789truefalsn").find(text_[position_]) != std::string::npos)
      ++position_;
    *scalar = text_.substr(start, position_ - start);
    return !scalar->empty();
  }
  bool Object(std::map<std::string, std::string>* members) {
    if (!Eat('{')) return false;
    if (Eat('}')) return true;
    do {
      std::string key;
      std::string value;
      if (!String(&key) || !Eat(':') || !Value(&value)) return false;
      if (!members->emplace(key, value).second) return false;
    } while (Eat(','));
    return Eat('}');
  }

  const std::string& text_;
  size_t position_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Writing a log through a replica.

std::string HashText(const engine::StateHash& hash) {
  char text[33];
  std::snprintf(text, sizeof(text), "%016" PRIx64 "%016" PRIx64, hash.high, hash.low);
  return text;
}

struct Written {
  uint64_t last_op = 0;
  std::string state_hash;           // the in-process engine's, as the tool prints it
  std::vector<Transfer> transfers;  // every transfer event written
  uint64_t transfer_entry_count = 0;
};

constexpr uint64_t kSeed = 42;
constexpr uint64_t kTransferOps = 120;  // then one large batch, alone in the last group

// A replica on `path` with ops 1 and 2 submitted: the test ledger and its accounts.
std::unique_ptr<replica::Replica> OpenWithLedgerAndAccounts(const std::string& path,
                                                            replica::ReplicaOptions options) {
  auto opened = replica::Replica::Open(path, std::move(options));
  EXPECT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<replica::Replica> replica = std::move(*opened);
  Ledger ledger = wal::testing::TestLedger();
  CreateLedgerResult ledger_result;
  EXPECT_TRUE(replica->Submit<Ledger>({&ledger, 1}, {&ledger_result, 1}).ok());
  std::vector<Account> accounts = wal::testing::TestAccounts();
  std::vector<CreateAccountResult> account_results(accounts.size());
  EXPECT_TRUE(replica->Submit<Account>(accounts, account_results).ok());
  return replica;
}

// Writes ledger, accounts and transfers through a real replica (snapshots every 50 ops).
Written WriteLog(const std::string& path) {
  Written written;
  EXPECT_TRUE(wal::Directory::Init(path, {.segment_size_bytes = wal::kSegmentSizeMinBytes}).ok());
  replica::ReplicaOptions options;
  options.use_io_uring = false;
  options.writer_buffer_bytes = uint64_t{2} << 20;
  options.snapshot_interval_ops = 50;
  // The replica skips a snapshot while the previous one is still being written (it never
  // stalls for one); the tests expect both, so op 100 waits for the first to be done.
  std::atomic<int> snapshots_done{0};
  options.on_snapshot = [&snapshots_done](const absl::Status& status) {
    EXPECT_TRUE(status.ok()) << status;
    snapshots_done.fetch_add(1);
  };
  std::unique_ptr<replica::Replica> replica = OpenWithLedgerAndAccounts(path, std::move(options));
  uint64_t op = 2;
  for (uint64_t i = 0; i <= kTransferOps; ++i) {
    const bool last = i == kTransferOps;
    std::vector<Transfer> batch = wal::testing::TestTransfers(kSeed, ++op, last ? 1 : 20);
    if (last) {
      // Plain transfers filling more than two blocks: a group a tear can cut in the middle.
      batch[0].flags = 0;
      batch[0].timeout_s = 0;
      batch.resize(60, batch[0]);
      for (size_t j = 0; j < batch.size(); ++j) {
        batch[j].id = TransferId::From((u128{op} << 32) | j);
      }
    }
    if (op == 100) {
      for (int waited_ms = 0; snapshots_done.load() < 1 && waited_ms < 60'000; ++waited_ms) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    // Waiting for durability now and then makes groups of one entry as well as larger ones.
    if (last || op % 3 == 0) {
      EXPECT_TRUE(replica->WaitDurable(op - 1).ok());
    }
    std::vector<CreateTransferResult> results(batch.size());
    EXPECT_TRUE(replica->Submit<Transfer>(batch, results).ok());
    written.transfers.insert(written.transfers.end(), batch.begin(), batch.end());
    ++written.transfer_entry_count;
  }
  EXPECT_TRUE(replica->WaitDurable(op).ok());
  written.last_op = op;
  written.state_hash = HashText(replica->engine().ComputeStateHash());
  replica.reset();  // waits for the snapshot in progress
  return written;
}

struct Group {
  std::string path;
  uint64_t offset;
  uint64_t size_bytes;
};

// The groups of the log, found by walking each segment's headers.
std::vector<Group> Groups(const std::string& path) {
  std::vector<Group> groups;
  for (uint64_t segment = 0;; ++segment) {
    char name[64];
    std::snprintf(name, sizeof(name), "/wal-%020" PRIu64 ".seg", segment);
    const std::string file = path + name;
    if (!std::filesystem::exists(file)) break;
    const std::string bytes = ReadFile(file);
    for (uint64_t offset = wal::kBlockBytes; offset + sizeof(wal::GroupHeader) <= bytes.size();) {
      wal::GroupHeader header;
      std::memcpy(&header, bytes.data() + offset, sizeof(header));
      if (header.magic != wal::kGroupMagic) break;
      groups.push_back({file, offset, header.size_bytes});
      offset += (header.size_bytes + wal::kBlockBytes - 1) / wal::kBlockBytes * wal::kBlockBytes;
    }
  }
  return groups;
}

void WriteAt(const std::string& file, uint64_t offset, const std::string& bytes) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void FlipByte(const std::string& file, uint64_t offset) {
  std::string byte = ReadFile(file).substr(offset, 1);
  byte[0] = static_cast<char>(byte[0] ^ 0x5a);
  WriteAt(file, offset, byte);
}

// As after a crash just before the log writer raised the directory's durable mark past `op`
// (wal/format.h, DURABLE): a group damaged after it is then a torn tail, not lost data.
void CrashBeforeTheMarkPassed(const std::string& path, uint64_t op) {
  absl::StatusOr<std::unique_ptr<wal::Directory>> directory =
      wal::Directory::Open(path, /*writable=*/true);
  ASSERT_TRUE(directory.ok()) << directory.status();
  const absl::StatusOr<std::optional<wal::DurableMark>> mark = (*directory)->ReadDurableMark();
  ASSERT_TRUE(mark.ok() && mark->has_value()) << mark.status();
  ASSERT_TRUE((*directory)->WriteDurableMark({(*mark)->segment_index, op}).ok());
}

// Every file's bytes, to prove a command changed none.
std::map<std::string, std::string> Contents(const std::string& path) {
  std::map<std::string, std::string> contents;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    contents[entry.path().filename().string()] = ReadFile(entry.path().string());
  }
  return contents;
}

// One log written once; tests that damage it work on a copy.
class LedgerWal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_directory_ = new TemporaryDirectory();
    written_ = new Written(WriteLog(log_directory_->Sub("data")));
  }
  static void TearDownTestSuite() {
    delete written_;
    delete log_directory_;
  }

  const std::string& data() const {
    static const std::string path = log_directory_->Sub("data");
    return path;
  }
  // A copy of the log that the test may damage.
  std::string Copy() const {
    const std::string path = scratch_.Sub("copy");
    std::filesystem::copy(data(), path);
    return path;
  }
  ToolRun Tool(const std::vector<std::string>& args) const {
    return RunTool(args, scratch_.path());
  }
  const Written& written() const { return *written_; }

  static TemporaryDirectory* log_directory_;
  static Written* written_;
  TemporaryDirectory scratch_;
};

TemporaryDirectory* LedgerWal::log_directory_ = nullptr;
Written* LedgerWal::written_ = nullptr;

// ---------------------------------------------------------------------------------------------
// verify

TEST_F(LedgerWal, VerifyExitsZeroOnAnIntactLogAndPrintsTheOpRange) {
  const ToolRun run = Tool({"verify", data()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("ops 1 to " + std::to_string(written().last_op)), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("result: intact"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("GB/s"), std::string::npos) << run.out;
}

TEST_F(LedgerWal, VerifyFromSnapshotExitsZeroAndNamesTheSnapshot) {
  const ToolRun run = Tool({"verify", data(), "--from-snapshot"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("from the snapshot at op 100"), std::string::npos) << run.out;
}

TEST_F(LedgerWal, VerifyExitsTwoWhenAByteOfAMiddleGroupFlips) {
  const std::string copy = Copy();
  const std::vector<Group> groups = Groups(copy);
  ASSERT_GT(groups.size(), 10u);
  const Group& middle = groups[groups.size() / 2];
  // Inside the first entry's body: its checksum fails, and valid groups follow.
  FlipByte(middle.path, middle.offset + sizeof(wal::GroupHeader) + sizeof(wal::EntryHeader) + 3);
  const ToolRun run = Tool({"verify", copy});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("WAL corruption"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("result: CORRUPT"), std::string::npos) << run.out;
  // dump prints the verified entries before the damage, then fails the same way.
  const ToolRun dump = Tool({"dump", copy});
  EXPECT_EQ(dump.exit_code, 2) << dump.err;
  EXPECT_TRUE(dump.out.starts_with("op 1 ")) << dump.out;
  EXPECT_NE(dump.err.find("WAL corruption"), std::string::npos) << dump.err;
}

TEST_F(LedgerWal, VerifyExitsOneOnATornTail) {
  const std::string copy = Copy();
  const Group last = Groups(copy).back();
  ASSERT_GT(last.size_bytes, 2 * wal::kBlockBytes);
  WriteAt(last.path, last.offset + wal::kBlockBytes, std::string(wal::kBlockBytes, '\0'));
  ASSERT_NO_FATAL_FAILURE(CrashBeforeTheMarkPassed(copy, written().last_op - 1));
  const ToolRun run = Tool({"verify", copy});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("TORN TAIL"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("the log ends at op " + std::to_string(written().last_op - 1)),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.err.find("offset " + std::to_string(last.offset)), std::string::npos) << run.err;
}

TEST_F(LedgerWal, VerifyExitsTwoWhenTheNewestGroupWasMadeDurableAndIsDamaged) {
  const std::string copy = Copy();
  const Group last = Groups(copy).back();
  WriteAt(last.path, last.offset + wal::kBlockBytes, std::string(wal::kBlockBytes, '\0'));
  const ToolRun run = Tool({"verify", copy});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.out.find("result: CORRUPT"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("offset " + std::to_string(last.offset)), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("ops through " + std::to_string(written().last_op) + " were made durable"),
            std::string::npos)
      << run.err;
}

TEST_F(LedgerWal, VerifyExitsTwoWhenTheLogIsAnOlderCopyOfItself) {
  // The newest group gone whole: the log reads as one that ends cleanly one op earlier.
  const std::string copy = Copy();
  const Group last = Groups(copy).back();
  WriteAt(last.path, last.offset, std::string(last.size_bytes, '\0'));
  const ToolRun run = Tool({"verify", copy});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("the log ends at op " + std::to_string(written().last_op - 1)),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("acknowledged entries are gone"), std::string::npos) << run.err;
}

TEST_F(LedgerWal, VerifyFromSnapshotExitsTwoWhenTheNewestSnapshotIsDamaged) {
  const std::string copy = Copy();
  const std::string snapshot = copy + "/snapshot-00000000000000000100.snap";
  ASSERT_TRUE(std::filesystem::exists(snapshot));
  FlipByte(snapshot, std::filesystem::file_size(snapshot) - 7);
  const ToolRun run = Tool({"verify", copy, "--from-snapshot"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.out.find("from the snapshot at op 50"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("snapshot at op 100"), std::string::npos) << run.err;
}

// ---------------------------------------------------------------------------------------------
// dump

TEST_F(LedgerWal, DumpJsonIsOneObjectPerLineWithEveryTransferId) {
  const ToolRun run = Tool({"dump", data(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::multiset<std::string> ids;
  uint64_t entries = 0;
  for (const std::string& line : Lines(run.out)) {
    const auto object = JsonObject::Parse(line);
    ASSERT_TRUE(object.has_value()) << line;
    const std::string type = object->at("type");
    if (type == "entry") ++entries;
    if (type == "transfer") ids.insert(object->at("id"));
  }
  EXPECT_EQ(entries, written().last_op);
  std::multiset<std::string> expected;
  for (const Transfer& transfer : written().transfers)
    expected.insert(FormatU128(transfer.id.Get()));
  EXPECT_EQ(ids, expected);
}

// An imported event was booked at its own timestamp, not at its place in the batch.
TEST_F(LedgerWal, DumpShowsAnImportedEventBookedAtItsOwnTimestamp) {
  const std::string path = scratch_.Sub("imported");
  ASSERT_TRUE(wal::Directory::Init(path, {.segment_size_bytes = wal::kSegmentSizeMinBytes}).ok());
  {
    replica::ReplicaOptions options;
    options.use_io_uring = false;
    options.writer_buffer_bytes = uint64_t{2} << 20;
    auto opened = replica::Replica::Open(path, std::move(options));
    ASSERT_TRUE(opened.ok()) << opened.status();
    Ledger ledger = wal::testing::TestLedger();
    ledger.flags = ledger_flags::kImported;
    ledger.timestamp_ns = 1'546'300'800'000'000'000;  // 2019-01-01
    CreateLedgerResult result;
    ASSERT_TRUE((*opened)->Submit<Ledger>({&ledger, 1}, {&result, 1}).ok());
    ASSERT_EQ(result, CreateLedgerResult::kOk);
    ASSERT_TRUE((*opened)->WaitDurable(1).ok());
  }
  const ToolRun run = Tool({"dump", path, "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("\"booked_at_ns\":1546300800000000000,"), std::string::npos) << run.out;
}

TEST_F(LedgerWal, DumpAccountShowsOnlyEventsTouchingTheAccount) {
  const u128 account = 5;
  const ToolRun run = Tool({"dump", data(), "--json", "--account", "5"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  size_t transfers = 0;
  size_t accounts = 0;
  for (const std::string& line : Lines(run.out)) {
    const auto object = JsonObject::Parse(line);
    ASSERT_TRUE(object.has_value()) << line;
    const std::string type = object->at("type");
    EXPECT_NE(type, "ledger");
    if (type == "account") {
      EXPECT_EQ(object->at("id"), "5");
      ++accounts;
    }
    if (type == "transfer") {
      EXPECT_TRUE(object->at("debit_account_id") == "5" || object->at("credit_account_id") == "5")
          << line;
      ++transfers;
    }
  }
  size_t expected = 0;
  for (const Transfer& transfer : written().transfers) {
    expected +=
        transfer.debit_account_id.Get() == account || transfer.credit_account_id.Get() == account;
  }
  EXPECT_EQ(accounts, 1u);
  EXPECT_EQ(transfers, expected);
  EXPECT_GT(expected, 0u);
  // The same filter in hex, as text.
  const ToolRun hex = Tool({"dump", data(), "--account=0x5"});
  ASSERT_EQ(hex.exit_code, 0) << hex.err;
  size_t text_transfers = 0;
  for (const std::string& line : Lines(hex.out)) text_transfers += line.starts_with("  transfer ");
  EXPECT_EQ(text_transfers, expected);
}

TEST_F(LedgerWal, DumpPrintsOnlyTheOpRangeAsked) {
  const ToolRun run = Tool({"dump", data(), "--from-op", "5", "--to-op=7"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::vector<std::string> ops;
  for (const std::string& line : Lines(run.out)) {
    if (line.starts_with("op ")) ops.push_back(line.substr(0, line.find(' ', 3)));
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"op 5", "op 6", "op 7"})) << run.out;
  EXPECT_NE(run.out.find("create_transfers"), std::string::npos);
  EXPECT_NE(run.out.find("  transfer "), std::string::npos);
}

TEST_F(LedgerWal, DumpTextNamesFlagsAndScale) {
  const ToolRun run = Tool({"dump", data(), "--to-op", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("  ledger 1  scale 2  asset USD"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("flags debits_must_not_exceed_credits"), std::string::npos) << run.out;
}

// ---------------------------------------------------------------------------------------------
// stats

TEST_F(LedgerWal, StatsCountsEntriesEventsAndSnapshots) {
  const ToolRun run = Tool({"stats", data()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string last_op = std::to_string(written().last_op);
  EXPECT_NE(run.out.find("entries          " + last_op + " (ops 1 to " + last_op + ")"),
            std::string::npos)
      << run.out;
  char transfers[128];
  std::snprintf(transfers, sizeof(transfers), "  %-16s %10" PRIu64 " entries %12zu events",
                "create_transfers", written().transfer_entry_count, written().transfers.size());
  EXPECT_NE(run.out.find(transfers), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("entries per group"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("snapshots        2"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("  op 100 "), std::string::npos) << run.out;
}

// ---------------------------------------------------------------------------------------------
// replay

TEST_F(LedgerWal, ReplayPrintsTheEngineStateHashFromSnapshotAndInFull) {
  const std::string expected = "state hash       " + written().state_hash + "\n";
  const ToolRun run = Tool({"replay", data()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("from the snapshot at op 100"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(expected), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("balanced"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("UNBALANCED"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("transfers/s"), std::string::npos) << run.out;
  const ToolRun full = Tool({"replay", data(), "--full"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_NE(full.out.find("from genesis"), std::string::npos) << full.out;
  EXPECT_NE(full.out.find(expected), std::string::npos) << full.out;
  EXPECT_NE(full.out.find("accounts         16\n"), std::string::npos) << full.out;
  // On shards: the same whole-state hash, and one hash per shard.
  const ToolRun sharded = Tool({"replay", data(), "--shards", "3"});
  ASSERT_EQ(sharded.exit_code, 0) << sharded.err;
  EXPECT_NE(sharded.out.find(expected), std::string::npos) << sharded.out;
  for (const char* shard : {"  shard 0 ", "  shard 1 ", "  shard 2 "}) {
    EXPECT_NE(sharded.out.find(shard), std::string::npos) << shard << " in " << sharded.out;
  }
  EXPECT_EQ(sharded.out.find("  shard 3 "), std::string::npos) << sharded.out;
  EXPECT_EQ(run.out.find("  shard 0 "), std::string::npos) << run.out;  // one shard: no list
}

TEST_F(LedgerWal, ReplayOfATornLogReportsItAndChangesNothing) {
  const std::string copy = Copy();
  const Group last = Groups(copy).back();
  WriteAt(last.path, last.offset + wal::kBlockBytes, std::string(wal::kBlockBytes, '\0'));
  ASSERT_NO_FATAL_FAILURE(CrashBeforeTheMarkPassed(copy, written().last_op - 1));
  const auto before = Contents(copy);
  const ToolRun run = Tool({"replay", copy, "--full"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("torn tail"), std::string::npos) << run.out;
  for (const char* command : {"verify", "dump", "stats"}) Tool({command, copy});
  Tool({"verify", copy, "--from-snapshot"});
  EXPECT_TRUE(Contents(copy) == before) << "a read-only command changed a file";
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST_F(LedgerWal, WrongFlagsExit64WithAOneLineMessageAndTheUsage) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate", data()},
      {"verify"},
      {"verify", data(), "--bogus"},
      {"verify", data(), "extra"},
      {"dump", data(), "--from-op"},
      {"dump", data(), "--from-op", "abc"},
      {"dump", data(), "--to-op", "-1"},
      {"dump", data(), "--from-op", "9", "--to-op", "3"},
      {"dump", data(), "--account", "0xnothex"},
      {"dump", data(), "--account", "340282366920938463463374607431768211456"},  // 2^128
      {"dump", data(), "--json", "--json"},
      {"replay", data(), "--full=yes"},
      {"replay", data(), "--shards", "0"},
      {"replay", data(), "--shards", "17"},
      {"init", scratch_.Sub("new"), "--segment-size-mib", "1"},
      {"init", scratch_.Sub("new"), "--segment-size-mib", "99999999999999999999"},
  };
  for (const auto& args : cases) {
    const ToolRun run = Tool(args);
    std::string joined;
    for (const std::string& arg : args) joined += arg + " ";
    EXPECT_EQ(run.exit_code, 64) << joined << "\n" << run.err;
    EXPECT_NE(run.err.find("usage: ledger-wal"), std::string::npos) << joined;
    if (!args.empty()) {
      EXPECT_TRUE(run.err.starts_with("ledger-wal: ")) << joined << run.err;
    }
    EXPECT_TRUE(run.out.empty()) << joined << run.out;
  }
}

TEST_F(LedgerWal, MissingOrForeignDirectoriesGetAClearMessage) {
  const ToolRun missing = Tool({"verify", scratch_.Sub("nope")});
  EXPECT_EQ(missing.exit_code, 64);
  EXPECT_TRUE(
      missing.err.starts_with("ledger-wal: " + scratch_.Sub("nope") + ": no such directory"))
      << missing.err;
  const ToolRun foreign = Tool({"replay", scratch_.path()});
  EXPECT_EQ(foreign.exit_code, 64);
  EXPECT_NE(foreign.err.find("is not a ledger data directory"), std::string::npos) << foreign.err;
  const ToolRun file = Tool({"stats", data() + "/LEDGER"});
  EXPECT_EQ(file.exit_code, 64);
  EXPECT_NE(file.err.find("is not a directory"), std::string::npos) << file.err;
}

TEST_F(LedgerWal, ADamagedIdentityFileIsCorruptionNotAUsageError) {
  const std::string copy = Copy();
  WriteAt(copy + "/LEDGER", 8, "garbage");
  for (const char* command : {"verify", "stats", "replay", "dump"}) {
    const ToolRun run = Tool({command, copy});
    EXPECT_EQ(run.exit_code, 2) << command << ": " << run.err;
    EXPECT_NE(run.err.find("LEDGER is not a valid identity file"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("usage:"), std::string::npos) << run.err;
  }
  const ToolRun parentless = Tool({"init", scratch_.Sub("no/such/parent")});
  EXPECT_EQ(parentless.exit_code, 73) << parentless.err;
  const ToolRun onto_a_file = Tool({"init", copy + "/LEDGER"});
  EXPECT_EQ(onto_a_file.exit_code, 73) << onto_a_file.err;
  EXPECT_NE(onto_a_file.err.find("exists and is not a directory"), std::string::npos)
      << onto_a_file.err;
}

TEST_F(LedgerWal, InitCreatesADirectoryTheOtherCommandsAccept) {
  const std::string path = scratch_.Sub("fresh");
  const ToolRun init = Tool({"init", path, "--segment-size-mib", "4"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find("segment size    4.0 MiB"), std::string::npos) << init.out;
  EXPECT_EQ(Tool({"verify", path}).exit_code, 0);
  EXPECT_EQ(Tool({"init", path}).exit_code, 73);  // never over an existing directory
}

// ---------------------------------------------------------------------------------------------
// Robustness: damage anywhere gives an exit code, never a crash.

TEST_F(LedgerWal, NoCommandCrashesOnDamageAnywhere) {
  const std::string copy = Copy();
  const std::vector<Group> groups = Groups(copy);
  const std::string segment = groups.front().path;
  // Offsets in the segment header, in group headers, entry headers and bodies.
  std::vector<std::pair<std::string, uint64_t>> targets = {{segment, 40}, {copy + "/LEDGER", 20}};
  for (size_t i = 0; i < groups.size(); i += 17) {
    for (uint64_t delta : {uint64_t{8}, uint64_t{30}, uint64_t{64 + 36}, uint64_t{64 + 130}}) {
      targets.push_back({groups[i].path, groups[i].offset + delta});
    }
  }
  for (const auto& [file, offset] : targets) {
    FlipByte(file, offset);
    for (const char* command : {"verify", "dump", "replay"}) {
      const ToolRun run = Tool({command, copy});
      EXPECT_EQ(run.signal, 0) << command << " at " << file << ":" << offset << "\n" << run.err;
      EXPECT_TRUE(run.exit_code == 0 || run.exit_code == 1 || run.exit_code == 2 ||
                  run.exit_code == 64)
          << command << " at " << file << ":" << offset << " exit " << run.exit_code << run.err;
    }
    FlipByte(file, offset);  // restore
  }
  std::filesystem::resize_file(segment, wal::kSegmentSizeMinBytes / 2);
  const ToolRun truncated = Tool({"verify", copy});
  EXPECT_EQ(truncated.exit_code, 2) << truncated.err;
}

// ---------------------------------------------------------------------------------------------
// The cold store: verify checks it against the log, rebuild-cold writes it anew.

// A windowed replica (256 transfers in memory) over 400 ops of up to 60 transfers; its state
// hash as the tool prints it.
std::string WriteWindowedLog(const std::string& path, uint64_t last_op = 400) {
  EXPECT_TRUE(wal::Directory::Init(path, {.segment_size_bytes = wal::kSegmentSizeMinBytes}).ok());
  replica::ReplicaOptions options;
  options.use_io_uring = false;
  options.writer_buffer_bytes = uint64_t{2} << 20;
  options.snapshot_interval_ops = 150;
  options.engine.hot_transfers = 256;
  std::unique_ptr<replica::Replica> replica = OpenWithLedgerAndAccounts(path, std::move(options));
  for (uint64_t op = 3; op <= last_op; ++op) {
    std::vector<Transfer> batch = wal::testing::TestTransfers(kSeed, op, 60);
    std::vector<CreateTransferResult> results(batch.size());
    EXPECT_TRUE(replica->Submit<Transfer>(batch, results).ok());
  }
  EXPECT_TRUE(replica->WaitDurable(replica->last_op()).ok());
  EXPECT_GT(replica->cold_store()->run_count(), 10u);
  if (last_op > 400) {
    EXPECT_TRUE(replica->SnapshotNow().ok());
  }
  return HashText(replica->engine().ComputeStateHash());
}

TEST(LedgerWalCold, VerifyChecksTheStoreAgainstTheLogAndRebuildGivesTheSameState) {
  TemporaryDirectory temporary;
  const std::string data = temporary.Sub("data");
  const std::string expected = "state hash       " + WriteWindowedLog(data) + "\n";
  const auto tool = [&](const std::vector<std::string>& args) {
    return RunTool(args, temporary.path());
  };
  const std::map<std::string, std::string> before = Contents(data + "/cold");
  ToolRun run = tool({"verify", data});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("checksums ok"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("equal to the log's replay"), std::string::npos) << run.out;
  EXPECT_EQ(Contents(data + "/cold"), before);  // verify changes nothing
  run = tool({"replay", data});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("from the snapshot at op 300"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(expected), std::string::npos) << run.out;

  // A flipped byte in a run's records: named by its file and chunk.
  const std::string run_path = data + "/cold/run-0000000000000003.cold";
  FlipByte(run_path, 4096 + 200);
  run = tool({"verify", data});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("run-0000000000000003.cold: chunk 0 "), std::string::npos) << run.err;
  FlipByte(run_path, 4096 + 200);
  // A run lost: the gap is named.
  std::filesystem::remove(data + "/cold/run-0000000000000002.cold");
  run = tool({"verify", data});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("run 2 is missing"), std::string::npos) << run.err;

  // Rebuilt from the log: the same state from the snapshot over it, and verify passes.
  run = tool({"rebuild-cold", data, "--hot-transfers", "20000"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("transfers/s"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("the old store is kept as"), std::string::npos) << run.out;
  run = tool({"verify", data, "--hot-transfers", "20000"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  run = tool({"replay", data});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("from the snapshot at op 300"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(expected), std::string::npos) << run.out;
  // And a replica opens over it and goes on.
  replica::ReplicaOptions options;
  options.use_io_uring = false;
  options.engine.hot_transfers = 256;
  auto reopened = replica::Replica::Open(data, std::move(options));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ("state hash       " + HashText((*reopened)->engine().ComputeStateHash()) + "\n",
            expected);
}

TEST(LedgerWalCold, ArchiveMovesOldSegmentsOutAndEveryAnswerStays) {
  TemporaryDirectory temporary;
  const std::string data = temporary.Sub("data");
  const std::string archive = temporary.Sub("archive");
  const std::string expected = WriteWindowedLog(data, 1500);  // 4 MiB segments: several
  const auto tool = [&](const std::vector<std::string>& args) {
    return RunTool(args, temporary.path());
  };
  // What the oldest op's transfers read as before: the same after.
  const std::vector<Transfer> oldest = wal::testing::TestTransfers(kSeed, 3, 60);
  const auto lookups = [&oldest](const replica::Replica& replica) {
    std::vector<std::optional<Transfer>> found;
    for (const Transfer& transfer : oldest)
      found.push_back(replica.engine().LookupTransfer(transfer.id));
    return found;
  };
  replica::ReplicaOptions options;
  options.use_io_uring = false;
  options.engine.hot_transfers = 256;
  std::vector<std::optional<Transfer>> before;
  {
    auto opened = replica::Replica::Open(data, options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    before = lookups(**opened);
  }
  ASSERT_TRUE(
      std::any_of(before.begin(), before.end(), [](const auto& t) { return t.has_value(); }));
  const size_t segments_before = std::distance(std::filesystem::directory_iterator(data),
                                               std::filesystem::directory_iterator{});
  ToolRun run = tool({"archive", data, archive});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("archived wal-00000000000000000000.seg"), std::string::npos) << run.out;
  EXPECT_FALSE(std::filesystem::exists(data + "/wal-00000000000000000000.seg"));
  EXPECT_TRUE(std::filesystem::exists(archive + "/wal-00000000000000000000.seg"));
  EXPECT_LT(std::distance(std::filesystem::directory_iterator(data),
                          std::filesystem::directory_iterator{}),
            static_cast<ptrdiff_t>(segments_before));
  // The archive verifies on its own, and its manifest's last chain hash is where the log now
  // starts.
  run = tool({"verify", archive});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::vector<std::string> manifest = Lines(ReadFile(archive + "/ARCHIVE"));
  ASSERT_FALSE(manifest.empty());
  const std::string last_chain = manifest.back().substr(manifest.back().rfind(' ') + 1);
  run = tool({"verify", data});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("archived"), std::string::npos) << run.out;
  run = tool({"dump", data, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(Lines(run.out).front().find(last_chain), std::string::npos)
      << Lines(run.out).front() << " should link to " << last_chain;
  // Nothing more to move now; the ledger opens and answers for its oldest transfer.
  run = tool({"archive", data, archive});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("nothing to archive"), std::string::npos) << run.out;
  auto reopened = replica::Replica::Open(data, std::move(options));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(HashText((*reopened)->engine().ComputeStateHash()), expected);
  const std::vector<std::optional<Transfer>> after = lookups(**reopened);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    ASSERT_EQ(after[i].has_value(), before[i].has_value());
    if (after[i]) {
      EXPECT_EQ(std::memcmp(&*after[i], &*before[i], sizeof(Transfer)), 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Keyed checkpoints (replica/checkpoint.h): a replica signs its log's head every N ops and at
// close; verify --key holds a log to them.

constexpr char kCheckpointKey[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

class Checkpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(key_) << kCheckpointKey;
    ASSERT_TRUE(
        wal::Directory::Init(data_, {.segment_size_bytes = wal::kSegmentSizeMinBytes}).ok());
  }
  // Books `batches` more batches of transfers (seed `seed`) into `path`, signing every 10 ops
  // into `checkpoints` (default: the test's file).
  void Book(const std::string& path, uint64_t seed, uint64_t batches,
            const std::string& checkpoints = "") {
    replica::ReplicaOptions options;
    options.use_io_uring = false;
    options.writer_buffer_bytes = uint64_t{2} << 20;
    options.checkpoint_key = *replica::ParseCheckpointKey(kCheckpointKey);
    options.checkpoint_file = checkpoints.empty() ? checkpoints_ : checkpoints;
    options.checkpoint_interval_ops = 10;
    auto opened = replica::Replica::Open(path, std::move(options));
    ASSERT_TRUE(opened.ok()) << opened.status();
    replica::Replica& replica = **opened;
    if (replica.last_op() == 0) {
      Ledger ledger = wal::testing::TestLedger();
      CreateLedgerResult ledger_result;
      ASSERT_TRUE(replica.Submit<Ledger>({&ledger, 1}, {&ledger_result, 1}).ok());
      std::vector<Account> accounts = wal::testing::TestAccounts();
      std::vector<CreateAccountResult> results(accounts.size());
      ASSERT_TRUE(replica.Submit<Account>(accounts, results).ok());
    }
    for (uint64_t i = 0; i < batches; ++i) {
      std::vector<Transfer> batch = wal::testing::TestTransfers(seed, replica.last_op() + 1);
      std::vector<CreateTransferResult> results(batch.size());
      ASSERT_TRUE(replica.Submit<Transfer>(batch, results).ok());
    }
  }
  std::vector<std::string> SignedOps() const {
    std::vector<std::string> ops;
    for (const std::string& line : Lines(ReadFile(checkpoints_))) {
      ops.push_back(
          line.substr(line.find("op="), line.find(' ', line.find("op=")) - line.find("op=")));
    }
    return ops;
  }
  ToolRun Verify(const std::string& path) const {
    return RunTool({"verify", path, "--key", key_, "--checkpoints", checkpoints_}, scratch_.path());
  }

  TemporaryDirectory scratch_;
  TemporaryDirectory keep_;  // outside the data directory, as ledgerd requires
  const std::string data_ = scratch_.Sub("data");
  const std::string key_ = keep_.Sub("checkpoint.key");
  const std::string checkpoints_ = keep_.Sub("checkpoints");
};

TEST_F(Checkpoints, AReplicaSignsEveryIntervalOnceDurableAndAtCloseAndVerifyFindsEach) {
  ASSERT_NO_FATAL_FAILURE(Book(data_, 1, 23));  // ops 1 to 25
  EXPECT_EQ(SignedOps(), (std::vector<std::string>{"op=10", "op=20", "op=25"}));
  ASSERT_NO_FATAL_FAILURE(Book(data_, 2, 5));  // to 30: signed once, not again at close
  EXPECT_EQ(SignedOps(), (std::vector<std::string>{"op=10", "op=20", "op=25", "op=30"}));
  const ToolRun run = Verify(data_);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("checkpoints     4 of 4 found in the log as signed"), std::string::npos)
      << run.out;
  // Each line checks with openssl alone: the HMAC covers the text before " hmac=".
  const std::string line = Lines(ReadFile(checkpoints_)).front();
  EXPECT_TRUE(line.starts_with("checkpoint v1 op=10 chain=")) << line;
}

TEST_F(Checkpoints, VerifyFindsAHistoryRewrittenAndChainedAnew) {
  ASSERT_NO_FATAL_FAILURE(Book(data_, 1, 28));
  // Another history as long, whole and valid: what a forger who recomputed every checksum and
  // chain hash would leave. Its own signatures go elsewhere: the forger has no key.
  const std::string forged = scratch_.Sub("forged");
  ASSERT_TRUE(wal::Directory::Init(forged, {.segment_size_bytes = wal::kSegmentSizeMinBytes}).ok());
  ASSERT_NO_FATAL_FAILURE(Book(forged, 99, 28, keep_.Sub("forger-unused")));
  EXPECT_EQ(RunTool({"verify", forged}, scratch_.path()).exit_code, 0) << "valid on its own";
  const ToolRun run = Verify(forged);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("op 10 is not the entry signed"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("rewritten"), std::string::npos) << run.err;
}

TEST_F(Checkpoints, VerifyFindsALogCutBackToAnOlderConsistentState) {
  ASSERT_NO_FATAL_FAILURE(Book(data_, 1, 12));  // ops 1 to 14
  const std::string older = scratch_.Sub("older");
  std::filesystem::copy(data_, older);          // whole and consistent, DURABLE file and all
  ASSERT_NO_FATAL_FAILURE(Book(data_, 1, 12));  // to 26
  EXPECT_EQ(RunTool({"verify", older}, scratch_.path()).exit_code, 0) << "valid on its own";
  const ToolRun run = Verify(older);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("the log ends at op 14, but op 26 was signed"), std::string::npos)
      << run.err;
}

TEST_F(Checkpoints, AnEditedOrForeignCheckpointLineIsRefusedByLine) {
  ASSERT_NO_FATAL_FAILURE(Book(data_, 1, 18));  // ops 10 and 20 signed
  std::string text = ReadFile(checkpoints_);
  const size_t at = text.find("op=20");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 5, "op=21");
  std::ofstream(checkpoints_, std::ios::trunc) << text;
  const ToolRun run = Verify(data_);
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("line 2: the checkpoint of op 21 does not carry this key's HMAC"),
            std::string::npos)
      << run.err;
  const ToolRun short_key = RunTool(
      {"verify", data_, "--key", checkpoints_, "--checkpoints", checkpoints_}, scratch_.path());
  EXPECT_NE(short_key.exit_code, 0);
  EXPECT_NE(short_key.err.find("a checkpoint key is at least 32 bytes"), std::string::npos)
      << short_key.err;
}

}  // namespace
}  // namespace ledger::tools
