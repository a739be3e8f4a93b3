#include "ringlb/upstream.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace ringlb {

namespace {

constexpr std::chrono::milliseconds probe_after{200};

// True when the peer has neither closed nor sent anything unexpected on an idle connection.
bool still_open(asio::ip::tcp::socket& s) noexcept {
    char c;
    const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::unique_ptr<upstream_conn> upstream_pool::take(const backend& b, steady_clock::time_point now,
                                                   steady_clock::duration max_idle) {
    auto it = pools_.find(b.state.get());
    if (it == pools_.end()) return nullptr;
    auto& idle = it->second.idle;
    while (!idle.empty()) {
        std::unique_ptr<upstream_conn> c = std::move(idle.back());
        idle.pop_back();
        // LIFO: the most recently used connection is the least likely to have timed out.
        // The liveness probe (a recv syscall) is paid only by connections idle long enough
        // for a backend to have closed them: under load a connection comes back within
        // microseconds, and backends' keep-alive timeouts are seconds.
        const auto idle_for = now - c->idle_since;
        if (c->peer == b.address && idle_for < max_idle && (idle_for < probe_after || still_open(c->socket)))
            return c;
    }
    return nullptr;
}

void upstream_pool::give(const backend& b, std::unique_ptr<upstream_conn> c, steady_clock::time_point now,
                         std::size_t keep) {
    auto& e = pools_[b.state.get()];
    if (!e.state) e.state = b.state;
    if (e.idle.size() >= keep) return;  // closes c
    c->idle_since = now;
    e.idle.push_back(std::move(c));
}

void upstream_pool::sweep(steady_clock::time_point now, steady_clock::duration max_idle) {
    for (auto it = pools_.begin(); it != pools_.end();) {
        auto& idle = it->second.idle;
        std::erase_if(
            idle, [&](const std::unique_ptr<upstream_conn>& c) { return now - c->idle_since >= max_idle; });
        // The pool's reference is the last one: the backend left every snapshot.
        if (it->second.state.use_count() == 1)
            it = pools_.erase(it);
        else
            ++it;
    }
}

std::size_t upstream_pool::idle_count() const noexcept {
    std::size_t n = 0;
    for (const auto& [k, e] : pools_) n += e.idle.size();
    return n;
}

}  // namespace ringlb
