// Signs the log's head every `interval_ops` ops once the group has committed it (the log's
// durable op, and in a replica group the group's commit), and at close, appending each
// checkpoint to its file and syncing it (replica/checkpoint.h). Its own thread: a sign and a
// sync never hold the thread that applies batches. Each checkpoint signed and synced is then
// reported (on_checkpoint) for export beside the file.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "replica/checkpoint.h"
#include "replica/internal/commit_gate.h"
#include "wal/format.h"
#include "wal/storage.h"

namespace ledger::replica::internal {

struct CheckpointerOptions {
  std::vector<uint8_t> key;                        // ParseCheckpointKey's
  std::string file_path;                           // appended to; created when absent
  wal::Storage* storage = &wal::Storage::Posix();  // where file_path lives (the replica's)
  uint64_t interval_ops = 0;
  std::function<void(std::string_view)> log;  // failures, for the operator
  // After each checkpoint is appended and synced, on the checkpointer's thread (the one that
  // calls Close for the last); must be quick. May be empty.
  std::function<void(const SignedCheckpoint&)> on_checkpoint;
  // The recovered log's head. A checkpoint is signed only once its op is durable, so a file
  // whose last line signs a later op (or this op with another chain hash) means the log lost
  // acknowledged ops or was rewritten: Open refuses with DataLoss. A member of a replica group
  // (`log_catches_up`) takes what it lacks from its leader instead: Open only logs it.
  uint64_t log_last_op = 0;
  wal::Hash128 log_last_chain_hash;
  bool log_catches_up = false;
};

// An entry the checkpointer may sign, and where the change feed stood after it.
struct CheckpointHead {
  uint64_t op = 0;
  wal::Hash128 chain_hash;
  uint64_t timestamp_ns = 0;
  uint64_t change_sequence_next = 0;
};

class Checkpointer {
 public:
  // gate: borrowed for the checkpointer's life. Opens (or creates) the file, and checks its
  // last line against the log's head (CheckpointerOptions::log_last_op).
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Open(CheckpointerOptions options,
                                                            CommitGate& gate);
  ~Checkpointer();  // Close() if not done

  // After each entry is logged and applied (the thread that logs).
  void Noted(const CheckpointHead& head);
  // Signs the newest entry noted that the group has committed, unless signed already, and
  // stops the thread. Before the gate stops and the log closes.
  void Close();

 private:
  using Head = CheckpointHead;
  Checkpointer(CheckpointerOptions options, CommitGate& gate, std::unique_ptr<wal::File> file,
               uint64_t file_bytes);
  void Run();
  absl::Status Append(const Head& head);

  CheckpointerOptions options_;
  CommitGate& gate_;
  std::unique_ptr<wal::File> file_;
  uint64_t file_bytes_;
  uint64_t signed_op_ = 0;  // under mutex_

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Head> due_;  // interval heads waiting for their commit
  Head newest_;           // the newest entry noted
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ledger::replica::internal
