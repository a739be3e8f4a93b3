// The load generator: a coroutine per client connection, all on the caller's thread.
#include "ringlb/demo/traffic.hpp"

#include "ringlb/demo/zipf.hpp"
#include "ringlb/http/parser.hpp"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

// See src/ringlb/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::demo {

using asio::ip::tcp;
using steady = std::chrono::steady_clock;

std::string user_id(std::size_t rank) {
    return "user-" + std::to_string(rank + 1);
}

namespace {

// Everything the client coroutines share; they all run on run()'s thread.
struct tally {
    std::vector<backend_tally> backends;
    std::vector<std::uint32_t> latencies_us;
    std::uint64_t errors = 0;

    backend_tally& backend(std::string_view id) {
        for (backend_tally& b : backends)
            if (b.id == id) return b;
        return backends.emplace_back(backend_tally{std::string{id}, 0, 0});
    }
};

std::uint64_t percentile(std::vector<std::uint32_t>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

asio::awaitable<void> client(const traffic_options& opts, const zipf_distribution& popularity, unsigned index,
                             steady::time_point deadline, tally& t) {
    auto ex = co_await asio::this_coro::executor;
    const tcp::endpoint target{asio::ip::make_address(opts.target.host), opts.target.port};
    std::mt19937_64 rng{opts.seed * 0x9e3779b97f4a7c15ULL + index};
    tcp::socket sock{ex};
    std::vector<char> buf(16 * 1024);
    http_parser p{http_parser::type::response};
    std::string request;
    asio::error_code ec;
    auto tok = asio::redirect_error(asio::use_awaitable, ec);

    while (steady::now() < deadline) {
        if (!sock.is_open()) {
            co_await sock.async_connect(target, tok);
            if (ec) {
                ++t.errors;
                sock.close(ec);
                asio::steady_timer backoff{ex, std::chrono::milliseconds{50}};
                co_await backoff.async_wait(tok);
                continue;
            }
            sock.set_option(tcp::no_delay(true), ec);
        }
        const std::string user = user_id(popularity(rng));
        request.clear();
        if (opts.keyed) {
            request.append("GET / HTTP/1.1\r\nHost: demo\r\nX-User-Id: ").append(user).append("\r\n\r\n");
        } else {
            request.append("GET /?user=").append(user).append(" HTTP/1.1\r\nHost: demo\r\n\r\n");
        }
        const auto start = steady::now();
        co_await asio::async_write(sock, asio::buffer(request), tok);

        // Read one response. Bodies are a line of text, so it fits the buffer.
        p.reset();
        std::size_t have = 0;
        bool ok = false, keep_alive = false;
        int status = 0;
        backend_tally* served = nullptr;
        bool hit = false;
        while (!ec) {
            const std::size_t n =
                co_await sock.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), tok);
            if (ec) break;
            const std::size_t from = have;
            have += n;
            http_parser::result r = p.feed(buf.data() + from, have - from);
            if (r.what == http_parser::event::head_complete) {
                status = p.status();
                keep_alive = p.keep_alive();
                if (const auto id = p.header_value("x-backend-id"); !id.empty()) served = &t.backend(id);
                hit = p.header_value("x-cache") == "hit";
                r = p.feed(buf.data() + from + r.consumed, have - from - r.consumed);
            }
            if (r.what == http_parser::event::message_complete) {
                ok = true;
                break;
            }
            if (r.what == http_parser::event::error || have == buf.size()) break;
        }
        if (!ok || status != 200) {
            ++t.errors;
            sock.close(ec);
            continue;
        }
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start).count();
        t.latencies_us.push_back(static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX)));
        if (served != nullptr) {
            ++served->requests;
            if (hit) ++served->hits;
        }
        if (!keep_alive) sock.close(ec);
    }
}

}  // namespace

traffic_generator::traffic_generator(traffic_options opts) : opts_{std::move(opts)} {}

traffic_result traffic_generator::run() {
    const zipf_distribution popularity{opts_.users, opts_.zipf_exponent};
    tally t;
    t.latencies_us.reserve(1 << 20);
    const auto start = steady::now();
    const auto deadline = start + opts_.length;
    for (unsigned i = 0; i < opts_.connections; ++i) {
        asio::co_spawn(io_, client(opts_, popularity, i, deadline, t), asio::detached);
    }
    io_.run();
    traffic_result r;
    r.seconds = std::chrono::duration<double>(steady::now() - start).count();
    std::sort(t.backends.begin(), t.backends.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    for (const backend_tally& b : t.backends) {
        r.requests += b.requests;
        r.hits += b.hits;
    }
    r.backends = std::move(t.backends);
    r.errors = t.errors;
    r.p50_us = percentile(t.latencies_us, 0.50);
    r.p99_us = percentile(t.latencies_us, 0.99);
    return r;
}

void traffic_generator::stop() {
    io_.stop();
}

}  // namespace ringlb::demo
