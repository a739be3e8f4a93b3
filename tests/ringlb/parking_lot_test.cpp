// The parking lot, over real loopback connections: a parked connection comes back when its
// peer sends (bytes intact, the same connection; many at once; after a half-close), is
// closed at its deadline in deadline order (the peer sees an end of stream), is closed at
// once when its peer resets, and close_all() and stop() let every one go.
#include "ringlb/proxy/parking_lot.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;
using ringlb::parking_lot;
using clock_type = parking_lot::clock;

struct fixture {
    asio::io_context io{1};
    tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    std::vector<int> resumed;
    int closed_calls = 0;
    parking_lot lot{
        io,
        {.resume = [this](int fd, bool, std::unique_ptr<ringlb::tls_held>) { resumed.push_back(fd); }, .closed = [this] { ++closed_calls; }}};

    // A loopback connection: {the peer (the client), the accepted side (to park)}.
    std::pair<tcp::socket, tcp::socket> connection() {
        tcp::socket client{io};
        client.connect(acceptor.local_endpoint());
        return {std::move(client), acceptor.accept()};
    }
    ~fixture() {
        for (int fd : resumed) ::close(fd);
    }
};

TEST(ParkingLot, AParkedConnectionComesBackWhenItsPeerSends) {
    fixture f;
    auto [client, server] = f.connection();
    ASSERT_TRUE(f.lot.park(server, clock_type::now() + 10s));
    EXPECT_FALSE(server.is_open());  // the descriptor belongs to the lot now
    EXPECT_EQ(f.lot.size(), 1u);
    f.io.run_for(50ms);
    EXPECT_TRUE(f.resumed.empty());  // nothing sent yet

    asio::write(client, asio::buffer(std::string_view{"GET / HTTP/1.1\r\n"}));
    for (int i = 0; i < 100 && f.resumed.empty(); ++i) f.io.run_for(10ms);
    ASSERT_EQ(f.resumed.size(), 1u);
    EXPECT_EQ(f.lot.size(), 0u);
    EXPECT_EQ(f.closed_calls, 0);

    // The same connection, its bytes unread: take it back and answer on it.
    tcp::socket back{f.io};
    back.assign(tcp::v4(), f.resumed.front());
    f.resumed.clear();
    std::string got(16, '\0');
    asio::read(back, asio::buffer(got));
    EXPECT_EQ(got, "GET / HTTP/1.1\r\n");
    asio::write(back, asio::buffer(std::string_view{"ok"}));
    std::string answer(2, '\0');
    asio::read(client, asio::buffer(answer));
    EXPECT_EQ(answer, "ok");
}

TEST(ParkingLot, BytesSentBeforeParkingAreNoticed) {
    fixture f;
    auto [client, server] = f.connection();
    asio::write(client, asio::buffer(std::string_view{"x"}));
    ASSERT_TRUE(f.lot.park(server, clock_type::now() + 10s));
    for (int i = 0; i < 100 && f.resumed.empty(); ++i) f.io.run_for(10ms);
    EXPECT_EQ(f.resumed.size(), 1u);
}

