#include "wal/internal/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace ledger::wal::internal {

absl::Status ErrnoStatus(const std::string& what, const std::string& path, int error) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
      return absl::ResourceExhaustedError(message);
    case EWOULDBLOCK:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status PreadFully(int fd, std::span<std::byte> bytes, uint64_t offset,
                        const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", path, errno);
    if (n == 0) return absl::OutOfRangeError(absl::StrCat("read ", path, ": file ends early"));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PwriteFully(int fd, std::span<const std::byte> bytes, uint64_t offset,
                         const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write", path, errno);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status Fdatasync(int fd, const std::string& path) {
  if (fdatasync(fd) != 0) return ErrnoStatus("sync", path, errno);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat info;
  if (fstat(fd, &info) != 0) return ErrnoStatus("stat", path, errno);
  return static_cast<uint64_t>(info.st_size);
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) close(fd_);
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.release();
  }
  return *this;
}

absl::StatusOr<FileDescriptor> Open(const std::string& path, int flags, int mode) {
  const int fd = open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  return FileDescriptor(fd);
}

}  // namespace ledger::wal::internal
