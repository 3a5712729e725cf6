#include "replica/internal/checkpointer.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/thread.h"

namespace ledger::replica::internal {

namespace {

// Where the last line of the file's first size_bytes begins: past the newline before its
// end (a newline that ends the file belongs to that line), or 0.
absl::StatusOr<uint64_t> LastLineStart(wal::File& file, uint64_t size_bytes) {
  constexpr uint64_t kPieceBytes = 4096;
  std::string piece;
  for (uint64_t end = size_bytes; end > 0;) {
    const uint64_t begin = end > kPieceBytes ? end - kPieceBytes : 0;
    piece.resize(end - begin);
    LEDGER_RETURN_IF_ERROR(file.Read(begin, std::as_writable_bytes(std::span(piece))));
    // The file's last byte is left out: a newline there ends the last line.
    const size_t searched = end == size_bytes ? piece.size() - 1 : piece.size();
    if (const size_t newline = std::string_view(piece).substr(0, searched).rfind('\n');
        newline != std::string::npos) {
      return begin + newline + 1;
    }
    end = begin;
  }
  return 0;
}

// Whether the file's last line, from `start`, is what a power loss during its append leaves:
// no newline, or not a checkpoint line at all (its first sectors lost). A whole line whose
// HMAC fails is not: that is for verify to report.
absl::StatusOr<bool> LastLineUnfinished(wal::File& file, uint64_t start, uint64_t size_bytes,
                                        const std::vector<uint8_t>& key) {
  std::string line(size_bytes - start, '\0');
  LEDGER_RETURN_IF_ERROR(file.Read(start, std::as_writable_bytes(std::span(line))));
  if (line.empty()) return false;
  if (line.back() != '\n') return true;
  line.pop_back();
  return absl::IsInvalidArgument(ParseCheckpoint(key, line).status());
}

// The file's last line, when it is a checkpoint signed with the key (one that does not verify
// is left for `ledger-wal verify` to report).
absl::StatusOr<std::optional<Checkpoint>> LastCheckpoint(wal::File& file, uint64_t size_bytes,
                                                         const std::vector<uint8_t>& key) {
  LEDGER_ASSIGN_OR_RETURN(const uint64_t start, LastLineStart(file, size_bytes));
  if (start == size_bytes) return std::nullopt;
  std::string line(size_bytes - start, '\0');
  LEDGER_RETURN_IF_ERROR(file.Read(start, std::as_writable_bytes(std::span(line))));
  if (line.back() == '\n') line.pop_back();
  absl::StatusOr<Checkpoint> last = ParseCheckpoint(key, line);
  if (!last.ok()) return std::nullopt;
  return *last;
}

// A checkpoint is signed once its op is durable: a log that ends before the file's last one
// lost acknowledged ops (or was cut back), and one holding its op with another chain hash was
// rewritten. Refused, but for a member of a replica group, which takes the rest from its leader.
absl::Status CheckLogReachesLastCheckpoint(wal::File& file, uint64_t size_bytes,
                                           const CheckpointerOptions& options) {
  LEDGER_ASSIGN_OR_RETURN(const std::optional<Checkpoint> last,
                          LastCheckpoint(file, size_bytes, options.key));
  if (!last.has_value() || last->op < options.log_last_op ||
      (last->op == options.log_last_op && last->chain_hash == options.log_last_chain_hash)) {
    return absl::OkStatus();
  }
  const bool beyond = last->op > options.log_last_op;
  if (beyond && options.log_catches_up) {
    if (options.log) {
      options.log(absl::StrCat("the checkpoint file ", options.file_path, " signs op ", last->op,
                               ", beyond this log's op ", options.log_last_op,
                               ": this member takes the rest from its leader"));
    }
    return absl::OkStatus();
  }
  return absl::DataLossError(absl::StrCat(
      "the checkpoint file ", options.file_path, " signs op ", last->op,
      beyond ? absl::StrCat(", but the log ends at op ", options.log_last_op,
                            ": acknowledged ops were lost, or the log was cut back")
             : ", but the log holds another entry there: the history was rewritten",
      ". Nothing was changed; inspect with `ledger-wal verify --key KEY --checkpoints FILE`. "
      "If the log was cut on purpose, start with another checkpoint file"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Checkpointer>> Checkpointer::Open(CheckpointerOptions options,
                                                                 CommitGate& gate) {
  LEDGER_REQUIRE(options.interval_ops > 0 && options.key.size() >= kCheckpointKeyBytesMin);
  wal::Storage& storage = *options.storage;
  absl::StatusOr<std::unique_ptr<wal::File>> file =
      storage.Open(options.file_path, {.writable = true});
  if (absl::IsNotFound(file.status())) {
    file = storage.Open(options.file_path, {.writable = true, .create_new = true});
    // A new file is durable once its directory is synced: until then a power loss takes it,
    // and every checkpoint appended and synced since, away.
    if (file.ok()) {
      const size_t slash = options.file_path.rfind('/');
      const std::string directory = slash == std::string::npos ? "."
                                    : slash == 0               ? "/"
                                                               : options.file_path.substr(0, slash);
      if (const absl::Status synced = storage.SyncDirectory(directory); !synced.ok()) {
        file = synced;
      }
    }
  }
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat("the checkpoint file: ", file.status().message()));
  }
  LEDGER_ASSIGN_OR_RETURN(uint64_t size_bytes, (*file)->Size());
  // A power loss during an append may have left part of the line (zeros where its sectors did
  // not land): cut, or the next line would go on from it and verify would call the file
  // tampered with. Only the last append can be torn: each is synced before the next.
  LEDGER_ASSIGN_OR_RETURN(const uint64_t start, LastLineStart(**file, size_bytes));
  LEDGER_ASSIGN_OR_RETURN(const bool unfinished,
                          LastLineUnfinished(**file, start, size_bytes, options.key));
  if (unfinished) {
    LEDGER_RETURN_IF_ERROR((*file)->Truncate(start));
    LEDGER_RETURN_IF_ERROR((*file)->Sync());
    if (options.log) {
      options.log(absl::StrCat("checkpoint file ", options.file_path, ": cut ", size_bytes - start,
                               " bytes of a line left unfinished"));
    }
    size_bytes = start;
  }
  LEDGER_RETURN_IF_ERROR(CheckLogReachesLastCheckpoint(**file, size_bytes, options));
  return std::unique_ptr<Checkpointer>(
      new Checkpointer(std::move(options), gate, std::move(*file), size_bytes));
}

Checkpointer::Checkpointer(CheckpointerOptions options, CommitGate& gate,
                           std::unique_ptr<wal::File> file, uint64_t file_bytes)
    : options_(std::move(options)), gate_(gate), file_(std::move(file)), file_bytes_(file_bytes) {
  thread_ = std::thread([this] {
    base::NameThisThread("checkpoints");
    Run();
  });
}

Checkpointer::~Checkpointer() { Close(); }

void Checkpointer::Noted(const CheckpointHead& head) {
  const bool due = head.op % options_.interval_ops == 0;
  {
    std::lock_guard lock(mutex_);
    newest_ = head;
    if (due) due_.push_back(head);
  }
  if (due) wake_.notify_one();
}

void Checkpointer::Run() {
  for (;;) {
    Head head;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return !due_.empty() || stopping_; });
      if (due_.empty()) return;
      head = due_.front();
    }
    // In a group a commit may take a new leader's election: wait on, in bounded steps.
    absl::Status committed = gate_.Wait(head.op);
    while (absl::IsUnavailable(committed)) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      committed = gate_.Wait(head.op);
    }
    if (!committed.ok()) return;  // the log failed or the replica closes
    const absl::Status appended = Append(head);
    if (!appended.ok() && options_.log) {
      options_.log(absl::StrCat("checkpoint of op ", head.op, " failed: ", appended.ToString()));
    }
    std::lock_guard lock(mutex_);
    due_.pop_front();
  }
}

