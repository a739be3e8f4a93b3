// tests/ringlb/scripted_server.hpp: a loopback HTTP server that answers with scripted bytes,
// for testing HTTP clients (the etcd client) against exactly what a server sends on the
// wire, framing mistakes, pauses between reads and abrupt ends included.
//
//   asio::io_context io{1};
//   test::scripted_server server{io};
//   server.answer({test::send(test::http_answer(200, "{}")), test::hang_up()});
//   const ringlb::endpoint at = server.at();
//   auto r = test::complete(io, ringlb::etcd::http_call(io, at, req, 2s));  // runs io
//   EXPECT_NE(server.requests().at(0).find("\r\nGrpc-Metadata-Hasleader: true\r\n"), npos);
//
// Each connection reads one request (head and Content-Length body; its bytes are kept in
// requests()), then plays its script: bytes written, pauses, a FIN or an RST. A connection
// whose script ends without closing stays open and silent until the client closes it (as
// etcd keeps a connection alive). The scripts given by answer() go to connections in turn,
// the last one to every later connection; respond() decides each one from the request.
// A pause in a script gives the client's pending read the bytes written before it: the
// client and the server share one io_context, so the read completes long before the pause.
//
// Thread-safety: none; everything runs on the io_context's one thread.
#pragma once

#include "ringlb/config/config.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace test {

using namespace std::chrono_literals;

/// One step of a scripted answer.
struct step {
    enum class kind : std::uint8_t { write, pause, close, reset } what = kind::write;
    std::string bytes;
    std::chrono::milliseconds delay{0};
};
using script = std::vector<step>;

inline step send(std::string bytes) {
    return {step::kind::write, std::move(bytes), {}};
}
inline step wait(std::chrono::milliseconds d) {
    return {step::kind::pause, {}, d};
}
/// Closes the connection in order (FIN), as a server that stops does.
inline step hang_up() {
    return {step::kind::close, {}, {}};
}
/// Aborts the connection (RST).
inline step reset() {
    return {step::kind::reset, {}, {}};
}

inline std::string reason_of(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 412:
            return "Precondition Failed";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Status";
    }
}

/// An answer with a Content-Length body, as the gateway sends a unary success.
inline std::string http_answer(int status, std::string_view body,
                               std::string_view content_type = "application/json") {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason_of(status) +
           "\r\nContent-Type: " + std::string{content_type} +
           "\r\nGrpc-Metadata-Content-Type: application/grpc\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + std::string{body};
}

/// One chunk of a chunked body.
inline std::string chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx", data.size());
    return std::string{size} + "\r\n" + std::string{data} + "\r\n";
}

/// The head of a chunked answer as the gateway sends a stream (watch, keepalive).
inline std::string stream_head(int status = 200) {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason_of(status) +
           "\r\n"
           "Access-Control-Allow-Headers: accept, content-type, authorization\r\n"
           "Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"
           "Access-Control-Allow-Origin: *\r\n"
           "Content-Type: application/json\r\n"
           "Grpc-Metadata-Content-Type: application/grpc\r\n"
           "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
           "Transfer-Encoding: chunked\r\n\r\n";
}

/// A unary gRPC error as the gateway sends it: chunked, with a trailer.
inline std::string grpc_error_answer(int status, std::string_view body) {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason_of(status) +
           "\r\n"
           "Content-Type: application/json\r\n"
           "Grpc-Metadata-Content-Type: application/grpc\r\n"
           "Trailer: Grpc-Trailer-Content-Type\r\n"
           "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
           "Transfer-Encoding: chunked\r\n\r\n" +
           chunk(body) + "0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n";
}

/// The path of a request's bytes ("POST /v3/kv/range HTTP/1.1..." gives "/v3/kv/range").
inline std::string path_of(std::string_view request) {
    const auto sp = request.find(' ');
    if (sp == std::string_view::npos) return {};
    const auto end = request.find(' ', sp + 1);
    return std::string{request.substr(sp + 1, end == std::string_view::npos ? 0 : end - sp - 1)};
}

/// The body of a request's bytes.
inline std::string body_of(std::string_view request) {
    const auto at = request.find("\r\n\r\n");
    return at == std::string_view::npos ? std::string{} : std::string{request.substr(at + 4)};
}

class scripted_server {
public:
    using responder = std::function<script(const std::string& request)>;

    explicit scripted_server(asio::io_context& io)
        : io_{io}, acceptor_{io, {asio::ip::make_address("127.0.0.1"), 0}} {
        asio::co_spawn(io_, accept_loop(), asio::detached);
    }
    ~scripted_server() { close(); }
    scripted_server(const scripted_server&) = delete;
    scripted_server& operator=(const scripted_server&) = delete;

    [[nodiscard]] ringlb::endpoint at() const { return {"127.0.0.1", acceptor_.local_endpoint().port()}; }

    /// The script of the next connection without one (the last one serves every later one).
    void answer(script s) { scripts_.push_back(std::move(s)); }
    /// Decides each connection's script from its request (instead of answer()).
    void respond(responder r) { responder_ = std::move(r); }

    /// Connections accepted so far.
    [[nodiscard]] std::size_t accepted() const noexcept { return accepted_; }
    /// Each request read whole so far, head and body as received, in the order they came.
    [[nodiscard]] const std::vector<std::string>& requests() const noexcept { return requests_; }
    /// Connections whose client closed them (seen once the script has ended).
    [[nodiscard]] std::size_t closed_by_client() const noexcept { return closed_by_client_; }

