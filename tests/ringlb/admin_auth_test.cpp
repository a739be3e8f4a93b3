// Admin tokens: the file's syntax (comments, blank lines, scopes, token bounds, errors that
// say FILE:LINE), what an Authorization header grants (Bearer in any case, unknown tokens
// nothing, write implying read), and the warning for a file others may read.
#include "ringlb/admin/auth.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

using ringlb::admin::scope;
using ringlb::admin::token_set;

const std::string read_token = "3f9c0c2e7d1a4b6f8e5d2c1b0a9f8e7d";
const std::string write_token = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";

token_set parse_ok(const std::string& text) {
    std::string error;
    auto t = token_set::parse(text, "tokens", error);
    EXPECT_TRUE(t) << error;
    return t ? *t : *token_set::parse("read 0123456789abcdef\n", "fallback", error);
}

std::string parse_error(const std::string& text) {
    std::string error;
    const auto t = token_set::parse(text, "tokens", error);
    EXPECT_FALSE(t) << text;
    return error;
}

TEST(AdminAuth, CommentsAndBlankLinesAreSkipped) {
    const token_set t = parse_ok("# ringlb admin tokens: SCOPE TOKEN\n\n   \n\t# indented comment\nread  " +
                                 read_token + "\n\twrite\t" + write_token + "  \n");
    EXPECT_EQ(t.size(), 2u);
    EXPECT_EQ(t.check("Bearer " + read_token), scope::read);
    EXPECT_EQ(t.check("Bearer " + write_token), scope::write);
}

TEST(AdminAuth, AFileWithoutAFinalNewlineParses) {
    EXPECT_EQ(parse_ok("read " + read_token).size(), 1u);
}

TEST(AdminAuth, AnUnknownScopeIsAnErrorAtItsLine) {
    const std::string e = parse_error("# header\nread " + read_token + "\nadmin " + write_token + "\n");
    EXPECT_EQ(e, "tokens:3: expected \"read TOKEN\" or \"write TOKEN\"");
    EXPECT_EQ(parse_error("READ " + read_token + "\n").rfind("tokens:1: ", 0), 0u) << "scopes are lower case";
    EXPECT_EQ(parse_error("\n\nreadwrite\n").rfind("tokens:3: ", 0), 0u);
}

TEST(AdminAuth, TokensAreSixteenTo256VisibleCharacters) {
    const std::string bounds = "a token is 16 to 256 visible characters without spaces";
    EXPECT_EQ(parse_ok("read " + std::string(16, 'a')).size(), 1u);
    EXPECT_EQ(parse_ok("read " + std::string(256, '~')).size(), 1u);
    EXPECT_EQ(parse_error("read " + std::string(15, 'a')), "tokens:1: " + bounds);
    EXPECT_EQ(parse_error("read " + read_token + "\nwrite " + std::string(257, 'a')), "tokens:2: " + bounds);
    EXPECT_EQ(parse_error("write\n"), "tokens:1: " + bounds) << "a scope without a token";
    EXPECT_EQ(parse_error("write 0123456789 abcdef\n"), "tokens:1: " + bounds) << "a space inside";
    EXPECT_EQ(parse_error("write 0123456789\tabcdefgh\n"), "tokens:1: " + bounds) << "a tab inside";
    EXPECT_EQ(parse_error("write 0123456789abcdef\x7f\n"), "tokens:1: " + bounds) << "DEL";
    EXPECT_EQ(parse_error("write 0123456789abcdef\xc3\xa9\n"), "tokens:1: " + bounds) << "not ASCII";
}

TEST(AdminAuth, AFileWithoutTokensIsAnError) {
    EXPECT_EQ(parse_error(""), "tokens: no tokens (lines \"read TOKEN\" or \"write TOKEN\")");
    EXPECT_EQ(parse_error("# only comments\n\n  \n"),
              "tokens: no tokens (lines \"read TOKEN\" or \"write TOKEN\")");
}

TEST(AdminAuth, BearerIsCaseInsensitiveAndSpacesAroundAreIgnored) {
    const token_set t = parse_ok("read " + read_token + "\nwrite " + write_token + "\n");
    for (const char* b : {"Bearer ", "bearer ", "BEARER ", "bEaReR "})
        EXPECT_EQ(t.check(b + write_token), scope::write) << b;
    EXPECT_EQ(t.check("  Bearer   " + read_token + "  "), scope::read);
}

