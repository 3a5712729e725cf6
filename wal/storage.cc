#include "wal/storage.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "base/assert.h"

namespace ledger::wal {

namespace {

class SyncingWriter final : public DurableWriter {
 public:
  explicit SyncingWriter(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  absl::Status WriteDurable(File& file, uint64_t offset, std::span<const std::byte> bytes,
                            int /*buffer_index*/) override {
    LEDGER_RETURN_IF_ERROR(file.Write(offset, bytes));
    return file.Sync();
  }

 private:
  std::string name_;
};

}  // namespace

TemporaryFile::~TemporaryFile() {
  // Best effort: a removal that fails leaves a temporary the directory's next writable open
  // removes.
  if (!kept_) storage_.Remove(path_).IgnoreError();
}

std::unique_ptr<DurableWriter> NewSyncingWriter(std::string name) {
  return std::make_unique<SyncingWriter>(std::move(name));
}

std::unique_ptr<DurableWriter> Storage::NewDurableWriter(
    std::span<const std::span<std::byte>> /*buffers*/, bool /*fast_path*/) {
  return NewSyncingWriter("write+sync");
}

namespace {
std::byte* AllocateAligned(uint64_t size_bytes) {
  return static_cast<std::byte*>(
      ::operator new[](size_bytes, std::align_val_t{BlockWriter::kBlockBytes}));
}
void FreeAligned(std::byte* bytes) {
  ::operator delete[](bytes, std::align_val_t{BlockWriter::kBlockBytes});
}
}  // namespace

BlockWriter::BlockWriter(File& file, uint64_t buffer_bytes)
    : file_(file),
      buffer_bytes_(buffer_bytes),
      buffer_(AllocateAligned(buffer_bytes)),
      first_block_(AllocateAligned(kBlockBytes)) {
  LEDGER_REQUIRE(buffer_bytes >= kBlockBytes && buffer_bytes % kBlockBytes == 0, buffer_bytes);
}

BlockWriter::~BlockWriter() {
  FreeAligned(buffer_);
  FreeAligned(first_block_);
}

absl::Status BlockWriter::Put(uint64_t offset, std::span<const std::byte> bytes) {
  LEDGER_REQUIRE(offset >= end(), offset, end());
  LEDGER_RETURN_IF_ERROR(Fill(offset - end(), {}));
  return Fill(bytes.size(), bytes);
}

absl::Status BlockWriter::Finish() {
  LEDGER_RETURN_IF_ERROR(Fill((kBlockBytes - end() % kBlockBytes) % kBlockBytes, {}));
  return Flush();
}

absl::Status BlockWriter::RewriteFirstBlock(std::span<const std::byte> bytes) {
  LEDGER_REQUIRE(bytes.size() <= kBlockBytes && flushed_ >= kBlockBytes && filled_ == 0,
                 bytes.size(), flushed_, filled_);
  if (!bytes.empty()) std::memcpy(first_block_, bytes.data(), bytes.size());
  return file_.Write(0, std::span(first_block_, kBlockBytes));
}

absl::Status BlockWriter::Fill(uint64_t size, std::span<const std::byte> bytes) {
  for (uint64_t done = 0; done < size;) {
    if (filled_ == buffer_bytes_) LEDGER_RETURN_IF_ERROR(Flush());
    const uint64_t piece = std::min(size - done, buffer_bytes_ - filled_);
    if (bytes.empty()) {
      std::memset(buffer_ + filled_, 0, piece);
    } else {
      std::memcpy(buffer_ + filled_, bytes.data() + done, piece);
    }
    filled_ += piece;
    done += piece;
  }
  return absl::OkStatus();
}

absl::Status BlockWriter::Flush() {
  if (flushed_ == 0 && filled_ >= kBlockBytes) std::memcpy(first_block_, buffer_, kBlockBytes);
  LEDGER_RETURN_IF_ERROR(file_.Write(flushed_, std::span(buffer_, filled_)));
  flushed_ += filled_;
  filled_ = 0;
  return absl::OkStatus();
}

}  // namespace ledger::wal
