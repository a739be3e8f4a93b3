// The admin listener over a real loopback socket, with a handler that records what it was
// given: a request reaches the handler with its method, decoded path, raw query, the
// headers the API reads and its body; pipelined requests on a kept-alive connection are
// answered in order; a head over 16 KiB is 431, a chunked body 411, a body over 64 KiB 413,
// a malformed request 400 and a target that is not a path 400, each closing the connection.
//
// The client writes everything before the io_context runs (loopback takes it into the
// socket buffer), so the listener's reads see the bytes as they would arrive in one burst;
// then the io_context runs until the client has read the answers and the server closed, or a
// deadline of seconds passes.
#include "ringlb/admin/server.hpp"

#include "ringlb/http/parser.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;
using ringlb::admin::request;
using ringlb::admin::response;

class AdminServer : public ::testing::Test {
protected:
    void SetUp() override {
        srv.listen({asio::ip::make_address("127.0.0.1"), 0});
        srv.start();
    }
    void TearDown() override {
        srv.stop();
        io.restart();
        io.poll();
    }

    // Sends `bytes` on a new connection and returns everything the server sent before it
    // closed (or before `limit`).
    std::string exchange(const std::string& bytes, std::chrono::steady_clock::duration limit = 5s) {
        tcp::socket client{io};
        client.connect(srv.local_endpoint());
        asio::write(client, asio::buffer(bytes));
        std::string received;
        std::array<char, 4096> buf;
        bool closed = false;
        std::function<void()> read_more = [&] {
            client.async_read_some(asio::buffer(buf), [&](const asio::error_code& ec, std::size_t n) {
                received.append(buf.data(), n);
                if (ec) {
                    closed = true;
                    return;
                }
                read_more();
            });
        };
        read_more();
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!closed && std::chrono::steady_clock::now() < deadline) {
            if (io.stopped()) io.restart();
            io.run_for(5ms);
        }
        EXPECT_TRUE(closed) << "the server did not close the connection";
        asio::error_code ignored;
        client.close(ignored);
        io.restart();
        io.poll();
        return received;
    }

    // The statuses of the responses in `stream`, in order.
    static std::vector<int> statuses(const std::string& stream) {
        std::vector<int> out;
        ringlb::http_parser p{ringlb::http_parser::type::response};
        std::size_t at = 0;
        while (at < stream.size()) {
            p.reset();
            auto r = p.feed(stream.data() + at, stream.size() - at);
            if (r.what != ringlb::http_parser::event::head_complete) break;
            out.push_back(p.status());
            at += r.consumed;
            const std::size_t body = static_cast<std::size_t>(p.content_length());
            at += std::min(body, stream.size() - at);
        }
        return out;
    }

    static std::string get(const std::string& target, const std::string& more = {}) {
        return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n" + more + "\r\n";
    }

    asio::io_context io{1};
    std::vector<request> seen;
    ringlb::admin::server srv{io, [this](request r) -> asio::awaitable<response> {
                                  seen.push_back(std::move(r));
                                  response a;
                                  a.body = "{}\n";
                                  co_return a;
                              }};
};

TEST_F(AdminServer, ARequestReachesTheHandlerDecoded) {
    const std::string body = R"({"weight": 2})";
    const std::string out = exchange(
        "PUT /v1/backends/app%2D1?dry_run=1&x=a%20b HTTP/1.1\r\nHost: localhost:9901\r\n"
        "Authorization: Bearer abc\r\ncontent-type: application/json\r\nIf-Match: \"3\"\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    EXPECT_EQ(statuses(out), std::vector<int>{200});
    ASSERT_EQ(seen.size(), 1u);
    const request& r = seen[0];
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(r.path, "/v1/backends/app-1");
    EXPECT_EQ(r.query, "dry_run=1&x=a%20b") << "the query stays raw: param() decodes";
    EXPECT_EQ(r.host, "localhost:9901");
    EXPECT_EQ(r.authorization, "Bearer abc");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.if_match, "\"3\"");
    EXPECT_TRUE(r.has_body);
    EXPECT_EQ(r.body, body);
}

