#include "ringlb/proxy/body_pump.hpp"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

// GCC 12 misreports asio's coroutine frame operator delete as mismatched with its operator
// new (a known false positive); the frames are allocated and freed by asio's own pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb {

namespace {

inline auto use_ec(asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

inline asio::mutable_buffer space(buffer& b) noexcept {
    const std::span<char> w = b.writable();
    return {w.data(), w.size()};
}

// A small first part of the body joins the head, so the usual response is one buffer and
// one send(); a large one is not worth the copy.
constexpr std::size_t join_body_below = 4096;

}  // namespace

// Not coroutines: each returns asio's awaitable for the one- or two-buffer form, with no
// frame of its own. One buffer goes out with send(); two need sendmsg(), which also copies
// an iovec array in, so an empty second part is left out.
asio::awaitable<std::size_t> write_parts(client_stream& s, const std::array<asio::const_buffer, 2>& parts,
                                         asio::error_code& ec) {
    if (parts[1].size() == 0) return s.async_write(parts[0], use_ec(ec));
    return s.async_write(parts, use_ec(ec));
}

asio::awaitable<std::size_t> write_parts(asio::ip::tcp::socket& s,
                                         const std::array<asio::const_buffer, 2>& parts,
                                         asio::error_code& ec) {
    if (parts[1].size() == 0) return asio::async_write(s, parts[0], use_ec(ec));
    return asio::async_write(s, parts, use_ec(ec));
}

asio::awaitable<std::size_t> write_parts(asio::ip::tcp::socket& s,
                                         const std::array<asio::const_buffer, 3>& parts,
                                         asio::error_code& ec) {
    return asio::async_write(s, parts, use_ec(ec));
}

asio::awaitable<request_pump> pump_request_body(client_stream& client, buffer& in, http_parser& req,
                                                upstream_conn& conn, watchdog& wd,
                                                const proxy_settings& settings, std::size_t& end) {
    asio::error_code ec;
    in.clear();  // everything it held was sent with the head
    for (;;) {
        wd.arm(watchdog::phase::client_io, settings.timeouts.idle);
        const std::size_t n = co_await client.async_read_some(space(in), use_ec(ec));
        // An operation that completed as its deadline passed counts as timed out: the cancel
        // could not stop it (watchdog.hpp), and a peer that times its bytes to the deadline
        // must not escape it.
        if (wd.expired()) co_return request_pump::client_timeout;
        if (ec) co_return request_pump::client_gone;
        in.commit(n);
        const auto r = req.feed(in.data(), in.size());
        if (r.what == http_parser::event::error) co_return request_pump::client_malformed;
        if (req.bounded_bytes() > settings.limits.max_body_bytes) co_return request_pump::client_too_large;
        wd.arm(watchdog::phase::backend, settings.timeouts.backend_response);
        co_await asio::async_write(conn.socket, asio::buffer(in.data(), r.consumed), use_ec(ec));
        if (wd.expired()) co_return request_pump::backend_timeout;
        if (ec) co_return request_pump::backend_failed;
        if (r.what == http_parser::event::message_complete) {
            end = r.consumed;  // pipelined bytes of the next request may follow
            co_return request_pump::done;
        }
        in.clear();
    }
}

bool relay_begin(http_parser& resp, buffer& rb, std::size_t head_end, std::string& head,
                 relay_state& st) noexcept {
    st.last = resp.feed(rb.data() + head_end, rb.size() - head_end);
    if (st.last.consumed < join_body_below) {
        head.append(rb.data() + head_end, st.last.consumed);
        st.chunk = {asio::buffer(head), asio::const_buffer{}};
    } else {
        st.chunk = {asio::buffer(head), asio::buffer(rb.data() + head_end, st.last.consumed)};
    }
    st.leftover = rb.size() - head_end - st.last.consumed;
    return st.last.what == http_parser::event::message_complete;
}

void relay_done(const http_parser& resp, relay_state& st) noexcept {
    // Bytes after the response's end belong to no request: the connection is out of step.
    st.backend_reusable = st.leftover == 0 && resp.keep_alive();
}

asio::awaitable<response_relay> relay_response(client_stream& client, upstream_conn& conn, http_parser& resp,
                                               buffer& rb, watchdog& wd, const proxy_settings& settings,
                                               in_flight_guard& load, relay_state& st) {
    asio::error_code ec;
    for (;;) {
        if (st.last.what == http_parser::event::error) {
            // Broken framing mid-response: the client gets what was valid, then the close.
            wd.arm(watchdog::phase::client_io, settings.timeouts.idle);
            st.bytes += co_await write_parts(client, st.chunk, ec);
            co_return response_relay::backend_malformed;
        }
        // The backend's part is over once its response is complete: release the load count
        // before the last write, so a client's next request (maybe on another worker) never
        // sees this one still in flight and spills its key under bounded loads.
        const bool complete = st.last.what == http_parser::event::message_complete;
        if (complete) load.reset();
        wd.arm(watchdog::phase::client_io, settings.timeouts.idle);
        st.bytes += co_await write_parts(client, st.chunk, ec);
        if (ec || wd.expired()) co_return response_relay::client_gone;
        if (complete) break;
        rb.clear();
        wd.arm(watchdog::phase::backend, settings.timeouts.backend_response);
        const std::size_t n = co_await conn.async_read_some(space(rb), use_ec(ec));
        if (!ec && wd.expired()) co_return response_relay::backend_truncated;
        if (ec) {
            if (ec == asio::error::eof && resp.finish()) {  // a body delimited by the close
                wd.disarm();
                st.backend_reusable = false;
                co_return response_relay::done;
            }
            co_return response_relay::backend_truncated;
        }
        rb.commit(n);
        st.last = resp.feed(rb.data(), rb.size());
        st.chunk = {asio::buffer(rb.data(), st.last.consumed), asio::const_buffer{}};
        st.leftover = rb.size() - st.last.consumed;
    }
    wd.disarm();
    relay_done(resp, st);
    co_return response_relay::done;
}

}  // namespace ringlb
