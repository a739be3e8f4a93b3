#include "ringlb/proxy/worker.hpp"

#include "ringlb/proxy/session.hpp"

#include <chash/hash.hpp>

#include <asio/post.hpp>

#include <cstdio>

#include <unistd.h>

namespace ringlb {

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Buffers hold a whole request head, so they are sized from max_header_bytes (plus room
// for the start of the body); a reload that raises the limit past it is capped (see
// request_head.cpp: head_limit).
std::size_t buffer_size_for(const proxy_settings& s) {
    return std::max<std::size_t>(16 * 1024, s.limits.max_header_bytes + 1024);
}

std::unique_ptr<buffer> make_buffer(std::size_t n) {
    return std::make_unique<buffer>(n);
}
std::unique_ptr<http_parser> make_request_parser(std::size_t) {
    return std::make_unique<http_parser>(http_parser::type::request);
}
std::unique_ptr<http_parser> make_response_parser(std::size_t) {
    return std::make_unique<http_parser>(http_parser::type::response);
}

constexpr std::size_t max_idle_objects = 256;

}  // namespace

worker::worker(unsigned index, unsigned worker_count, std::shared_ptr<const bundle> initial, access_log* log)
    : index_{index},
      worker_count_{worker_count},
      current_{std::make_shared<const local_bundle>(local_bundle{initial})},
      applied_generation_{initial->generation},
      buffers_{&make_buffer, buffer_size_for(initial->settings), max_idle_objects},
      request_parsers_{&make_request_parser, 0, max_idle_objects},
      response_parsers_{&make_response_parser, 0, max_idle_objects},
      log_{log},
      // Sockets and timers are only touched on this worker's thread (listen() runs before
      // run()), so the reactor's per-descriptor locks can go; the scheduler keeps its lock
      // because publish() and drain() post from other threads.
      io_{ASIO_CONCURRENCY_HINT_UNSAFE_IO},
      acceptor_{io_},
      retry_timer_{io_},
      sweep_timer_{io_},
      grace_timer_{io_},
      log_timer_{io_},
      tunnel_timer_{io_},
      lot_{io_, {.resume = [this](int fd, bool v6, std::unique_ptr<tls_held> tls) { resume(fd, v6, std::move(tls)); },
                 .closed = [this] { connections_changed(); }}} {
    keyless_.rng = chash::mix64(static_cast<std::uint64_t>(index) + 1);  // never 0 (xorshift's fixed point)
    keyless_.cursor = index;  // workers start round-robin at different backends
    keyless_.worker = index;  // its own latency view (peak-ewma)
}

worker::~worker() {
    // Sessions still suspended (grace period expired) are destroyed with io_; they must not
    // touch the acceptor or timers then.
    draining_ = true;
    finished_ = true;
    upstreams_.clear();
}

bool worker::park(client_stream& c, steady_clock::duration idle_left) {
    if (draining_ || !c.parkable()) return false;
    std::unique_ptr<tls_held> tls = c.release_tls();
    if (c.tls()) return false;  // (no memory for the hand-over: the session keeps it)
    if (!lot_.park(c.socket(), steady_clock::now() + idle_left, tls)) {
        c.restore_tls(std::move(tls));
        return false;
    }
    metrics_.parked.set(lot_.size());
    return true;
}

void worker::resume(int fd, bool v6, std::unique_ptr<tls_held> tls) noexcept {
    // The connection's next request (or its close) arrived: a session serves it again. The
    // lot has already counted it out, the new session counts it in.
    asio::ip::tcp::socket s{io_};
    asio::error_code ec;
    s.assign(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, ec);
    if (ec) {
        tls.reset();  // before the descriptor its SSL names is closed
        ::close(fd);
        connections_changed();
        return;
    }
    try {
        if (tls)
            std::make_shared<session>(*this, std::move(s), std::move(tls))->start();
        else
            std::make_shared<session>(*this, std::move(s))->start();
    } catch (const std::bad_alloc&) {
        connections_changed();  // the socket closed with the failed session
    }
    metrics_.parked.set(lot_.size());
}

void worker::listen(const asio::ip::tcp::endpoint& at) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.set_option(reuse_port(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void worker::run() {
    start_accepting();
    arm_sweep();
    io_.run();
    // Drained (or the grace period ran out): whatever is left closes with the io_context.
    log_.flush();
}

void worker::publish(std::shared_ptr<const bundle> b) {
    asio::post(io_, [this, b = std::move(b)]() mutable {
        // Bundles arrive in the order they were published; a newer one already applied
        // (never the case today: one publisher, FIFO posts) would win.
        if (b->generation < current_->b->generation) return;
        applied_generation_.store(b->generation, std::memory_order_relaxed);
        current_ = std::make_shared<const local_bundle>(local_bundle{std::move(b)});
        // max_connections may have changed.
        if (accept_paused_ && connections() < connection_limit()) {
            accept_paused_ = false;
            accept_next();
        }
    });
}

void worker::drain(steady_clock::duration grace) {
    asio::post(io_, [this, grace] {
        if (draining_) return;
        draining_ = true;
        asio::error_code ec;
        acceptor_.close(ec);
        retry_timer_.cancel();
        for (session* s = sessions_; s != nullptr;) {
            session* next = s->next;
            s->drain();
            s = next;
        }
        grace_timer_.expires_after(grace);
        grace_timer_.async_wait([this](const asio::error_code& e) {
            if (!e) io_.stop();  // grace period over: in-flight requests are cut
        });
        lot_.close_all();  // idle: closed now, as idle sessions are
        finish_if_drained();
    });
}

void worker::finish_if_drained() {
    if (!draining_ || connections() != 0 || finished_) return;
    finished_ = true;
    grace_timer_.cancel();
    sweep_timer_.cancel();
    log_timer_.cancel();
    tunnel_timer_.cancel();
    log_.flush();
    upstreams_.clear();
    lot_.stop();
}

std::size_t worker::connection_limit() const noexcept {
    // Each worker has its own listener and accept queue, so the limit is split evenly.
    const std::size_t total = current_->b->settings.limits.max_connections;
    return std::max<std::size_t>(1, (total + worker_count_ - 1) / worker_count_);
}

void worker::start_accepting() {
    accept_next();
}

void worker::accept_next() {
    if (draining_) return;
    if (connections() >= connection_limit()) {
        // Stop accepting: new clients wait in the kernel backlog until a session ends.
        accept_paused_ = true;
        metrics_.accept_pauses.add();
        return;
    }
    acceptor_.async_accept(
        [this](const asio::error_code& ec, asio::ip::tcp::socket sock) { on_accept(ec, std::move(sock)); });
}

void worker::on_accept(const asio::error_code& ec, asio::ip::tcp::socket sock) {
    if (draining_ || ec == asio::error::operation_aborted) return;
    if (ec) {
        // EMFILE/ENFILE: retrying at once would spin; back off briefly.
        std::fprintf(stderr, "ringlb: worker %u: accept: %s\n", index_, ec.message().c_str());
        retry_timer_.expires_after(std::chrono::milliseconds{50});
        retry_timer_.async_wait([this](const asio::error_code& e) {
            if (!e) accept_next();
        });
        return;
    }
    asio::error_code ignored;
    sock.set_option(asio::ip::tcp::no_delay(true), ignored);
    metrics_.accepted.add();
    std::make_shared<session>(*this, std::move(sock), current_->b->tls)->start();
    accept_next();
}

void worker::session_opened(session* s) noexcept {
    s->prev = nullptr;
    s->next = sessions_;
    if (sessions_ != nullptr) sessions_->prev = s;
    sessions_ = s;
    ++session_count_;
    metrics_.open.set(connections());
}

void worker::session_closed(session* s) noexcept {
    if (s->prev != nullptr)
        s->prev->next = s->next;
    else
        sessions_ = s->next;
    if (s->next != nullptr) s->next->prev = s->prev;
    --session_count_;
    connections_changed();
}

void worker::connections_changed() noexcept {
    if (finished_) return;  // drained, or being destroyed (the lot may be gone already)
    metrics_.open.set(connections());
    metrics_.parked.set(lot_.size());
    if (accept_paused_ && connections() < connection_limit()) {
        accept_paused_ = false;
        accept_next();
    }
    finish_if_drained();
}

void worker::log(const access_entry& e) {
    if (!log_.enabled()) return;
    if (log_.append(e)) {
        log_.flush();
        return;
    }
    if (!log_timer_armed_) {
        // Lines reach the log within 100ms even when traffic is light.
        log_timer_armed_ = true;
        log_timer_.expires_after(std::chrono::milliseconds{100});
        log_timer_.async_wait([this](const asio::error_code&) {
            log_timer_armed_ = false;
            log_.flush();
        });
    }
}

void worker::arm_sweep() {
    sweep_timer_.expires_after(std::chrono::seconds{5});
    sweep_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || finished_) return;
        const steady_clock::time_point now = steady_clock::now();
        const bundle& b = *current_->b;
        upstreams_.sweep(now, b.settings.timeouts.idle);
        // Rate-limit slots back to a fresh state are cleared a slice at a time, so every
        // slot is visited at least once a minute whatever the worker count (gcra_table.hpp).
        if (b.limiter) b.limiter->sweep(b.limiter->now_us(now), b.limiter->slots() / 12 + 1);
        arm_sweep();
    });
}

}  // namespace ringlb

