// ringlb/proxy/worker.hpp: one worker thread: an io_context, a SO_REUSEPORT listener, its sessions.
//
//   ringlb::worker w{0, workers, bundle, log.get()};
//   w.listen(address);                         // control thread, before run(); throws
//   std::thread t{[&] { w.run(); }};
//   w.publish(new_bundle);                     // any thread: reload
//   w.drain(std::chrono::seconds{10});         // any thread: graceful stop
//   t.join();
//
// Each worker accepts on its own SO_REUSEPORT socket (the kernel spreads connections), and
// everything a connection touches afterwards (session, parser, buffers, backend pool,
// access log buffer) belongs to this thread: nothing is shared with other workers except
// the immutable bundle (proxy/bundle.hpp) and the per-backend atomics.
//
// Thread-safety: publish(), drain() and applied_generation() may be called from any thread
// (the first two asio::post to the worker); every other member is for the worker's own thread.
#pragma once

#include "ringlb/common/buffer.hpp"
#include "ringlb/http/parser.hpp"
#include "ringlb/metrics/shards.hpp"
#include "ringlb/proxy/access_log.hpp"
#include "ringlb/proxy/bundle.hpp"
#include "ringlb/proxy/parking_lot.hpp"
#include "ringlb/proxy/tunnel.hpp"
#include "ringlb/proxy/upstream.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <cstddef>
#include <memory>

namespace ringlb {

class session;

/// A worker-local handle on a bundle: requests copy this shared_ptr, whose count only this
/// worker touches, instead of the global one all workers would contend on.
struct local_bundle {
    std::shared_ptr<const bundle> b;
};
using local_bundle_ptr = std::shared_ptr<const local_bundle>;

class worker {
public:
    worker(unsigned index, unsigned worker_count, std::shared_ptr<const bundle> initial, access_log* log);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    /// Opens the SO_REUSEPORT listener. Throws asio::system_error (address in use, ...).
    void listen(const asio::ip::tcp::endpoint& at);
    /// Runs the event loop until the worker has drained. The thread's body.
    void run();
    /// Makes `b` the bundle for requests that start from now on. Any thread.
    void publish(std::shared_ptr<const bundle> b);
    /// The generation of the last bundle this worker applied. Any thread.
    [[nodiscard]] std::uint64_t applied_generation() const noexcept {
        return applied_generation_.load(std::memory_order_relaxed);
    }
    /// Stops accepting, closes idle connections, lets active requests finish, and stops
    /// the loop once they have or `grace` has passed. Any thread.
    void drain(steady_clock::duration grace);

    /// This worker's proxy metrics: written by the worker, read by the admin listener at
    /// scrape time (metrics/counter.hpp). Any thread may read.
    [[nodiscard]] const metrics::proxy_shard& metrics() const noexcept { return metrics_; }

    // --- for sessions (worker thread only) ---
    [[nodiscard]] asio::io_context& io() noexcept { return io_; }
    /// The worker's number, 0..workers-1: the metric shard it writes.
    [[nodiscard]] unsigned index() const noexcept { return index_; }
    [[nodiscard]] metrics::proxy_shard& counters() noexcept { return metrics_; }
    [[nodiscard]] const local_bundle_ptr& current() const noexcept { return current_; }
    /// The generation of the bundle this worker runs on (the last one it applied).
    [[nodiscard]] std::uint64_t generation() const noexcept { return current_->b->generation; }
    [[nodiscard]] buffer_pool& buffers() noexcept { return buffers_; }
    [[nodiscard]] object_pool<http_parser>& request_parsers() noexcept { return request_parsers_; }
    [[nodiscard]] object_pool<http_parser>& response_parsers() noexcept { return response_parsers_; }
    [[nodiscard]] upstream_pool& upstreams() noexcept { return upstreams_; }
    [[nodiscard]] keyless_state& keyless() noexcept { return keyless_; }
    [[nodiscard]] bool draining() const noexcept { return draining_; }
    /// Open client connections on this worker: served by a session or parked.
    [[nodiscard]] std::size_t connections() const noexcept { return session_count_ + lot_.size(); }
    /// Hands an idle connection to the parking lot (parking_lot.hpp): its descriptor, and for
    /// TLS its OpenSSL state; to be closed after `idle_left` unless a request comes. False:
    /// the session keeps it, as it was.
    bool park(client_stream& c, steady_clock::duration idle_left);
    /// Records an access-log entry (no-op when the log is off).
    void log(const access_entry& e);
    [[nodiscard]] bool logging() const noexcept { return log_.enabled(); }
    void session_opened(session* s) noexcept;
    void session_closed(session* s) noexcept;
    /// A tunnel starts or ends (tunnel.hpp): the worker watches whether its key moves.
    void tunnel_opened(tunnel_entry& t) noexcept;
    void tunnel_closed(tunnel_entry& t) noexcept;

private:
    void start_accepting();
    void accept_next();
    void on_accept(const asio::error_code& ec, asio::ip::tcp::socket sock);
    [[nodiscard]] std::size_t connection_limit() const noexcept;
    void arm_sweep();
    void finish_if_drained();
    void resume(int fd, bool v6, std::unique_ptr<tls_held> tls) noexcept;
    void arm_tunnel_sweep();
    void sweep_tunnels();
    void connections_changed() noexcept;

    // Declaration order is destruction order in reverse: sockets and timers go first,
    // then the io_context (destroying suspended sessions, which return buffers to the pools
    // and unlink themselves), then the pools and the list they use.
    unsigned index_;
    unsigned worker_count_;
    local_bundle_ptr current_;
    std::atomic<std::uint64_t> applied_generation_;  // current_'s, for other threads
    buffer_pool buffers_;
    object_pool<http_parser> request_parsers_;
    object_pool<http_parser> response_parsers_;
    keyless_state keyless_;
    metrics::proxy_shard metrics_;
    access_log_writer log_;
    bool log_timer_armed_ = false;
    session* sessions_ = nullptr;  // intrusive list of open sessions
    std::size_t session_count_ = 0;
    tunnel_entry* tunnels_ = nullptr;  // intrusive list of open tunnels
    bool tunnel_sweep_armed_ = false;
    bool accept_paused_ = false;  // at max_connections
    bool draining_ = false;
    bool finished_ = false;
    asio::io_context io_;
    upstream_pool upstreams_{io_};
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;  // accept back-off on EMFILE
    asio::steady_timer sweep_timer_;  // backend pool expiry
    asio::steady_timer grace_timer_;  // shutdown deadline
    asio::steady_timer log_timer_;    // access log flush
    asio::steady_timer tunnel_timer_;  // tunnels whose key moved
    parking_lot lot_;                 // idle connections without a session
};

}  // namespace ringlb
