// The operator console's static files (ledgerd --console-dir), read into memory once at start-up
// and served by the HTTP API at /console/ (docs/http-api.md, "The console"). Nothing touches
// the disk at request time: a file changed on disk is served as it was read until a restart.
//
// The directory's regular files are taken recursively, each by its path relative to the
// directory with '/' between names. Refused at load (the server does not start): a symbolic
// link (a link could take the server's reads anywhere), a name outside [A-Za-z0-9._-], a file
// that is neither regular nor a directory, more than kFilesMax files or kBytesMax bytes in all
// (a console is a few hundred kilobytes; these catch a wrong directory given), and a directory
// without index.html.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ledger::net::internal {

struct ConsoleFile {
  std::string bytes;
  std::string_view content_type;  // by the name's extension (ContentTypeOf)
};

class ConsoleFiles {
 public:
  static constexpr size_t kFilesMax = 512;
  static constexpr uint64_t kBytesMax = uint64_t{64} << 20;

  // Reads every file under `directory`. NotFound when it is missing or cannot be read;
  // InvalidArgument for what is refused above. Each message names the directory (and the file).
  static absl::StatusOr<std::unique_ptr<const ConsoleFiles>> Load(const std::string& directory);

  // The file at `path` ("index.html", "assets/app.js"), compared byte for byte with the names
  // read (nothing is decoded or normalised, so "../x" or "%2e%2e/x" name nothing); null when
  // there is none.
  const ConsoleFile* Find(std::string_view path) const;
  size_t file_count() const { return files_.size(); }
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  ConsoleFiles() = default;
  std::map<std::string, ConsoleFile, std::less<>> files_;
  uint64_t total_bytes_ = 0;
};

// The Content-Type a browser gets for a file of this name: by its extension (html, js, mjs,
// css, svg, png, json, map, ico, woff2, txt), else application/octet-stream.
std::string_view ContentTypeOf(std::string_view name);

}  // namespace ledger::net::internal