namespace ringlb {

void worker::tunnel_opened(tunnel_entry& t) noexcept {
    t.prev = nullptr;
    t.next = tunnels_;
    if (tunnels_ != nullptr) tunnels_->prev = &t;
    tunnels_ = &t;
    metrics_.tunnels.set(metrics_.tunnels.get() + 1);
    arm_tunnel_sweep();
}

void worker::tunnel_closed(tunnel_entry& t) noexcept {
    if (t.prev != nullptr)
        t.prev->next = t.next;
    else
        tunnels_ = t.next;
    if (t.next != nullptr) t.next->prev = t.prev;
    t.prev = t.next = nullptr;
    metrics_.tunnels.set(metrics_.tunnels.get() - 1);
}

void worker::arm_tunnel_sweep() {
    if (tunnel_sweep_armed_ || finished_) return;
    tunnel_sweep_armed_ = true;
    tunnel_timer_.expires_after(std::chrono::seconds{1});
    tunnel_timer_.async_wait([this](const asio::error_code& ec) {
        tunnel_sweep_armed_ = false;
        if (ec || finished_) return;
        sweep_tunnels();
        if (tunnels_ != nullptr) arm_tunnel_sweep();
    });
}

void worker::sweep_tunnels() {
    // Once a second while tunnels are open: each one whose key has a new home (a backend in
    // service for it other than the one it belonged to when the tunnel opened) and is not
    // on that new home gets a moment to close, spread over tunnel_handover by a hash of its
    // key, so a backend's thousands of sockets do not reconnect at once. A key whose home
    // comes back before its moment keeps its tunnels. A keyless tunnel moves only when its
    // backend left the membership.
    const steady_clock::time_point now = steady_clock::now();
    const bundle& b = *current_->b;
    const routing_snapshot& r = *b.routing;
    const auto window = std::chrono::duration_cast<steady_clock::duration>(b.settings.tunnel_handover);
    for (tunnel_entry* t = tunnels_; t != nullptr; t = t->next) {
        if (t->closing) continue;
        const std::shared_ptr<const backend_state> on = t->backend.lock();
        bool moved = on == nullptr;
        if (!moved && t->key_hash) {
            const std::size_t owner = r.settled_owner(*t->key_hash, now);
            const backend_state* home = owner == chash::npos ? nullptr : r.backends()[owner].state.get();
            moved = home != nullptr && home != t->home.lock().get() && home != on.get();
        }
        if (!moved) {
            t->close_at = steady_clock::time_point::max();
            continue;
        }
        if (t->close_at == steady_clock::time_point::max()) {
            const std::uint64_t spread =
                chash::mix64(t->key_hash ? *t->key_hash : reinterpret_cast<std::uintptr_t>(t));
            const double share = static_cast<double>(spread >> 11) * 0x1.0p-53;  // [0, 1)
            t->close_at = now + std::chrono::duration_cast<steady_clock::duration>(window * share);
        }
        if (t->close_at <= now) {
            t->closing = true;
            metrics_.tunnels_moved.add();
            t->wd->expire_now(watchdog::phase::handover);
        }
    }
}

}  // namespace ringlb
