// WAL benchmarks: the disk's own bandwidth as a yardstick, the log's append throughput with
// full batches, group commit under many producers of small batches, and recovery of a log of
// 10 million transfers.
//
//   build/release/bench/wal_bench                                    # all, at full scale
//   LEDGER_BENCH_SMALL=1 build/release/bench/wal_bench               # a quick check
//   LEDGER_BENCH_DIR=/work/bench-data build/release/bench/wal_bench --benchmark_filter=Recover
//
// Data goes under LEDGER_BENCH_DIR when set (kept: the recovery log is built once and reused
// by later runs) or else under a fresh directory in the system's temporary directory (removed
// at exit). Either must be on the disk being measured.
//
// BM_RawDirectWrite/KiB:1024/mode:0/io_uring:0 is the yardstick (1 MiB RWF_DSYNC writes into a
// preallocated file, like the log's); mode 1 is plain O_DIRECT with one fdatasync at the end
// (streaming), mode 2 rewrites blocks written before (no unwritten extents to convert). The
// 4 KiB rows bound the flushes per second group commit can reach.
//
// Rates: bytes_per_second is binary (GiB/s); GB_per_s and items_per_second (transfers/s) are
// decimal. Full scale writes ~5 GB and needs ~8 GB of memory for the recovery benchmarks.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/workload.h"
#include "engine/engine.h"
#include "engine/operation.h"
#include "replica/log_schema.h"
#include "replica/recovery.h"
#include "wal/directory.h"
#include "wal/format.h"
#include "wal/log_reader.h"
#include "wal/log_writer.h"
#include "wal/snapshot_file.h"

