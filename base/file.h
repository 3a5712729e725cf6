// Whole small files read into memory (tokens, TLS certificates and keys): one reader for every
// module.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ledger::base {

// The file's bytes; NotFound (naming the path) when it cannot be opened or read.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace ledger::base
