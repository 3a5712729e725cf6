// Small POSIX helpers shared by the WAL's files: full reads and writes that retry short
// transfers and EINTR, and errno turned into a Status that names the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ledger::wal::internal {

absl::Status ErrnoStatus(const std::string& what, const std::string& path, int error);

// Reads exactly bytes.size() bytes at offset; OutOfRange if the file ends first.
absl::Status PreadFully(int fd, std::span<std::byte> bytes, uint64_t offset,
                        const std::string& path);
absl::Status PwriteFully(int fd, std::span<const std::byte> bytes, uint64_t offset,
                         const std::string& path);
absl::Status Fdatasync(int fd, const std::string& path);
absl::StatusOr<uint64_t> FileSize(int fd, const std::string& path);

// Closes on destruction.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Opens path with flags (and mode when creating); the Status names the path.
absl::StatusOr<FileDescriptor> Open(const std::string& path, int flags, int mode = 0644);

}  // namespace ledger::wal::internal