    /// Stops accepting and closes every connection.
    void close() {
        closed_ = true;
        asio::error_code ignored;
        acceptor_.close(ignored);
        for (auto& c : connections_) c->shut();
        connections_.clear();
    }

private:
    struct connection {
        explicit connection(asio::ip::tcp::socket s) : sock{std::move(s)}, timer{sock.get_executor()} {}
        asio::ip::tcp::socket sock;
        asio::steady_timer timer;
        std::string in;
        void shut() {
            timer.cancel();
            asio::error_code ignored;
            sock.close(ignored);
        }
    };

    static auto use_ec(asio::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

    static std::size_t content_length(std::string_view head) {
        std::string lower{head};
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
        const auto at = lower.find("\r\ncontent-length:");
        if (at == std::string::npos) return 0;
        return static_cast<std::size_t>(std::stoul(lower.substr(at + 17)));
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            asio::error_code ec;
            auto sock = co_await acceptor_.async_accept(use_ec(ec));
            if (ec || closed_) co_return;
            ++accepted_;
            auto c = std::make_shared<connection>(std::move(sock));
            connections_.push_back(c);
            asio::co_spawn(io_, serve(c), asio::detached);
        }
    }

    script script_for(const std::string& request) {
        if (responder_) return responder_(request);
        if (scripts_.empty()) return {};
        const std::size_t i = std::min(next_script_, scripts_.size() - 1);
        ++next_script_;
        return scripts_[i];
    }

    asio::awaitable<void> serve(std::shared_ptr<connection> c) {
        asio::error_code ec;
        const std::size_t head =
            co_await asio::async_read_until(c->sock, asio::dynamic_buffer(c->in), "\r\n\r\n", use_ec(ec));
        if (ec || closed_) co_return;
        const std::size_t whole = head + content_length(std::string_view{c->in}.substr(0, head));
        if (c->in.size() < whole) {
            const std::size_t more = whole - c->in.size();
            co_await asio::async_read(c->sock, asio::dynamic_buffer(c->in), asio::transfer_exactly(more),
                                      use_ec(ec));
            if (ec || closed_) co_return;
        }
        requests_.push_back(c->in.substr(0, whole));
        const script s = script_for(requests_.back());
        for (const step& st : s) {
            switch (st.what) {
                case step::kind::write:
                    co_await asio::async_write(c->sock, asio::buffer(st.bytes), use_ec(ec));
                    if (ec || closed_) co_return;
                    break;
                case step::kind::pause:
                    c->timer.expires_after(st.delay);
                    co_await c->timer.async_wait(use_ec(ec));
                    if (closed_) co_return;
                    break;
                case step::kind::close:
                    c->sock.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
                    c->sock.close(ec);
                    co_return;
                case step::kind::reset:
                    c->sock.set_option(asio::socket_base::linger{true, 0}, ec);
                    c->sock.close(ec);
                    co_return;
            }
        }
        // Silent until the client closes (or the server does).
        std::array<char, 1024> sink;
        for (;;) {
            (void)co_await c->sock.async_read_some(asio::buffer(sink), use_ec(ec));
            if (closed_) co_return;
            if (ec) {
                ++closed_by_client_;
                co_return;
            }
        }
    }

    asio::io_context& io_;
    asio::ip::tcp::acceptor acceptor_;
    std::vector<script> scripts_;
    std::size_t next_script_ = 0;
    responder responder_;
    std::vector<std::shared_ptr<connection>> connections_;
    std::vector<std::string> requests_;
    std::size_t accepted_ = 0;
    std::size_t closed_by_client_ = 0;
    bool closed_ = false;
};

/// A port nothing listens on (bound, then closed): connecting to it is refused.
inline std::uint16_t closed_port(asio::io_context& io) {
    asio::ip::tcp::acceptor a{io, {asio::ip::make_address("127.0.0.1"), 0}};
    const std::uint16_t port = a.local_endpoint().port();
    a.close();
    return port;
}

/// Runs `io` until the coroutine `a` completes or `limit` passes; its value, or nullopt on
/// timeout. An exception it threw is thrown again here. The coroutine's completion state is
/// shared, so one still running after the limit writes nowhere it should not.
template <class T>
std::optional<T> complete(asio::io_context& io, asio::awaitable<T> a,
                          std::chrono::milliseconds limit = 5000ms) {
    struct state {
        bool done = false;
        std::exception_ptr error;
        std::optional<T> value;
    };
    auto st = std::make_shared<state>();
    asio::co_spawn(io, std::move(a), [st](std::exception_ptr e, T v) {
        st->done = true;
        st->error = e;
        if (!e) st->value = std::move(v);
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!st->done && std::chrono::steady_clock::now() < deadline) {
        if (io.stopped()) io.restart();
        io.run_for(5ms);
    }
    if (st->error) std::rethrow_exception(st->error);
    return st->value;
}

/// Runs `io` until `done()` or `limit` passes; whether done() came true.
template <class Done>
bool run_until(asio::io_context& io, Done&& done, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        if (io.stopped()) io.restart();
        io.run_for(5ms);
    }
    return done();
}

}  // namespace test
