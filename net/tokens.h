// Login tokens and what each may do: a role (read, write, admin) and optionally the ledgers it
// is limited to (docs/operations.md, "Tokens and roles").
//
// The tokens file, one token a line:
//
//   # comment
//   <role> <token> [ledgers=<id>,<id>,...]   [# comment]
//
// role: read | write | admin. token: 16 to 256 characters, none of them whitespace or '#'; or
// cert:<common name>, for clients presenting a certificate the server's --tls-client-ca
// signed with that subject common name (mutual TLS; they log in with an empty token).
// ledgers=: the token may only create and see accounts and transfers of these ledgers (and
// these ledgers themselves); absent: every ledger. Blank lines and comments are ignored. A
// token listed twice, an unknown role, a bad ledger id or a file with no token at all is an
// error naming the line: a server keeps the tokens it has (docs/operations.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ledger::net {

// Each role may do what the ones before it may. admin: write, plus imports (events booked at
// their own past timestamps: a writer books now, only an operator migrates history).
enum class Role : uint8_t { kRead = 0, kWrite = 1, kAdmin = 2 };
inline constexpr size_t kRoleCount = 3;
std::string_view RoleName(Role role);  // "read", "write", "admin"

// A token file's token longer than this is a mistake (a key pasted whole, a wrong file).
inline constexpr size_t kTokenBytesMax = 256;
inline constexpr size_t kTokenBytesMin = 16;
// Ledgers one token may be limited to: a check per event scans them, so a few.
inline constexpr size_t kTokenLedgersMax = 64;

struct TokenGrant {
  std::string token;             // empty for a certificate's grant
  std::string certificate_name;  // cert:<name>: a client certificate's common name
  Role role = Role::kRead;
  std::vector<uint32_t> ledgers;  // sorted, each once; empty: every ledger

  bool AllowsLedger(uint32_t ledger) const;
  bool limited() const { return !ledgers.empty(); }
  bool operator==(const TokenGrant&) const = default;
};

// Every token the server accepts. Immutable once built: a reload builds a new set.
class TokenSet {
 public:
  TokenSet() = default;
  explicit TokenSet(std::vector<TokenGrant> grants) : grants_(std::move(grants)) {}

  // The grant whose token `guess` is, or null. Compares `guess` with every token, each in time
  // independent of where they differ, and never stops early: the time depends on the set, not
  // on the guess. A guess may end with a newline, CRs or spaces (a token file sent as read).
  const TokenGrant* Find(std::string_view guess) const;
  // The grant of a client certificate whose subject common name is `name`, or null.
  const TokenGrant* FindCertificate(std::string_view name) const;
  const std::vector<TokenGrant>& grants() const { return grants_; }

 private:
  std::vector<TokenGrant> grants_;
};

// Parses a tokens file's text (format above). `admin_token`, when not empty, is added as one
// more admin token (ledgerd's --token-file); listing it in the file too is an error.
absl::StatusOr<TokenSet> ParseTokens(std::string_view text, std::string_view admin_token = "");

// Reads and parses a tokens file. PermissionDenied, with the chmod that mends it, when its
// group or others may read or write it (as ReadPrivateTokenFile); NotFound when it cannot be
// read; InvalidArgument (with the line) when it does not parse.
absl::StatusOr<TokenSet> ReadTokensFile(const std::string& path, std::string_view admin_token = "");

// Whether `guess` is `token`, in time independent of where they differ (and of the guess's
// length). Trailing newline, CR and spaces of the guess are not part of it.
bool TokenEquals(std::string_view guess, std::string_view token);

}  // namespace ledger::net
