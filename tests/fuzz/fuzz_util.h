// What the fuzz targets of files share (tests/<module>/fuzz/*_fuzz.cc): putting files on and
// taking them off the tests' in-memory disk, and writing seeds.
//
// Every target reads its input as files on a MemoryStorage (tests/wal/memory_storage.h), the
// way the server reads them through the storage seam, so the reader under test runs unchanged
// and a mapping is an exact-size heap copy: a read past a file's end is an ASan report.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "tests/wal/memory_storage.h"
#include "wal/storage.h"

namespace ledger::fuzz {

// Puts `bytes` at `path` (the file must not exist).
inline void PutFile(wal::Storage& storage, const std::string& path,
                    std::span<const std::byte> bytes) {
  absl::StatusOr<std::unique_ptr<wal::File>> file =
      storage.Open(path, {.writable = true, .create_new = true});
  LEDGER_ASSERT(file.ok(), std::string(file.status().message()));
  LEDGER_ASSERT((*file)->Write(0, bytes).ok());
}

// The bytes of the file at `path`.
inline std::vector<std::byte> GetFile(wal::Storage& storage, const std::string& path) {
  absl::StatusOr<std::unique_ptr<wal::File>> file = storage.Open(path, {});
  LEDGER_ASSERT(file.ok(), path, std::string(file.status().message()));
  const absl::StatusOr<uint64_t> size = (*file)->Size();
  LEDGER_ASSERT(size.ok());
  std::vector<std::byte> bytes(*size);
  LEDGER_ASSERT((*file)->Read(0, bytes).ok());
  return bytes;
}

// `bytes` without its trailing zeros (a reader pads them back where the format allows).
inline std::span<const std::byte> TrimZeros(std::span<const std::byte> bytes) {
  size_t size = bytes.size();
  while (size > 0 && bytes[size - 1] == std::byte{0}) --size;
  return bytes.first(size);
}

// Appends a little-endian u32.
inline void AppendU32(std::vector<std::byte>& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(value >> (8 * i)));
}

inline uint32_t ReadU32(const uint8_t* data) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{data[i]} << (8 * i);
  return value;
}

// Writes one seed file into `directory` (LEDGER_FUZZ_WRITE_SEEDS).
inline void WriteSeed(const std::string& directory, const std::string& name,
                      std::span<const std::byte> bytes) {
  const std::string path = directory + "/" + name;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LEDGER_ASSERT(fd >= 0, path);
  LEDGER_ASSERT(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  close(fd);
}

// The first byte of every input of these targets is a set of flags; this one asks the target
// to recompute every checksum of the files before reading them. Without it almost every
// mutation dies at the first checksum, and the parsing behind it is never reached; with it the
// fuzzer explores what a file with valid checksums but malformed contents does (a writer's bug,
// or a forger: XXH3 is not a MAC). Cheap: the formats say where each checksum's bytes are.
inline constexpr uint8_t kFixChecksums = 1;

}  // namespace ledger::fuzz
