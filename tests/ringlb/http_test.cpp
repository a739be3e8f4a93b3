#include "ringlb/http/parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ringlb::http_parser;

std::string nul_header() {
    static constexpr char raw[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
    return {raw, sizeof raw - 1};
}

http_parser::result feed_all(http_parser& p, const std::string& s) {
    return p.feed(s.data(), s.size());
}

TEST(HttpParser, HeadThenMessageBoundariesForPipelining) {
    http_parser p{http_parser::type::request};
    const std::string two =
        "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-User-Id:  u1 \r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    auto r = feed_all(p, two);
    ASSERT_EQ(r.what, http_parser::event::head_complete);
    EXPECT_EQ(p.target(), "/a?x=1");
    EXPECT_EQ(p.header_value("x-user-id"), "u1");
    EXPECT_TRUE(p.keep_alive());
    const auto head = r.consumed;
    r = p.feed(two.data() + head, two.size() - head);
    ASSERT_EQ(r.what, http_parser::event::message_complete);
    EXPECT_EQ(r.consumed, 0u);  // no body: the next request starts right after the head
}

TEST(HttpParser, ChunkedBodyEndsExactly) {
    http_parser p{http_parser::type::request};
    const std::string s =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT";
    auto r = feed_all(p, s);
    ASSERT_EQ(r.what, http_parser::event::head_complete);
    EXPECT_TRUE(p.chunked());
    const auto head = r.consumed;
    r = p.feed(s.data() + head, s.size() - head);
    ASSERT_EQ(r.what, http_parser::event::message_complete);
    EXPECT_EQ(s.substr(head + r.consumed), "NEXT");
    EXPECT_EQ(p.body_bytes(), 3u);
}

TEST(HttpParser, RejectsSmugglingShapes) {
    for (const std::string& bad : std::initializer_list<std::string>{
             "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
             "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
             "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
             nul_header(),
         }) {
        http_parser p{http_parser::type::request};
        auto r = feed_all(p, bad);
        if (r.what == http_parser::event::head_complete)
            r = p.feed(bad.data() + r.consumed, bad.size() - r.consumed);
        EXPECT_EQ(r.what, http_parser::event::error) << bad;
        EXPECT_EQ(p.error_status(), 400);
    }
}

TEST(HttpParser, InvalidChunkSizeIsAnError) {
    http_parser p{http_parser::type::request};
    const std::string s = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    auto r = feed_all(p, s);
    ASSERT_EQ(r.what, http_parser::event::head_complete);
    r = p.feed(s.data() + r.consumed, s.size() - r.consumed);
    EXPECT_EQ(r.what, http_parser::event::error);
}

TEST(HttpParser, HeadResponseHasNoBodyAndUntilEofIsDetected) {
    http_parser p{http_parser::type::response};
    p.reset(true);
    const std::string s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    auto r = feed_all(p, s);
    ASSERT_EQ(r.what, http_parser::event::head_complete);
    EXPECT_EQ(r.consumed, s.size());
    EXPECT_EQ(p.feed(s.data() + s.size(), 0).what, http_parser::event::message_complete);

    http_parser q{http_parser::type::response};
    const std::string e = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody";
    r = feed_all(q, e);
    ASSERT_EQ(r.what, http_parser::event::head_complete);
    EXPECT_TRUE(q.body_until_eof());
    EXPECT_TRUE(q.finish());
}

TEST(HttpParser, ResponsesWithoutABodyEndWithTheirHeadWhateverTheyDeclare) {
    // A 204 or 304 that declares a length or chunking ends at its head: the bytes after it
    // are not its body (they belong to no message, and the connection is not reused).
    for (const std::string s : {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
                                "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n",
                                "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello",
                                "HTTP/1.1 103 Early Hints\r\nContent-Length: 3\r\n\r\nabc"}) {
        http_parser p{http_parser::type::response};
        const auto r = feed_all(p, s);
        ASSERT_EQ(r.what, http_parser::event::head_complete) << s;
        EXPECT_EQ(r.consumed, s.find("\r\n\r\n") + 4) << s;
        EXPECT_TRUE(p.no_body()) << s;
        EXPECT_FALSE(p.body_until_eof()) << s;
        const auto end = p.feed(s.data() + r.consumed, s.size() - r.consumed);
        EXPECT_EQ(end.what, http_parser::event::message_complete) << s;
        EXPECT_EQ(end.consumed, 0u) << s;
        EXPECT_TRUE(p.keep_alive()) << s;
    }
    http_parser p{http_parser::type::response};
    const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ASSERT_EQ(feed_all(p, ok).what, http_parser::event::head_complete);
    EXPECT_FALSE(p.no_body());
}

TEST(HttpParser, ATransferEncodingReadTwoWaysIsRefused) {
    // llhttp 8 does not take "chunked<TAB>" for chunked; the RFC does, and ringlb forwards
    // the value trimmed. Either reading alone would be a smuggling vector, so both refuse.
    for (const auto type : {http_parser::type::request, http_parser::type::response}) {
        const std::string s = type == http_parser::type::request
                                  ? "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n"
                                  : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n";
        http_parser p{type};
        EXPECT_EQ(feed_all(p, s).what, http_parser::event::error) << s;
        EXPECT_EQ(p.error_status(), 400);
    }
    // chunked twice, or not last: refused both ways (a response too: 502).
    for (const std::string te : {"chunked, chunked", "chunked\r\nTransfer-Encoding: chunked", "chunked, gzip"}) {
        http_parser p{http_parser::type::response};
        const std::string s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + "\r\n\r\n";
        EXPECT_EQ(feed_all(p, s).what, http_parser::event::error) << te;
    }
    // One meaning, however it is spelled: these are fine.
    for (const std::string te : {"chunked", "chunked ", "gzip, chunked", " chunked"}) {
        http_parser p{http_parser::type::response};
        const std::string s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + "\r\n\r\n";
        ASSERT_EQ(feed_all(p, s).what, http_parser::event::head_complete) << te;
        EXPECT_TRUE(p.chunked()) << te;
    }
}

TEST(HttpParser, TrailersSplitAcrossReadsIntoOneBufferAreNotAFold) {
    // The body pumps read into the same buffer again and again: a trailer value split across
    // two reads arrives at the buffer's start, not after its first piece.
    http_parser p{http_parser::type::request};
    const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    ASSERT_EQ(feed_all(p, head).what, http_parser::event::head_complete);
    std::string buf = "0\r\nX-Trailer: first-half";
    ASSERT_EQ(feed_all(p, buf).what, http_parser::event::need_more);
    buf = "-second-half\r\n\r\n";  // reuses the memory, as buffer::clear() does
    const auto r = feed_all(p, buf);
    EXPECT_EQ(r.what, http_parser::event::message_complete) << p.error_reason();
    EXPECT_EQ(r.consumed, buf.size());
    EXPECT_EQ(p.body_bytes(), 0u);
    EXPECT_EQ(p.bounded_bytes(), std::string{"X-Trailerfirst-half-second-half"}.size()) << "trailers count";
    // A real fold in a trailer is still refused.
    http_parser q{http_parser::type::request};
    ASSERT_EQ(feed_all(q, head).what, http_parser::event::head_complete);
    EXPECT_EQ(feed_all(q, std::string{"0\r\nX-T: a\r\n b\r\n\r\n"}).what, http_parser::event::error);
}

TEST(HttpParser, SplitHeadAcrossFeedsKeepsViews) {
    const std::string s = "GET /path HTTP/1.1\r\nHost: example\r\nX-Long-Name: value\r\n\r\n";
    http_parser p{http_parser::type::request};
    std::size_t parsed = 0;
    http_parser::result r{};
    for (std::size_t end = 1; end <= s.size(); ++end) {  // one byte at a time
        r = p.feed(s.data() + parsed, end - parsed);
        parsed += r.consumed;
        if (r.what == http_parser::event::head_complete) break;
    }
    ASSERT_EQ(r.what, http_parser::event::head_complete);
    EXPECT_EQ(p.target(), "/path");
    EXPECT_EQ(p.header_value("X-LONG-NAME"), "value");
}

TEST(HttpHelpers, ClassifyHeaderNamesEveryIdInAnyCase) {
    using ringlb::classify_header;
    using ringlb::header_id;
    EXPECT_EQ(classify_header("Host"), header_id::host);
    EXPECT_EQ(classify_header("HOST"), header_id::host);
    EXPECT_EQ(classify_header("content-length"), header_id::content_length);
    EXPECT_EQ(classify_header("Transfer-Encoding"), header_id::transfer_encoding);
    EXPECT_EQ(classify_header("Connection"), header_id::connection);
    EXPECT_EQ(classify_header("Keep-Alive"), header_id::keep_alive);
    EXPECT_EQ(classify_header("TE"), header_id::te);
    EXPECT_EQ(classify_header("Upgrade"), header_id::upgrade);
    EXPECT_EQ(classify_header("Proxy-Connection"), header_id::proxy_prefixed);
    EXPECT_EQ(classify_header("proxy-"), header_id::proxy_prefixed);
    EXPECT_EQ(classify_header("Expect"), header_id::expect);
    EXPECT_EQ(classify_header("Cookie"), header_id::cookie);
    EXPECT_EQ(classify_header("X-Forwarded-For"), header_id::x_forwarded_for);
    EXPECT_EQ(classify_header("x-forwarded-proto"), header_id::x_forwarded_proto);
    // Same lengths, other names; near misses.
    for (const char* other : {"Hose", "Cookies", "Accept", "Tf", "Connectionx", "Content-Lengtx", "Proxy",
                              "X", "X-Forwarded-Fox", "Transfer-Encodinh", ""})
        EXPECT_EQ(classify_header(other), header_id::other) << other;
}

TEST(HttpParser, HeadersCarryTheirIdsAndConnectionTokensAreSummarised) {
    const std::string s =
        "GET / HTTP/1.1\r\nhost: h\r\nX-User-Id: u\r\nCONTENT-LENGTH: 0\r\nConnection: keep-alive, "
        "close\r\n\r\n";
    http_parser p{http_parser::type::request};
    ASSERT_EQ(feed_all(p, s).what, http_parser::event::head_complete);
    ASSERT_EQ(p.header_count(), 4u);
    EXPECT_EQ(p.header(0).id, ringlb::header_id::host);
    EXPECT_EQ(p.header(1).id, ringlb::header_id::other);
    EXPECT_EQ(p.header(2).id, ringlb::header_id::content_length);
    EXPECT_EQ(p.header(3).id, ringlb::header_id::connection);
    EXPECT_EQ(p.header_value(ringlb::header_id::host), "h");
    EXPECT_EQ(p.header_value(ringlb::header_id::expect), "");
    EXPECT_FALSE(p.connection_lists_names());  // keep-alive and close name no header to drop

    const std::string named = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nConnection: X-Trace\r\n\r\n";
    p.reset();
    ASSERT_EQ(feed_all(p, named).what, http_parser::event::head_complete);
    EXPECT_TRUE(p.connection_lists_names());
    p.reset();  // forgotten with the message
    ASSERT_EQ(feed_all(p, s).what, http_parser::event::head_complete);
    EXPECT_FALSE(p.connection_lists_names());
}

TEST(HttpHelpers, ListContainsIsCaseAndSpaceInsensitive) {
    EXPECT_TRUE(ringlb::list_contains("keep-alive, X-Foo", "x-foo"));
    EXPECT_FALSE(ringlb::list_contains("keep-alive, X-Foobar", "x-foo"));
    EXPECT_TRUE(ringlb::list_contains(" ,\tX-Foo\t", "x-foo"));
    EXPECT_FALSE(ringlb::list_contains("", "x-foo"));
}

}  // namespace
