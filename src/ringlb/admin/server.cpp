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

// See src/ringlb/proxy/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::admin {

using asio::ip::tcp;

// One client connection: the socket and the deadline that closes it.
struct server::connection {
    explicit connection(asio::io_context& io) : socket{io}, deadline{io} {}
    tcp::socket socket;
    asio::steady_timer deadline;
    std::string in;  // bytes read and not yet consumed

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
    for (;;) {
        auto c = std::make_shared<connection>(io_);
        asio::error_code ec;
        co_await acceptor_.async_accept(c->socket, use_ec(ec));
        if (stopped_ || ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) continue;  // EMFILE and the like: the next accept may work
        std::erase_if(live_, [](const std::weak_ptr<connection>& w) { return w.expired(); });
        if (open_ >= max_connections) {
            // Over the limit: a short answer, then close (the write may fail; nothing waits on it).
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
    http_parser parser{http_parser::type::request};
    std::array<char, 4096> chunk;
    asio::error_code ec;
    for (;;) {
        // The idle wait for a request, then the request itself under its own deadline.
        c->arm(c->in.empty() ? std::chrono::steady_clock::duration{idle_timeout} : request_timeout, c);
        parser.reset();
        std::size_t parsed = 0;
        http_parser::result r{http_parser::event::need_more, 0};
        bool started = !c->in.empty();
        for (;;) {
            if (parsed < c->in.size()) {
                r = parser.feed(c->in.data() + parsed, c->in.size() - parsed);
                parsed += r.consumed;
                if (r.what != http_parser::event::need_more) break;
            }
            if (c->in.size() > max_head) break;
            const std::size_t n = co_await c->socket.async_read_some(asio::buffer(chunk), use_ec(ec));
            if (ec || stopped_) co_return;  // closed, reset, or the deadline closed it
            if (!started) {
                started = true;
                c->arm(request_timeout, c);
            }
            c->in.append(chunk.data(), n);
        }
        response answer;
        bool keep = false;
        bool head_only = false;
        if (r.what == http_parser::event::error) {
            answer =
                json_error(parser.error_status(), std::string{"malformed request: "} + parser.error_reason());
        } else if (r.what != http_parser::event::head_complete) {
            answer = json_error(431, "the request head is larger than 16 KiB");
        } else if (parser.chunked()) {
            answer = json_error(411, "send the body with a Content-Length");
        } else if (parser.content_length() > max_body) {
            answer = json_error(413, "the body is larger than 64 KiB");
        } else {
            // The body: Content-Length bytes after the head.
            const auto length = static_cast<std::size_t>(parser.content_length());
            while (c->in.size() < parsed + length) {
                const std::size_t n = co_await c->socket.async_read_some(asio::buffer(chunk), use_ec(ec));
                if (ec || stopped_) co_return;
                c->in.append(chunk.data(), n);
            }
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
            req.body = c->in.substr(parsed, length);
            keep = parser.keep_alive();
            head_only = req.method == "HEAD";
            parsed += length;
            c->in.erase(0, parsed);
            if (!path || path->empty() || (*path)[0] != '/') {
                answer = json_error(400, "the request target must be a path");
            } else {
                req.path = *path;
                c->deadline.cancel();  // the handler may wait for a publication
                answer = co_await handler_(std::move(req));
                if (stopped_) co_return;
            }
        }
        c->arm(request_timeout, c);  // writing the answer is bounded too
        const std::string out = serialize(answer, keep, head_only);
        co_await asio::async_write(c->socket, asio::buffer(out), use_ec(ec));
        if (ec || !keep || stopped_) co_return;
    }
}

}  // namespace ringlb::admin
