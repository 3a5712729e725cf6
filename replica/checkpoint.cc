#include "replica/checkpoint.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/assert.h"

namespace ledger::replica {

namespace {

constexpr std::string_view kPrefix = "checkpoint v1 ";
constexpr std::string_view kMacField = " hmac=";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseHex(std::string_view text, std::span<uint8_t> out) {
  if (text.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = HexDigit(text[2 * i]);
    const int low = HexDigit(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return true;
}

std::string Hex(std::span<const uint8_t> bytes) {
  std::string text;
  for (uint8_t byte : bytes) absl::StrAppend(&text, absl::Hex(byte, absl::kZeroPad2));
  return text;
}

// The signed text: everything before " hmac=".
std::string SignedText(uint64_t op, const wal::Hash128& chain_hash, uint64_t timestamp_ns) {
  char chain[33];
  std::snprintf(chain, sizeof(chain), "%016" PRIx64 "%016" PRIx64, chain_hash.high, chain_hash.low);
  return absl::StrCat(std::string(kPrefix), "op=", op, " chain=", chain,
                      " timestamp_ns=", timestamp_ns);
}

std::array<uint8_t, 32> Mac(const std::vector<uint8_t>& key, std::string_view text) {
  std::array<uint8_t, 32> mac{};
  unsigned int size = 0;
  const uint8_t* done =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac.data(), &size);
  LEDGER_ASSERT(done != nullptr && size == mac.size(), size);
  return mac;
}

// The decimal after "<name>=" at the start of `text`, which it consumes up to a space or the end.
bool TakeNumber(std::string_view& text, std::string_view name, uint64_t* value) {
  if (!text.starts_with(name) || text.size() <= name.size() || text[name.size()] != '=') {
    return false;
  }
  text.remove_prefix(name.size() + 1);
  uint64_t number = 0;
  size_t digits = 0;
  for (; digits < text.size() && text[digits] != ' '; ++digits) {
    const char c = text[digits];
    if (c < '0' || c > '9' || number > (UINT64_MAX - 9) / 10) return false;
    number = number * 10 + static_cast<uint64_t>(c - '0');
  }
  if (digits == 0) return false;
  text.remove_prefix(digits);
  if (!text.empty()) text.remove_prefix(1);
  *value = number;
  return true;
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> ParseCheckpointKey(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  std::vector<uint8_t> key(text.size() / 2);
  if (text.size() % 2 != 0 || key.size() < kCheckpointKeyBytesMin || !ParseHex(text, key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a checkpoint key is at least ", kCheckpointKeyBytesMin,
                     " bytes written as hex digits (make one with `ledgerd init "
                     "--checkpoint-key-file FILE`)"));
  }
  return key;
}

Checkpoint SignCheckpoint(const std::vector<uint8_t>& key, uint64_t op,
                          const wal::Hash128& chain_hash, uint64_t timestamp_ns) {
  Checkpoint checkpoint{.op = op, .chain_hash = chain_hash, .timestamp_ns = timestamp_ns};
  checkpoint.hmac = Mac(key, SignedText(op, chain_hash, timestamp_ns));
  return checkpoint;
}

std::string FormatCheckpoint(const Checkpoint& checkpoint) {
  return absl::StrCat(SignedText(checkpoint.op, checkpoint.chain_hash, checkpoint.timestamp_ns),
                      std::string(kMacField), Hex(checkpoint.hmac), "\n");
}

absl::StatusOr<Checkpoint> ParseCheckpoint(const std::vector<uint8_t>& key, std::string_view line) {
  const size_t mac_at = line.find(kMacField);
  const auto malformed = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("not a checkpoint line: \"", std::string(line), "\""));
  };
  if (!line.starts_with(kPrefix) || mac_at == std::string_view::npos) return malformed();
  Checkpoint checkpoint;
  std::string_view fields = line.substr(kPrefix.size(), mac_at - kPrefix.size());
  uint8_t chain[16];
  if (!TakeNumber(fields, "op", &checkpoint.op) || !fields.starts_with("chain=") ||
      !ParseHex(fields.substr(6, 32), chain)) {
    return malformed();
  }
  fields.remove_prefix(6 + 32);
  if (!fields.starts_with(" ")) return malformed();
  fields.remove_prefix(1);
  if (!TakeNumber(fields, "timestamp_ns", &checkpoint.timestamp_ns) || !fields.empty() ||
      !ParseHex(line.substr(mac_at + kMacField.size()), checkpoint.hmac)) {
    return malformed();
  }
  for (int i = 0; i < 8; ++i) {
    checkpoint.chain_hash.high = (checkpoint.chain_hash.high << 8) | chain[i];
    checkpoint.chain_hash.low = (checkpoint.chain_hash.low << 8) | chain[8 + i];
  }
  const std::array<uint8_t, 32> expected = Mac(key, line.substr(0, mac_at));
  if (CRYPTO_memcmp(expected.data(), checkpoint.hmac.data(), expected.size()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the checkpoint of op ", checkpoint.op,
        " does not carry this key's HMAC: the line was edited, or signed with another key"));
  }
  return checkpoint;
}

}  // namespace ledger::replica
