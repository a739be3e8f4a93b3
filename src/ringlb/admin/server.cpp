#include "ringlb/admin/server.hpp"

#include "ringlb/common/text.hpp"
#include "ringlb/http/parser.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <variant>

// See src/ringlb/proxy/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::admin {

using asio::ip::tcp;

// One client connection: the socket, the deadline that closes it, and a buffer of fixed
// size. The parser keeps views into the bytes it was fed, so the buffer never moves while a
// request is read: it holds a whole head and a whole body, and nothing reallocates it.
struct server::connection {
    static constexpr std::size_t capacity = max_head + max_body + 4096;

    explicit connection(asio::io_context& io) : socket{io}, deadline{io}, buf{new char[capacity]} {}
    tcp::socket socket;
    asio::steady_timer deadline;
    std::unique_ptr<char[]> buf;
    std::size_t size = 0;  // bytes in buf: the current request's, then what followed it
    bool idle = true;      // waiting for a request (may be closed to make room)

    void arm(std::chrono::steady_clock::duration d, std::weak_ptr<connection> self) {
        deadline.expires_after(d);
        deadline.async_wait([self = std::move(self)](const asio::error_code& ec) {
            if (ec) return;
            if (auto c = self.lock()) {
                asio::error_code ignored;
                c->socket.close(ignored);  // the pending read or write ends with an error
            }
        });
    }
    void close() {
        deadline.cancel();
        asio::error_code ignored;
        socket.close(ignored);
    }
    // Drops the first n bytes (a request served), keeping what followed (pipelined bytes).
    void consume(std::size_t n) {
        std::memmove(buf.get(), buf.get() + n, size - n);
        size -= n;
    }
};

