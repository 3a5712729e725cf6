// The operator console's static files on the HTTP listener (ledgerd --console-dir;
// docs/http-api.md, "The console"), against the real ledgerd: files byte-exact with their
// headers, the index, the redirect, 404s and 405s, traversal attempts, and the start-up errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/net/hostile_util.h"
#include "tests/net/http_client.h"
#include "tests/net/server_process.h"

namespace ledger::net {
namespace {

using testing::Contains;
using testing::HttpReply;
using testing::HttpRequest;
using testing::ServerProcess;

void WriteFile(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A console: index.html, a script, a stylesheet in a folder, an image of every byte value, and
// a file of an unknown kind.
struct Console {
  std::string dir;
  std::string index = "<!doctype html><title>ledger</title><script src=app.js></script>\n";
  std::string script = "export const answer = 42;\n";
  std::string style = "body { color: #123; }\n";
  std::string image;
  std::string data = std::string("\0\1\2", 3);

  explicit Console(const std::string& where) : dir(where) {
    for (int i = 0; i < 256; ++i) image += static_cast<char>(i);
    WriteFile(dir + "/index.html", index);
    WriteFile(dir + "/app.js", script);
    WriteFile(dir + "/assets/site.css", style);
    WriteFile(dir + "/assets/logo.png", image);
    WriteFile(dir + "/blob.bin", data);
  }
};

std::vector<std::string> ConsoleFlags(const std::string& dir) {
  return testing::FlagsWith({"--http", "127.0.0.1:0", "--console-dir", dir});
}

std::string Header(const HttpReply& reply, const std::string& name) {
  const std::string key = "\r\n" + name + ": ";
  const size_t at = reply.head.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  return reply.head.substr(start, reply.head.find("\r\n", start) - start);
}

TEST(HttpConsole, ServesItsFilesByteExactWithTheirHeadersAndNoToken) {
  ServerProcess server;
  const Console console(server.data_dir() + "/../console");
  ASSERT_TRUE(server.Start(ConsoleFlags(console.dir))) << server.log();
  const std::string& http = server.http_address();
  struct Served {
    std::string path;
    std::string bytes;
    std::string type;
  };
  const std::vector<Served> served = {
      {"/console/", console.index, "text/html; charset=utf-8"},
      {"/console", console.index, "text/html; charset=utf-8"},
      {"/console/index.html", console.index, "text/html; charset=utf-8"},
      {"/console/app.js", console.script, "text/javascript; charset=utf-8"},
      {"/console/app.js?v=3", console.script, "text/javascript; charset=utf-8"},
      {"/console/assets/site.css", console.style, "text/css; charset=utf-8"},
      {"/console/assets/logo.png", console.image, "image/png"},
      {"/console/blob.bin", console.data, "application/octet-stream"},
  };
  for (const Served& file : served) {
    SCOPED_TRACE(file.path);
    const HttpReply reply = HttpRequest(http, "GET", file.path, "");
    ASSERT_EQ(reply.status, 200) << reply.head << "\n" << reply.body;
    EXPECT_EQ(reply.body, file.bytes);
    EXPECT_EQ(Header(reply, "Content-Type"), file.type);
    EXPECT_EQ(Header(reply, "Content-Length"), std::to_string(file.bytes.size()));
    EXPECT_EQ(Header(reply, "Cache-Control"), "no-cache");
    EXPECT_EQ(Header(reply, "X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(Header(reply, "Referrer-Policy"), "no-referrer");
    EXPECT_EQ(Header(reply, "Content-Security-Policy"),
              "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'");
  }
  // HEAD: the headers of GET, no body.
  HttpReply reply = HttpRequest(http, "HEAD", "/console/assets/logo.png", "");
  EXPECT_EQ(reply.status, 200) << reply.head;
  EXPECT_EQ(Header(reply, "Content-Length"), "256");
  EXPECT_EQ(Header(reply, "Content-Type"), "image/png");
  EXPECT_TRUE(reply.body.empty());
  // / sends the browser to the console.
  reply = HttpRequest(http, "GET", "/", "");
  EXPECT_EQ(reply.status, 302) << reply.head;
  EXPECT_EQ(Header(reply, "Location"), "/console/");
  // Only GET and HEAD.
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    reply =
        HttpRequest(http, method, "/console/app.js", "Content-Type: application/json\r\n", "{}");
    EXPECT_EQ(reply.status, 405) << method << "\n" << reply.head;
    EXPECT_EQ(Header(reply, "Allow"), "GET, HEAD");
    EXPECT_TRUE(Contains(reply.body, R"({"error":"method_not_allowed")")) << reply.body;
  }
  // The API behind it still wants a token.
  reply = HttpRequest(http, "POST", "/v1/info", "Content-Type: application/json\r\n", "{}");
  EXPECT_EQ(reply.status, 401);
  testing::ExpectCleanShutdown(server);
}

TEST(HttpConsole, RefusesWhatItDoesNotHoldTraversalsIncluded) {
  ServerProcess server;
  const Console console(server.data_dir() + "/../console");
  // A file beside the console that a traversal would reach.
  WriteFile(server.data_dir() + "/../secret.txt", "confidential\n");
  ASSERT_TRUE(server.Start(ConsoleFlags(console.dir))) << server.log();
  const std::string& http = server.http_address();
  for (const std::string path :
       {"/console/missing.js", "/console/assets", "/console/assets/", "/console/../secret.txt",
        "/console/assets/../app.js", "/console/%2e%2e/secret.txt", "/console/..%2fsecret.txt",
        "/console/assets%2fsite.css", "/console//app.js", "/console/./app.js", "/console/app.js%00",
        "/console/APP.JS", "/console/../../etc/passwd", "/console/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/console/assets/site.css/"}) {
    SCOPED_TRACE(path);
    const HttpReply reply = HttpRequest(http, "GET", path, "");
    ASSERT_TRUE(reply.status == 404 || reply.status == 400) << reply.head;
    EXPECT_FALSE(Contains(reply.body, "confidential")) << reply.body;
    if (reply.status == 404) {
      EXPECT_TRUE(Contains(reply.body, R"({"error":"not_found","message":"the console has no )"))
          << reply.body;
      EXPECT_EQ(Header(reply, "Content-Type"), "application/json");
    }
  }
  EXPECT_EQ(HttpRequest(http, "GET", "/consolex", "").status, 404);
  testing::ExpectCleanShutdown(server);
}

TEST(HttpConsole, WithoutAConsoleDirectorySays404) {
  ServerProcess server;
  ASSERT_TRUE(server.Start(testing::FlagsWith({"--http", "127.0.0.1:0"}))) << server.log();
  for (const std::string path : {"/console", "/console/", "/console/index.html"}) {
    const HttpReply reply = HttpRequest(server.http_address(), "GET", path, "");
    EXPECT_EQ(reply.status, 404) << path;
    EXPECT_TRUE(Contains(reply.body, "ledgerd runs without --console-dir")) << reply.body;
  }
  EXPECT_EQ(HttpRequest(server.http_address(), "GET", "/", "").status, 404);
  testing::ExpectCleanShutdown(server);
}

// A directory that cannot be served stops the start, naming it and what is wrong.
TEST(HttpConsole, ADirectoryThatCannotBeServedIsAStartUpErrorNamingIt) {
  ServerProcess server;
  const std::string base = server.data_dir() + "/..";
  struct Case {
    std::string name;
    std::string dir;
    bool http;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"missing", base + "/nowhere", true, "no such directory"});
  WriteFile(base + "/no-index/app.js", "x");
  cases.push_back({"no index.html", base + "/no-index", true, "no index.html in it"});
  Console with_link(base + "/with-link");
  std::filesystem::create_symlink(base + "/with-link/app.js", base + "/with-link/link.js");
  cases.push_back({"a symbolic link", with_link.dir, true, "link.js is a symbolic link"});
  Console with_space(base + "/with-space");
  WriteFile(with_space.dir + "/a b.js", "x");
  cases.push_back({"a name with a space", with_space.dir, true, "outside [A-Za-z0-9._-]"});
  Console many(base + "/many");
  for (int i = 0; i < 512; ++i) WriteFile(absl::StrCat(many.dir, "/f/", i, ".txt"), "x");
  cases.push_back({"513 files and more", many.dir, true, "more than 512 files"});
  Console large(base + "/large");
  std::filesystem::resize_file(large.dir + "/blob.bin", (uint64_t{64} << 20) + 1);  // sparse
  cases.push_back({"past 64 MiB", large.dir, true, "64 MiB in all (the console's limit)"});
  cases.push_back({"without --http", with_space.dir, false, "give both"});
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    std::vector<std::string> flags = testing::FlagsWith({"--console-dir", test.dir});
    if (test.http) flags.insert(flags.end(), {"--http", "127.0.0.1:0"});
    EXPECT_FALSE(server.Start(flags));
    EXPECT_NE(server.start_exit_code(), 0);
    const std::string log = server.log();
    EXPECT_TRUE(Contains(log, test.message)) << log;
    if (test.http) {
      EXPECT_TRUE(Contains(log, "--console-dir " + test.dir)) << log;
    }
    truncate(server.log_path().c_str(), 0);
  }
}

}  // namespace
}  // namespace ledger::net