namespace {

using ledger::bench::AccountIdOf;
using ledger::bench::FillPlainBatch;
using ledger::bench::Random;

using namespace ledger;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBatchEvents = wal::kEventsPerEntryMax;  // 8,190: the industry's batch size
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kRecoveryAccounts = 10'000;
constexpr uint32_t kLedger = 1;

// Scale ---------------------------------------------------------------------------------------

bool Small() {
  static const bool small = [] {
    const char* value = std::getenv("LEDGER_BENCH_SMALL");
    return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
  }();
  return small;
}
// The raw write pass: 1 GiB of 1 MiB writes, ~0.5 s at the disk's ~2 GB/s.
uint64_t RawFileBytes() { return Small() ? 64 * kMiB : 1024 * kMiB; }
// 4 KiB durable writes per pass: ~0.3 s at the ~56 us DESIGN.md measured for one.
uint64_t RawSmallWrites() { return Small() ? 200 : 5'000; }
// Full batches appended per run: 1,222 x 8,190 = 10,008,180 transfers, 1.5 GB of log.
uint64_t AppendBatches() { return Small() ? 40 : 1222; }
// The log that recovery reads: the same 10 million transfers.
uint64_t RecoveryBatches() { return Small() ? 24 : 1222; }
std::chrono::milliseconds GroupCommitDuration() {
  return std::chrono::milliseconds(Small() ? 200 : 2000);
}

void Check(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "wal_bench: %s (%s)\n", what.c_str(), std::strerror(errno));
  std::abort();
}
void Check(const absl::Status& status, const std::string& what) {
  if (status.ok()) return;
  std::fprintf(stderr, "wal_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::abort();
}

// Where the data goes: LEDGER_BENCH_DIR (kept) or a temporary directory (removed at exit).
class BenchDirectory {
 public:
  static BenchDirectory& Get() {
    static BenchDirectory directory;
    return directory;
  }
  ~BenchDirectory() {
    if (temporary_) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  BenchDirectory() {
    const char* chosen = std::getenv("LEDGER_BENCH_DIR");
    if (chosen != nullptr && *chosen != '\0') {
      path_ = chosen;
      std::filesystem::create_directories(path_);
      return;
    }
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ledger-wal-bench-XXXXXX").string();
    Check(mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    path_ = pattern;
    temporary_ = true;
  }
  std::string path_;
  bool temporary_ = false;
};

// Seals entries in op order, chaining them, with strictly increasing timestamps: what the
// sequencer does, without an engine.
class EntrySealer {
 public:
  wal::EntryHeader Seal(engine::Operation operation, uint32_t event_count,
                        std::span<const std::byte> body) {
    wal::EntryHeader header{};
    header.operation = static_cast<uint8_t>(operation);
    header.event_count = event_count;
    header.op = ++last_op_;
    header.timestamp_ns = next_timestamp_ns_;
    header.previous_chain_hash = chain_hash_;
    wal::SealEntry(header, body);
    next_timestamp_ns_ += event_count + 1;
    chain_hash_ = header.chain_hash;
    return header;
  }
  uint64_t last_op() const { return last_op_; }
  const wal::Hash128& chain_hash() const { return chain_hash_; }

 private:
  uint64_t last_op_ = 0;
  uint64_t next_timestamp_ns_ = uint64_t{1'700'000'000} * 1'000'000'000;
  wal::Hash128 chain_hash_;
};

// A fresh, initialised data directory `name` under the bench directory.
std::unique_ptr<wal::Directory> FreshDataDirectory(const std::string& name) {
  const std::string path = BenchDirectory::Get().Sub(name);
  std::filesystem::remove_all(path);
  Check(wal::Directory::Init(path, {}), "init " + path);
  auto directory = wal::Directory::Open(path, /*writable=*/true);
  Check(directory.status(), "open " + path);
  return std::move(*directory);
}

std::unique_ptr<wal::LogWriter> OpenWriter(const wal::Directory& directory, bool use_io_uring) {
  wal::WriterOptions options;
  options.schema = replica::LogSchema();
  options.use_io_uring = use_io_uring;
  auto writer = wal::LogWriter::Open(directory, wal::LogPosition{}, 1, std::move(options));
  Check(writer.status(), "open the log");
  return std::move(*writer);
}

// Drops a file's pages from the page cache, so the next read comes from the disk.
void EvictFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  Check(fd >= 0, "open " + path);
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

// (a) The yardstick: raw O_DIRECT sequential writes ------------------------------------------

enum class RawMode : int64_t {
  // Each write durable on its own (RWF_DSYNC), one in flight, into a freshly preallocated file
  // (posix_fallocate: unwritten extents converted as they are written, as in a WAL segment).
  kDsyncEach = 0,
  // Plain O_DIRECT writes, one fdatasync at the end: the disk's streaming rate.
  kSyncAtEnd = 1,
  // As kDsyncEach, over blocks written before (untimed): no extent conversion to journal.
  kDsyncOverwrite = 2,
};
// By RawMode, 1 MiB writes through pwritev2, once measured: the ratios of (b) use them.
double g_raw_bytes_per_second[3] = {0, 0, 0};

struct RawWriteSpec {
  uint64_t write_bytes;
  uint64_t file_bytes;
  RawMode mode;
  bool use_io_uring;
};

std::byte* RandomBuffer() {
  static std::byte* buffer = [] {
    auto* memory = static_cast<std::byte*>(std::aligned_alloc(wal::kBlockBytes, kMiB));
    Random random{99};
    for (uint64_t i = 0; i < kMiB; i += 8) {
      const uint64_t word = random.Next();
      std::memcpy(memory + i, &word, 8);  // not zeros: nothing below may elide them
    }
    return memory;
  }();
  return buffer;
}

// One write of `bytes` at `offset` with `flags`, through a one-entry io_uring.
class RawUring {
 public:
  RawUring() { Check(io_uring_queue_init(4, &ring_, 0) == 0, "io_uring_queue_init"); }
  ~RawUring() { io_uring_queue_exit(&ring_); }
  void Write(int fd, const std::byte* buffer, uint64_t bytes, uint64_t offset, int flags) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_write(sqe, fd, buffer, static_cast<unsigned>(bytes), offset);
    sqe->rw_flags = flags;
    Check(io_uring_submit_and_wait(&ring_, 1) == 1, "io_uring_submit_and_wait");
    io_uring_cqe* cqe = nullptr;
    Check(io_uring_wait_cqe(&ring_, &cqe) == 0, "io_uring_wait_cqe");
    Check(cqe->res == static_cast<int>(bytes), "io_uring write");
    io_uring_cqe_seen(&ring_, cqe);
  }

 private:
  io_uring ring_{};
};

// Writes the file once, sequentially, as `spec` says, after preparing it untimed; returns the
// seconds the writes (and the final sync) took.
double TimeRawWritePass(const std::string& path, const RawWriteSpec& spec,
                        benchmark::State* state) {
  if (state != nullptr) state->PauseTiming();
  unlink(path.c_str());
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644);
  Check(fd >= 0, "open " + path + " with O_DIRECT");
  Check(posix_fallocate(fd, 0, static_cast<off_t>(spec.file_bytes)) == 0, "posix_fallocate");
  std::byte* buffer = RandomBuffer();
  if (spec.mode == RawMode::kDsyncOverwrite) {
    for (uint64_t offset = 0; offset < spec.file_bytes; offset += kMiB) {
      const uint64_t bytes = std::min(kMiB, spec.file_bytes - offset);
      Check(pwrite(fd, buffer, bytes, static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes),
            "pwrite");
    }
  }
  Check(fsync(fd) == 0, "fsync");
  std::unique_ptr<RawUring> uring = spec.use_io_uring ? std::make_unique<RawUring>() : nullptr;
  if (state != nullptr) state->ResumeTiming();
  const auto start = Clock::now();
  const int flags = spec.mode == RawMode::kSyncAtEnd ? 0 : RWF_DSYNC;
  for (uint64_t offset = 0; offset < spec.file_bytes; offset += spec.write_bytes) {
    if (uring != nullptr) {
      uring->Write(fd, buffer, spec.write_bytes, offset, flags);
      continue;
    }
    iovec vector{buffer, spec.write_bytes};
    Check(pwritev2(fd, &vector, 1, static_cast<off_t>(offset), flags) ==
              static_cast<ssize_t>(spec.write_bytes),
          "pwritev2");
  }
  if (spec.mode == RawMode::kSyncAtEnd) Check(fdatasync(fd) == 0, "fdatasync");
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  return seconds;
}

// The log's hashing as the writer and reader run it, on a full entry (8,190 transfers, 1 MiB).
// The body checksum is XXH3-128 of the body (libxxhash's run-time dispatch: SSE2, AVX2 or
// AVX-512 by the CPU); sealing adds the chain hash over the header; checking a header
// recomputes its chain hash (a short input: inline, scalar). docs/benchmarks.md compares the
// portable build with -march=native on these.
std::vector<std::byte> FullEntryBody() {
  std::vector<Transfer> transfers(wal::kEventsPerEntryMax);
  Random random{7};
  FillPlainBatch(random, 10'000, 1, transfers);
  const auto bytes = std::as_bytes(std::span(transfers));
  return {bytes.begin(), bytes.end()};
}

void BM_BodyChecksum(benchmark::State& state) {
  const std::vector<std::byte> body = FullEntryBody();
  for (auto _ : state) benchmark::DoNotOptimize(wal::HashBytes(body));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_SealEntry(benchmark::State& state) {
  const std::vector<std::byte> body = FullEntryBody();
  wal::EntryHeader header{};
  header.operation = static_cast<uint8_t>(engine::Operation::kCreateTransfers);
  header.event_count = wal::kEventsPerEntryMax;
  for (auto _ : state) {
    ++header.op;
    wal::SealEntry(header, body);
    benchmark::DoNotOptimize(header);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_CheckEntryHeader(benchmark::State& state) {
  wal::EntryHeader header{};
  header.operation = static_cast<uint8_t>(engine::Operation::kCreateTransfers);
  header.event_count = 1;
  header.op = 1;
  const std::byte body[sizeof(Transfer)] = {};
  wal::SealEntry(header, body);
  const wal::EntrySchema schema = replica::LogSchema();
  for (auto _ : state) {
    benchmark::DoNotOptimize(header);
    if (!wal::IsWellFormedEntryHeader(header, schema)) state.SkipWithError("header check failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// Ranges: write size in KiB, RawMode, io_uring (0: pwritev2).
void BM_RawDirectWrite(benchmark::State& state) {
  RawWriteSpec spec;
  spec.write_bytes = static_cast<uint64_t>(state.range(0)) << 10;
  spec.mode = static_cast<RawMode>(state.range(1));
  spec.use_io_uring = state.range(2) != 0;
  // 1 MiB writes: one pass over RawFileBytes(). 4 KiB writes: RawSmallWrites() of them.
  spec.file_bytes = spec.write_bytes >= kMiB ? RawFileBytes() : spec.write_bytes * RawSmallWrites();
  const std::string path = BenchDirectory::Get().Sub("raw-write");
  double seconds = 0;
  for (auto _ : state) seconds += TimeRawWritePass(path, spec, &state);
  unlink(path.c_str());
  const double bytes = static_cast<double>(spec.file_bytes * state.iterations());
  if (spec.write_bytes == kMiB && !spec.use_io_uring) {
    g_raw_bytes_per_second[state.range(1)] = bytes / seconds;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["GB_per_s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["writes_per_s"] = benchmark::Counter(bytes / static_cast<double>(spec.write_bytes),
                                                      benchmark::Counter::kIsRate);
}

// The yardstick for the ratios below: measured by BM_RawDirectWrite in this run, or here when
// that benchmark was filtered out.
double RawBytesPerSecond(RawMode mode) {
  double& rate = g_raw_bytes_per_second[static_cast<int>(mode)];
  if (rate == 0) {
    const std::string path = BenchDirectory::Get().Sub("raw-write");
    const RawWriteSpec spec{kMiB, std::min<uint64_t>(RawFileBytes(), 256 * kMiB), mode, false};
    rate = static_cast<double>(spec.file_bytes) / TimeRawWritePass(path, spec, nullptr);
    unlink(path.c_str());
  }
  return rate;
}

// (b) Full batches from one producer, as fast as back-pressure allows -------------------------

void BM_WalAppendFullBatches(benchmark::State& state) {
  const bool use_io_uring = state.range(0) != 0;
  const uint64_t batch_count = AppendBatches();
  // A few distinct bodies: the content does not matter to the log, only its size.
  std::vector<std::vector<Transfer>> bodies(4, std::vector<Transfer>(kBatchEvents));
  Random random{1};
  for (auto& body : bodies) FillPlainBatch(random, kRecoveryAccounts, kLedger, body);
  wal::WriterStats stats;
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::unique_ptr<wal::Directory> directory = FreshDataDirectory("append");
    std::unique_ptr<wal::LogWriter> writer = OpenWriter(*directory, use_io_uring);
    state.SetLabel(writer->io_backend());
    EntrySealer sealer;
    state.ResumeTiming();
    const auto start = Clock::now();
    for (uint64_t i = 0; i < batch_count; ++i) {
      const auto body = std::as_bytes(std::span(bodies[i % bodies.size()]));
      writer->Append(sealer.Seal(engine::Operation::kCreateTransfers, kBatchEvents, body), body);
    }
    Check(writer->WaitDurable(sealer.last_op()), "wait for durability");
    seconds += std::chrono::duration<double>(Clock::now() - start).count();
    state.PauseTiming();
    const wal::WriterStats run = writer->stats();
    stats.groups += run.groups;
    stats.entries += run.entries;
    stats.bytes_written += run.bytes_written;
    stats.write_ns_total += run.write_ns_total;
    stats.mark_ns_total += run.mark_ns_total;
    stats.segments_created += run.segments_created;
    writer.reset();
    std::filesystem::remove_all(directory->path());
    state.ResumeTiming();
  }
  const double bytes = static_cast<double>(stats.bytes_written);
  const double bytes_per_second = bytes / seconds;
  state.SetBytesProcessed(static_cast<int64_t>(stats.bytes_written));
  state.SetItemsProcessed(static_cast<int64_t>(stats.entries * kBatchEvents));
  state.counters["GB_per_s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  // Against one 1 MiB RWF_DSYNC write at a time (the target: >= 0.8), and against streaming.
  state.counters["vs_raw_dsync"] = bytes_per_second / RawBytesPerSecond(RawMode::kDsyncEach);
  state.counters["vs_raw_stream"] = bytes_per_second / RawBytesPerSecond(RawMode::kSyncAtEnd);
  state.counters["group_MB"] = bytes / 1e6 / static_cast<double>(stats.groups);
  state.counters["entries_per_group"] =
      static_cast<double>(stats.entries) / static_cast<double>(stats.groups);
  // The writer thread's share of the time spent writing: 1.0 means the disk never waited.
  state.counters["disk_busy"] = static_cast<double>(stats.write_ns_total) / 1e9 / seconds;
  // Its share spent raising the durable mark after each group (docs/wal-format.md).
  state.counters["mark_busy"] = static_cast<double>(stats.mark_ns_total) / 1e9 / seconds;
  state.counters["segments"] = static_cast<double>(stats.segments_created);
}

// (c) Small batches from many closed-loop producers: group commit ------------------------------

// LogWriter::Append is single-producer, so producers hand their batches to one sequencer
// thread through this queue; it appends them and tells each its op, and the producer then
// waits for durability itself.
class SequencerQueue {
 public:
  struct Request {
    std::span<const std::byte> body;
    uint32_t event_count = 0;
    uint64_t op = 0;  // set by the sequencer thread, under mutex_
  };

  explicit SequencerQueue(wal::LogWriter& writer) : writer_(writer) {
    thread_ = std::thread([this] { Run(); });
  }
  ~SequencerQueue() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    submitted_.notify_one();
    thread_.join();
  }

  // Returns the request's op once it is appended (not yet durable).
  uint64_t Submit(Request& request) {
    std::unique_lock lock(mutex_);
    request.op = 0;
    pending_.push_back(&request);
    submitted_.notify_one();
    assigned_.wait(lock, [&] { return request.op != 0; });
    return request.op;
  }

 private:
  void Run() {
    std::vector<Request*> taken;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        submitted_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
        if (pending_.empty()) return;
        taken.assign(pending_.begin(), pending_.end());
        pending_.clear();
      }
      std::vector<uint64_t> ops(taken.size());
      for (size_t i = 0; i < taken.size(); ++i) {
        const wal::EntryHeader header = sealer_.Seal(engine::Operation::kCreateTransfers,
                                                     taken[i]->event_count, taken[i]->body);
        writer_.Append(header, taken[i]->body);
        ops[i] = header.op;
      }
      {
        std::lock_guard lock(mutex_);
        for (size_t i = 0; i < taken.size(); ++i) taken[i]->op = ops[i];
      }
      assigned_.notify_all();
    }
  }

  wal::LogWriter& writer_;  // outlives the queue
  EntrySealer sealer_;      // the sequencer thread's
  std::mutex mutex_;
  std::condition_variable submitted_;
  std::condition_variable assigned_;
  std::deque<Request*> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

void BM_WalGroupCommit(benchmark::State& state) {
  const auto batch_events = static_cast<uint32_t>(state.range(0));
  const auto producer_count = static_cast<size_t>(state.range(1));
  const bool use_io_uring = state.range(2) != 0;
  std::vector<Transfer> batch(batch_events);
  Random random{2};
  FillPlainBatch(random, kRecoveryAccounts, kLedger, batch);
  const auto body = std::as_bytes(std::span(batch));
  uint64_t requests = 0, groups = 0, entries = 0;
  std::vector<double> latencies_us;
  for (auto _ : state) {
    std::unique_ptr<wal::Directory> directory = FreshDataDirectory("group-commit");
    std::unique_ptr<wal::LogWriter> writer = OpenWriter(*directory, use_io_uring);
    state.SetLabel(writer->io_backend());
    std::atomic<bool> stop{false};
    std::vector<std::vector<double>> producer_latencies_us(producer_count);
    {
      SequencerQueue queue(*writer);
      std::vector<std::thread> producers;
      const auto start = Clock::now();
      for (size_t p = 0; p < producer_count; ++p) {
        producers.emplace_back([&, p] {
          std::vector<double>& latencies = producer_latencies_us[p];
          latencies.reserve(1 << 16);
          SequencerQueue::Request request{body, batch_events};
          while (!stop.load(std::memory_order_relaxed)) {
            const auto submitted = Clock::now();
            Check(writer->WaitDurable(queue.Submit(request)), "wait for durability");
            latencies.push_back(
                std::chrono::duration<double, std::micro>(Clock::now() - submitted).count());
          }
        });
      }
      std::this_thread::sleep_for(GroupCommitDuration());
      stop.store(true);
      for (std::thread& producer : producers) producer.join();
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      state.SetIterationTime(elapsed);
    }
    const wal::WriterStats stats = writer->stats();
    groups += stats.groups;
    entries += stats.entries;
    for (const auto& latencies : producer_latencies_us) {
      requests += latencies.size();
      latencies_us.insert(latencies_us.end(), latencies.begin(), latencies.end());
    }
    writer.reset();
    std::filesystem::remove_all(directory->path());
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto percentile = [&](double fraction) {
    if (latencies_us.empty()) return 0.0;
    return latencies_us[static_cast<size_t>(fraction *
                                            static_cast<double>(latencies_us.size() - 1))];
  };
  state.SetItemsProcessed(static_cast<int64_t>(requests * batch_events));
  state.counters["batches_per_s"] =
      benchmark::Counter(static_cast<double>(requests), benchmark::Counter::kIsRate);
  state.counters["flushes_per_s"] =
      benchmark::Counter(static_cast<double>(groups), benchmark::Counter::kIsRate);
  state.counters["entries_per_group"] =
      static_cast<double>(entries) / static_cast<double>(std::max<uint64_t>(groups, 1));
  state.counters["latency_us_p50"] = percentile(0.50);
  state.counters["latency_us_p99"] = percentile(0.99);
}

// (d) Recovery of a log of 10 million transfers -------------------------------------------------

struct RecoveryLog {
  std::string path;
  uint64_t last_op = 0;
  uint64_t transfer_count = 0;
};

// Whether a kept log still reads to its end (the format may have changed since it was built).
bool IsWholeLog(const std::string& path, uint64_t last_op) {
  auto directory = wal::Directory::Open(path, /*writable=*/false);
  if (!directory.ok()) return false;
  auto scanned = wal::ScanLog(**directory, replica::LogScanOptions(), nullptr);
  return scanned.ok() && scanned->last_op == last_op && !scanned->torn_tail;
}

// The ledger, kRecoveryAccounts accounts, then RecoveryBatches() full batches of plain
// transfers that all succeed. Built once: kept in the bench directory, marked complete.
const RecoveryLog& GetRecoveryLog() {
  static const RecoveryLog log = [] {
    RecoveryLog built;
    built.path = BenchDirectory::Get().Sub("recovery-" + std::to_string(RecoveryBatches()) + "x" +
                                           std::to_string(kBatchEvents));
    built.transfer_count = RecoveryBatches() * kBatchEvents;
    const std::string marker = built.path + "/complete";
    const uint64_t account_batches = (kRecoveryAccounts + kBatchEvents - 1) / kBatchEvents;
    built.last_op = 1 + account_batches + RecoveryBatches();
    if (std::filesystem::exists(marker) && IsWholeLog(built.path, built.last_op)) return built;
    std::fprintf(stderr, "wal_bench: building %s (%llu transfers)\n", built.path.c_str(),
                 static_cast<unsigned long long>(built.transfer_count));
    std::filesystem::remove_all(built.path);
    Check(wal::Directory::Init(built.path, {}), "init " + built.path);
    auto directory = wal::Directory::Open(built.path, /*writable=*/true);
    Check(directory.status(), "open " + built.path);
    std::unique_ptr<wal::LogWriter> writer = OpenWriter(**directory, /*use_io_uring=*/true);
    EntrySealer sealer;
    Ledger ledger{};
    ledger.id = kLedger;
    std::memcpy(ledger.asset_code, "USD", 3);
    const auto ledger_body = std::as_bytes(std::span(&ledger, 1));
    writer->Append(sealer.Seal(engine::Operation::kCreateLedgers, 1, ledger_body), ledger_body);
    std::vector<Account> accounts;
    for (uint64_t first = 0; first < kRecoveryAccounts; first += kBatchEvents) {
      accounts.assign(std::min<uint64_t>(kBatchEvents, kRecoveryAccounts - first), Account{});
      for (size_t i = 0; i < accounts.size(); ++i) {
        accounts[i].id = AccountIdOf(first + i);
        accounts[i].ledger = kLedger;
        accounts[i].code = 1;
      }
      const auto body = std::as_bytes(std::span(accounts));
      writer->Append(sealer.Seal(engine::Operation::kCreateAccounts,
                                 static_cast<uint32_t>(accounts.size()), body),
                     body);
    }
    Random random{3};
    std::vector<Transfer> batch(kBatchEvents);
    for (uint64_t i = 0; i < RecoveryBatches(); ++i) {
      FillPlainBatch(random, kRecoveryAccounts, kLedger, batch);
      const auto body = std::as_bytes(std::span(batch));
      writer->Append(sealer.Seal(engine::Operation::kCreateTransfers, kBatchEvents, body), body);
    }
    Check(writer->WaitDurable(sealer.last_op()), "wait for durability");
    Check(sealer.last_op() == built.last_op, "op count");
    writer.reset();
    std::ofstream(marker) << "complete\n";
    return built;
  }();
  return log;
}

engine::EngineOptions RecoveryEngineOptions() {
  engine::EngineOptions options;
  options.accounts_capacity = kRecoveryAccounts;
  options.transfers_capacity = RecoveryBatches() * kBatchEvents;
  return options;
}

// Recovery builds an engine sized for 10 million transfers (~1.7 GB, on huge pages). The first
// such allocation in a process, on a machine whose memory a large page cache has fragmented,
// waits for the kernel to compact memory into huge pages: seconds (7 s measured once). That
// is paid here, untimed, and reported as first_engine_s; the recoveries then see what a
// restarted server sees, its predecessor's memory free again.
double PrewarmEngineMemory() {
  static const double seconds = [] {
    const auto start = Clock::now();
    { engine::Engine warm(RecoveryEngineOptions()); }
    return std::chrono::duration<double>(Clock::now() - start).count();
  }();
  return seconds;
}

std::unique_ptr<wal::Directory> OpenRecoveryLog() {
  auto directory = wal::Directory::Open(GetRecoveryLog().path, /*writable=*/false);
  Check(directory.status(), "open " + GetRecoveryLog().path);
  return std::move(*directory);
}

// Cold (range 1): the log's and snapshots' pages are dropped first, as after a reboot. Warm
// (0): they are read once, untimed (the log by a scan like the one measured), so the run
// measures the CPU side alone.
void PrepareCache(const wal::Directory& directory, bool cold) {
  auto segments = directory.ListSegments();
  auto snapshots = directory.ListSnapshots();
  Check(segments.status(), "list segments");
  Check(snapshots.status(), "list snapshots");
  if (cold) {
    for (uint64_t segment : *segments) EvictFromPageCache(directory.SegmentPath(segment));
    for (uint64_t op : *snapshots) EvictFromPageCache(directory.SnapshotPath(op));
    return;
  }
  Check(wal::ScanLog(directory, replica::LogScanOptions(), nullptr).status(), "scan");
  for (uint64_t op : *snapshots) {
    std::ifstream file(directory.SnapshotPath(op), std::ios::binary);
    std::vector<char> chunk(4 * kMiB);
    while (file.read(chunk.data(), static_cast<std::streamsize>(chunk.size()))) {
    }
  }
}

void BM_RecoveryVerifyLog(benchmark::State& state) {
  std::unique_ptr<wal::Directory> directory = OpenRecoveryLog();
  uint64_t bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    PrepareCache(*directory, state.range(0) != 0);
    state.ResumeTiming();
    auto scanned = wal::ScanLog(*directory, replica::LogScanOptions(), nullptr);
    Check(scanned.status(), "scan");
    Check(scanned->last_op == GetRecoveryLog().last_op && !scanned->torn_tail, "log is whole");
    bytes += scanned->entry_bytes;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["GB_per_s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e9, benchmark::Counter::kIsRate);
  state.counters["transfers_per_s"] =
      benchmark::Counter(static_cast<double>(GetRecoveryLog().transfer_count * state.iterations()),
                         benchmark::Counter::kIsRate);
}

void CheckRecovered(const replica::Recovered& recovered) {
  Check(recovered.log.last_op == GetRecoveryLog().last_op, "recovered every op");
  const engine::EngineStats stats = recovered.engine->GetStats();
  Check(stats.transfer_count == GetRecoveryLog().transfer_count, "every transfer succeeded");
  Check(recovered.engine->GetTrialBalance(kLedger).Balanced(), "trial balance");
}

void BM_RecoveryFullReplay(benchmark::State& state) {
  std::unique_ptr<wal::Directory> directory = OpenRecoveryLog();
  replica::RecoveryOptions options;
  options.engine = RecoveryEngineOptions();
  options.use_snapshots = false;
  state.counters["first_engine_s"] = PrewarmEngineMemory();
  for (auto _ : state) {
    state.PauseTiming();
    PrepareCache(*directory, state.range(0) != 0);
    state.ResumeTiming();
    auto recovered = replica::Recover(*directory, options);
    Check(recovered.status(), "recover");
    state.PauseTiming();
    CheckRecovered(*recovered);
    recovered->engine.reset();  // freed outside the timing
    state.ResumeTiming();
  }
  state.SetItemsProcessed(
      static_cast<int64_t>(GetRecoveryLog().transfer_count * state.iterations()));
}

// Writes snapshot-<last op> once (from a full replay) unless it is there already.
void EnsureSnapshotAtLastOp() {
  std::unique_ptr<wal::Directory> directory = OpenRecoveryLog();
  auto snapshots = directory->ListSnapshots();
  Check(snapshots.status(), "list snapshots");
  const uint64_t last_op = GetRecoveryLog().last_op;
  if (!snapshots->empty() && snapshots->front() == last_op &&
      wal::ReadSnapshot(*directory, last_op).ok()) {
    return;  // kept from an earlier run, and still readable
  }
  replica::RecoveryOptions options;
  options.engine = RecoveryEngineOptions();
  options.use_snapshots = false;
  auto recovered = replica::Recover(*directory, options);
  Check(recovered.status(), "recover");
  Check(replica::WriteSnapshot(*directory, recovered->log.last_op, recovered->log.last_chain_hash,
                               *recovered->engine),
        "write snapshot");
}

void BM_RecoveryFromSnapshot(benchmark::State& state) {
  state.counters["first_engine_s"] = PrewarmEngineMemory();
  EnsureSnapshotAtLastOp();
  std::unique_ptr<wal::Directory> directory = OpenRecoveryLog();
  replica::RecoveryOptions options;
  options.engine = RecoveryEngineOptions();
  double seconds = 0;
  for (auto _ : state) {
    state.PauseTiming();
    PrepareCache(*directory, state.range(0) != 0);
    state.ResumeTiming();
    const auto start = Clock::now();
    auto recovered = replica::Recover(*directory, options);
    Check(recovered.status(), "recover");
    seconds += std::chrono::duration<double>(Clock::now() - start).count();
    state.PauseTiming();
    Check(recovered->snapshot_op == GetRecoveryLog().last_op && recovered->replayed_entries == 0,
          "recovered from the snapshot");
    CheckRecovered(*recovered);
    recovered->engine.reset();
    state.ResumeTiming();
  }
  const auto size = std::filesystem::file_size(directory->SnapshotPath(GetRecoveryLog().last_op));
  state.counters["seconds"] = seconds / static_cast<double>(state.iterations());  // target < 10
  state.counters["snapshot_GB"] = static_cast<double>(size) / 1e9;
  state.SetItemsProcessed(
      static_cast<int64_t>(GetRecoveryLog().transfer_count * state.iterations()));
}

}  // namespace

int main(int argc, char** argv) {
  constexpr int64_t kDsyncEach = static_cast<int64_t>(RawMode::kDsyncEach);
  constexpr int64_t kSyncAtEnd = static_cast<int64_t>(RawMode::kSyncAtEnd);
  constexpr int64_t kDsyncOverwrite = static_cast<int64_t>(RawMode::kDsyncOverwrite);
  benchmark::RegisterBenchmark("BM_BodyChecksum", BM_BodyChecksum);
  benchmark::RegisterBenchmark("BM_SealEntry", BM_SealEntry);
  benchmark::RegisterBenchmark("BM_CheckEntryHeader", BM_CheckEntryHeader);
  benchmark::RegisterBenchmark("BM_RawDirectWrite", BM_RawDirectWrite)
      ->ArgNames({"KiB", "mode", "io_uring"})
      ->Args({1024, kDsyncEach, 0})  // the yardstick
      ->Args({1024, kSyncAtEnd, 0})
      ->Args({1024, kDsyncEach, 1})
      ->Args({1024, kDsyncOverwrite, 0})
      ->Args({4, kDsyncEach, 0})  // a group commit's flush limit
      ->Args({4, kDsyncEach, 1})
      ->Args({4, kDsyncOverwrite, 0})
      ->Args({4, kDsyncOverwrite, 1})
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_WalAppendFullBatches", BM_WalAppendFullBatches)
      ->ArgName("io_uring")
      ->Arg(1)
      ->Arg(0)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_WalGroupCommit", BM_WalGroupCommit)
      ->ArgNames({"transfers", "producers", "io_uring"})
      ->ArgsProduct({{1, 10}, {1, 2, 4, 8, 16}, {1, 0}})
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
  const std::pair<const char*, void (*)(benchmark::State&)> recoveries[] = {
      {"BM_RecoveryVerifyLog", BM_RecoveryVerifyLog},
      {"BM_RecoveryFullReplay", BM_RecoveryFullReplay},
      {"BM_RecoveryFromSnapshot", BM_RecoveryFromSnapshot},
  };
  for (const auto& [name, function] : recoveries) {
    benchmark::RegisterBenchmark(name, function)
        ->ArgName("cold")
        ->Arg(0)
        ->Arg(1)
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
