// The shared text helpers: ASCII-only case folding, RFC 9110 token characters, trimming and
// comma lists as HTTP uses them.
#include "ringlb/common/text.hpp"

#include <gtest/gtest.h>

namespace {

TEST(Text, IequalsIsAsciiOnly) {
    EXPECT_TRUE(ringlb::iequals("Content-LENGTH", "content-length"));
    EXPECT_FALSE(ringlb::iequals("content-length", "content-lengt"));
    EXPECT_FALSE(ringlb::iequals("\xc3\x89", "\xc3\xa9")) << "no Unicode folding";
    EXPECT_FALSE(ringlb::iequals("[", "{")) << "only letters fold";
    static_assert(ringlb::iequals("Host", "hOST"));
}

TEST(Text, TokenCharacters) {
    for (const char c : std::string_view{"!#$%&'*+-.^_`|~09azAZ"}) EXPECT_TRUE(ringlb::is_tchar(c)) << c;
    for (const char c : std::string_view{" \t:;,\"()/<=>?@[\\]{}\x7f"})
        EXPECT_FALSE(ringlb::is_tchar(c)) << c;
    EXPECT_FALSE(ringlb::is_tchar('\0'));
    EXPECT_FALSE(ringlb::is_tchar('\x80'));
}

TEST(Text, TrimAndLists) {
    EXPECT_EQ(ringlb::trim(" \t a b \t"), "a b");
    EXPECT_EQ(ringlb::trim(" \t "), "");
    std::string_view list = " gzip ,, chunked";
    EXPECT_EQ(ringlb::next_list_item(list), "gzip");
    EXPECT_EQ(ringlb::next_list_item(list), "");
    EXPECT_EQ(ringlb::next_list_item(list), "chunked");
    EXPECT_TRUE(list.empty());
    EXPECT_TRUE(ringlb::list_contains("keep-alive, Upgrade", "upgrade"));
    EXPECT_FALSE(ringlb::list_contains("keep-alive, Upgrade2", "upgrade"));
}

}  // namespace
