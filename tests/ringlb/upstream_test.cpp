// The worker's backend connection pool, over real loopback sockets: LIFO reuse, the cap a
// return is checked against, expiry, the standing read that catches anything a backend
// sends to a pooled connection and becomes the next exchange's first read, a changed
// address, and the sweep that drops pools of backends that are gone.
#include "ringlb/proxy/upstream.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;
using ringlb::conn_ref;
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
    ringlb::conn_ref connect() {
        auto c = ringlb::upstream_conn::open(io.get_executor(), endpoint());
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

// Whether `s` has bytes to read within 2 s.
bool wait_readable(tcp::socket& s) {
    pollfd p{s.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 2000) == 1;
}

ringlb::backend make_backend(const std::string& id) {
    auto totals = std::make_shared<ringlb::load_totals>();
    return {id, 1, std::make_shared<ringlb::backend_state>(id, totals), {}};
}

class UpstreamPool : public ::testing::Test {
protected:
    // Runs until at least one handler ran, then whatever else is ready (the pool's settling
    // handler among them), even after the context ran out of work once.
    void run_one() {
        io.restart();
        io.run_one();
        io.poll();
    }

    // Pools a connection whose backend has already closed it, the end of stream waiting
    // in the socket: the standing read's first recv meets it, its completion not yet run.
    void pool_a_closed_connection() {
        auto c = server.connect();
        server.accepted[0].close();
        ASSERT_TRUE(wait_readable(c->socket));
        pool.give(b, std::move(c), t0, 8);
    }

    // One read of a response through a connection; `ec` is would_block until it completes.
    struct read_result {
        std::vector<char> buf = std::vector<char>(16384);
        asio::error_code ec = asio::error::would_block;
        std::string got;
    };
    static void start_read(const conn_ref& c, read_result& r) {
        r.ec = asio::error::would_block;
        c->async_read_some(asio::buffer(r.buf), [&r](const asio::error_code& ec, std::size_t n) {
            r.ec = ec;
            r.got.assign(r.buf.data(), n);
        });
    }

    asio::io_context io{1};
    loopback_server server{io};
    ringlb::backend b = make_backend("app-1");
    ringlb::upstream_pool pool{io};
    steady_clock::time_point t0 = steady_clock::now();
};

TEST_F(UpstreamPool, EmptyPoolGivesNothing) {
    EXPECT_EQ(pool.take(b, server.endpoint(), t0, 60s, true), nullptr);
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
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 2ms, 60s, true).get(), c_ptr);
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 2ms, 60s, true).get(), a_ptr);
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 2ms, 60s, true), nullptr);
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
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 61s, 60s, true), nullptr);
    EXPECT_EQ(pool.idle_count(), 0u);  // and dropped on the way
    EXPECT_TRUE(peer_closed(server.accepted[0]));
}

TEST_F(UpstreamPool, ABackendThatClosesAPooledConnectionIsSeenAtOnce) {
    pool.give(b, server.connect(), t0, 8);
    server.accepted[0].close();  // the backend's keep-alive timeout closed it
    run_one();                   // the standing read completes with the end of stream
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 1ms, 60s, true), nullptr);
}

TEST_F(UpstreamPool, BytesNobodyAskedForMakeAPooledConnectionUnusable) {
    pool.give(b, server.connect(), t0, 8);
    asio::write(server.accepted[0],
                asio::buffer(std::string{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}));
    run_one();
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 1ms, 60s, true), nullptr);
    EXPECT_TRUE(peer_closed(server.accepted[0]));  // closed, not kept
}

TEST_F(UpstreamPool, StrayBytesWhoseCompletionHasNotRunAreSeenByTake) {
    // The bytes are there when the connection is pooled, so the standing read's first,
    // speculative recv takes them at once; its completion is queued but has not run.
    auto c = server.connect();
    asio::write(server.accepted[0], asio::buffer(std::string{"late body"}));
    ASSERT_TRUE(wait_readable(c->socket));
    pool.give(b, std::move(c), t0, 8);
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 1ms, 60s, true), nullptr);
}