absl::Status Checkpointer::Append(const Head& head) {
  {
    std::lock_guard lock(mutex_);
    if (head.op <= signed_op_) return absl::OkStatus();
  }
  const Checkpoint checkpoint =
      SignCheckpoint(options_.key, head.op, head.chain_hash, head.timestamp_ns);
  SignedCheckpoint signed_checkpoint{checkpoint, FormatCheckpoint(checkpoint),
                                     head.change_sequence_next};
  const std::string& line = signed_checkpoint.line;
  LEDGER_RETURN_IF_ERROR(file_->Write(file_bytes_, std::as_bytes(std::span(line))));
  LEDGER_RETURN_IF_ERROR(file_->Sync());
  file_bytes_ += line.size();
  {
    std::lock_guard lock(mutex_);
    signed_op_ = head.op;
  }
  // Reported only once it is in the file: an export never holds what the file may not.
  signed_checkpoint.line.pop_back();  // its newline
  if (options_.on_checkpoint) options_.on_checkpoint(signed_checkpoint);
  return absl::OkStatus();
}

void Checkpointer::Close() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  Head newest;
  {
    std::lock_guard lock(mutex_);
    newest = newest_;
  }
  // The newest entry, once durable (and, in a group, committed: a member whose last entries
  // the group does not commit within the gate's bound signs nothing more).
  if (newest.op == 0 || !gate_.Wait(newest.op).ok()) return;
  const absl::Status appended = Append(newest);
  if (!appended.ok() && options_.log) {
    options_.log(absl::StrCat("checkpoint of op ", newest.op, " failed: ", appended.ToString()));
  }
}

}  // namespace ledger::replica::internal
