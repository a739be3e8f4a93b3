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
auto wait_readable(client_stream& s, asio::error_code& ec) {
    return s.async_wait_readable(use_ec(ec));
}
auto wait_readable(tcp::socket& s, asio::error_code& ec) {
    return s.async_wait(tcp::socket::wait_read, use_ec(ec));
}
auto write_all(client_stream& s, asio::const_buffer b, asio::error_code& ec) {
    return s.async_write(b, use_ec(ec));
}
auto write_all(tcp::socket& s, asio::const_buffer b, asio::error_code& ec) {
    return asio::async_write(s, b, use_ec(ec));
}

// What both directions share: a flag that ends them (set by the first to fail, or when the
// tunnel is cut), and how the direction from the backend tells the other one it is over.
struct shared_state {
    explicit shared_state(const asio::any_io_executor& ex) : signal{ex, asio::steady_timer::time_point::max()} {}
    asio::steady_timer signal;  // cancelled when the direction from the backend is over
    bool over = false;
    bool stopped = false;
};

// Ends both directions: whatever either side has pending completes with an error, and a
// direction whose completion was already queued stops at its next check.
void cut(shared_state& st, client_stream& client, tcp::socket& backend) noexcept {
    st.stopped = true;
    client.cancel();
    asio::error_code ignored;
    backend.cancel(ignored);
}

// One direction: what `from` sends goes to `to`, until `from` ends (then `to` is
// half-closed) or either side fails. `first` (may be null) goes to `to` before anything is
// read. It waits for bytes holding no buffer, and takes one from the pool only to move
// them: an idle tunnel costs its coroutines, not two buffers.
template <class From, class To>
asio::awaitable<pump_end> pump(From& from, To& to, buffer_pool& pool, watchdog& wd, std::chrono::milliseconds idle,
                               shared_state& st, std::unique_ptr<buffer> first, std::uint64_t& bytes) {
    asio::error_code ec;
    // After every operation: the tunnel cut (the other direction failed, the watchdog
    // expired it: idle timeout or a key that moved), or this operation failed.
    const auto over = [&] { return st.stopped || wd.expired() || static_cast<bool>(ec); };
    if (first && first->size() > 0) {
        co_await write_all(to, asio::const_buffer{first->data(), first->size()}, ec);
        if (over()) co_return pump_end::failed;
        bytes += first->size();
        wd.arm(watchdog::phase::tunnel, idle);
    }
    if (first) {
        first->clear();
        pool.give(std::move(first));
    }
    for (;;) {
        co_await wait_readable(from, ec);
        if (over()) co_return pump_end::failed;
        std::unique_ptr<buffer> buf = pool.take();
        buf->clear();
        const std::span<char> space = buf->writable();
        // The bytes (or the end of stream) are there: this read completes at once.
        const std::size_t n = co_await from.async_read_some(asio::buffer(space.data(), space.size()), use_ec(ec));
        if (ec == asio::error::eof && !st.stopped && !wd.expired()) {
            pool.give(std::move(buf));
            half_close(to);
            co_return pump_end::eof;
        }
        if (over()) co_return pump_end::failed;
        wd.arm(watchdog::phase::tunnel, idle);
        co_await write_all(to, asio::const_buffer{space.data(), n}, ec);
        pool.give(std::move(buf));
        if (over()) co_return pump_end::failed;
        bytes += n;
        wd.arm(watchdog::phase::tunnel, idle);
    }
}

}  // namespace

asio::awaitable<tunnel_totals> relay_tunnel(client_stream& client, tcp::socket& backend, watchdog& wd,
                                            std::chrono::milliseconds idle, buffer_pool& pool,
                                            std::unique_ptr<buffer> to_backend_first) {
    tunnel_totals totals;
    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    auto st = std::make_shared<shared_state>(ex);
    wd.arm(watchdog::phase::tunnel, idle);

    // From the backend, as a coroutine of its own; it ends before this function returns (the
    // join below), so the references it holds stay valid.
    asio::co_spawn(
        ex,
        [&client, &backend, &wd, &pool, &totals, idle, st]() -> asio::awaitable<void> {
            if (co_await pump(backend, client, pool, wd, idle, *st, nullptr, totals.to_client) == pump_end::failed)
                cut(*st, client, backend);
        },
        [st](std::exception_ptr) {
            st->over = true;
            st->signal.cancel();
        });

    // From the client, here, starting with what the client sent after its handshake. If it
    // throws (a frame allocation), the other direction is still cut and joined before the
    // references it holds go.
    bool threw = false;
    try {
        if (co_await pump(client, backend, pool, wd, idle, *st, std::move(to_backend_first), totals.to_backend) ==
            pump_end::failed)
            cut(*st, client, backend);
    } catch (const std::exception&) {
        threw = true;
        cut(*st, client, backend);
    }
    if (!st->over) {
        asio::error_code ignored;
        co_await st->signal.async_wait(use_ec(ignored));
    }
    totals.timed_out = wd.timed_out() == watchdog::phase::tunnel;
    totals.failed = threw;
    wd.disarm();
    co_return totals;
}

}  // namespace ringlb
