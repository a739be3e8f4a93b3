#include "ringlb/proxy/tunnel.hpp"

#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <exception>
#include <memory>

// GCC 12 misreports asio's coroutine frame operator delete as mismatched with its operator
// new (a known false positive); the frames are allocated and freed by asio's own pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb {

namespace {

using asio::ip::tcp;

inline auto use_ec(asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

// The two kinds of end, and the two kinds of side. The client side is a client_stream (a
// TLS stream one day), the backend side a socket.
enum class pump_end : std::uint8_t { eof, failed };

void half_close(client_stream& s) noexcept {
    s.shutdown_send();
}
void half_close(tcp::socket& s) noexcept {
    asio::error_code ignored;
    s.shutdown(tcp::socket::shutdown_send, ignored);
}
auto write_all(client_stream& s, asio::const_buffer b, asio::error_code& ec) {
    return s.async_write(b, use_ec(ec));
}
auto write_all(tcp::socket& s, asio::const_buffer b, asio::error_code& ec) {
    return asio::async_write(s, b, use_ec(ec));
}

// One direction: what `from` sends goes to `to`, until `from` ends (then `to` is
// half-closed) or either side fails.
template <class From, class To>
asio::awaitable<pump_end> pump(From& from, To& to, buffer& buf, watchdog& wd, std::chrono::milliseconds idle,
                               std::uint64_t& bytes) {
    asio::error_code ec;
    for (;;) {
        buf.clear();
        const std::span<char> space = buf.writable();
        const std::size_t n =
            co_await from.async_read_some(asio::buffer(space.data(), space.size()), use_ec(ec));
        // A read that completed as the deadline passed is still cut: the deadline was for
        // the whole tunnel's silence, and the other side has been cancelled already.
        if (wd.expired()) co_return pump_end::failed;
        if (ec == asio::error::eof) {
            half_close(to);
            co_return pump_end::eof;
        }
        if (ec) co_return pump_end::failed;
        wd.arm(watchdog::phase::tunnel, idle);
        co_await write_all(to, asio::const_buffer{space.data(), n}, ec);
        if (ec || wd.expired()) co_return pump_end::failed;
        bytes += n;
        wd.arm(watchdog::phase::tunnel, idle);
    }
}

// Ends both directions: whatever either side has pending completes with an error.
void cut(client_stream& client, tcp::socket& backend) noexcept {
    client.cancel();
    asio::error_code ignored;
    backend.cancel(ignored);
}

// What the direction from the backend tells the one from the client when it is over.
struct join_state {
    explicit join_state(const asio::any_io_executor& ex)
        : signal{ex, asio::steady_timer::time_point::max()} {}
    asio::steady_timer signal;  // cancelled when the other direction is over
    bool over = false;
};

}  // namespace

asio::awaitable<tunnel_totals> relay_tunnel(client_stream& client, tcp::socket& backend, watchdog& wd,
                                            std::chrono::milliseconds idle, buffer& up, buffer& down) {
    tunnel_totals totals;
    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    auto join = std::make_shared<join_state>(ex);
    wd.arm(watchdog::phase::tunnel, idle);

    // From the backend, as a coroutine of its own; it ends before this function returns (the
    // join below), so the references it holds stay valid.
    asio::co_spawn(
        ex,
        [&client, &backend, &wd, &down, &totals, idle]() -> asio::awaitable<void> {
            if (co_await pump(backend, client, down, wd, idle, totals.to_client) == pump_end::failed)
                cut(client, backend);
        },
        [join](std::exception_ptr) {
            join->over = true;
            join->signal.cancel();
        });

    // From the client, here.
    if (co_await pump(client, backend, up, wd, idle, totals.to_backend) == pump_end::failed)
        cut(client, backend);
    if (!join->over) {
        asio::error_code ignored;
        co_await join->signal.async_wait(use_ec(ignored));
    }
    totals.timed_out = wd.timed_out() == watchdog::phase::tunnel;
    wd.disarm();
    co_return totals;
}

}  // namespace ringlb
