#include "wal/log_writer.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"
#include "base/thread.h"

namespace ledger::wal {

absl::Status CutTail(const Directory& directory, const LogPosition& at) {
  if (!directory.writable()) {
    return absl::FailedPreconditionError("the log can only be cut with the lock held");
  }
  LEDGER_ASSIGN_OR_RETURN(
      std::unique_ptr<File> segment,
      directory.storage().Open(directory.SegmentPath(at.segment_index), {.writable = true}));
  LEDGER_RETURN_IF_ERROR(segment->Zero(at.offset, directory.segment_size_bytes() - at.offset));
  return segment->Sync();
}

LogWriter::LogWriter(const Directory& directory, WriterOptions options)
    : directory_(directory), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<LogWriter>> LogWriter::Open(const Directory& directory,
                                                           const LogPosition& end, uint64_t next_op,
                                                           WriterOptions options) {
  if (!directory.writable()) {
    return absl::FailedPreconditionError("the log can only be appended to with the lock held");
  }
  const uint64_t entry_max = options.schema.entry_size_max_bytes();
  if (entry_max == EntrySizeBytes(0)) {
    return absl::InvalidArgumentError("the writer's schema names no operation");
  }
  if (options.buffer_bytes % kBlockBytes != 0 ||
      options.buffer_bytes < RoundUpToBlock(sizeof(GroupHeader) + entry_max) ||
      options.buffer_bytes > directory.segment_size_bytes() - kBlockBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("writer buffer must be block-aligned, hold the largest entry (", entry_max,
                     " bytes) and fit in a segment"));
  }
  if (end.offset % kBlockBytes != 0 || end.offset < kBlockBytes) {
    return absl::InvalidArgumentError("log end is not at a group boundary");
  }
  auto writer = std::unique_ptr<LogWriter>(new LogWriter(directory, std::move(options)));
  const uint64_t buffer_bytes = writer->options_.buffer_bytes;
  void* memory = std::aligned_alloc(kBlockBytes, 2 * buffer_bytes + kBlockBytes);
  LEDGER_ASSERT(memory != nullptr, buffer_bytes);
  std::memset(memory, 0, 2 * buffer_bytes + kBlockBytes);
  writer->memory_ = {static_cast<std::byte*>(memory), std::free};
  writer->buffers_[0] = writer->memory_.get();
  writer->buffers_[1] = writer->memory_.get() + buffer_bytes;
  writer->mark_slot_ = writer->memory_.get() + 2 * buffer_bytes;

  const std::span<std::byte> buffers[3] = {{writer->buffers_[0], buffer_bytes},
                                           {writer->buffers_[1], buffer_bytes},
                                           {writer->mark_slot_, kBlockBytes}};
  writer->io_ = directory.storage().NewDurableWriter(buffers, writer->options_.use_io_uring);
  writer->segment_offset_ = end.offset;
  LEDGER_RETURN_IF_ERROR(writer->OpenSegment(end.segment_index));
  // What recovery read may have been in the page cache only (a process killed before its
  // sync): made durable before the mark says so.
  LEDGER_RETURN_IF_ERROR(writer->segment_->Sync());
  // Through the directory once (it creates the file when a directory made before it has
  // none), then in place through the file held open.
  LEDGER_ASSIGN_OR_RETURN(
      writer->mark_sequence_,
      directory.WriteDurableMark({.segment_index = writer->segment_index_, .op = next_op - 1}));
  LEDGER_ASSIGN_OR_RETURN(
      writer->mark_file_,
      directory.storage().Open(directory.DurableMarkPath(), {.writable = true, .direct = true}));
  writer->PrepareSpare();  // a full disk is not a failure here: room_status() says so
  writer->next_op_ = next_op;
  writer->durable_op_.store(next_op - 1, std::memory_order_release);
  writer->thread_ = std::thread([raw = writer.get()] {
    base::NameThisThread("log-writer");
    raw->Run();
  });
  return writer;
}

LogWriter::~LogWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status LogWriter::RaiseDurableMark(uint64_t op) {
  const uint64_t offset = directory_.FillDurableSlot(
      mark_sequence_ + 1, {.segment_index = segment_index_, .op = op}, {mark_slot_, kBlockBytes});
  LEDGER_RETURN_IF_ERROR(
      io_->WriteDurable(*mark_file_, offset, {mark_slot_, kBlockBytes}, kMarkBufferIndex));
  ++mark_sequence_;
  return absl::OkStatus();
}

