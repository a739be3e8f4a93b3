// Reading a request head: what parse_request_head makes of the buffered bytes (complete,
// incomplete, too long: 414 while the target is read, 431 after) and the checks on a whole
// head (version, Host, CONNECT, Expect, a declared body over the limit).
#include "ringlb/proxy/request_head.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using ringlb::head_result;
using ringlb::http_parser;

ringlb::buffer holding(const std::string& s, std::size_t capacity = 16384) {
    ringlb::buffer b{capacity};
    std::memcpy(b.writable().data(), s.data(), s.size());
    b.commit(s.size());
    return b;
}

// Only for verdicts: the parser's views die with the buffer.
head_result parse(const std::string& s, http_parser& p, std::size_t limit = 4096) {
    const auto b = holding(s);
    return ringlb::parse_request_head(b, p, limit);
}

TEST(RequestHead, ACompleteHeadEndsWhereItsBodyBegins) {
    http_parser p{http_parser::type::request};
    const std::string s = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    const auto h = parse(s, p);
    EXPECT_EQ(h.what, head_result::kind::ok);
    EXPECT_EQ(h.end, s.size() - 3);
}

TEST(RequestHead, AnIncompleteHeadAsksForMore) {
    http_parser p{http_parser::type::request};
    const auto h = parse("GET / HTTP/1.1\r\nHost: h\r\n", p);
    EXPECT_EQ(h.what, head_result::kind::need_more);
    EXPECT_EQ(h.end, 25u);
}

TEST(RequestHead, TooLongIs414InTheTargetAnd431After) {
    http_parser p{http_parser::type::request};
    auto h = parse("GET /" + std::string(5000, 'u'), p);
    EXPECT_EQ(h.what, head_result::kind::reject);
    EXPECT_EQ(h.status, 414);
    http_parser q{http_parser::type::request};
    h = parse("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(5000, 'x'), q);
    EXPECT_EQ(h.status, 431);
    // Complete but over the limit: a long target makes it 414, long headers 431.
    http_parser r{http_parser::type::request};
    h = parse("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(5000, 'x') + "\r\n\r\n", r, 4096);
    EXPECT_EQ(h.status, 431);
}

TEST(RequestHead, MalformedIs400) {
    http_parser p{http_parser::type::request};
    const auto h = parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n", p);
    EXPECT_EQ(h.what, head_result::kind::reject);
    EXPECT_EQ(h.status, 400);
}

int check(const std::string& s, std::uint64_t max_body = 1000) {
    http_parser p{http_parser::type::request};
    const auto b = holding(s);  // the parser's views point into it: it outlives the checks
    const auto h = ringlb::parse_request_head(b, p, 4096);
    EXPECT_EQ(h.what, head_result::kind::ok) << s;
    ringlb::proxy_limits limits;
    limits.max_body_bytes = max_body;
    return ringlb::check_request_head(p, limits);
}

TEST(RequestHead, ChecksOnTheWholeHead) {
    EXPECT_EQ(check("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    EXPECT_EQ(check("GET / HTTP/1.0\r\n\r\n"), 0) << "HTTP/1.0 needs no Host";
    EXPECT_EQ(check("GET / HTTP/1.1\r\n\r\n"), 400) << "HTTP/1.1 without Host";
    EXPECT_EQ(check("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    EXPECT_EQ(check("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), 405);
    EXPECT_EQ(check("POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\n"), 417);
    EXPECT_EQ(check("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"), 0);
    EXPECT_EQ(check("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n"), 413);
    EXPECT_EQ(check("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n"), 0);
}

TEST(RequestHead, OnlyABodyInHttp11WaitsForContinue) {
    const auto expects = [](const std::string& s) {
        http_parser p{http_parser::type::request};
        const auto b = holding(s);
        EXPECT_EQ(ringlb::parse_request_head(b, p, 4096).what, head_result::kind::ok);
        return ringlb::expects_continue(p);
    };
    EXPECT_TRUE(expects("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    EXPECT_TRUE(
        expects("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"));
    EXPECT_FALSE(expects("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"));
    EXPECT_FALSE(expects("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    EXPECT_FALSE(expects("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"));
}

}  // namespace
