#include "net/internal/console_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ledger::net::internal {
namespace {

bool IsNameByte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == '/';
}

std::string Errno() { return std::strerror(errno); }

// The whole regular file at `path`, opened without following a link (one swapped in since the
// directory was listed is refused too).
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, uint64_t bytes_max) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", Errno()));
  struct stat status {};
  std::string bytes;
  absl::Status problem;
  if (fstat(fd, &status) != 0) {
    problem = absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", Errno()));
  } else if (!S_ISREG(status.st_mode)) {
    problem = absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  } else if (static_cast<uint64_t>(status.st_size) > bytes_max) {
    problem = absl::InvalidArgumentError(absl::StrCat(
        "the files pass ", ConsoleFiles::kBytesMax >> 20, " MiB in all (the console's limit) at ",
        path, " (", status.st_size, " bytes)"));
  } else {
    bytes.resize(static_cast<size_t>(status.st_size));
    size_t got = 0;
    while (got < bytes.size()) {
      const ssize_t read_bytes = read(fd, bytes.data() + got, bytes.size() - got);
      if (read_bytes < 0 && errno == EINTR) continue;
      if (read_bytes <= 0) {
        problem = absl::NotFoundError(absl::StrCat(
            "cannot read ", path, ": ", read_bytes < 0 ? Errno() : "it shrank while read"));
        break;
      }
      got += static_cast<size_t>(read_bytes);
    }
  }
  close(fd);
  if (!problem.ok()) return problem;
  return bytes;
}

}  // namespace

std::string_view ContentTypeOf(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const size_t slash = name.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  const size_t dot = base.rfind('.');
  if (dot != std::string_view::npos && dot > 0) {
    const std::string_view extension = base.substr(dot);
    for (const auto& [known, type] : kTypes) {
      if (extension == known) return type;
    }
  }
  return "application/octet-stream";
}

absl::StatusOr<std::unique_ptr<const ConsoleFiles>> ConsoleFiles::Load(
    const std::string& directory) {
  namespace fs = std::filesystem;
  const std::string where = absl::StrCat("--console-dir ", directory, ": ");
  std::error_code error;
  const fs::file_status root = fs::status(directory, error);
  if (error || !fs::exists(root)) {
    return absl::NotFoundError(absl::StrCat(where, "no such directory"));
  }
  if (!fs::is_directory(root)) {
    return absl::InvalidArgumentError(absl::StrCat(where, "not a directory"));
  }
  auto files = std::unique_ptr<ConsoleFiles>(new ConsoleFiles());
  fs::recursive_directory_iterator it(directory, fs::directory_options::none, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    const fs::directory_entry& entry = *it;
    const std::string relative = entry.path().lexically_relative(directory).generic_string();
    const fs::file_status status = entry.symlink_status(error);
    if (error) break;
    if (fs::is_symlink(status)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, relative, " is a symbolic link: the console's files must be real"));
    }
    for (char c : relative) {
      if (!IsNameByte(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "the name \"", relative, "\" has a character outside [A-Za-z0-9._-]"));
      }
    }
    if (fs::is_directory(status)) continue;
    if (!fs::is_regular_file(status)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, relative, " is neither a regular file nor a directory"));
    }
    if (files->files_.size() == kFilesMax) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "more than ", kFilesMax, " files (the console's limit)"));
    }
    absl::StatusOr<std::string> bytes =
        ReadRegularFile(entry.path().string(), kBytesMax - files->total_bytes_);
    if (!bytes.ok())
      return absl::Status(bytes.status().code(), where + std::string(bytes.status().message()));
    files->total_bytes_ += bytes->size();
    const std::string_view type = ContentTypeOf(relative);
    files->files_.emplace(relative, ConsoleFile{std::move(*bytes), type});
  }
  if (error) {
    return absl::NotFoundError(absl::StrCat(where, "cannot read it: ", error.message()));
  }
  if (files->Find("index.html") == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(where, "no index.html in it"));
  }
  return std::unique_ptr<const ConsoleFiles>(std::move(files));
}

const ConsoleFile* ConsoleFiles::Find(std::string_view path) const {
  const auto found = files_.find(path);
  return found == files_.end() ? nullptr : &found->second;
}

}  // namespace ledger::net::internal
