#include "tests/wal/memory_storage.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/assert.h"

namespace ledger::wal::testing {

namespace {
thread_local bool see_through_bad_sectors = false;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

class MemoryFile final : public File {
 public:
  MemoryFile(MemoryStorage& storage, std::string path, std::shared_ptr<MemoryStorage::Inode> inode,
             bool writable)
      : File(std::move(path)),
        storage_(storage),
        inode_(std::move(inode)),
        writable_(writable),
        generation_(storage.generation_) {}
  ~MemoryFile() override {
    std::lock_guard lock(storage_.mutex_);
    if (holds_lock_ && generation_ == storage_.generation_) inode_->locked = false;
  }

  absl::Status Read(uint64_t offset, std::span<std::byte> bytes) override {
    LEDGER_RETURN_IF_ERROR(storage_.Fault("read", path()));
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    if (offset > inode_->bytes.size() || bytes.size() > inode_->bytes.size() - offset) {
      return absl::OutOfRangeError(absl::StrCat("read ", path(), ": file ends early"));
    }
    LEDGER_RETURN_IF_ERROR(storage_.CheckReadable(*inode_, "read", path(), offset, bytes.size()));
    if (!bytes.empty()) std::memcpy(bytes.data(), inode_->bytes.data() + offset, bytes.size());
    return absl::OkStatus();
  }

