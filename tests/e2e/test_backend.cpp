// test_backend: a small HTTP/1.1 server for ringlb's end-to-end tests. Every response names
// the backend (body "<id>\n" and header X-Backend-Id), so tests can see where a key went.
//
//   test_backend --id app-1 --port 0        # prints "PORT <n>" once listening
//
// Paths: /echo (body = the request head as received), /slow?ms=N (answer after N ms),
// /big?bytes=N (an N-byte Content-Length body), /chunked?n=K&size=S (K chunks of S bytes),
// /eof (body delimited by closing), /close (Connection: close), /reset (close without an
// answer), /idle-close?ms=N (a keep-alive answer, then the connection is closed N ms later),
// /bare-cr (a status line ended by a bare CR, which a lenient parser reads as a line end),
// /status?code=C&cl=N&body=B&delay_ms=D (status C with Content-Length N when given, then
// body B, D ms later when given: a 204 or 304 that carries a body, or a 304 that declares a
// length it does not send), /stray?ms=N (a normal answer, then N ms later a second,
// unasked-for response on the same connection), /health (an active check's target: the
// status set by /set-health, 200 at start; each one counted), /set-health?code=C (what
// /health answers from now on), /health-count (how many /health requests came so far).
// Tests call /set-health and /health-count on the backend directly, not through ringlb.
// Any request body is read and its decoded size returned in X-Body-Bytes; X-Connection
// numbers the connection the request came on (1, 2, ... in accept order), so tests can see
// a proxy reuse one.
#include "ringlb/demo/request_reader.hpp"
#include "ringlb/http/key.hpp"
#include "ringlb/http/parser.hpp"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <charconv>
#include <cstdio>
#include <string>

// See src/ringlb/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

using asio::ip::tcp;

