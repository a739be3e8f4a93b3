// The session's watchdog: it cancels what is pending when a deadline passes, says which
// phase timed out, and can only reach a backend socket while that socket's registration
// lives (a registration outlived by a newer one does not clear the newer one).
#include "ringlb/proxy/watchdog.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;
using ringlb::watchdog;

struct fixture {
    asio::io_context io{1};
    tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    std::shared_ptr<int> owner = std::make_shared<int>(0);  // what a pending wait keeps alive
    std::vector<tcp::socket> peers;                         // before `client`, which fills it
    ringlb::client_stream client{connected()};

    // One end of a loopback connection; the other is kept in `peers`.
    tcp::socket connected() {
        tcp::socket s{io};
        s.connect(acceptor.local_endpoint());
        peers.push_back(acceptor.accept());
        return s;
    }
};

TEST(Watchdog, ADeadlineCancelsTheClientAndTheRegisteredBackend) {
    fixture f;
    watchdog wd{f.io, f.client};
    wd.bind(f.owner);
    tcp::socket backend = f.connected();
    auto registration = wd.watch_backend(backend);
    char a[1], b[1];
    asio::error_code client_ec, backend_ec;
    f.client.async_read_some(asio::buffer(a),
                             [&](const asio::error_code& ec, std::size_t) { client_ec = ec; });
    backend.async_read_some(asio::buffer(b),
                            [&](const asio::error_code& ec, std::size_t) { backend_ec = ec; });
    wd.arm(watchdog::phase::backend, 5ms);
    f.io.run_for(2s);
    EXPECT_EQ(wd.timed_out(), watchdog::phase::backend);
    EXPECT_EQ(client_ec, asio::error::operation_aborted);
    EXPECT_EQ(backend_ec, asio::error::operation_aborted);
}

TEST(Watchdog, AReleasedRegistrationIsNeverTouched) {
    fixture f;
    watchdog wd{f.io, f.client};
    wd.bind(f.owner);
    {
        auto backend = std::make_unique<tcp::socket>(f.connected());
        auto registration = wd.watch_backend(*backend);
        registration.release();
        backend.reset();  // freed: the expiry below must not reach it (ASan would say so)
    }
    wd.arm(watchdog::phase::connect, 1ms);
    f.io.run_for(200ms);
    EXPECT_EQ(wd.timed_out(), watchdog::phase::connect);
}

TEST(Watchdog, AnOlderRegistrationDoesNotClearANewerOne) {
    fixture f;
    watchdog wd{f.io, f.client};
    wd.bind(f.owner);
    tcp::socket first = f.connected();
    tcp::socket second = f.connected();
    auto reg = wd.watch_backend(first);
    reg = wd.watch_backend(second);  // the old guard is released after the new one registered
    char b[1];
    asio::error_code second_ec;
    second.async_read_some(asio::buffer(b), [&](const asio::error_code& ec, std::size_t) { second_ec = ec; });
    wd.arm(watchdog::phase::backend, 1ms);
    f.io.run_for(2s);
    EXPECT_EQ(second_ec, asio::error::operation_aborted);
}

TEST(Watchdog, ALaterDeadlineWaitsAndDisarmStopsIt) {
    fixture f;
    watchdog wd{f.io, f.client};
    wd.bind(f.owner);
    wd.arm(watchdog::phase::idle, 1ms);
    wd.arm(watchdog::phase::client_io, 30ms);  // moved later: no expiry at 1 ms
    f.io.run_for(10ms);
    EXPECT_EQ(wd.timed_out(), watchdog::phase::none);
    f.io.restart();
    f.io.run_for(2s);
    EXPECT_EQ(wd.timed_out(), watchdog::phase::client_io);
    wd.arm(watchdog::phase::backend, 1ms);
    wd.disarm();
    f.io.restart();
    f.io.run_for(50ms);
    EXPECT_EQ(wd.timed_out(), watchdog::phase::none);
}

TEST(Watchdog, AWatchdogWhoseOwnerIsGoneArmsNothing) {
    fixture f;
    watchdog wd{f.io, f.client};
    wd.bind(std::weak_ptr<int>{});
    wd.arm(watchdog::phase::idle, 1ms);
    EXPECT_EQ(f.io.run_for(50ms), 0u);  // no timer was started
}

}  // namespace
