// ringlb/upstream.hpp: a worker's keep-alive connections to the backends.
//
//   ringlb::upstream_pool pool;
//   auto conn = pool.take(backend, now, idle_limit);    // a live pooled connection, or null
//   if (!conn) conn = std::make_unique<ringlb::upstream_conn>(io, backend.address); // connect
//   ...
//   pool.give(backend, std::move(conn), now, 1024);     // reusable after the exchange
//
// Pools are per worker, so taking and returning a connection is a vector pop/push with no
// lock. They are keyed by the backend's shared state, which persists across reloads for a
// backend whose id persists; a connection to an address the backend no longer has is
// dropped on take. Before handing out a pooled connection the pool peeks at the socket
// (one non-blocking recv): a backend that closed an idle connection is detected here rather
// than by failing a request on it.
//
// Thread-safety: none; a pool belongs to one worker thread.
#pragma once

#include "ringlb/routing.hpp"

#include <asio/ip/tcp.hpp>

#include <memory>
#include <unordered_map>
#include <vector>

namespace ringlb {

/// One connection to a backend.
struct upstream_conn {
    upstream_conn(asio::any_io_executor ex, const asio::ip::tcp::endpoint& to) : socket{ex}, peer{to} {}
    asio::ip::tcp::socket socket;
    asio::ip::tcp::endpoint peer;
    steady_clock::time_point idle_since{};
    std::uint64_t requests = 0;  ///< exchanges completed on this connection
};

class upstream_pool {
public:
    /// A pooled connection to `b` younger than `max_idle`, or null. One idle for more than
    /// 200 ms is first checked to be still open (a non-blocking MSG_PEEK recv), which also
    /// catches a backend that sent something (a 408) before closing it.
    [[nodiscard]] std::unique_ptr<upstream_conn> take(const backend& b, steady_clock::time_point now,
                                                      steady_clock::duration max_idle);
    /// Keeps `c` for reuse, or closes it when `b` already has `keep` idle connections.
    void give(const backend& b, std::unique_ptr<upstream_conn> c, steady_clock::time_point now,
              std::size_t keep);
    /// Closes connections idle longer than `max_idle` and pools of backends that are gone.
    void sweep(steady_clock::time_point now, steady_clock::duration max_idle);
    /// Closes every pooled connection.
    void clear() { pools_.clear(); }
    [[nodiscard]] std::size_t idle_count() const noexcept;

private:
    struct entry {
        std::shared_ptr<backend_state> state;  // keeps the key's object alive
        std::vector<std::unique_ptr<upstream_conn>> idle;
    };
    std::unordered_map<const backend_state*, entry> pools_;
};

}  // namespace ringlb