// Whether the peer sees the end of stream within `wait` (loopback delivers a FIN at once;
// the wait only absorbs a slow machine).
bool ended(tcp::socket& peer, std::chrono::milliseconds wait = 200ms) {
    peer.non_blocking(true);
    const auto until = clock_type::now() + wait;
    for (;;) {
        char c;
        asio::error_code ec;
        peer.read_some(asio::buffer(&c, 1), ec);
        if (ec == asio::error::eof) return true;
        if (ec != asio::error::would_block || clock_type::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
}

TEST(ParkingLot, DeadlinesCloseInOrderAndThePeerSeesTheEnd) {
    fixture f;
    auto [client1, server1] = f.connection();
    auto [client2, server2] = f.connection();
    const auto now = clock_type::now();
    ASSERT_TRUE(f.lot.park(server1, now + 60ms));
    ASSERT_TRUE(f.lot.park(server2, now + 10s));
    for (int i = 0; i < 500 && f.lot.size() == 2; ++i) f.io.run_for(10ms);
    EXPECT_EQ(f.lot.size(), 1u);  // the first deadline passed, not the second
    EXPECT_EQ(f.closed_calls, 1);
    EXPECT_TRUE(ended(client1));
    EXPECT_FALSE(ended(client2));
    EXPECT_TRUE(f.resumed.empty());
}

TEST(ParkingLot, TheTimerFollowsTheOldestEntryStillParked) {
    // The oldest entry (due in a minute) leaves with bytes; one parked afterwards for 50 ms
    // closes on time, not when the minute is up.
    fixture f;
    auto [client1, server1] = f.connection();
    auto [client2, server2] = f.connection();
    ASSERT_TRUE(f.lot.park(server1, clock_type::now() + 60s));
    f.io.run_for(20ms);
    asio::write(client1, asio::buffer(std::string_view{"x"}));
    for (int i = 0; i < 100 && f.resumed.empty(); ++i) f.io.run_for(10ms);
    ASSERT_EQ(f.resumed.size(), 1u);
    ASSERT_TRUE(f.lot.park(server2, clock_type::now() + 50ms));
    for (int i = 0; i < 500 && f.closed_calls == 0; ++i) f.io.run_for(10ms);
    EXPECT_EQ(f.closed_calls, 1);
    EXPECT_TRUE(ended(client2));
}

TEST(ParkingLot, AShorterTimeoutAfterAReloadClosesNoLaterThanTheOlderEntries) {
    // Deadline order is kept: one parked with a shorter timeout than the entry before it
    // closes with that entry, not before it and not later.
    fixture f;
    auto [client1, server1] = f.connection();
    auto [client2, server2] = f.connection();
    ASSERT_TRUE(f.lot.park(server1, clock_type::now() + 300ms));
    ASSERT_TRUE(f.lot.park(server2, clock_type::now() + 10ms));
    f.io.run_for(100ms);
    EXPECT_FALSE(ended(client2, 0ms));
    for (int i = 0; i < 500 && f.lot.size() > 0; ++i) f.io.run_for(10ms);
    EXPECT_TRUE(ended(client1));
    EXPECT_TRUE(ended(client2));
}

TEST(ParkingLot, ManyReadyAtOnceAreAllServed) {
    // More than one epoll_wait batch (64) becomes ready together; asio reports the lot's
    // descriptor once for them, so the lot must take them all.
    fixture f;
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 150; ++i) {
        auto [client, server] = f.connection();
        ASSERT_TRUE(f.lot.park(server, clock_type::now() + 60s));
        clients.push_back(std::move(client));
    }
    f.io.run_for(20ms);
    for (auto& c : clients) asio::write(c, asio::buffer(std::string_view{"x"}));
    for (int i = 0; i < 200 && f.resumed.size() < clients.size(); ++i) f.io.run_for(10ms);
    EXPECT_EQ(f.resumed.size(), clients.size());
    EXPECT_EQ(f.lot.size(), 0u);
}

TEST(ParkingLot, AHalfCloseAfterARequestIsServed) {
    fixture f;
    auto [client, server] = f.connection();
    ASSERT_TRUE(f.lot.park(server, clock_type::now() + 10s));
    asio::write(client, asio::buffer(std::string_view{"GET / HTTP/1.1\r\n\r\n"}));
    client.shutdown(tcp::socket::shutdown_send);
    for (int i = 0; i < 100 && f.resumed.empty(); ++i) f.io.run_for(10ms);
    EXPECT_EQ(f.resumed.size(), 1u);
    EXPECT_EQ(f.closed_calls, 0);
}

TEST(ParkingLot, APeerThatResetsIsLetGo) {
    fixture f;
    auto [client, server] = f.connection();
    ASSERT_TRUE(f.lot.park(server, clock_type::now() + 10s));
    client.set_option(asio::socket_base::linger(true, 0));  // close sends RST
    client.close();
    for (int i = 0; i < 100 && f.lot.size() == 1; ++i) f.io.run_for(10ms);
    EXPECT_EQ(f.lot.size(), 0u);
    EXPECT_EQ(f.closed_calls, 1);
    EXPECT_TRUE(f.resumed.empty());  // nothing to serve: no session is started for it
}

TEST(ParkingLot, CloseAllAndStopLetEveryOneGo) {
    fixture f;
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 3; ++i) {
        auto [client, server] = f.connection();
        ASSERT_TRUE(f.lot.park(server, clock_type::now() + 10s));
        clients.push_back(std::move(client));
    }
    f.lot.close_all();
    EXPECT_EQ(f.lot.size(), 0u);
    EXPECT_EQ(f.closed_calls, 1);
    for (auto& c : clients) {
        char b;
        asio::error_code ec;
        c.read_some(asio::buffer(&b, 1), ec);
        EXPECT_EQ(ec, asio::error::eof);
    }
    // stop(): the connection is closed, and nothing is left pending, so the loop runs out
    // of work (run() returns instead of waiting for the 10 s deadline).
    auto [client, server] = f.connection();
    ASSERT_TRUE(f.lot.park(server, clock_type::now() + 10s));
    f.lot.stop();
    EXPECT_EQ(f.lot.size(), 0u);
    EXPECT_TRUE(ended(client));
    f.io.restart();
    f.io.run();
    EXPECT_TRUE(f.resumed.empty());
}

TEST(ParkingLot, AClosedSocketIsRefused) {
    fixture f;
    tcp::socket never_opened{f.io};
    EXPECT_FALSE(f.lot.park(never_opened, clock_type::now() + 10s));
    EXPECT_EQ(f.lot.size(), 0u);
}

}  // namespace