TEST_F(UpstreamPool, AnEndOfStreamThereWhenPooledIsSeenBeforeARequestThatMustNotBeReplayed) {
    // The backend closed right after its answer: the standing read's first recv meets the
    // end of stream at once, but its completion has not run when the next request (a
    // pipelined one, say) takes the connection in the same turn.
    pool_a_closed_connection();
    EXPECT_EQ(pool.take(b, server.endpoint(), t0 + 1ms, 60s, false), nullptr) << "a POST asks the socket";
    EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(UpstreamPool, AReplayableRequestTakesAnUnsettledConnectionWithoutASystemCall) {
    // The other side of the trade: a GET takes it as it is (and, were it dead, would cost
    // one retry on a fresh connection; failure_policy).
    pool_a_closed_connection();
    EXPECT_NE(pool.take(b, server.endpoint(), t0 + 1ms, 60s, true), nullptr);
}

TEST_F(UpstreamPool, AConnectionPooledWhileTheSettlingHandlerWaitsIsNotTakenForSettled) {
    // The settling handler P is queued by the first give (a live connection, `a`). Before
    // P runs, another handler pools `b`, whose end of stream completes its standing read at
    // once: that completion is queued behind P, and behind the request R that handler
    // queued first. P runs, then R takes a connection for a POST: `b` is not settled yet, so
    // the POST asks the socket, and gets `a`.
    conn_ref taken;
    bool took = false;
    asio::post(io, [&] {
        asio::post(io, [&] {  // R
            taken = pool.take(b, server.endpoint(), t0 + 1ms, 60s, false);
            took = true;
        });
        auto dead = server.connect();
        server.accepted.back().close();
        ASSERT_TRUE(wait_readable(dead->socket));
        pool.give(b, std::move(dead), t0, 8);
    });
    auto a = server.connect();
    const auto* a_ptr = a.get();
    pool.give(b, std::move(a), t0, 8);  // queues P
    io.restart();
    for (int i = 0; i < 100 && !took; ++i) io.run_one_for(100ms);
    EXPECT_EQ(taken.get(), a_ptr);
}

TEST_F(UpstreamPool, AWatchdogCancelWhileTheRequestIsWrittenLosesNothing) {
    pool.give(b, server.connect(), t0, 8);
    conn_ref c = pool.take(b, server.endpoint(), t0 + 1ms, 60s, true);
    ASSERT_NE(c, nullptr);
    asio::error_code ignored;
    c->socket.cancel(ignored);  // as the watchdog does, before the exchange reads
    run_one();
    read_result r;
    start_read(c, r);
    asio::write(server.accepted[0], asio::buffer(std::string{"late answer"}));
    run_one();
    EXPECT_FALSE(r.ec) << r.ec.message() << ": the stale abort must not be the answer";
    EXPECT_EQ(r.got, "late answer");
}

TEST_F(UpstreamPool, AnAnswerLargerThanTheLandingArrayArrivesAsOneRead) {
    pool.give(b, server.connect(), t0, 8);
    conn_ref c = pool.take(b, server.endpoint(), t0 + 1ms, 60s, true);
    ASSERT_NE(c, nullptr);
    const std::string answer(5000, 'a');
    read_result r;
    start_read(c, r);
    asio::write(server.accepted[0], asio::buffer(answer));
    ASSERT_TRUE(wait_readable(c->socket));
    run_one();
    EXPECT_EQ(r.got, answer);
}

TEST_F(UpstreamPool, AResetRightAfterAFullLandingIsReportedNotTakenForAnEnd) {
    // The answer fills the landing array exactly and the backend resets: the extra recv
    // that looks for more meets the reset, which the kernel reports once. The next read
    // must report it; an end of stream would pass a cut body delimited by the close as
    // complete.
    pool.give(b, server.connect(), t0, 8);
    conn_ref c = pool.take(b, server.endpoint(), t0 + 1ms, 60s, true);
    ASSERT_NE(c, nullptr);
    read_result r;
    start_read(c, r);
    asio::write(server.accepted[0], asio::buffer(std::string(ringlb::upstream_conn::landing_bytes, 'a')));
    const linger reset{1, 0};
    ::setsockopt(server.accepted[0].native_handle(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    server.accepted[0].close();
    pollfd p{c->socket.native_handle(), POLLIN, 0};  // until the reset is there too
    for (int i = 0; i < 200 && (p.revents & (POLLERR | POLLHUP)) == 0; ++i) ::poll(&p, 1, 10);
    ASSERT_NE(p.revents & (POLLERR | POLLHUP), 0);
    run_one();
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.got.size(), ringlb::upstream_conn::landing_bytes);
    start_read(c, r);
    run_one();
    EXPECT_EQ(r.ec, asio::error::connection_reset) << r.ec.message();
}

TEST_F(UpstreamPool, TheStandingReadBecomesTheExchangesFirstRead) {
    pool.give(b, server.connect(), t0, 8);
    conn_ref c = pool.take(b, server.endpoint(), t0 + 1ms, 60s, true);
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->stray());
    read_result r;
    start_read(c, r);
    io.restart();
    io.poll();
    EXPECT_EQ(r.ec, asio::error::would_block);  // nothing yet: the exchange waits
    asio::write(server.accepted[0], asio::buffer(std::string{"HTTP/1.1 204 No Content\r\n\r\n"}));
    run_one();
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.got, "HTTP/1.1 204 No Content\r\n\r\n");
    // Later reads go to the socket.
    asio::write(server.accepted[0], asio::buffer(std::string{"more"}));
    start_read(c, r);
    run_one();
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.got, "more");
}

