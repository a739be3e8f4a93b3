// ringlb/proxy/tunnel.hpp: the bytes of a connection that switched protocols, both ways.
//
//   auto w = wd.watch_backend(conn->socket);   // the watchdog may cut either side
//   const tunnel_totals t = co_await relay_tunnel(client, conn->socket, wd, tunnel_timeout,
//                                                 worker.buffers(), std::move(client_leftover));
//
// After a 101 (a WebSocket handshake, or another protocol on [server] upgrade), ringlb no
// longer speaks HTTP on the connection: it copies what the client sends to the backend and
// what the backend sends to the client, each direction a read and a write at a time, so a
// side that stops reading stops the other side's reads (TCP pushes back; nothing piles up
// in ringlb). A direction waits for bytes holding no buffer and takes a pooled one only to
// move them (one epoll_ctl per wait, asio's price for a buffer-less wait): most WebSockets
// are idle most of the time, and an idle tunnel then costs its session, not 32 KiB. An end
// of stream from one side half-closes the other (the remaining direction goes on until its
// own end); a reset or error on either side ends both. The tunnel has its own idle timeout:
// when no byte has moved either way for `idle`, the watchdog cuts it (moving the deadline
// costs a clock read per transfer). It returns once both directions are over; the caller
// then closes both sockets.
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
#include "ringlb/lb/backend_state.hpp"
#include "ringlb/proxy/client_stream.hpp"
#include "ringlb/proxy/watchdog.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

namespace ringlb {

/// An open tunnel as its worker sees it: what the worker checks when placement changes (is
/// the key still where it was?) and how it ends the tunnel (the session's watchdog). It
/// lives in the session's coroutine frame, registered for as long as the tunnel runs
/// (worker::tunnel_opened / tunnel_closed).
struct tunnel_entry {
    std::optional<std::uint64_t> key_hash;       ///< none: a keyless request
    std::weak_ptr<const backend_state> backend;  ///< the backend it is connected to
    /// Where the key belonged when the tunnel opened (routing_snapshot::settled_owner): a
    /// tunnel placed elsewhere for a passing reason (load, back-off, failover) is not moved
    /// while the key's home stays where it was.
    std::weak_ptr<const backend_state> home;
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
    bool failed = false;           ///< ended by an exception (out of memory)
};

/// Relays both ways until both directions ended (see above), with buffers from `pool`.
/// `to_backend_first` (may be null) holds what the client sent after its handshake: it
/// goes to the backend first, while the other direction already reads.
[[nodiscard]] asio::awaitable<tunnel_totals> relay_tunnel(client_stream& client, asio::ip::tcp::socket& backend,
                                                          watchdog& wd, std::chrono::milliseconds idle,
                                                          buffer_pool& pool,
                                                          std::unique_ptr<buffer> to_backend_first);

}  // namespace ringlb
