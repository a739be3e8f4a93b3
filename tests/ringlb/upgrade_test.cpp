// Upgrade tunnels at the HTTP level: which requests may switch protocols (only HTTP/1.1,
// Connection listing upgrade, every offered protocol allowed, no body, one Upgrade line),
// what is sent on (Upgrade and Connection: upgrade to the backend; the 101's Upgrade to the
// client), and which 101s are accepted.
#include "ringlb/http/upgrade.hpp"
#include "ringlb/http/forward.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ringlb::http_parser;

const std::vector<std::string> websocket_only{"websocket"};

struct parsed {
    explicit parsed(const std::string& head, http_parser::type t = http_parser::type::request)
        : p{t}, bytes{head} {
        ok = p.feed(bytes.data(), bytes.size()).what == http_parser::event::head_complete;
    }
    http_parser p;
    std::string bytes;
    bool ok = false;
};

std::string request(const std::string& extra, const std::string& version = "HTTP/1.1") {
    return "GET /chat " + version + "\r\nHost: h\r\n" + extra + "\r\n";
}

TEST(Upgrade, AWebSocketHandshakeAsksForATunnel) {
    parsed r{
        request("Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n")};
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(ringlb::tunnel_upgrade(r.p, websocket_only), "WebSocket");
}

TEST(Upgrade, WhatDoesNotAskForAnAllowedTunnel) {
    const std::vector<std::string> cases{
        request("Upgrade: websocket\r\n"),                              // no Connection: upgrade
        request("Connection: upgrade\r\n"),                             // no Upgrade
        request("Upgrade: h2c\r\nConnection: upgrade\r\n"),             // not allowed
        request("Upgrade: websocket, h2c\r\nConnection: upgrade\r\n"),  // one offer not allowed
        request("Upgrade: websocket\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"),  // two lines
        request("Upgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 3\r\n"),   // a body
        request("Upgrade: websocket\r\nConnection: upgrade\r\nTransfer-Encoding: chunked\r\n"),
        request("Upgrade: websocket\r\nConnection: upgrade\r\n", "HTTP/1.0"),  // RFC 9110 7.8
        request("Upgrade: ,\r\nConnection: upgrade\r\n"),                      // names nothing
    };
    for (const std::string& c : cases) {
        parsed r{c};
        ASSERT_TRUE(r.ok) << c;
        EXPECT_EQ(ringlb::tunnel_upgrade(r.p, websocket_only), "") << c;
    }
    parsed allowed{request("Upgrade: websocket\r\nConnection: upgrade\r\n")};
    ASSERT_TRUE(allowed.ok);
    EXPECT_EQ(ringlb::tunnel_upgrade(allowed.p, {}), "");  // [server] upgrade = []
}

TEST(Upgrade, AProtocolVersionIsTheProtocolsBusiness) {
    const std::vector<std::string> allowed{"websocket", "foo"};
    parsed r{request("Upgrade: foo/2, websocket\r\nConnection: upgrade\r\n")};
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(ringlb::tunnel_upgrade(r.p, allowed), "foo/2, websocket");
}

TEST(Upgrade, TheBackendGetsUpgradeAndConnectionUpgrade) {
    parsed r{request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n")};
    ASSERT_TRUE(r.ok);
    std::string out;
    ringlb::build_backend_request(r.p, "192.0.2.7", "http", out, {},
                                  ringlb::tunnel_upgrade(r.p, websocket_only));
    EXPECT_EQ(out,
              "GET /chat HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nX-Forwarded-For: 192.0.2.7\r\n"
              "X-Forwarded-Proto: http\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    // Without the tunnel, both are hop-by-hop and go.
    out.clear();
    ringlb::build_backend_request(r.p, "192.0.2.7", "http", out);
    EXPECT_EQ(out.find("Upgrade"), std::string::npos);
    EXPECT_EQ(out.find("Connection"), std::string::npos);
}

TEST(Upgrade, TheWebSocketAcceptOfRfc6455) {
    EXPECT_EQ(ringlb::websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

const std::string handshake =
    request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");

TEST(Upgrade, The101KeepsItsUpgradeForTheClient) {
    parsed req{handshake};
    parsed r{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
             http_parser::type::response};
    ASSERT_TRUE(req.ok);
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(ringlb::switch_accepted(req.p, r.p, "websocket"));
    std::string out;
    ringlb::build_client_response(r.p, {.upgrade = true}, out);
    EXPECT_EQ(out,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "
              "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nConnection: upgrade\r\n\r\n");
}

TEST(Upgrade, A101ThatDoesNotSwitchAsAskedIsRefused) {
    parsed req{handshake};
    ASSERT_TRUE(req.ok);
    const auto response = [](const std::string& headers) {
        return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" + headers + "\r\n";
    };
    const std::vector<std::string> refused{
        response("Upgrade: h2c\r\n"),                                                 // not offered
        response(""),                                                                  // names none
        response("Upgrade: websocket\r\n"),                                           // no accept
        response("Upgrade: websocket\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n"),  // wrong
        response("Upgrade: websocket\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),             // two lines
    };
    for (const std::string& c : refused) {
        parsed r{c, http_parser::type::response};
        ASSERT_TRUE(r.ok) << c;
        EXPECT_FALSE(ringlb::switch_accepted(req.p, r.p, "websocket")) << c;
    }
    // Another protocol has no accept to check: offered and named is enough.
    parsed other_req{request("Upgrade: foo/2\r\nConnection: upgrade\r\n")};
    parsed other{response("Upgrade: FOO/2\r\n"), http_parser::type::response};
    ASSERT_TRUE(other_req.ok);
    ASSERT_TRUE(other.ok);
    EXPECT_TRUE(ringlb::switch_accepted(other_req.p, other.p, "foo/2"));
    EXPECT_FALSE(ringlb::switch_accepted(other_req.p, other.p, "bar"));
}

}  // namespace
