// The worker's backend connection pool, over real loopback sockets: LIFO reuse, the cap a
// return is checked against, expiry, the liveness probe after 200 ms idle, a changed
// address, and the sweep that drops pools of backends that are gone.
#include "ringlb/upstream.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;
using ringlb::steady_clock;

// A listener on 127.0.0.1 whose accepted sockets the test holds (or closes).
class loopback_server {
public:
    explicit loopback_server(asio::io_context& ctx)
        : io{ctx}, acceptor{ctx, {asio::ip::make_address("127.0.0.1"), 0}} {}

    asio::io_context& io;
    tcp::acceptor acceptor;
    std::vector<tcp::socket> accepted;

    tcp::endpoint endpoint() const { return acceptor.local_endpoint(); }
    // A connected pair: the pool's side, and ours (kept in `accepted`).
    std::unique_ptr<ringlb::upstream_conn> connect() {
        auto c = std::make_unique<ringlb::upstream_conn>(io.get_executor(), endpoint());
        c->socket.connect(endpoint());
        accepted.push_back(acceptor.accept());
        return c;
    }
};

// Whether the peer of `s` closed it: waits up to 2 s for it to become readable, then peeks
// for end-of-stream. Never blocks past the deadline, so a connection left open fails the
// test instead of hanging it.
bool peer_closed(tcp::socket& s) {
    pollfd p{s.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return false;
    char c;
    return ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

ringlb::backend make_backend(const std::string& id, const tcp::endpoint& at) {
    auto totals = std::make_shared<ringlb::load_totals>();
    return {id, at, 1, std::make_shared<ringlb::backend_state>(id, totals)};
}

class UpstreamPool : public ::testing::Test {
protected:
    asio::io_context io{1};
    loopback_server server{io};
    ringlb::backend b = make_backend("app-1", server.endpoint());
    ringlb::upstream_pool pool;
    steady_clock::time_point t0 = steady_clock::now();
};

TEST_F(UpstreamPool, EmptyPoolGivesNothing) {
    EXPECT_EQ(pool.take(b, t0, 60s), nullptr);
    EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(UpstreamPool, ReturnsTheMostRecentlyUsedFirst) {
    auto a = server.connect();
    auto c = server.connect();
    const auto* a_ptr = a.get();
    const auto* c_ptr = c.get();
    pool.give(b, std::move(a), t0, 8);
    pool.give(b, std::move(c), t0 + 1ms, 8);
    EXPECT_EQ(pool.idle_count(), 2u);
    EXPECT_EQ(pool.take(b, t0 + 2ms, 60s).get(), c_ptr);
    EXPECT_EQ(pool.take(b, t0 + 2ms, 60s).get(), a_ptr);
    EXPECT_EQ(pool.take(b, t0 + 2ms, 60s), nullptr);
}

TEST_F(UpstreamPool, AReturnToAFullPoolClosesTheConnection) {
    for (int i = 0; i < 3; ++i) pool.give(b, server.connect(), t0, 2);
    EXPECT_EQ(pool.idle_count(), 2u);
    EXPECT_TRUE(peer_closed(server.accepted[2]));  // the third was closed
    pool.give(b, server.connect(), t0, 0);         // 0 keeps nothing beyond what is there
    EXPECT_EQ(pool.idle_count(), 2u);
}

TEST_F(UpstreamPool, ConnectionsIdleTooLongAreNotReused) {
    pool.give(b, server.connect(), t0, 8);
    EXPECT_EQ(pool.take(b, t0 + 61s, 60s), nullptr);
    EXPECT_EQ(pool.idle_count(), 0u);  // and dropped on the way
}

TEST_F(UpstreamPool, AfterTwoHundredMillisecondsAClosedConnectionIsDetected) {
    pool.give(b, server.connect(), t0, 8);
    server.accepted[0].close();  // the backend's keep-alive timeout closed it
    // Reused at once it is not probed (a backend cannot have closed it in microseconds);
    // idle for 200 ms it is, and the probe sees the close.
    auto fresh = pool.take(b, t0 + 1ms, 60s);
    ASSERT_NE(fresh, nullptr);
    pool.give(b, std::move(fresh), t0, 8);
    EXPECT_EQ(pool.take(b, t0 + 250ms, 60s), nullptr);
}

TEST_F(UpstreamPool, AnOpenConnectionPassesTheProbe) {
    pool.give(b, server.connect(), t0, 8);
    EXPECT_NE(pool.take(b, t0 + 250ms, 60s), nullptr);
}

TEST_F(UpstreamPool, ABackendThatMovedGetsNoConnectionToItsOldAddress) {
    pool.give(b, server.connect(), t0, 8);
    loopback_server elsewhere{io};
    ringlb::backend moved = b;  // same id and state, new address (a reload)
    moved.address = elsewhere.endpoint();
    EXPECT_EQ(pool.take(moved, t0 + 1ms, 60s), nullptr);
}

TEST_F(UpstreamPool, SweepClosesExpiredConnectionsAndForgetsBackendsThatAreGone) {
    pool.give(b, server.connect(), t0, 8);
    pool.give(b, server.connect(), t0 + 50s, 8);
    pool.sweep(t0 + 61s, 60s);
    EXPECT_EQ(pool.idle_count(), 1u);  // the older one expired
    b.state.reset();                   // the backend left every snapshot
    pool.sweep(t0 + 62s, 60s);
    EXPECT_EQ(pool.idle_count(), 0u);
}

}  // namespace