TEST(AdminAuth, AnythingButAKnownBearerTokenGrantsNothing) {
    const token_set t = parse_ok("read " + read_token + "\nwrite " + write_token + "\n");
    EXPECT_EQ(t.check(""), scope::none);
    EXPECT_EQ(t.check("Bearer"), scope::none);
    EXPECT_EQ(t.check("Bearer "), scope::none);
    EXPECT_EQ(t.check("Bearer 0000000000000000000000000000000"), scope::none);
    EXPECT_EQ(t.check(write_token), scope::none) << "no scheme";
    EXPECT_EQ(t.check("Basic " + write_token), scope::none);
    EXPECT_EQ(t.check("Bearer" + write_token), scope::none) << "no space after the scheme";
    EXPECT_EQ(t.check("Bearer " + write_token.substr(0, write_token.size() - 1)), scope::none) << "a prefix";
    EXPECT_EQ(t.check("Bearer " + write_token + "0"), scope::none) << "longer";
    EXPECT_EQ(t.check("Bearer " + write_token + write_token), scope::none) << "repeated";
    std::string upper = write_token;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(t.check("Bearer " + upper), scope::none) << "tokens are case-sensitive";
    EXPECT_EQ(t.check("Bearer " + read_token + " " + write_token), scope::none);
}

TEST(AdminAuth, WriteImpliesReadAndReadNeverWrite) {
    const token_set t = parse_ok("read " + read_token + "\nwrite " + write_token + "\n");
    // The scopes are ordered: a caller asking "may this read?" compares against read.
    EXPECT_GT(scope::write, scope::read);
    EXPECT_GT(scope::read, scope::none);
    EXPECT_GE(t.check("Bearer " + write_token), scope::read);
    EXPECT_EQ(t.check("Bearer " + read_token), scope::read);
}

// The same token string listed twice: the code grants the wider scope, whichever line
// comes first (the file granted it write; a duplicate read line does not take that back).
TEST(AdminAuth, ATokenListedUnderBothScopesGrantsWriteInEitherOrder) {
    const token_set a = parse_ok("read " + read_token + "\nwrite " + read_token + "\n");
    const token_set b = parse_ok("write " + read_token + "\nread " + read_token + "\n");
    EXPECT_EQ(a.check("Bearer " + read_token), scope::write);
    EXPECT_EQ(b.check("Bearer " + read_token), scope::write);
    const token_set twice = parse_ok("read " + read_token + "\nread " + read_token + "\n");
    EXPECT_EQ(twice.check("Bearer " + read_token), scope::read) << "listed twice as read: still read only";
}

class AdminAuthFile : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ringlb-auth-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    std::string write_file(const std::string& name, const std::string& text, mode_t mode) {
        const std::string path = dir + "/" + name;
        std::ofstream{path, std::ios::binary} << text;
        EXPECT_EQ(::chmod(path.c_str(), mode), 0);
        return path;
    }
    std::string dir;
};

TEST_F(AdminAuthFile, AnOwnerOnlyFileLoadsWithoutAWarning) {
    const std::string path = write_file("tokens", "write " + write_token + "\n", 0600);
    std::string error, warning;
    const auto t = token_set::load(path, error, &warning);
    ASSERT_TRUE(t) << error;
    EXPECT_EQ(t->size(), 1u);
    EXPECT_EQ(warning, "");
    EXPECT_EQ(t->check("Bearer " + write_token), scope::write);
}

TEST_F(AdminAuthFile, AFileOthersMayReadIsWarnedAbout) {
    for (const mode_t mode : {0640, 0604, 0644, 0660, 0606}) {
        const std::string path = write_file("tokens", "read " + read_token + "\n", mode);
        std::string error, warning;
        const auto t = token_set::load(path, error, &warning);
        EXPECT_TRUE(t) << "a warning, not an error: " << error;
        EXPECT_EQ(warning, path + " may be read by others than its owner (chmod 600 it)") << std::oct << mode;
    }
    // Without a place for the warning, loading still works.
    std::string error;
    EXPECT_TRUE(token_set::load(dir + "/tokens", error, nullptr)) << error;
}

TEST_F(AdminAuthFile, ErrorsNameTheFileAndLine) {
    const std::string path = write_file("tokens", "read " + read_token + "\nwrite short\n", 0600);
    std::string error;
    EXPECT_FALSE(token_set::load(path, error));
    EXPECT_EQ(error.rfind(path + ":2: ", 0), 0u) << error;
    const std::string empty = write_file("empty", "", 0600);
    EXPECT_FALSE(token_set::load(empty, error));
    EXPECT_EQ(error.rfind(empty + ": no tokens", 0), 0u) << error;
}

TEST_F(AdminAuthFile, AMissingFileIsAnError) {
    std::string error, warning;
    EXPECT_FALSE(token_set::load(dir + "/nope", error, &warning));
    EXPECT_EQ(error, dir + "/nope: cannot open");
}

TEST_F(AdminAuthFile, AFileOverOneMebibyteIsRefused) {
    std::string text;
    while (text.size() <= (1u << 20)) text += "# " + std::string(78, 'x') + "\n";
    text += "read " + read_token + "\n";
    const std::string path = write_file("huge", text, 0600);
    std::string error;
    EXPECT_FALSE(token_set::load(path, error));
    EXPECT_EQ(error, path + ": larger than 1 MiB");
}

}  // namespace
