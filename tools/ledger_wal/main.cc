// ledger-wal: inspect, verify and replay a ledger data directory offline (docs/operations.md).
//
// This file parses the command line and dispatches; each command lives in <command>.cc
// and the shared helpers in util.cc.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "engine/shard.h"
#include "tools/ledger_wal/ledger_wal.h"

namespace ledger::tools {

void PrintUsage(FILE* out) {
  std::fputs(
      "usage: ledger-wal COMMAND DIR [flags]\n"
      "  init DIR [--segment-size-mib N]  create a data directory (N >= 4, default 256)\n"
      "  verify DIR [--from-snapshot] [--hot-transfers N] [--key FILE --checkpoints FILE]\n"
      "                                   check every checksum and the chain, and the cold store\n"
      "                                   against a replay of the log; with a checkpoint key,\n"
      "                                   that the log holds every signed checkpoint (not\n"
      "                                   rewritten, not cut back); exit 0 only if intact\n"
      "  rebuild-cold DIR [--hot-transfers N]\n"
      "                                   write the cold store anew from the log (the old one is\n"
      "                                   kept aside); the server must be stopped\n"
      "  archive DIR DEST                 move the oldest segments no longer needed (behind the\n"
      "                                   newest snapshot, their transfers cold) to DEST, with\n"
      "                                   their chain hashes in DEST/ARCHIVE; server stopped\n"
      "  dump DIR [--json] [--from-op N] [--to-op M] [--account ID]\n"
      "                                   print entries and their events (ID: decimal or 0x hex)\n"
      "  stats DIR                        segments, groups, entries, events and snapshots\n"
      "  replay DIR [--full] [--shards N] rebuild the state offline: state hash, counts, trial "
      "balance\n"
      "                                   (on N shards, 1 to 16: also each shard's hash)\n"
      "exit codes: 0 ok, 1 torn tail (verify), 2 corruption, 64 usage, 73 cannot create, 74 I/O\n",
      out);
}

namespace {

// Strings, not string_views: Debian's Abseil has its own string_view that StrCat wants.
struct FlagSpec {
  std::string name;
  bool takes_value;
};

struct CommandSpec {
  std::string name;
  std::vector<FlagSpec> flags;
  std::vector<std::string> operands = {"DIR"};  // positional arguments, in order
};

// What the command line said: the directory and each flag given (value "" for switches).
struct Parsed {
  std::string dir;
  std::vector<std::string> operands;  // the positional arguments, DIR first
  std::map<std::string, std::string> flags;
};

absl::Status UsageError(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

const FlagSpec* FindFlag(const CommandSpec& command, const std::string& name) {
  for (const FlagSpec& flag : command.flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

// Accepts `--flag value` and `--flag=value`, and exactly the command's operands (DIR, ...).
absl::StatusOr<Parsed> Parse(const CommandSpec& command, std::span<char* const> args) {
  Parsed parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string arg = args[i];
    if (!arg.starts_with("-") || arg == "-") {
      if (parsed.operands.size() == command.operands.size()) {
        return UsageError(absl::StrCat("unexpected argument '", arg, "'"));
      }
      if (arg.empty())
        return UsageError(absl::StrCat(command.operands[parsed.operands.size()], " is empty"));
      parsed.operands.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (const size_t equals = arg.find('='); equals != std::string::npos) {
      name = arg.substr(0, equals);
      value = arg.substr(equals + 1);
    }
    const FlagSpec* flag = FindFlag(command, name);
    if (flag == nullptr) {
      return UsageError(absl::StrCat("unknown flag '", name, "' for ", command.name));
    }
    if (!flag->takes_value && value.has_value()) {
      return UsageError(absl::StrCat(name, " takes no value"));
    }
    if (flag->takes_value && !value.has_value()) {
      if (i + 1 == args.size()) return UsageError(absl::StrCat(name, " needs a value"));
      value = args[++i];
    }
    if (!parsed.flags.emplace(name, value.value_or("")).second) {
      return UsageError(absl::StrCat(name, " is given twice"));
    }
  }
  if (parsed.operands.empty()) {
    return UsageError(absl::StrCat(command.name, " needs a data directory (DIR)"));
  }
  if (parsed.operands.size() < command.operands.size()) {
    return UsageError(
        absl::StrCat(command.name, " needs ", command.operands[parsed.operands.size()]));
  }
  parsed.dir = parsed.operands.front();
  return parsed;
}

bool Has(const Parsed& parsed, const std::string& flag) { return parsed.flags.contains(flag); }

// The flag's value as a number, or `fallback` when absent.
absl::StatusOr<uint64_t> Number(const Parsed& parsed, const std::string& flag, uint64_t fallback) {
  const auto found = parsed.flags.find(flag);
  if (found == parsed.flags.end()) return fallback;
  std::optional<uint64_t> value = ParseU64(found->second);
  if (!value.has_value()) {
    return UsageError(
        absl::StrCat(flag, ": '", found->second, "' is not a non-negative decimal integer"));
  }
  return *value;
}

// Largest segment accepted: 64 GiB (the default is 256 MiB; more only delays archiving).
constexpr uint64_t kSegmentSizeMibMax = uint64_t{64} << 10;

absl::StatusOr<int> RunInitCommand(const Parsed& parsed) {
  InitArgs args;
  args.dir = parsed.dir;
  LEDGER_ASSIGN_OR_RETURN(args.segment_size_mib,
                          Number(parsed, "--segment-size-mib", args.segment_size_mib));
  const uint64_t minimum_mib = wal::kSegmentSizeMinBytes >> 20;
  if (args.segment_size_mib < minimum_mib || args.segment_size_mib > kSegmentSizeMibMax) {
    return UsageError(absl::StrCat("--segment-size-mib must be between ", minimum_mib, " and ",
                                   kSegmentSizeMibMax));
  }
  return RunInit(args);
}

absl::StatusOr<int> RunDumpCommand(const Parsed& parsed) {
  DumpArgs args;
  args.dir = parsed.dir;
  args.json = Has(parsed, "--json");
  LEDGER_ASSIGN_OR_RETURN(args.from_op, Number(parsed, "--from-op", args.from_op));
  LEDGER_ASSIGN_OR_RETURN(args.to_op, Number(parsed, "--to-op", args.to_op));
  if (args.from_op > args.to_op) {
    return UsageError(absl::StrCat("--from-op ", args.from_op, " is after --to-op ", args.to_op));
  }
  if (const auto found = parsed.flags.find("--account"); found != parsed.flags.end()) {
    args.account = ParseU128(found->second);
    if (!args.account.has_value()) {
      return UsageError(absl::StrCat("--account: '", found->second,
                                     "' is not a 128-bit id (decimal, or hex with 0x)"));
    }
  }
  return RunDump(args);
}

absl::StatusOr<int> RunReplayCommand(const Parsed& parsed) {
  ReplayArgs args;
  args.dir = parsed.dir;
  args.full = Has(parsed, "--full");
  LEDGER_ASSIGN_OR_RETURN(args.shard_count, Number(parsed, "--shards", args.shard_count));
  if (args.shard_count < 1 || args.shard_count > engine::kShardsMax) {
    return UsageError(absl::StrCat("--shards must be between 1 and ", engine::kShardsMax));
  }
  return RunReplay(args);
}

// --hot-transfers of the cold store's replays: at least two batches, as the engine must take a
// whole one after evicting.
absl::StatusOr<uint64_t> ReplayWindow(const Parsed& parsed) {
  LEDGER_ASSIGN_OR_RETURN(const uint64_t hot_transfers,
                          Number(parsed, "--hot-transfers", kReplayHotTransfers));
  if (hot_transfers < 2 * wal::kEventsPerEntryMax) {
    return UsageError(
        absl::StrCat("--hot-transfers must be at least ", 2 * wal::kEventsPerEntryMax));
  }
  return hot_transfers;
}

absl::StatusOr<int> RunVerifyCommand(const Parsed& parsed) {
  VerifyArgs args;
  args.dir = parsed.dir;
  args.from_snapshot = Has(parsed, "--from-snapshot");
  LEDGER_ASSIGN_OR_RETURN(args.hot_transfers, ReplayWindow(parsed));
  if (const auto key = parsed.flags.find("--key"); key != parsed.flags.end()) {
    args.key_file = key->second;
  }
  if (const auto file = parsed.flags.find("--checkpoints"); file != parsed.flags.end()) {
    args.checkpoints_file = file->second;
  }
  if (args.key_file.empty() != args.checkpoints_file.empty()) {
    return UsageError("verify: --key and --checkpoints go together");
  }
  return RunVerify(args);
}

absl::StatusOr<int> RunRebuildColdCommand(const Parsed& parsed) {
  RebuildColdArgs args;
  args.dir = parsed.dir;
  LEDGER_ASSIGN_OR_RETURN(args.hot_transfers, ReplayWindow(parsed));
  return RunRebuildCold(args);
}

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> commands = {
      {"init", {{"--segment-size-mib", true}}},
      {"verify",
       {{"--from-snapshot", false},
        {"--hot-transfers", true},
        {"--key", true},
        {"--checkpoints", true}}},
      {"rebuild-cold", {{"--hot-transfers", true}}},
      {"archive", {}, {"DIR", "DEST"}},
      {"dump", {{"--json", false}, {"--from-op", true}, {"--to-op", true}, {"--account", true}}},
      {"stats", {}},
      {"replay", {{"--full", false}, {"--shards", true}}},
  };
  return commands;
}

absl::StatusOr<int> Dispatch(const std::string& name, std::span<char* const> rest) {
  for (const CommandSpec& command : Commands()) {
    if (command.name != name) continue;
    LEDGER_ASSIGN_OR_RETURN(Parsed parsed, Parse(command, rest));
    if (name == "init") return RunInitCommand(parsed);
    if (name == "verify") return RunVerifyCommand(parsed);
    if (name == "rebuild-cold") return RunRebuildColdCommand(parsed);
    if (name == "archive") return RunArchive({parsed.dir, parsed.operands[1]});
    if (name == "dump") return RunDumpCommand(parsed);
    if (name == "stats") return RunStats({parsed.dir});
    return RunReplayCommand(parsed);
  }
  return UsageError(absl::StrCat("unknown command '", name, "'"));
}

int Main(std::span<char* const> args) {
  if (args.size() < 2) {
    PrintUsage(stderr);
    return kExitUsage;
  }
  const std::string command = args[1];
  if (command == "-h" || command == "--help" || command == "help") {
    PrintUsage(stdout);
    return kExitOk;
  }
  absl::StatusOr<int> exit_code = Dispatch(command, args.subspan(2));
  if (!exit_code.ok()) return Fail(exit_code.status());
  return *exit_code;
}

}  // namespace
}  // namespace ledger::tools

int main(int argc, char** argv) {
  // `ledger-wal dump DIR | head` must end with a clean error, not a signal.
  signal(SIGPIPE, SIG_IGN);
  try {
    return ledger::tools::Main(std::span<char* const>(argv, static_cast<size_t>(argc)));
  } catch (const std::exception& exception) {
    std::fprintf(stderr, "ledger-wal: internal error: %s\n", exception.what());
  } catch (...) {
    std::fprintf(stderr, "ledger-wal: internal error\n");
  }
  return ledger::tools::kExitSoftware;
}