absl::Status LogWriter::OpenSegment(uint64_t segment_index) {
  const std::string path = directory_.SegmentPath(segment_index);
  {
    // Checked through the page cache: a direct read must be whole blocks.
    LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<File> check, directory_.storage().Open(path, {}));
    LEDGER_RETURN_IF_ERROR(directory_.CheckSegmentHeader(*check, segment_index));
  }
  LEDGER_ASSIGN_OR_RETURN(segment_,
                          directory_.storage().Open(path, {.writable = true, .direct = true}));
  segment_index_ = segment_index;
  return absl::OkStatus();
}

absl::Status LogWriter::SwitchSegment(uint64_t first_op) {
  while (!spare_ready_) {
    // The segment in use is full and the next one could not be prepared (callers have been
    // refusing new batches since): the group waits for space, or fails if the writer stops.
    const uint64_t now_ns = base::MonotonicNs();
    if (now_ns >= spare_retry_at_ns_) {
      PrepareSpare();
      continue;
    }
    std::unique_lock lock(mutex_);
    if (stopping_) return RoomStatusLocked();
    work_.wait_for(lock, std::chrono::nanoseconds(spare_retry_at_ns_ - now_ns),
                   [&] { return stopping_; });
  }
  const uint64_t next = segment_index_ + 1;
  LEDGER_RETURN_IF_ERROR(directory_.PublishSegment(next));
  spare_ready_ = false;
  spare_retry_at_ns_ = 0;  // the one after is prepared once this group is written
  LEDGER_RETURN_IF_ERROR(OpenSegment(next));
  LEDGER_RETURN_IF_ERROR(RaiseDurableMark(first_op - 1));
  segment_offset_ = kBlockBytes;
  std::lock_guard lock(mutex_);
  ++stats_.segments_created;
  return absl::OkStatus();
}

void LogWriter::PrepareSpare() {
  const absl::Status prepared = directory_.PrepareSegment(segment_index_ + 1);
  spare_ready_ = prepared.ok();
  spare_retry_at_ns_ = base::MonotonicNs() + options_.spare_retry_interval_ns;
  {
    std::lock_guard lock(mutex_);
    room_code_ = prepared.code();
    room_message_ =
        prepared.ok() ? std::string()
                      : absl::StrCat("cannot reserve the log's next segment: ", prepared.message());
  }
  room_missing_.store(!prepared.ok(), std::memory_order_release);
}

void LogWriter::WaitForWork(std::unique_lock<std::mutex>& lock) {
  const auto ready = [&] { return filling_entries_ > 0 || stopping_; };
  if (spare_ready_ || !status_.ok()) {
    work_.wait(lock, ready);
    return;
  }
  const uint64_t now_ns = base::MonotonicNs();
  if (now_ns < spare_retry_at_ns_) {
    work_.wait_for(lock, std::chrono::nanoseconds(spare_retry_at_ns_ - now_ns), ready);
  }
}

void LogWriter::Append(const EntryHeader& header, std::span<const std::byte> body) {
  const uint64_t size = header.entry_size_bytes;
  LEDGER_ASSERT(size == EntrySizeBytes(body.size()) && body.size() == header.body_size_bytes, size,
                body.size());
  {
    std::unique_lock lock(mutex_);
    LEDGER_REQUIRE(header.op == next_op_, header.op, next_op_);
    space_.wait(lock,
                [&] { return filling_bytes_ + size <= options_.buffer_bytes || !status_.ok(); });
    ++next_op_;
    if (!status_.ok()) return;  // the log is dead; WaitDurable reports why
    std::byte* destination = buffers_[filling_] + filling_bytes_;
    std::memcpy(destination, &header, sizeof(header));
    if (!body.empty()) std::memcpy(destination + sizeof(header), body.data(), body.size());
    std::memset(destination + sizeof(header) + body.size(), 0, size - sizeof(header) - body.size());
    if (filling_entries_ == 0) filling_first_op_ = header.op;
    ++filling_entries_;
    filling_bytes_ += size;
  }
  work_.notify_one();
}