TEST_F(UpstreamPool, AnAnswerThatLandsBeforeTheExchangeAsksIsKeptForIt) {
    pool.give(b, server.connect(), t0, 8);
    conn_ref c = pool.take(b, server.endpoint(), t0 + 1ms, 60s, true);
    ASSERT_NE(c, nullptr);
    asio::write(server.accepted[0], asio::buffer(std::string{"early"}));
    run_one();  // the standing read completes while the exchange is still writing
    std::vector<char> buf(16384);
    std::string got;
    c->async_read_some(asio::buffer(buf), [&](const asio::error_code& ec, std::size_t n) {
        EXPECT_FALSE(ec);
        got.assign(buf.data(), n);
    });
    run_one();
    EXPECT_EQ(got, "early");
}

TEST_F(UpstreamPool, ABufferSmallerThanTheLandingArrayIsRefused) {
    pool.give(b, server.connect(), t0, 8);
    conn_ref c = pool.take(b, server.endpoint(), t0 + 1ms, 60s, true);
    ASSERT_NE(c, nullptr);
    char small[16];
    asio::error_code got;
    c->async_read_some(asio::buffer(small), [&](const asio::error_code& ec, std::size_t) { got = ec; });
    run_one();
    EXPECT_EQ(got, asio::error::invalid_argument);
}

TEST(UpstreamShutdown, AnExchangeWaitingOnAStandingReadIsFreedWithTheIoContext) {
    // The waiting handler holds the connection (as a waiting exchange's coroutine does) and
    // the connection holds the handler: destroying the io_context must free both, which
    // LeakSanitizer checks in the sanitizer build.
    bool destroyed = false;
    {
        asio::io_context io{1};
        loopback_server server{io};
        ringlb::backend b = make_backend("app-1");
        ringlb::upstream_pool pool{io};
        pool.give(b, server.connect(), steady_clock::now(), 8);
        conn_ref c = pool.take(b, server.endpoint(), steady_clock::now(), 60s, true);
        ASSERT_NE(c, nullptr);
        struct holder {
            conn_ref keep;
            bool* flag;
            holder(conn_ref k, bool* f) : keep{std::move(k)}, flag{f} {}
            holder(holder&& o) noexcept : keep{std::move(o.keep)}, flag{std::exchange(o.flag, nullptr)} {}
            ~holder() {
                if (flag != nullptr) *flag = true;
            }
            void operator()(const asio::error_code&, std::size_t) {}
        };
        static std::vector<char> buf(16384);
        c->async_read_some(asio::buffer(buf), holder{c, &destroyed});
        c.reset();  // only the waiting handler and the standing read hold it now
    }               // io is destroyed last: the pending standing read with it
    EXPECT_TRUE(destroyed);
}

TEST_F(UpstreamPool, ABackendThatMovedGetsNoConnectionToItsOldAddress) {
    pool.give(b, server.connect(), t0, 8);
    loopback_server elsewhere{io};
    // Same id and state, a new address (a reload): no connection to the old one.
    EXPECT_EQ(pool.take(b, elsewhere.endpoint(), t0 + 1ms, 60s, true), nullptr);
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
