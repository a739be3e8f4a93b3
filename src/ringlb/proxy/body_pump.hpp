// ringlb/proxy/body_pump.hpp: the two body pumps, one per direction, each through one
// bounded buffer.
//
//   // client -> backend: the rest of a request body the first read did not hold
//   auto up = co_await ringlb::pump_request_body(client, in, req, *conn, wd, settings, end);
//   // backend -> client: a response whose head is parsed, to its end
//   auto down = co_await ringlb::relay_response(client, *conn, resp, rb, first, wd, settings, load);
//
// Bodies are forwarded with their original framing (Content-Length or chunked, trailers
// included), never decoded and re-encoded: the parser validates the framing and says where
// the message ends, which is what keeps pipelining and the smuggling defences exact. Memory
// is one buffer per direction whatever the body's size; every read and write runs under
// the watchdog (idle for the client side, backend_response for the backend's).
//
// Thread-safety: none; the session's worker thread.
#pragma once

#include "ringlb/common/buffer.hpp"
#include "ringlb/http/parser.hpp"
#include "ringlb/lb/backend_state.hpp"
#include "ringlb/proxy/bundle.hpp"
#include "ringlb/proxy/client_stream.hpp"
#include "ringlb/proxy/upstream.hpp"
#include "ringlb/proxy/watchdog.hpp"

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace ringlb {

enum class request_pump : std::uint8_t {
    done,              ///< the whole body reached the backend; the next request starts at `end`
    client_malformed,  ///< invalid chunked framing
    client_too_large,  ///< past max_body_bytes
    client_timeout,    ///< the client stopped sending
    client_gone,       ///< the client closed or reset
    backend_failed,    ///< the write to the backend failed (it may have answered early)
    backend_timeout,   ///< the backend took no body for backend_response
};

/// Streams the rest of the request body from `client` to `conn`. `in` held the part already
/// sent; it is reused as the pump's buffer. On done, `end` is where the body ends in `in`.
[[nodiscard]] asio::awaitable<request_pump> pump_request_body(client_stream& client, buffer& in,
                                                              http_parser& req, upstream_conn& conn,
                                                              watchdog& wd, const proxy_settings& settings,
                                                              std::size_t& end);

enum class response_relay : std::uint8_t {
    done,               ///< the whole response reached the client
    client_gone,        ///< the client left or stopped reading (the connection ends)
    backend_truncated,  ///< the backend closed or reset mid-body: the client sees the end
    backend_malformed,  ///< invalid framing mid-body: the client gets what was valid, then the end
};

/// A response relay in progress.
struct relay_state {
    std::uint64_t bytes = 0;                    ///< sent to the client, head included
    bool backend_reusable = false;              ///< the connection ended exactly with the response
    http_parser::result last{};                 ///< the parser's verdict on what `chunk` holds
    std::array<asio::const_buffer, 2> chunk{};  ///< what goes to the client next
    std::size_t leftover = 0;                   ///< bytes after the response's end
};

/// Prepares the first write to the client: `head` (the client's response head, built) with
/// what `rb` holds of the body after `head_end`, joined into one buffer when small. Returns
/// true when that write completes the response (the usual case): the caller writes
/// st.chunk itself and calls relay_done, and no coroutine frame is spent on the relay.
[[nodiscard]] bool relay_begin(http_parser& resp, buffer& rb, std::size_t head_end, std::string& head,
                               relay_state& st) noexcept;
/// After the response's last byte went out: whether the backend connection can be reused.
void relay_done(const http_parser& resp, relay_state& st) noexcept;

/// Writes st.chunk, then streams the rest of the response from `conn`. `load` is released
/// as soon as the backend's part is complete, before the last write.
[[nodiscard]] asio::awaitable<response_relay> relay_response(client_stream& client, upstream_conn& conn,
                                                             http_parser& resp, buffer& rb, watchdog& wd,
                                                             const proxy_settings& settings,
                                                             in_flight_guard& load, relay_state& st);

/// Writes a head and an optional second part, as one send when the second is empty.
[[nodiscard]] asio::awaitable<std::size_t> write_parts(client_stream& s,
                                                       const std::array<asio::const_buffer, 2>& parts,
                                                       asio::error_code& ec);
[[nodiscard]] asio::awaitable<std::size_t> write_parts(asio::ip::tcp::socket& s,
                                                       const std::array<asio::const_buffer, 2>& parts,
                                                       asio::error_code& ec);
/// Three parts, for a head with a header spliced in before its blank line.
[[nodiscard]] asio::awaitable<std::size_t> write_parts(asio::ip::tcp::socket& s,
                                                       const std::array<asio::const_buffer, 3>& parts,
                                                       asio::error_code& ec);

}  // namespace ringlb
