#include "net/tokens.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"

namespace ledger::net {
namespace {

constexpr std::string_view kRoleNames[kRoleCount] = {"read", "write", "admin"};
constexpr absl::string_view kLedgersPrefix = "ledgers=";
constexpr absl::string_view kCertificatePrefix = "cert:";

std::optional<Role> RoleNamed(std::string_view name) {
  for (size_t i = 0; i < kRoleCount; ++i) {
    if (kRoleNames[i] == name) return static_cast<Role>(i);
  }
  return std::nullopt;
}

absl::Status LineError(size_t line, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("tokens file, line ", line, ": ", why));
}

absl::StatusOr<std::vector<uint32_t>> ParseLedgers(absl::string_view list, size_t line) {
  std::vector<uint32_t> ledgers;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(item, &id) || id == 0) {
      return LineError(line, absl::StrCat("'", item, "' is not a ledger id (1 to 2^32-1)"));
    }
    ledgers.push_back(id);
  }
  if (ledgers.size() > kTokenLedgersMax) {
    return LineError(line, absl::StrCat("at most ", kTokenLedgersMax, " ledgers per token"));
  }
  std::sort(ledgers.begin(), ledgers.end());
  ledgers.erase(std::unique(ledgers.begin(), ledgers.end()), ledgers.end());
  return ledgers;
}

// One line's grant; nullopt for a blank or comment line.
absl::StatusOr<std::optional<TokenGrant>> ParseLine(absl::string_view text, size_t line) {
  if (const size_t hash = text.find('#'); hash != absl::string_view::npos) {
    text = text.substr(0, hash);
  }
  std::vector<absl::string_view> words =
      absl::StrSplit(text, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
  if (words.empty()) return std::nullopt;
  if (words.size() < 2 || words.size() > 3) {
    return LineError(line, "expected: <role> <token> [ledgers=<id>,...]");
  }
  TokenGrant grant;
  const std::optional<Role> role = RoleNamed(std::string_view(words[0].data(), words[0].size()));
  if (!role.has_value()) {
    return LineError(line, absl::StrCat("unknown role '", words[0], "' (read, write or admin)"));
  }
  grant.role = *role;
  absl::string_view name = words[1];
  if (absl::ConsumePrefix(&name, kCertificatePrefix)) {
    if (name.empty() || name.size() > kTokenBytesMax) {
      return LineError(line, "cert: needs a certificate's common name");
    }
    grant.certificate_name = std::string(name);
  } else if (words[1].size() < kTokenBytesMin || words[1].size() > kTokenBytesMax) {
    return LineError(line, absl::StrCat("a token is ", kTokenBytesMin, " to ", kTokenBytesMax,
                                        " characters, not ", words[1].size()));
  }
  if (grant.certificate_name.empty()) grant.token = std::string(words[1]);
  if (words.size() == 3) {
    absl::string_view list = words[2];
    if (!absl::ConsumePrefix(&list, kLedgersPrefix)) {
      return LineError(line, absl::StrCat("unknown field '", words[2], "' (ledgers=<id>,...)"));
    }
    auto ledgers = ParseLedgers(list, line);
    if (!ledgers.ok()) return ledgers.status();
    grant.ledgers = std::move(*ledgers);
  }
  return grant;
}

}  // namespace

std::string_view RoleName(Role role) { return kRoleNames[static_cast<size_t>(role)]; }

bool TokenGrant::AllowsLedger(uint32_t ledger) const {
  return ledgers.empty() || std::binary_search(ledgers.begin(), ledgers.end(), ledger);
}

bool TokenEquals(std::string_view guess, std::string_view token) {
  while (!guess.empty() && (guess.back() == '\n' || guess.back() == '\r' || guess.back() == ' ')) {
    guess.remove_suffix(1);
  }
  unsigned char difference = guess.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char g = i < guess.size() ? static_cast<unsigned char>(guess[i]) : 0;
    difference |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(token[i]));
  }
  return difference == 0;
}

const TokenGrant* TokenSet::Find(std::string_view guess) const {
  const TokenGrant* found = nullptr;
  for (const TokenGrant& grant : grants_) {
    if (grant.token.empty()) continue;                   // a certificate's: no token
    const bool equal = TokenEquals(guess, grant.token);  // every one compared, found or not
    if (equal && found == nullptr) found = &grant;
  }
  return found;
}

const TokenGrant* TokenSet::FindCertificate(std::string_view name) const {
  if (name.empty()) return nullptr;
  for (const TokenGrant& grant : grants_) {
    if (grant.certificate_name == name) return &grant;
  }
  return nullptr;
}

absl::StatusOr<TokenSet> ParseTokens(std::string_view text, std::string_view admin_token) {
  std::vector<TokenGrant> grants;
  size_t line = 0;
  for (absl::string_view line_text :
       absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line;
    auto grant = ParseLine(line_text, line);
    if (!grant.ok()) return grant.status();
    if (!grant->has_value()) continue;
    for (const TokenGrant& other : grants) {
      if (other.token == (*grant)->token && other.certificate_name == (*grant)->certificate_name) {
        return LineError(line, "this token is listed before");
      }
    }
    if (!admin_token.empty() && (*grant)->token == admin_token) {
      return LineError(line, "this token is --token-file's (an admin token already)");
    }
    grants.push_back(std::move(**grant));
  }
  if (grants.empty()) {
    // An empty file is more likely a file caught mid-write than a wish to lock everyone out.
    return absl::InvalidArgumentError("the tokens file lists no token");
  }
  if (!admin_token.empty()) {
    grants.push_back(TokenGrant{std::string(admin_token), "", Role::kAdmin, {}});
  }
  return TokenSet(std::move(grants));
}

absl::StatusOr<TokenSet> ReadTokensFile(const std::string& path, std::string_view admin_token) {
  struct stat status {};
  if (stat(path.c_str(), &status) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot read the tokens file ", path));
  }
  if ((status.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", status.st_mode & 07777u);
    return absl::PermissionDeniedError(absl::StrCat(
        "the tokens file ", path, " may be read or written by others than its owner (mode ", mode,
        "); run: chmod 600 ", path));
  }
  absl::StatusOr<std::string> text = base::ReadFileToString(path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("cannot read the tokens file ", path));
  absl::StatusOr<TokenSet> tokens = ParseTokens(*text, admin_token);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", tokens.status().message()));
  }
  return tokens;
}

}  // namespace ledger::net
