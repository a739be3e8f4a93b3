#include "ringlb/http/forward.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ringlb::http_parser;

TEST(Forward, RequestDropsHopByHopAndAddsForwardedHeaders) {
    const std::string in =
        "GET /p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Drop, Content-Length\r\nX-Drop: 1\r\n"
        "Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: x\r\nExpect: 100-continue\r\n"
        "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Keep: 2\r\nContent-Length: 0\r\n\r\n";
    http_parser p{http_parser::type::request};
    ASSERT_EQ(p.feed(in.data(), in.size()).what, http_parser::event::head_complete);
    std::string out;
    ringlb::build_backend_request(p, "192.0.2.7", "http", out);
    EXPECT_EQ(out,
              "GET /p HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nX-Keep: 2\r\n"
              "Content-Length: 0\r\nX-Forwarded-Proto: http\r\n\r\n");
}

TEST(Forward, TheHeaderRinglbSetsIsStrippedFromClientsWhateverItsCase) {
    const std::string in =
        "GET / HTTP/1.1\r\nHost: h\r\nX-Previous-Owner: forged\r\nx-previous-owner: again\r\nX-Keep: "
        "1\r\n\r\n";
    http_parser p{http_parser::type::request};
    ASSERT_EQ(p.feed(in.data(), in.size()).what, http_parser::event::head_complete);
    std::string out;
    ringlb::build_backend_request(p, "192.0.2.7", "http", out, "X-PREVIOUS-OWNER");
    EXPECT_EQ(out,
              "GET / HTTP/1.1\r\nHost: h\r\nX-Keep: 1\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: "
              "http\r\n\r\n");
}

TEST(Forward, ConnectionCloseDropsOnlyAHeaderNamedClose) {
    // Connection: close names the reserved "Close" field (RFC 9110 16.3.2.2) and nothing else.
    const std::string in = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nClose: x\r\nX-Keep: 1\r\n\r\n";
    http_parser p{http_parser::type::request};
    ASSERT_EQ(p.feed(in.data(), in.size()).what, http_parser::event::head_complete);
    std::string out;
    ringlb::build_backend_request(p, "192.0.2.7", "http", out);
    EXPECT_EQ(out,
              "GET / HTTP/1.1\r\nHost: h\r\nX-Keep: 1\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: "
              "http\r\n\r\n");
}

TEST(Forward, ResponseDropsWhatItsConnectionHeaderLists) {
    const std::string in =
        "HTTP/1.1 200 OK\r\nX-Hop: 1\r\nConnection: x-hop\r\nProxy-Authenticate: b\r\nX-App: 1\r\n"
        "Content-Length: 0\r\n\r\n";
    http_parser p{http_parser::type::response};
    ASSERT_EQ(p.feed(in.data(), in.size()).what, http_parser::event::head_complete);
    std::string out;
    ringlb::build_client_response(p, {}, out);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-App: 1\r\nContent-Length: 0\r\n\r\n");
}

TEST(Forward, AbsoluteFormBecomesOriginFormWithItsAuthorityAsHost) {
    const std::string in = "GET http://example.com:81/a?b=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    http_parser p{http_parser::type::request};
    ASSERT_EQ(p.feed(in.data(), in.size()).what, http_parser::event::head_complete);
    std::string out;
    ringlb::build_backend_request(p, "::1", "http", out);
    EXPECT_EQ(out,
              "GET /a?b=1 HTTP/1.1\r\nHost: example.com:81\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: "
              "http\r\n\r\n");
}

TEST(Forward, ResponseKeepsFramingAndAddsConnectionClose) {
    const std::string in =
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
        "Transfer-Encoding: chunked\r\nX-App: 1\r\n\r\n";
    http_parser p{http_parser::type::response};
    ASSERT_EQ(p.feed(in.data(), in.size()).what, http_parser::event::head_complete);
    std::string out;
    ringlb::build_client_response(p, {.close = true}, out);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-App: 1\r\nConnection: close\r\n\r\n");
}

TEST(Forward, A204DeclaresNoBodyAndA304KeepsItsLength) {
    const std::string no_content = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-App: 1\r\n\r\n";
    http_parser p{http_parser::type::response};
    ASSERT_EQ(p.feed(no_content.data(), no_content.size()).what, http_parser::event::head_complete);
    std::string out;
    ringlb::build_client_response(p, {}, out);
    EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nX-App: 1\r\n\r\n");
    const std::string chunked = "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n";
    http_parser c{http_parser::type::response};
    ASSERT_EQ(c.feed(chunked.data(), chunked.size()).what, http_parser::event::head_complete);
    out.clear();
    ringlb::build_client_response(c, {}, out);
    EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");

    // RFC 9110 8.6: a 304's Content-Length is the length of the representation not sent.
    const std::string not_modified = "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n";
    http_parser q{http_parser::type::response};
    ASSERT_EQ(q.feed(not_modified.data(), not_modified.size()).what, http_parser::event::head_complete);
    out.clear();
    ringlb::build_client_response(q, {}, out);
    EXPECT_EQ(out, not_modified);
}

TEST(Forward, TheStatusLineIsRinglbsOwnWithAReasonOnlyWhenItIsClean) {
    const auto relayed = [](const std::string& in) {
        http_parser p{http_parser::type::response};
        EXPECT_EQ(p.feed(in.data(), in.size()).what, http_parser::event::head_complete) << in;
        std::string out;
        ringlb::build_client_response(p, {}, out);
        return out.substr(0, out.find("\r\n"));
    };
    EXPECT_EQ(relayed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "HTTP/1.1 200 OK");
    EXPECT_EQ(relayed("HTTP/1.0 404 Not  Found\r\nContent-Length: 0\r\n\r\n"), "HTTP/1.1 404 Not  Found")
        << "our version, their reason";
    EXPECT_EQ(relayed("\r\nHTTP/1.1 204 No Content\r\n\r\n"), "HTTP/1.1 204 No Content")
        << "empty lines before the status line are skipped";
    EXPECT_EQ(relayed("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), "HTTP/1.1 200 ");
    EXPECT_EQ(relayed("HTTP/1.1 503 Busy\x01\x02\r\nContent-Length: 0\r\n\r\n"), "HTTP/1.1 503 ")
        << "control characters in the reason are not repeated";
    EXPECT_EQ(relayed("HTTP/1.1 200 \xc3\xa7"
                      "a va\r\nContent-Length: 0\r\n\r\n"),
              "HTTP/1.1 200 \xc3\xa7"
              "a va")
        << "obs-text is allowed";
}

}  // namespace
