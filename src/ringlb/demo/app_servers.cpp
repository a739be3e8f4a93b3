// The demo backends: one coroutine per connection, on one event-loop thread shared by all
// backends (they spend their time waiting on simulated database reads, not on the CPU).
#include "ringlb/demo/app_servers.hpp"

#include "ringlb/demo/lru_cache.hpp"
#include "ringlb/demo/request_reader.hpp"
#include "ringlb/http/key.hpp"
#include "ringlb/http/parser.hpp"

#include <fmt/format.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <future>
#include <optional>

// See src/ringlb/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::demo {

using asio::ip::tcp;

namespace {

// What the simulated database returns for a user, kept in the cache.
struct user_record {
    std::uint64_t visits = 0;  ///< requests answered from this copy since it was loaded
};

// Big enough for any head a browser or curl sends; a larger one is refused with 431.
constexpr std::size_t read_buffer_bytes = 16 * 1024;

}  // namespace

struct app_servers::backend {
    backend(std::string backend_id, std::size_t cache_users)
        : id{std::move(backend_id)}, cache{cache_users} {}

    const std::string id;
    lru_cache<user_record> cache;  // event-loop thread only
    // Written by the event-loop thread, read by any: one cache line, so the reporting
    // thread's reads do not share a line with the cache's bookkeeping.
    alignas(64) std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> misses{0};
    std::atomic<std::uint64_t> cached{0};
};

namespace {

using backend = app_servers::backend;

std::string response(int status, std::string_view reason, const backend& b, std::string_view cache_state,
                     std::string_view body, bool keep_alive) {
    return fmt::format(
        "HTTP/1.1 {} {}\r\nX-Backend-Id: {}\r\nX-Cache: {}\r\nContent-Type: text/plain\r\n"
        "Content-Length: {}\r\n{}\r\n{}",
        status, reason, b.id, cache_state, body.size(), keep_alive ? "" : "Connection: close\r\n", body);
}

// Answers one user's request: from the cache, or after the simulated database read.
asio::awaitable<std::string> answer(backend& b, const app_options& opts, std::string user, bool keep_alive) {
    bool hit = true;
    user_record* rec = b.cache.find(user);
    if (rec == nullptr) {
        hit = false;
        b.misses.fetch_add(1, std::memory_order_relaxed);
        asio::steady_timer db{co_await asio::this_coro::executor, opts.miss_cost};
        asio::error_code ec;
        co_await db.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        // Another request may have loaded the same user meanwhile; insert keeps one copy.
        rec = &b.cache.insert(user, user_record{});
        b.cached.store(b.cache.size(), std::memory_order_relaxed);
    } else {
        b.hits.fetch_add(1, std::memory_order_relaxed);
    }
    ++rec->visits;
    const std::uint64_t hits = b.hits.load(std::memory_order_relaxed);
    const std::uint64_t total = hits + b.misses.load(std::memory_order_relaxed);
    const std::string body = fmt::format(
        "{} served {}: cache {} (visit {} since loaded; {} hit rate {:.1f}% over {} requests, {}/{} users "
        "cached)\n",
        b.id, user, hit ? "hit" : "miss", rec->visits, b.id,
        100.0 * static_cast<double>(hits) / static_cast<double>(total), total, b.cache.size(),
        b.cache.capacity());
    co_return response(200, "OK", b, hit ? "hit" : "miss", body, keep_alive);
}

asio::awaitable<void> serve_connection(tcp::socket sock, backend& b, const app_options& opts) {
    request_reader in{read_buffer_bytes};
    asio::error_code ec;
    auto tok = asio::redirect_error(asio::use_awaitable, ec);
    for (;;) {
        std::string reply;
        bool close = false;
        const request_reader::status got = co_await in.read_head(sock);
        if (got == request_reader::status::closed) co_return;
        if (got != request_reader::status::head) {
            const bool too_large = got == request_reader::status::too_large;
            reply =
                response(too_large ? 431 : 400, too_large ? "Request Header Fields Too Large" : "Bad Request",
                         b, "none", too_large ? "request head too large\n" : "malformed request\n", false);
            co_await asio::async_write(sock, asio::buffer(reply), tok);
            co_return;
        }
        // The head's views end with read_body: take what the answer needs first.
        const http_parser& p = in.parser();
        std::optional<std::string> user;
        if (const auto h = p.header_value("x-user-id"); !h.empty()) {
            user.emplace(h);
        } else if (const auto q = find_query_param(p.target(), "user"); q && !q->empty()) {
            user.emplace(*q);
        }
        const bool keep_alive = p.keep_alive();
        if (!co_await in.read_body(sock)) co_return;  // the demo ignores bodies but must find their end

        close = !keep_alive;
        if (user) {
            reply = co_await answer(b, opts, std::move(*user), keep_alive);
        } else {
            reply = response(
                200, "OK", b, "none",
                fmt::format("{} served an anonymous request (send X-User-Id: NAME to be a user)\n", b.id),
                keep_alive);
        }
        co_await asio::async_write(sock, asio::buffer(reply), tok);
        if (ec) co_return;
        if (close) {
            sock.shutdown(tcp::socket::shutdown_send, ec);
            co_return;
        }
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor acceptor, backend& b, const app_options& opts) {
    for (;;) {
        asio::error_code ec;
        tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            // Out of descriptors or a connection reset while queued: keep serving the rest.
            asio::steady_timer pause{acceptor.get_executor(), std::chrono::milliseconds{10}};
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        sock.set_option(tcp::no_delay(true), ec);
        asio::co_spawn(acceptor.get_executor(), serve_connection(std::move(sock), b, opts), asio::detached);
    }
}

}  // namespace

app_servers::app_servers(const std::vector<app_spec>& specs, const app_options& opts) : opts_{opts} {
    for (const app_spec& spec : specs) {
        backends_.push_back(std::make_unique<backend>(spec.id, opts_.cache_users));
        const tcp::endpoint ep{asio::ip::make_address(spec.address.host), spec.address.port};
        tcp::acceptor acceptor{io_};
        acceptor.open(ep.protocol());
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen(asio::socket_base::max_listen_connections);
        asio::co_spawn(io_, accept_loop(std::move(acceptor), *backends_.back(), opts_), asio::detached);
    }
}

app_servers::~app_servers() {
    stop();
}

void app_servers::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread{[this] { io_.run(); }};
}

void app_servers::stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    running_ = false;
}

void app_servers::reset() {
    auto clear = [this] {
        for (auto& b : backends_) {
            b->cache.clear();
            b->hits.store(0, std::memory_order_relaxed);
            b->misses.store(0, std::memory_order_relaxed);
            b->cached.store(0, std::memory_order_relaxed);
        }
    };
    if (!running_) {
        clear();
        return;
    }
    // The caches belong to the event-loop thread: clear them there, between two requests.
    std::packaged_task<void()> task{clear};
    auto done = task.get_future();
    asio::post(io_, [&task] { task(); });
    done.wait();
}

std::vector<app_counts> app_servers::counts() const {
    std::vector<app_counts> out;
    out.reserve(backends_.size());
    for (const auto& b : backends_) {
        out.push_back({b->id, b->hits.load(std::memory_order_relaxed),
                       b->misses.load(std::memory_order_relaxed), b->cached.load(std::memory_order_relaxed)});
    }
    return out;
}

}  // namespace ringlb::demo