namespace {

std::string g_id = "backend";
int g_delay_ms = 0;
std::uint64_t g_connections = 0;      // accepted so far; the io_context has one thread
std::uint64_t g_health_status = 200;  // what /health answers
std::uint64_t g_health_checks = 0;    // /health requests so far

std::uint64_t query_number(std::string_view target, std::string_view name, std::uint64_t dflt) {
    const auto v = ringlb::find_query_param(target, name);
    if (!v) return dflt;
    std::uint64_t n = dflt;
    std::from_chars(v->data(), v->data() + v->size(), n);
    return n;
}

asio::awaitable<void> serve(tcp::socket sock) {
    const std::string connection = std::to_string(++g_connections);
    auto ex = co_await asio::this_coro::executor;
    ringlb::demo::request_reader in{1 << 16};
    asio::error_code ec;
    auto tok = asio::redirect_error(asio::use_awaitable, ec);
    for (;;) {
        if (co_await in.read_head(sock) != ringlb::demo::request_reader::status::head) co_return;
        const ringlb::http_parser& p = in.parser();
        const std::string head(in.head());
        const std::string target(p.target());
        const bool head_method = p.method() == HTTP_HEAD;
        const bool keep_alive = p.keep_alive();
        if (!co_await in.read_body(sock)) co_return;

        const std::string path(ringlb::target_path(target));
        std::uint64_t delay = g_delay_ms;
        if (path == "/slow") delay = query_number(target, "ms", 1000);
        if (delay > 0) {
            asio::steady_timer t{ex, std::chrono::milliseconds(delay)};
            co_await t.async_wait(tok);
        }
        if (path == "/bare-cr") {
            const std::string_view raw = "HTTP/1.1 200 OK\rX-Hidden: 1\r\nContent-Length: 3\r\n\r\nabc";
            co_await asio::async_write(sock, asio::buffer(raw), tok);
            if (ec) co_return;
            continue;
        }
        if (path == "/status") {
            const auto code = query_number(target, "code", 200);
            std::string out = "HTTP/1.1 " + std::to_string(code) + " Status\r\nX-Backend-Id: " + g_id +
                              "\r\nX-Connection: " + connection + "\r\n";
            if (ringlb::find_query_param(target, "cl"))
                out += "Content-Length: " + std::to_string(query_number(target, "cl", 0)) + "\r\n";
            out += "\r\n";
            const std::string body{ringlb::find_query_param(target, "body").value_or("")};
            const auto body_delay = query_number(target, "delay_ms", 0);
            if (body_delay == 0) out += body;
            co_await asio::async_write(sock, asio::buffer(out), tok);
            if (body_delay > 0 && !ec) {
                asio::steady_timer t{ex, std::chrono::milliseconds(body_delay)};
                co_await t.async_wait(tok);
                co_await asio::async_write(sock, asio::buffer(body), tok);
            }
            if (ec) co_return;
            continue;
        }
        if (path == "/stray") {
            const std::string out = "HTTP/1.1 200 OK\r\nX-Backend-Id: " + g_id +
                                    "\r\nX-Connection: " + connection + "\r\nContent-Length: 3\r\n\r\nok\n";
            co_await asio::async_write(sock, asio::buffer(out), tok);
            asio::steady_timer t{ex, std::chrono::milliseconds(query_number(target, "ms", 20))};
            co_await t.async_wait(tok);
            const std::string_view stray =
                "HTTP/1.1 200 OK\r\nX-Stray: 1\r\nContent-Length: 6\r\n\r\nstray\n";
            co_await asio::async_write(sock, asio::buffer(stray), tok);
            if (ec) co_return;
            continue;
        }
        if (path == "/health" || path == "/set-health" || path == "/health-count") {
            std::uint64_t code = 200;
            std::string text = g_id + "\n";
            if (path == "/health") {
                ++g_health_checks;
                code = g_health_status;
            } else if (path == "/set-health") {
                g_health_status = query_number(target, "code", 200);
            } else {
                text = std::to_string(g_health_checks) + "\n";
            }
            const std::string out = "HTTP/1.1 " + std::to_string(code) + " Health\r\nX-Backend-Id: " + g_id +
                                    "\r\nContent-Length: " + std::to_string(text.size()) +
                                    (keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n") + text;
            co_await asio::async_write(sock, asio::buffer(out), tok);
            if (ec || !keep_alive) co_return;
            continue;
        }
        if (path == "/reset") {
            sock.set_option(asio::socket_base::linger(true, 0));
            co_return;
        }
        std::string body = g_id + "\n";
        if (path == "/echo") body = head;
        std::string extra;
        bool close = !keep_alive || path == "/close";
        std::string out = "HTTP/1.1 200 OK\r\nX-Backend-Id: " + g_id +
                          "\r\nX-Body-Bytes: " + std::to_string(p.body_bytes()) +
                          "\r\nX-Connection: " + connection + "\r\n";
        if (path == "/chunked") {
            const auto n = query_number(target, "n", 3), size = query_number(target, "size", 10);
            out += "Transfer-Encoding: chunked\r\n";
            out += close ? "Connection: close\r\n\r\n" : "\r\n";
            co_await asio::async_write(sock, asio::buffer(out), tok);
            char hex[32];
            std::snprintf(hex, sizeof hex, "%llx\r\n", static_cast<unsigned long long>(size));
            const std::string chunk = std::string(hex) + std::string(size, 'c') + "\r\n";
            for (std::uint64_t i = 0; i < n && !ec; ++i)
                co_await asio::async_write(sock, asio::buffer(chunk), tok);
            if (!ec) co_await asio::async_write(sock, asio::buffer(std::string_view{"0\r\n\r\n"}), tok);
        } else if (path == "/big") {
            const auto total = query_number(target, "bytes", 1 << 20);
            out += "Content-Length: " + std::to_string(total) + "\r\n";
            out += close ? "Connection: close\r\n\r\n" : "\r\n";
            co_await asio::async_write(sock, asio::buffer(out), tok);
            const std::string block(64 * 1024, 'b');
            for (std::uint64_t sent = 0; sent < total && !ec;) {
                const std::size_t n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), total - sent));
                co_await asio::async_write(sock, asio::buffer(block.data(), n), tok);
                sent += n;
            }
        } else if (path == "/eof") {
            out += "Connection: close\r\n\r\n" + body;
            co_await asio::async_write(sock, asio::buffer(out), tok);
            close = true;
        } else {
            out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
            out += close ? "Connection: close\r\n\r\n" : "\r\n";
            if (!head_method) out += body;
            co_await asio::async_write(sock, asio::buffer(out), tok);
        }
        if (ec || close) {
            sock.shutdown(tcp::socket::shutdown_send, ec);
            co_return;
        }
        if (path == "/idle-close") {
            // A keep-alive answer, then the server closes the idle connection after ms, as
            // servers do when their keep-alive timeout expires.
            asio::steady_timer t{ex, std::chrono::milliseconds(query_number(target, "ms", 100))};
            co_await t.async_wait(tok);
            sock.close(ec);
            co_return;
        }
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, sock] = co_await acceptor.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
        if (ec) continue;
        asio::co_spawn(acceptor.get_executor(), serve(std::move(sock)), asio::detached);
    }
}

}  // namespace

int main(int argc, char** argv) {
    unsigned short port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--id")
            g_id = argv[i + 1];
        else if (flag == "--port")
            port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
        else if (flag == "--delay-ms")
            g_delay_ms = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: test_backend --id ID --port N [--delay-ms N]\n");
            return 2;
        }
    }
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    const tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
    std::printf("PORT %u\n", acceptor.local_endpoint().port());
    std::fflush(stdout);
    asio::signal_set stop{io, SIGTERM, SIGINT};
    stop.async_wait([&](const asio::error_code&, int) { io.stop(); });
    asio::co_spawn(io, accept_loop(acceptor), asio::detached);
    io.run();
    return 0;
}