namespace {

inline auto use_ec(asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

std::string_view header(const http_parser& p, std::string_view name) {
    return p.header_value(name);
}

}  // namespace

server::server(asio::io_context& io, handler_fn handler)
    : io_{io}, handler_{std::move(handler)}, acceptor_{io} {}

server::~server() {
    stop();
}

void server::listen(const tcp::endpoint& at) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

tcp::endpoint server::local_endpoint() const {
    return acceptor_.local_endpoint();
}

void server::start() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

void server::stop() {
    if (stopped_) return;
    stopped_ = true;
    asio::error_code ignored;
    acceptor_.close(ignored);
    for (auto& w : live_)
        if (auto c = w.lock()) c->close();
    live_.clear();
}

asio::awaitable<void> server::accept_loop() {
    asio::steady_timer backoff{io_};
    for (;;) {
        auto c = std::make_shared<connection>(io_);
        asio::error_code ec;
        co_await acceptor_.async_accept(c->socket, use_ec(ec));
        if (stopped_ || ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) {
            // EMFILE and the like: retrying at once would spin.
            backoff.expires_after(std::chrono::milliseconds{50});
            co_await backoff.async_wait(use_ec(ec));
            if (stopped_) co_return;
            continue;
        }
        std::erase_if(live_, [](const std::weak_ptr<connection>& w) { return w.expired(); });
        if (open_ >= max_connections && !evict_idle()) {
            // Over the limit with every connection busy: a short answer, then close (the
            // write may fail; nothing waits on it).
            const std::string busy = serialize(json_error(503, "too many admin connections"), false);
            c->socket.non_blocking(true, ec);
            c->socket.write_some(asio::buffer(busy), ec);
            c->close();
            continue;
        }
        live_.push_back(c);
        asio::co_spawn(io_, serve(c), asio::detached);
    }
}

bool server::evict_idle() {
    // The connection that has waited longest for its next request makes room: holding idle
    // connections open must not lock operators out.
    for (auto& w : live_) {
        if (auto c = w.lock(); c && c->idle) {
            c->close();
            c->idle = false;
            return true;
        }
    }
    return false;
}

// Parses the request at the front of c's buffer, reading more as needed. Returns the
// request, or the error answer to close with; nullopt when the connection ended.
asio::awaitable<std::optional<std::variant<request, response>>> server::read_request(
    std::shared_ptr<connection> c) {
    http_parser parser{http_parser::type::request};
    asio::error_code ec;
    std::size_t parsed = 0;
    http_parser::result r{http_parser::event::need_more, 0};
    for (;;) {
        // Only the first max_head bytes may hold the head: a head that ends past them is
        // too large, whatever the read that brought it.
        const std::size_t limit = std::min(c->size, max_head);
        if (parsed < limit) {
            r = parser.feed(c->buf.get() + parsed, limit - parsed);
            parsed += r.consumed;
            if (r.what != http_parser::event::need_more) break;
        }
        if (c->size >= max_head) break;
        const std::size_t room = std::min(connection::capacity - c->size, std::size_t{4096});
        const std::size_t n =
            co_await c->socket.async_read_some(asio::buffer(c->buf.get() + c->size, room), use_ec(ec));
        if (ec || stopped_) co_return std::nullopt;  // closed, reset, or the deadline closed it
        if (c->idle) {
            c->idle = false;
            c->arm(request_timeout, c);  // the first byte starts the request's clock
        }
        c->size += n;
    }
    if (r.what == http_parser::event::error)
        co_return json_error(parser.error_status(),
                             std::string{"malformed request: "} + parser.error_reason());
    if (r.what != http_parser::event::head_complete)
        co_return json_error(431, "the request head is larger than 16 KiB");
    if (parser.chunked()) co_return json_error(411, "send the body with a Content-Length");
    if (parser.content_length() > max_body) co_return json_error(413, "the body is larger than 64 KiB");
    // Everything the API reads of the head, copied out while the parser's views are valid.
    request req;
    req.method = std::string{parser.method_name()};
    const std::string_view target = parser.target();
    const std::size_t q = target.find('?');
    const auto path = percent_decode(target.substr(0, q), false);
    req.query = q == std::string_view::npos ? std::string{} : std::string{target.substr(q + 1)};
    req.host = std::string{header(parser, "host")};
    req.authorization = std::string{header(parser, "authorization")};
    req.content_type = std::string{header(parser, "content-type")};
    req.if_match = std::string{header(parser, "if-match")};
    req.has_body = parser.has_content_length();
    req.keep_alive = parser.keep_alive();
    if (!path || path->empty() || (*path)[0] != '/')
        co_return json_error(400, "the request target must be a path");
    req.path = *path;
    // The body: Content-Length bytes after the head (the buffer holds a whole one).
    const auto length = static_cast<std::size_t>(parser.content_length());
    while (c->size < parsed + length) {
        const std::size_t room = std::min(connection::capacity - c->size, std::size_t{4096});
        const std::size_t n =
            co_await c->socket.async_read_some(asio::buffer(c->buf.get() + c->size, room), use_ec(ec));
        if (ec || stopped_) co_return std::nullopt;
        c->size += n;
    }
    req.body.assign(c->buf.get() + parsed, length);
    c->consume(parsed + length);
    co_return req;
}

asio::awaitable<void> server::serve(std::shared_ptr<connection> c) {
    ++open_;
    struct closer {
        server& s;
        connection& c;
        ~closer() {
            --s.open_;
            c.close();
        }
    } guard{*this, *c};
    asio::error_code ec;
    for (;;) {
        // The idle wait for a request (bytes already buffered start it at once), then the
        // request itself under its own deadline.
        c->idle = c->size == 0;
        c->arm(c->idle ? std::chrono::steady_clock::duration{idle_timeout} : request_timeout, c);
        auto got = co_await read_request(c);
        if (!got || stopped_) co_return;
        response answer;
        bool keep = false;
        bool head_only = false;
        if (auto* req = std::get_if<request>(&*got)) {
            keep = req->keep_alive;
            head_only = req->method == "HEAD";
            c->deadline.cancel();  // the handler may wait for a publication
            answer = co_await handler_(std::move(*req));
            if (stopped_) co_return;
        } else {
            answer = std::move(std::get<response>(*got));
        }
        // An error answer ends the connection: a client that sends garbage or no token does
        // not get to hold one of the listener's connections.
        keep = keep && answer.status < 400;
        c->arm(request_timeout, c);  // writing the answer is bounded too
        const std::string out = serialize(answer, keep, head_only);
        co_await asio::async_write(c->socket, asio::buffer(out), use_ec(ec));
        if (ec || !keep || stopped_) co_return;
    }
}

}  // namespace ringlb::admin