TEST_F(AdminServer, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
    const std::string out = exchange(get("/a") + get("/b") + get("/c", "Connection: close\r\n"));
    EXPECT_EQ(statuses(out), (std::vector<int>{200, 200, 200}));
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].path, "/a");
    EXPECT_EQ(seen[1].path, "/b");
    EXPECT_EQ(seen[2].path, "/c");
    EXPECT_FALSE(seen[0].has_body);
}

TEST_F(AdminServer, AHeadAnswerHasNoBody) {
    const std::string out = exchange("HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    EXPECT_NE(out.find("Content-Length: 3\r\n"), std::string::npos);
    EXPECT_TRUE(out.ends_with("\r\n\r\n")) << out;
}

TEST_F(AdminServer, LimitsAndMalformedRequestsAreAnsweredAndClosed) {
    // A head that has not ended after 16 KiB and one more read (the listener reads 4 KiB at a
    // time): exactly what the listener reads before it gives up, so it closes with nothing
    // unread (which would make the close a reset).
    std::string endless = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    endless += std::string(ringlb::admin::max_head + 4096 - endless.size(), 'p');
    EXPECT_EQ(statuses(exchange(endless)), std::vector<int>{431});
    EXPECT_EQ(
        statuses(exchange("POST /v1/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")),
        std::vector<int>{411});
    EXPECT_EQ(statuses(exchange("PUT /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n")),
              std::vector<int>{413});
    EXPECT_EQ(statuses(exchange("GET / HTTP/1.1\r\nHost : h\r\n\r\n")), std::vector<int>{400});
    EXPECT_EQ(statuses(exchange("GET %zz HTTP/1.1\r\nHost: h\r\n\r\n")), std::vector<int>{400});
    EXPECT_EQ(statuses(exchange("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n")), std::vector<int>{400});
    EXPECT_TRUE(seen.empty()) << "none of them reached the handler";
}

// Regression: in 400ec7b, serve() appended each read to a std::string while http_parser
// kept views of the head in it; growing the string freed the bytes under them (ASan:
// heap-use-after-free in http_parser::on_headers_complete for a head over one 4 KiB read,
// in server::serve for a body beyond the first read). The buffer now never moves.
TEST_F(AdminServer, AHeadLongerThanOneReadIsParsedWhole) {
    const std::string out =
        exchange(get("/v1/status", "X-Pad: " + std::string(6000, 'p') + "\r\nConnection: close\r\n"));
    EXPECT_EQ(statuses(out), std::vector<int>{200});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].path, "/v1/status");
    EXPECT_EQ(seen[0].host, "127.0.0.1:9901");
}

TEST_F(AdminServer, ABodyBeyondTheFirstReadLeavesTheHeadIntact) {
    const std::string body = "{\"weight\": 2}" + std::string(6000, ' ');
    const std::string out = exchange(
        "PUT /v1/backends/app-1 HTTP/1.1\r\nHost: 127.0.0.1:9901\r\n"
        "Content-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    EXPECT_EQ(statuses(out), std::vector<int>{200});
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].path, "/v1/backends/app-1");
    EXPECT_EQ(seen[0].host, "127.0.0.1:9901");
    EXPECT_EQ(seen[0].content_type, "application/json");
    EXPECT_EQ(seen[0].body, body);
}

// A head that ends past 16 KiB is 431, even when the read that completes it starts below.
TEST_F(AdminServer, AHeadOverSixteenKibIs431) {
    EXPECT_EQ(statuses(exchange(get("/", "X-Pad: " + std::string(20000, 'p') + "\r\n"))),
              std::vector<int>{431});
    EXPECT_TRUE(seen.empty());
}

}  // namespace
