// The tokens file's format (net/tokens.h): what parses, what is refused and why, and which
// grant a login's token finds.
#include "net/tokens.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"

namespace ledger::net {
namespace {

TEST(Tokens, ParsesRolesLedgersAndComments) {
  auto tokens = ParseTokens(
      "# who may do what\n"
      "\n"
      "read   reader-token-0123456789   # dashboards\n"
      "write\twriter-token-0123456789 ledgers=3,1,3\r\n"
      "admin admin-token-01234567890\n"
      "read cert:dashboard ledgers=2\n",
      "cli-admin-token-0123456789");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->grants().size(), 5u);
  const TokenGrant* dashboard = tokens->FindCertificate("dashboard");
  ASSERT_NE(dashboard, nullptr);
  EXPECT_EQ(dashboard->role, Role::kRead);
  EXPECT_EQ(dashboard->ledgers, (std::vector<uint32_t>{2}));
  EXPECT_EQ(tokens->FindCertificate(""), nullptr);
  EXPECT_EQ(tokens->FindCertificate("dashboard2"), nullptr);
  EXPECT_EQ(tokens->Find("cert:dashboard"), nullptr);  // a name is no password
  const TokenGrant* reader = tokens->Find("reader-token-0123456789");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->role, Role::kRead);
  EXPECT_FALSE(reader->limited());
  const TokenGrant* writer = tokens->Find("writer-token-0123456789\n");  // as a file is sent
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(writer->role, Role::kWrite);
  EXPECT_EQ(writer->ledgers, (std::vector<uint32_t>{1, 3}));
  EXPECT_TRUE(writer->AllowsLedger(3));
  EXPECT_FALSE(writer->AllowsLedger(2));
  ASSERT_NE(tokens->Find("cli-admin-token-0123456789"), nullptr);
  EXPECT_EQ(tokens->Find("cli-admin-token-0123456789")->role, Role::kAdmin);
  EXPECT_EQ(tokens->Find("reader-token-012345678"), nullptr);    // a prefix
  EXPECT_EQ(tokens->Find("reader-token-01234567890"), nullptr);  // longer
  EXPECT_EQ(tokens->Find(""), nullptr);
}

TEST(Tokens, RefusesWhatDoesNotParseNamingTheLine) {
  const struct {
    const char* text;
    const char* error;
  } cases[] = {
      {"", "lists no token"},
      {"# only a comment\n", "lists no token"},
      {"reader token-0123456789abcdef\n", "line 1: unknown role 'reader'"},
      {"read short\n", "line 1: a token is 16 to 256 characters, not 5"},
      {"read token-0123456789abcdef\nwrite token-0123456789abcdef\n",
       "line 2: this token is listed before"},
      {"read token-0123456789abcdef ledgers=0\n", "'0' is not a ledger id"},
      {"read token-0123456789abcdef ledgers=\n", "'' is not a ledger id"},
      {"read token-0123456789abcdef ledger=1\n", "unknown field 'ledger=1'"},
      {"read token-0123456789abcdef ledgers=1 extra\n", "expected: <role> <token>"},
      {"read\n", "expected: <role> <token>"},
      {"read admin-token-0123456789\n", "line 1: this token is --token-file's"},
      {"read cert:\n", "line 1: cert: needs a certificate's common name"},
      {"read cert:app\nwrite cert:app\n", "line 2: this token is listed before"},
  };
  for (const auto& c : cases) {
    auto tokens = ParseTokens(c.text, "admin-token-0123456789");
    ASSERT_FALSE(tokens.ok()) << c.text;
    EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(tokens.status().message(), c.error))
        << c.text << ": " << tokens.status();
  }
}

TEST(Tokens, EqualityIgnoresOnlyTrailingLineEnds) {
  EXPECT_TRUE(TokenEquals("abcdefghijklmnop", "abcdefghijklmnop"));
  EXPECT_TRUE(TokenEquals("abcdefghijklmnop \r\n", "abcdefghijklmnop"));
  EXPECT_FALSE(TokenEquals(" abcdefghijklmnop", "abcdefghijklmnop"));
  EXPECT_FALSE(TokenEquals("abcdefghijklmnoq", "abcdefghijklmnop"));
  EXPECT_FALSE(TokenEquals(std::string_view("abcdefghijklmnop\0x", 18), "abcdefghijklmnop"));
}

}  // namespace
}  // namespace ledger::net
