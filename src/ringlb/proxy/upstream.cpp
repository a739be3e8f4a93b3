#include "ringlb/proxy/upstream.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace ringlb {

// One byte's look at the socket, taking nothing: > 0 bytes wait, 0 the end of stream, < 0
// nothing (EAGAIN) or an error.
namespace {
ssize_t peek(int fd) noexcept {
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
}
}  // namespace

bool upstream_conn::quiet() noexcept {
    return peek(socket.native_handle()) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::size_t upstream_conn::deliver(asio::mutable_buffer to, std::size_t n) noexcept {
    assert(n <= to.size());
    std::memcpy(to.data(), landing_.data(), n);
    if (n == landing_bytes && to.size() > n) {
        const ssize_t more =
            ::recv(socket.native_handle(), static_cast<char*>(to.data()) + n, to.size() - n, MSG_DONTWAIT);
        if (more > 0)
            n += static_cast<std::size_t>(more);
        else if (more < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            deferred_ec_ = asio::error_code{errno, asio::error::get_system_category()};
        // (an end of stream stays in the socket for the next read)
    }
    return n;
}

bool upstream_conn::answer_waiting() noexcept {
    if (standing_ == standing::landed) return !landed_ec_ && landed_n_ > 0;
    return peek(socket.native_handle()) > 0;
}

void upstream_conn::watch() {
    assert(standing_ == standing::none && !waiter_);
    standing_ = standing::pending;
    claimed_ = false;
    landing_[0] = 0;  // stray() looks here for bytes whose completion has not run yet
    socket.async_read_some(asio::buffer(landing_), standing_read{conn_ref{this}});
}

void upstream_conn::on_landed(const asio::error_code& ec, std::size_t n) {
    if (waiter_) {
        // An exchange is waiting: this is the first read of its response.
        standing_ = standing::none;
        const std::size_t got = deliver(target_, n);
        waiter_(ec, got);
        return;
    }
    if (claimed_ && ec == asio::error::operation_aborted && socket.is_open()) {
        // The watchdog cancelled it while the exchange was still writing: no byte was lost,
        // and the exchange's next read goes to the socket.
        standing_ = standing::none;
        return;
    }
    if (claimed_) {
        // Taken, its exchange has not asked yet: kept for its first read.
        standing_ = standing::landed;
        landed_ec_ = ec;
        landed_n_ = n;
        return;
    }
    // Pooled, no request outstanding: whatever came (bytes, an end of stream, an error, or
    // the abort of our own close) makes the connection unusable.
    standing_ = standing::none;
    dead_ = true;
    close();
}

conn_ref upstream_pool::take(const backend& b, const asio::ip::tcp::endpoint& address,
                             steady_clock::time_point now, steady_clock::duration max_idle, bool replayable) {
    auto it = pools_.find(b.state.get());
    if (it == pools_.end()) return {};
    auto& idle = it->second.idle;
    while (!idle.empty()) {
        // LIFO: the most recently used connection is the least likely to have timed out.
        conn_ref c = std::move(idle.back());
        idle.pop_back();
        // Not settled yet, its standing read may have met an end of stream whose completion
        // has not run: a request that must not be replayed asks the socket.
        const bool unsettled = c->pooled_seq_ > settled_;
        if (c->dead_ || c->peer != address || now - c->idle_since >= max_idle || c->stray() ||
            (unsettled && !replayable && !c->quiet())) {
            c->close();
            continue;
        }
        c->claimed_ = true;
        return c;
    }
    return {};
}

void upstream_pool::give(const backend& b, conn_ref c, steady_clock::time_point now, std::size_t keep) {
    auto& e = pools_[b.state.get()];
    if (!e.state) e.state = b.state;
    // A backend that takes no new requests (draining, down...) keeps no idle connection.
    if (e.idle.size() >= keep || c->standing_ != upstream_conn::standing::none || c->deferred_ec_ ||
        !b.state->keeps_connections(now)) {
        c->close();
        return;
    }
    c->idle_since = now;
    c->pooled_seq_ = ++given_;
    c->watch();
    e.idle.push_back(std::move(c));
    if (!settle_pending_) settle_after_queued();
}

void upstream_pool::settle_after_queued() {
    // Runs after every completion queued before it, the standing reads' of the connections
    // pooled so far among them. Those pooled while it waited may have completions queued
    // behind it: it goes round again for them.
    settle_pending_ = true;
    asio::post(io_, [this, upto = given_] {
        settled_ = upto;
        settle_pending_ = false;
        if (given_ > settled_) settle_after_queued();
    });
}

void upstream_pool::sweep(steady_clock::time_point now, steady_clock::duration max_idle) {
    for (auto it = pools_.begin(); it != pools_.end();) {
        const bool serving = it->second.state->keeps_connections(now);
        std::erase_if(it->second.idle, [&](const conn_ref& c) {
            if (!c->dead_ && serving && now - c->idle_since < max_idle) return false;
            c->close();
            return true;
        });
        // The pool's reference is the last one: the backend left every snapshot.
        if (it->second.state.use_count() == 1) {
            for (const conn_ref& c : it->second.idle) c->close();
            it = pools_.erase(it);
        } else {
            ++it;
        }
    }
}

void upstream_pool::clear() {
    for (auto& [state, e] : pools_)
        for (const conn_ref& c : e.idle) c->close();
    pools_.clear();
}

std::size_t upstream_pool::idle_count() const noexcept {
    std::size_t n = 0;
    for (const auto& [k, e] : pools_) n += e.idle.size();
    return n;
}

}  // namespace ringlb
