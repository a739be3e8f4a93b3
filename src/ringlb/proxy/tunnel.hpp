// ringlb/proxy/tunnel.hpp: the bytes of a connection that switched protocols, both ways.
//
//   auto w = wd.watch_backend(conn->socket);   // the watchdog may cut either side
//   const tunnel_totals t = co_await relay_tunnel(client, conn->socket, wd, settings.timeouts.tunnel,
//                                                 up_buffer, down_buffer);
//
// After a 101 (a WebSocket handshake, or another protocol on [server] upgrade), ringlb no
// longer speaks HTTP on the connection: it copies what the client sends to the backend and
// what the backend sends to the client, each direction a read and a write at a time through
// its own buffer, so a side that stops reading stops the other side's reads (TCP pushes
// back; nothing piles up in ringlb). An end of stream from one side half-closes the other
// (the remaining direction goes on until its own end); a reset or error on either side ends
// both. The tunnel has its own idle timeout: when no byte has moved either way for `idle`,
// the watchdog cuts it (moving the deadline costs a clock read per transfer). It returns once
// both directions are over; the caller then closes both sockets.
//
// When a key changes owner (its backend removed, drained, down, or its owner back from slow
// start), the worker closes the tunnels of that key still on the old owner, each at a moment
// spread over [routing] tunnel_handover, so their clients reconnect to the new owner
// gradually; tunnels whose key did not move stay (worker.cpp: sweep_tunnels).
//
// Thread-safety: none; the session's worker thread. The direction from the backend runs as
// a coroutine of its own on the same thread, joined before relay_tunnel returns.
#pragma once

#include "ringlb/common/buffer.hpp"
#include "ringlb/proxy/client_stream.hpp"
#include "ringlb/proxy/watchdog.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ringlb {

/// An open tunnel as its worker sees it: what the worker checks when placement changes (is
/// `backend` still where the key belongs?) and how it ends the tunnel (the session's
/// watchdog). It lives in the session's coroutine frame, registered for as long as the
/// tunnel runs (worker::tunnel_opened / tunnel_closed).
struct tunnel_entry {
    std::optional<std::uint64_t> key_hash;  ///< none: a keyless request
    std::string backend;                    ///< the id of the backend it is connected to
    watchdog* wd = nullptr;
    std::chrono::steady_clock::time_point close_at = std::chrono::steady_clock::time_point::max();
    bool closing = false;  ///< its end was asked for
    tunnel_entry* prev = nullptr;
    tunnel_entry* next = nullptr;
};

struct tunnel_totals {
    std::uint64_t to_backend = 0;  ///< bytes relayed from the client
    std::uint64_t to_client = 0;   ///< bytes relayed from the backend
    bool timed_out = false;        ///< cut by the idle timeout
};

/// Relays both ways until both directions ended (see above). `up` carries client bytes,
/// `down` backend bytes; both are cleared first.
[[nodiscard]] asio::awaitable<tunnel_totals> relay_tunnel(client_stream& client,
                                                          asio::ip::tcp::socket& backend, watchdog& wd,
                                                          std::chrono::milliseconds idle, buffer& up,
                                                          buffer& down);

}  // namespace ringlb
