#include "ringlb/http/key.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ringlb::hash_key_rule;

struct parsed {
    std::string text;
    ringlb::http_parser p{ringlb::http_parser::type::request};
    explicit parsed(std::string s) : text{std::move(s)} {
        auto r = p.feed(text.data(), text.size());
        EXPECT_EQ(r.what, ringlb::http_parser::event::head_complete);
    }
};

TEST(Key, HeaderCookieQueryPathClientIp) {
    parsed req{
        "GET /items/42?uid=7&x=%20a HTTP/1.1\r\nHost: h\r\nX-User-Id: alice\r\n"
        "Cookie: a=1; sid=\"s-9\"\r\n\r\n"};
    EXPECT_EQ(ringlb::extract_key({hash_key_rule::source::header, "x-user-id"}, req.p, "1.2.3.4"), "alice");
    EXPECT_EQ(ringlb::extract_key({hash_key_rule::source::cookie, "sid"}, req.p, ""), "s-9");
    EXPECT_EQ(ringlb::extract_key({hash_key_rule::source::query, "uid"}, req.p, ""), "7");
    EXPECT_EQ(ringlb::extract_key({hash_key_rule::source::query, "x"}, req.p, ""), "%20a");  // raw bytes
    EXPECT_EQ(ringlb::extract_key({hash_key_rule::source::path, ""}, req.p, ""), "/items/42");
    EXPECT_EQ(ringlb::extract_key({hash_key_rule::source::client_ip, ""}, req.p, "1.2.3.4"), "1.2.3.4");
}

TEST(Key, MissingOrEmptyIsAbsent) {
    parsed req{"GET /?uid= HTTP/1.1\r\nHost: h\r\nX-User-Id:\r\nCookie: sidx=1\r\n\r\n"};
    EXPECT_FALSE(ringlb::extract_key({hash_key_rule::source::header, "X-User-Id"}, req.p, ""));
    EXPECT_FALSE(ringlb::extract_key({hash_key_rule::source::header, "X-Other"}, req.p, ""));
    EXPECT_FALSE(ringlb::extract_key({hash_key_rule::source::cookie, "sid"}, req.p, ""));
    EXPECT_FALSE(ringlb::extract_key({hash_key_rule::source::query, "uid"}, req.p, ""));
}

TEST(Key, TargetPathOfAbsoluteForm) {
    EXPECT_EQ(ringlb::target_path("http://example.com/a/b?q=1"), "/a/b");
    EXPECT_EQ(ringlb::target_path("http://example.com"), "/");
    EXPECT_EQ(ringlb::target_path("/x#frag"), "/x");
}

}  // namespace
