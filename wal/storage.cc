#include "wal/storage.h"

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

std::unique_ptr<DurableWriter> NewSyncingWriter(std::string name) {
  return std::make_unique<SyncingWriter>(std::move(name));
}

std::unique_ptr<DurableWriter> Storage::NewDurableWriter(
    std::span<const std::span<std::byte>> /*buffers*/, bool /*fast_path*/) {
  return NewSyncingWriter("write+sync");
}

}  // namespace ledger::wal
