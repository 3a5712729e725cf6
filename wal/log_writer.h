// Appends entries to the log with group commit.
//
// One thread (the sequencer) appends sealed entries into the filling buffer; one writer
// thread, owned here, writes the other buffer as one group (wal/format.h) and syncs it.
// While a group is being written the next one fills, so one write and one sync cover every
// entry that arrived meanwhile, and throughput grows with offered load until the disk is
// saturated. A group is written only after the previous one is durable.
//
// After each group the writer raises the directory's durable mark (Directory's DURABLE file)
// to its last op, before the next group is written: one 4 KiB slot written in place and
// synced. The group is acknowledged first, so a client waits for one sync, not two. The mark
// is what lets recovery tell an acknowledged group from a torn one: a disk that misdirects a
// write can leave the log ending cleanly where acknowledged groups belong (the next group
// written over the only copy of a group it sent a few blocks on, or sent back over the group
// before it, and then torn by a crash), and only the next group's write can do that, never a
// crash alone. With the mark durable before that write, such a log is always shorter than
// the mark, and refused (docs/wal-format.md, "The simulated disk").
//
// Groups reach the disk through the directory's Storage (wal/storage.h): on the real file
// system io_uring (registered buffers, O_DIRECT, RWF_DSYNC) when the kernel allows it, else
// pwrite + fdatasync; io_backend() says which. An I/O error is sticky: nothing after it is
// acknowledged, and the caller must stop (what reached the disk is unknown).
//
// A full disk is not an I/O error. The next segment is always prepared ahead (preallocated
// under its temporary name, Directory::PrepareSegment), so a switch needs no space and a group
// never fails half way for want of it. When preparing it fails, room_status() says why and
// the caller stops taking new batches (the segment in use still holds far more than the
// writer's buffers); the writer tries again every spare_retry_interval_ns, and once it has
// the segment, room_status() is ok again: writing resumes by itself when space is freed. Only
// if the segment in use fills up before that does a group wait, and it is written then.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_reader.h"

namespace ledger::wal {

// What one group write did (WriterOptions::on_group_done).
struct GroupDone {
  bool ok = false;          // false: the log failed (status() says why); nothing more is durable
  uint64_t durable_op = 0;  // every entry up to this op is on disk
  uint32_t entry_count = 0;
  uint64_t bytes = 0;     // written, padding included
  uint64_t write_ns = 0;  // write + sync
};

struct WriterOptions {
  // What the entries may hold: the writer's buffers must take the largest. Required.
  EntrySchema schema;
  // false: the storage's plain write + sync, never io_uring (ThreadSanitizer builds, or
  // kernels and containers that refuse io_uring).
  bool use_io_uring = true;
  // Each of the two buffers, so the largest group. 16 MiB holds ~13 full batches of 8,190
  // transfers: enough for group commit to amortise a sync (~2 GB/s x 56 us = 112 KB per
  // sync at the device's rate) many times over.
  uint64_t buffer_bytes = uint64_t{16} << 20;
  // How often to try again to prepare the next segment after it failed (a full disk): a
  // preallocation is one fallocate call.
  uint64_t spare_retry_interval_ns = 1'000'000'000;
  // Called on the writer thread after each group write, durable or failed. Must be quick
  // (e.g. wake another thread).
  std::function<void(const GroupDone&)> on_group_done;
};

struct WriterStats {
  uint64_t groups = 0;
  uint64_t entries = 0;
  uint64_t bytes_written = 0;   // including group headers and padding
  uint64_t write_ns_total = 0;  // write + sync, summed
  uint64_t mark_ns_total = 0;   // raising the durable mark after each group, summed
  uint64_t segments_created = 0;
};

// Zeroes the log from `at` to the end of its segment and syncs it, so a torn tail that
// recovery found can never be read again. Needs a writable directory.
absl::Status CutTail(const Directory& directory, const LogPosition& at);

class LogWriter {
 public:
  // Continues the log at `end` (ScanLog's, after recovery cut any torn tail); the next entry
  // appended must be `next_op`.
  static absl::StatusOr<std::unique_ptr<LogWriter>> Open(const Directory& directory,
                                                         const LogPosition& end, uint64_t next_op,
                                                         WriterOptions options);
  // Writes everything appended, then stops the writer thread and removes the prepared next
  // segment (its space goes back to the disk).
  ~LogWriter();