  absl::Status Write(uint64_t offset, std::span<const std::byte> bytes) override {
    LEDGER_RETURN_IF_ERROR(Writable());
    LEDGER_RETURN_IF_ERROR(storage_.Fault("write", path()));
    if (storage_.misdirect) {
      if (const std::optional<uint64_t> elsewhere =
              storage_.misdirect(path(), offset, bytes.size())) {
        offset = *elsewhere;
      }
    }
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    if (inode_->bytes.size() < offset + bytes.size()) inode_->bytes.resize(offset + bytes.size());
    if (!bytes.empty()) std::memcpy(inode_->bytes.data() + offset, bytes.data(), bytes.size());
    inode_->unsynced.emplace_back(offset, bytes.size());
    MemoryStorage::Remap(*inode_, offset, bytes.size());
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (const absl::Status failed = storage_.Fault("sync", path()); !failed.ok()) {
      std::lock_guard lock(storage_.mutex_);
      if (storage_.failed_sync_drops_pages && storage_.Up(generation_).ok()) {
        inode_->bytes = inode_->durable;
        inode_->unsynced.clear();
      }
      return failed;
    }
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    inode_->durable = inode_->bytes;
    inode_->unsynced.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Size() override {
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    return inode_->bytes.size();
  }

  absl::Status Allocate(uint64_t size_bytes) override {
    LEDGER_RETURN_IF_ERROR(Writable());
    LEDGER_RETURN_IF_ERROR(storage_.Fault("allocate", path()));
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    if (inode_->bytes.size() < size_bytes) inode_->bytes.resize(size_bytes);
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size_bytes) override {
    LEDGER_RETURN_IF_ERROR(Writable());
    LEDGER_RETURN_IF_ERROR(storage_.Fault("truncate", path()));
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    inode_->bytes.resize(size_bytes);
    // The blocks past the end are freed; growing again gives fresh ones.
    inode_->bad_sectors.erase(
        inode_->bad_sectors.lower_bound((size_bytes + MemoryStorage::kSectorBytes - 1) /
                                        MemoryStorage::kSectorBytes),
        inode_->bad_sectors.end());
    return absl::OkStatus();
  }

  absl::Status Zero(uint64_t offset, uint64_t length) override {
    LEDGER_RETURN_IF_ERROR(Writable());
    LEDGER_RETURN_IF_ERROR(storage_.Fault("zero", path()));
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    const uint64_t end = std::min<uint64_t>(offset + length, inode_->bytes.size());
    if (offset < end) {
      std::fill(inode_->bytes.begin() + static_cast<long>(offset),
                inode_->bytes.begin() + static_cast<long>(end), std::byte{0});
      inode_->unsynced.emplace_back(offset, end - offset);
      MemoryStorage::Remap(*inode_, offset, end - offset);
    }
    return absl::OkStatus();
  }

  absl::Status LockExclusive() override {
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    if (holds_lock_) return absl::OkStatus();
    if (inode_->locked) return absl::UnavailableError(absl::StrCat("lock ", path(), ": held"));
    inode_->locked = holds_lock_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<std::shared_ptr<const std::byte>> MapReadOnly(uint64_t size_bytes,
                                                               MapAccess) override {
    LEDGER_RETURN_IF_ERROR(storage_.Fault("read", path()));
    std::lock_guard lock(storage_.mutex_);
    LEDGER_RETURN_IF_ERROR(storage_.Up(generation_));
    if (size_bytes > inode_->bytes.size()) {
      return absl::OutOfRangeError(absl::StrCat("map ", path(), ": file ends early"));
    }
    // Linux maps a file with a bad sector and raises SIGBUS when the page is touched: failing
    // here is what a reader that checks can honestly be told.
    LEDGER_RETURN_IF_ERROR(storage_.CheckReadable(*inode_, "map", path(), 0, size_bytes));
    std::shared_ptr<std::byte[]> copy(new std::byte[size_bytes]);
    std::memcpy(copy.get(), inode_->bytes.data(), size_bytes);
    return std::shared_ptr<const std::byte>(copy, copy.get());
  }

 private:
  absl::Status Writable() const {
    if (writable_) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat("write ", path(), ": opened read-only"));
  }

  MemoryStorage& storage_;
  std::shared_ptr<MemoryStorage::Inode> inode_;
  bool writable_;
  uint64_t generation_;  // the storage's when opened
  bool holds_lock_ = false;
};

absl::Status MemoryStorage::Fault(std::string_view operation, const std::string& path) const {
  if (const uint64_t max_ns = latency_max_ns_.load(std::memory_order_relaxed); max_ns > 0) {
    const uint64_t draw = SplitMix64(latency_seed_.load(std::memory_order_relaxed) ^
                                     latency_draws_.fetch_add(1, std::memory_order_relaxed));
    const uint64_t pause_ns = draw % (operation == "sync" ? max_ns : max_ns / 4 + 1);
    std::this_thread::sleep_for(std::chrono::nanoseconds(pause_ns));
  }
  return fault ? fault(operation, path) : absl::OkStatus();
}

void MemoryStorage::SetLatency(uint64_t max_ns, uint64_t seed) {
  latency_seed_.store(seed, std::memory_order_relaxed);
  latency_max_ns_.store(max_ns, std::memory_order_relaxed);
}

absl::Status MemoryStorage::CheckReadable(const Inode& inode, const std::string& what,
                                          const std::string& path, uint64_t offset,
                                          uint64_t length) const {
  if (length == 0 || inode.bad_sectors.empty() || see_through_bad_sectors) {
    return absl::OkStatus();
  }
  const auto bad = inode.bad_sectors.lower_bound(offset / kSectorBytes);
  if (bad == inode.bad_sectors.end() || *bad > (offset + length - 1) / kSectorBytes) {
    return absl::OkStatus();
  }
  bad_sector_reads_.fetch_add(1, std::memory_order_relaxed);
  return absl::DataLossError(absl::StrCat(what, " ", path, ": Input/output error (bad sector at ",
                                          *bad * kSectorBytes, ", simulated)"));
}

void MemoryStorage::Remap(Inode& inode, uint64_t offset, uint64_t length) {
  const uint64_t first = (offset + kSectorBytes - 1) / kSectorBytes;
  const uint64_t end = (offset + length) / kSectorBytes;  // sectors before it covered whole
  if (first >= end) return;
  inode.bad_sectors.erase(inode.bad_sectors.lower_bound(first), inode.bad_sectors.lower_bound(end));
}

absl::Status MemoryStorage::MarkBadSectors(const std::string& path, uint64_t offset,
                                           uint64_t length) {
  std::lock_guard lock(mutex_);
  LEDGER_ASSIGN_OR_RETURN(auto located, Locate(path));
  auto entry = located.first->entries.find(located.second);
  if (entry == located.first->entries.end()) {
    return absl::NotFoundError(absl::StrCat("bad sector ", path, ": no such file"));
  }
  if (length == 0) return absl::OkStatus();
  for (uint64_t sector = offset / kSectorBytes; sector <= (offset + length - 1) / kSectorBytes;
       ++sector) {
    entry->second->bad_sectors.insert(sector);
  }
  return absl::OkStatus();
}

uint64_t MemoryStorage::bad_sector_count() const {
  std::lock_guard lock(mutex_);
  uint64_t count = 0;
  for (const auto& [path, folder] : folders_) {
    for (const auto& [name, inode] : folder.entries) count += inode->bad_sectors.size();
  }
  return count;
}

MemoryStorage::SeeThroughBadSectors::SeeThroughBadSectors() { see_through_bad_sectors = true; }
MemoryStorage::SeeThroughBadSectors::~SeeThroughBadSectors() { see_through_bad_sectors = false; }

std::vector<MemoryStorage::FileInfo> MemoryStorage::FilesIn(const std::string& directory) const {
  std::lock_guard lock(mutex_);
  std::vector<FileInfo> files;
  auto folder = folders_.find(directory);
  if (folder == folders_.end()) return files;
  for (const auto& [name, inode] : folder->second.entries) {
    const std::vector<std::byte>& bytes = inode->bytes;
    const auto last =
        std::find_if(bytes.rbegin(), bytes.rend(), [](std::byte b) { return b != std::byte{0}; });
    files.push_back({name, bytes.size(), static_cast<uint64_t>(bytes.rend() - last)});
  }
  return files;
}

absl::Status MemoryStorage::Up(uint64_t generation) const {
  if (down_ || generation != generation_) {
    return absl::UnavailableError("the memory disk crashed under this operation");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<MemoryStorage::Folder*, std::string>> MemoryStorage::Locate(
    const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string parent = slash == std::string::npos ? "." : path.substr(0, slash);
  auto folder = folders_.find(parent);
  if (folder == folders_.end()) {
    return absl::NotFoundError(absl::StrCat(path, ": no such directory ", parent));
  }
  return std::pair{&folder->second, path.substr(slash + 1)};
}

void MemoryStorage::Tear(Inode& inode, std::mt19937_64& random) {
  for (const auto& [offset, length] : inode.unsynced) {
    const uint64_t end = std::min<uint64_t>(offset + length, inode.bytes.size());
    if (offset >= end) continue;
    const uint64_t mode = random() % 4;  // none, all, some sectors, a prefix
    uint64_t prefix_end = mode == 1 ? end : offset;
    if (mode == 3) prefix_end = offset + random() % (end - offset + 1);
    if (inode.durable.size() < end) inode.durable.resize(end);
    for (uint64_t sector = offset; sector < end;) {
      const uint64_t sector_end = std::min(end, (sector / kSectorBytes + 1) * kSectorBytes);
      const uint64_t keep_end =
          mode == 2 ? (random() % 2 == 0 ? sector_end : sector) : std::min(sector_end, prefix_end);
      if (keep_end > sector) {
        std::memcpy(inode.durable.data() + sector, inode.bytes.data() + sector, keep_end - sector);
      }
      sector = sector_end;
    }
  }
}

void MemoryStorage::Crash(std::mt19937_64* tear) {
  std::lock_guard lock(mutex_);
  down_ = true;
  ++generation_;
  for (auto& [path, folder] : folders_) {
    for (auto& [name, inode] : folder.entries) {
      if (tear != nullptr) Tear(*inode, *tear);
      inode->unsynced.clear();
    }
    folder.entries = folder.durable_entries;
    for (auto& [name, inode] : folder.entries) {
      inode->bytes = inode->durable;
      inode->unsynced.clear();
      inode->locked = false;
    }
  }
}

void MemoryStorage::Restart() {
  std::lock_guard lock(mutex_);
  down_ = false;
}

bool MemoryStorage::Exists(const std::string& path) const {
  std::lock_guard lock(mutex_);
  if (folders_.contains(path)) return true;
  const size_t slash = path.rfind('/');
  auto folder = folders_.find(slash == std::string::npos ? "." : path.substr(0, slash));
  return folder != folders_.end() && folder->second.entries.contains(path.substr(slash + 1));
}

absl::StatusOr<std::unique_ptr<File>> MemoryStorage::Open(const std::string& path,
                                                          const OpenOptions& options) {
  LEDGER_RETURN_IF_ERROR(Fault("open", path));
  std::lock_guard lock(mutex_);
  LEDGER_RETURN_IF_ERROR(Up(generation_));
  LEDGER_ASSIGN_OR_RETURN(auto located, Locate(path));
  auto& [folder, name] = located;
  auto entry = folder->entries.find(name);
  std::shared_ptr<Inode> inode;
  if (options.create_new) {
    if (entry != folder->entries.end() || folders_.contains(path)) {
      return absl::AlreadyExistsError(absl::StrCat("open ", path, ": exists"));
    }
    inode = folder->entries[name] = std::make_shared<Inode>();
  } else {
    if (entry == folder->entries.end()) {
      return absl::NotFoundError(absl::StrCat("open ", path, ": no such file"));
    }
    inode = entry->second;
  }
  return std::make_unique<MemoryFile>(*this, path, std::move(inode),
                                      options.writable || options.create_new);
}

absl::StatusOr<std::vector<std::string>> MemoryStorage::List(const std::string& directory) {
  LEDGER_RETURN_IF_ERROR(Fault("list", directory));
  std::lock_guard lock(mutex_);
  LEDGER_RETURN_IF_ERROR(Up(generation_));
  auto folder = folders_.find(directory);
  if (folder == folders_.end()) {
    return absl::NotFoundError(absl::StrCat("list ", directory, ": not a directory"));
  }
  std::vector<std::string> names;
  for (const auto& [name, inode] : folder->second.entries) names.push_back(name);
  const std::string prefix = directory + "/";
  for (const auto& [path, unused] : folders_) {
    if (path.rfind(prefix, 0) == 0 && path.find('/', prefix.size()) == std::string::npos) {
      names.push_back(path.substr(prefix.size()));
    }
  }
  return names;
}

absl::Status MemoryStorage::CreateDirectory(const std::string& path) {
  LEDGER_RETURN_IF_ERROR(Fault("create directory", path));
  std::lock_guard lock(mutex_);
  LEDGER_RETURN_IF_ERROR(Up(generation_));
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0 && !folders_.contains(path.substr(0, slash))) {
    return absl::NotFoundError(absl::StrCat("create directory ", path, ": no parent"));
  }
  if (folders_.contains(path)) {
    return absl::AlreadyExistsError(absl::StrCat("create directory ", path, ": exists"));
  }
  if (slash != std::string::npos && slash > 0 &&
      folders_[path.substr(0, slash)].entries.contains(path.substr(slash + 1))) {
    return absl::AlreadyExistsError(absl::StrCat("create directory ", path, ": a file exists"));
  }
  folders_[path];
  return absl::OkStatus();
}

absl::Status MemoryStorage::Rename(const std::string& from, const std::string& to) {
  LEDGER_RETURN_IF_ERROR(Fault("rename", from));
  std::lock_guard lock(mutex_);
  LEDGER_RETURN_IF_ERROR(Up(generation_));
  LEDGER_ASSIGN_OR_RETURN(auto source, Locate(from));
  LEDGER_ASSIGN_OR_RETURN(auto target, Locate(to));
  auto entry = source.first->entries.find(source.second);
  if (entry == source.first->entries.end()) {
    return absl::NotFoundError(absl::StrCat("rename ", from, ": no such file"));
  }
  std::shared_ptr<Inode> inode = entry->second;
  source.first->entries.erase(entry);
  target.first->entries[target.second] = std::move(inode);
  return absl::OkStatus();
}

absl::Status MemoryStorage::Remove(const std::string& path) {
  LEDGER_RETURN_IF_ERROR(Fault("remove", path));
  std::lock_guard lock(mutex_);
  LEDGER_RETURN_IF_ERROR(Up(generation_));
  LEDGER_ASSIGN_OR_RETURN(auto located, Locate(path));
  if (located.first->entries.erase(located.second) == 0) {
    return absl::NotFoundError(absl::StrCat("delete ", path, ": no such file"));
  }
  return absl::OkStatus();
}

absl::Status MemoryStorage::SyncDirectory(const std::string& path) {
  LEDGER_RETURN_IF_ERROR(Fault("sync directory", path));
  std::lock_guard lock(mutex_);
  LEDGER_RETURN_IF_ERROR(Up(generation_));
  auto folder = folders_.find(path);
  if (folder == folders_.end()) {
    return absl::NotFoundError(absl::StrCat("sync ", path, ": not a directory"));
  }
  folder->second.durable_entries = folder->second.entries;
  return absl::OkStatus();
}

}  // namespace ledger::wal::testing