void LogWriter::Run() {
  for (;;) {
    // status_ is written on this thread only: read here without the lock.
    if (!spare_ready_ && status_.ok() && base::MonotonicNs() >= spare_retry_at_ns_) {
      PrepareSpare();
    }
    int index;
    uint64_t bytes, first_op;
    uint32_t entry_count;
    absl::Status failed;
    {
      std::unique_lock lock(mutex_);
      WaitForWork(lock);
      if (filling_entries_ == 0) {
        if (!stopping_) continue;  // woke to prepare the next segment
        // Stopping, and everything is written (and marked durable).
        // The space it holds goes back to the disk; the next writer prepares its own.
        if (spare_ready_) {
          directory_.storage()
              .Remove(directory_.SegmentPath(segment_index_ + 1) + ".tmp")
              .IgnoreError();
        }
        return;
      }
      index = filling_;
      bytes = filling_bytes_;
      first_op = filling_first_op_;
      entry_count = filling_entries_;
      // The other buffer is free: its group was written before this loop came round.
      filling_ = 1 - filling_;
      filling_bytes_ = sizeof(GroupHeader);
      filling_entries_ = 0;
      failed = status_;  // once the log is dead, nothing more is written
    }
    space_.notify_all();
    const uint64_t start_ns = base::MonotonicNs();
    absl::Status written =
        failed.ok() ? WriteGroup(buffers_[index], bytes, first_op, entry_count) : failed;
    const uint64_t write_ns = base::MonotonicNs() - start_ns;
    const uint64_t last_op = first_op + entry_count - 1;
    const GroupDone done{.ok = written.ok(),
                         .durable_op = written.ok() ? last_op : durable_op(),
                         .entry_count = entry_count,
                         .bytes = RoundUpToBlock(bytes),
                         .write_ns = write_ns};
    {
      std::lock_guard lock(mutex_);
      if (!written.ok() && status_.ok()) status_ = written;
      if (written.ok()) {
        ++stats_.groups;
        stats_.entries += entry_count;
        stats_.bytes_written += done.bytes;
        stats_.write_ns_total += done.write_ns;
        durable_op_.store(last_op, std::memory_order_release);
      }
    }
    if (options_.on_group_done) options_.on_group_done(done);
    durable_.notify_all();
    space_.notify_all();
    if (written.ok()) RaiseMarkAfterGroup(last_op);
  }
}

void LogWriter::RaiseMarkAfterGroup(uint64_t last_op) {
  const uint64_t start_ns = base::MonotonicNs();
  const absl::Status marked = RaiseDurableMark(last_op);
  std::lock_guard lock(mutex_);
  stats_.mark_ns_total += base::MonotonicNs() - start_ns;
  // The group stays acknowledged (it is durable); nothing after it is written.
  if (!marked.ok() && status_.ok()) status_ = marked;
}

absl::Status LogWriter::WriteGroup(std::byte* buffer, uint64_t bytes, uint64_t first_op,
                                   uint32_t entry_count) {
  const uint64_t padded = RoundUpToBlock(bytes);
  std::memset(buffer + bytes, 0, padded - bytes);
  if (segment_offset_ + padded > directory_.segment_size_bytes()) {
    // Groups never straddle segments: the rest of this one stays zero.
    LEDGER_RETURN_IF_ERROR(SwitchSegment(first_op));
  }
  GroupHeader header{};
  header.magic = kGroupMagic;
  header.first_op = first_op;
  header.entry_count = entry_count;
  header.size_bytes = bytes;
  header.segment_index = segment_index_;
  header.segment_offset = segment_offset_;
  header.checksum = GroupChecksum(header, directory_.identity().directory_id);
  std::memcpy(buffer, &header, sizeof(header));
  LEDGER_RETURN_IF_ERROR(io_->WriteDurable(*segment_, segment_offset_, {buffer, padded},
                                           buffer == buffers_[0] ? 0 : 1));
  segment_offset_ += padded;
  return absl::OkStatus();
}

absl::Status LogWriter::WaitDurable(uint64_t op) {
  std::unique_lock lock(mutex_);
  durable_.wait(lock, [&] { return durable_op() >= op || !status_.ok(); });
  return durable_op() >= op ? absl::OkStatus() : status_;
}

absl::Status LogWriter::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

absl::Status LogWriter::room_status() const {
  std::lock_guard lock(mutex_);
  return RoomStatusLocked();
}

absl::Status LogWriter::RoomStatusLocked() const {
  return room_code_ == absl::StatusCode::kOk ? absl::OkStatus()
                                             : absl::Status(room_code_, room_message_);
}

WriterStats LogWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace ledger::wal