  // From one thread only. `header` is sealed (SealEntry) and its op is the next one. Copies
  // the entry; blocks while both buffers are full (back-pressure).
  void Append(const EntryHeader& header, std::span<const std::byte> body);

  // Every entry up to this op is on disk.
  uint64_t durable_op() const { return durable_op_.load(std::memory_order_acquire); }
  // Blocks until durable_op() >= op, or returns the I/O error that makes it never happen.
  absl::Status WaitDurable(uint64_t op);
  absl::Status status() const;
  // Ok while the next segment is prepared (or being prepared); else why it could not be
  // (ResourceExhausted for a full disk). Callers refuse new batches meanwhile. Any thread.
  absl::Status room_status() const;
  bool has_room() const { return !room_missing_.load(std::memory_order_acquire); }
  // How groups reach the disk, and when io_uring was refused, why ("pwrite+fdatasync
  // (io_uring unavailable: Operation not permitted)"): operators see it at start-up.
  const std::string& io_backend() const { return io_->name(); }
  WriterStats stats() const;

 private:
  LogWriter(const Directory& directory, WriterOptions options);
  void Run();
  absl::Status WriteGroup(std::byte* buffer, uint64_t bytes, uint64_t first_op,
                          uint32_t entry_count);
  absl::Status OpenSegment(uint64_t segment_index);
  // Switches to the next segment, prepared ahead (or waits until it can be).
  absl::Status SwitchSegment(uint64_t first_op);
  // Prepares the segment after the one in use unless it is ready; notes a failure in
  // room_status() and when to try again.
  void PrepareSpare();
  // The writer waits for work, and when the next segment is missing, at most until the next
  // try at preparing it.
  void WaitForWork(std::unique_lock<std::mutex>& lock);
  // room_status(), with mutex_ held.
  absl::Status RoomStatusLocked() const;
  // Records ops through `op` as durable, in the current segment: one slot of the DURABLE
  // file, held open, written in place and synced.
  absl::Status RaiseDurableMark(uint64_t op);
  // After a group was acknowledged, before the next is written; a failure stops the log.
  void RaiseMarkAfterGroup(uint64_t last_op);
  static constexpr int kMarkBufferIndex = 2;  // of the DurableWriter's buffers: mark_slot_

  const Directory& directory_;  // outlives the writer
  WriterOptions options_;
  std::unique_ptr<DurableWriter> io_;
  std::unique_ptr<std::byte, void (*)(void*)> memory_{nullptr, nullptr};
  std::byte* buffers_[2] = {nullptr, nullptr};
  std::byte* mark_slot_ = nullptr;  // one block, after the buffers: the DURABLE slot written

  // Writer thread only.
  std::unique_ptr<File> segment_;
  uint64_t segment_index_ = 0;
  uint64_t segment_offset_ = 0;
  std::unique_ptr<File> mark_file_;  // DURABLE
  uint64_t mark_sequence_ = 0;       // of the newest record written there
  bool spare_ready_ = false;         // segment_index_ + 1 is prepared
  uint64_t spare_retry_at_ns_ = 0;   // when to try preparing it again (monotonic)

  mutable std::mutex mutex_;
  std::condition_variable work_;     // the writer waits for entries or stop
  std::condition_variable space_;    // the appender waits for a free buffer
  std::condition_variable durable_;  // WaitDurable
  int filling_ = 0;
  uint64_t filling_bytes_ = sizeof(GroupHeader);  // the group header goes first
  uint64_t filling_first_op_ = 0;
  uint32_t filling_entries_ = 0;
  uint64_t next_op_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
  absl::Status status_;
  // PrepareSpare's last failure, until it succeeds. Kept as text, not as an absl::Status:
  // copies of a Status share its text by a reference count, and a copy handed to another
  // thread would then race with the writer replacing it (ThreadSanitizer cannot see the count
  // inside the uninstrumented absl library).
  absl::StatusCode room_code_ = absl::StatusCode::kOk;
  std::string room_message_;
  std::atomic<bool> room_missing_{false};
  WriterStats stats_;
  std::atomic<uint64_t> durable_op_{0};
  std::thread thread_;
};

}  // namespace ledger::wal
