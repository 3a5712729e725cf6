// ledger-wal's shared helpers: errors and exit codes, opening a directory, formatting, parsing
// and the progress bar.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "tools/ledger_wal/ledger_wal.h"

namespace ledger::tools {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "ledger-wal: %s\n", std::string(status.message()).c_str());
  switch (status.code()) {
    case absl::StatusCode::kDataLoss:
      return kExitCorrupt;
    case absl::StatusCode::kInvalidArgument:
      PrintUsage(stderr);
      return kExitUsage;
    case absl::StatusCode::kAlreadyExists:
      return kExitCantCreate;
    default:
      return kExitIo;
  }
}

absl::StatusOr<std::unique_ptr<wal::Directory>> OpenReadOnly(const std::string& dir) {
  struct stat info;
  if (stat(dir.c_str(), &info) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": ", errno == ENOENT ? "no such directory" : std::strerror(errno)));
  }
  if (!S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, " is not a directory"));
  }
  absl::StatusOr<std::unique_ptr<wal::Directory>> directory =
      wal::Directory::Open(dir, /*writable=*/false);
  if (directory.status().code() == absl::StatusCode::kFailedPrecondition) {
    return absl::InvalidArgumentError(directory.status().message());
  }
  return directory;
}

// ---------------------------------------------------------------------------------------------
// Formatting.

std::string Hex128(uint64_t high, uint64_t low) {
  char buffer[33];
  std::snprintf(buffer, sizeof(buffer), "%016" PRIx64 "%016" PRIx64, high, low);
  return buffer;
}

std::string HashText(const wal::Hash128& hash) { return Hex128(hash.high, hash.low); }

std::string IdText(u128 value) {
  if (value <= UINT64_MAX) return FormatU128(value);
  return "0x" + Hex128(static_cast<uint64_t>(value >> 64), static_cast<uint64_t>(value));
}

std::string ByteText(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

std::string TimeText(uint64_t timestamp_ns) {
  const time_t seconds = static_cast<time_t>(timestamp_ns / 1'000'000'000);
  tm utc;
  if (gmtime_r(&seconds, &utc) == nullptr) return "?";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu64 "Z",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, timestamp_ns % 1'000'000'000);
  return buffer;
}

std::string PrintableText(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f && c != '\\') {
      out += c;
    } else {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\x%02x", byte);
      out += escape;
    }
  }
  return out;
}

std::string_view OperationName(uint8_t code) {
  const engine::OperationInfo* info = engine::FindOperation(code);
  return info == nullptr ? "unknown" : info->name;
}

namespace {

std::string FlagNames(uint16_t flags, const char* const* names, size_t name_count) {
  if (flags == 0) return "none";
  std::string out;
  for (size_t bit = 0; bit < name_count; ++bit) {
    if ((flags & (1u << bit)) == 0) continue;
    if (!out.empty()) out += '|';
    out += names[bit];
  }
  const uint32_t unknown = flags & ~((1u << name_count) - 1);
  if (unknown != 0) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%x", unknown);
    if (!out.empty()) out += '|';
    out += hex;
  }
  return out;
}

}  // namespace

std::string TransferFlagNames(uint16_t flags) {
  static constexpr const char* kNames[] = {"linked",        "pending",         "post_pending",
                                           "void_pending",  "balancing_debit", "balancing_credit",
                                           "closing_debit", "closing_credit",  "imported"};
  static_assert(std::size(kNames) == 9 && transfer_flags::kAll == (1 << 9) - 1);
  return FlagNames(flags, kNames, std::size(kNames));
}

std::string AccountFlagNames(uint16_t flags) {
  static constexpr const char* kNames[] = {"linked",
                                           "debits_must_not_exceed_credits",
                                           "credits_must_not_exceed_debits",
                                           "history",
                                           "closed",
                                           "imported"};
  static_assert(std::size(kNames) == 6 && account_flags::kAll == (1 << 6) - 1);
  return FlagNames(flags, kNames, std::size(kNames));
}

std::optional<uint64_t> ParseU64(std::string_view text) {
  // Decimal only: op numbers and sizes.
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::optional<u128> value = ParseU128(text);
  if (!value.has_value() || *value > UINT64_MAX) return std::nullopt;
  return static_cast<uint64_t>(*value);
}

std::optional<u128> ParseU128(std::string_view text) {
  const bool hex = text.size() > 2 && (text.starts_with("0x") || text.starts_with("0X"));
  if (hex) text.remove_prefix(2);
  if (text.empty()) return std::nullopt;
  const u128 base = hex ? 16 : 10;
  u128 value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (hex && c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (hex && c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    if (value > (kU128Max - static_cast<u128>(digit)) / base) return std::nullopt;  // overflow
    value = value * base + static_cast<u128>(digit);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Progress.

double GigabytesPerSecond(uint64_t bytes, uint64_t elapsed_ns) {
  return static_cast<double>(bytes) / static_cast<double>(std::max<uint64_t>(elapsed_ns, 1));
}

uint64_t LogCapacityBytes(const wal::Directory& directory) {
  absl::StatusOr<std::vector<uint64_t>> segments = directory.ListSegments();
  if (!segments.ok()) return 0;
  return segments->size() * (directory.segment_size_bytes() - wal::kBlockBytes);
}

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes, bool wanted)
    : label_(std::move(label)),
      total_bytes_(total_bytes),
      enabled_(wanted && isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() { Clear(); }

std::function<void(uint64_t)> ProgressBar::Callback() {
  return [this](uint64_t bytes_read) { Update(bytes_read); };
}

void ProgressBar::Update(uint64_t bytes_read) {
  bytes_read_ = bytes_read;
  if (!enabled_) return;
  const uint64_t now_ns = base::MonotonicNs();
  if (now_ns - last_draw_ns_ < 100'000'000) return;  // 10 redraws a second at most
  last_draw_ns_ = now_ns;
  constexpr int kWidth = 30;
  const double fraction =
      total_bytes_ == 0
          ? 0
          : std::min(1.0, static_cast<double>(bytes_read) / static_cast<double>(total_bytes_));
  const int filled = static_cast<int>(fraction * kWidth);
  std::fprintf(stderr, "\r\033[K%s [%.*s%*s] %s read", label_.c_str(), filled,
               "##############################", kWidth - filled, "", ByteText(bytes_read).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::Clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace ledger::tools
