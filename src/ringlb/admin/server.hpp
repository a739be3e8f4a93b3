// ringlb/admin/server.hpp: the admin listener, an HTTP/1.1 server on the control thread.
//
//   ringlb::admin::server s{control_io, [&](ringlb::admin::request r) { return api.handle(std::move(r)); }};
//   s.listen({asio::ip::make_address("127.0.0.1"), 9901});   // throws asio::system_error
//   s.start();
//   ...
//   s.stop();                                               // closes everything it holds
//
// It runs on the control thread's io_context, never on a worker, so nothing the admin port
// receives can touch the data path but through the controller. Each connection is a
// coroutine: read a head (at most max_head bytes, else 431) and a Content-Length body (at
// most max_body, else 413; chunked bodies are refused with 411), call the handler, write
// the answer, and loop while the client keeps the connection alive. An error answer (4xx,
// 5xx) closes the connection. A request must arrive whole within 10 s (else the connection
// is closed) and an idle connection closes after 30 s; at most 64 connections are open at
// once: a new one closes the connection that has been idle longest, or is answered 503
// when none is idle. So a flood of admin connections costs bounded memory (80 KiB each)
// and nothing else. The bytes of a request stay in one buffer of fixed size, never
// reallocated: the parser's views into them stay valid until the request is copied out.
//
// Thread-safety: none; the control thread.
#pragma once

#include "ringlb/admin/message.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <variant>

namespace ringlb::admin {

class server {
public:
    using handler_fn = std::function<asio::awaitable<response>(request)>;

    static constexpr std::size_t max_connections = 64;
    static constexpr std::chrono::seconds request_timeout{10};
    static constexpr std::chrono::seconds idle_timeout{30};

    server(asio::io_context& io, handler_fn handler);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    void listen(const asio::ip::tcp::endpoint& at);
    [[nodiscard]] asio::ip::tcp::endpoint local_endpoint() const;
    void start();
    void stop();
    [[nodiscard]] std::size_t connections() const noexcept { return open_; }

private:
    struct connection;
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(std::shared_ptr<connection> c);
    asio::awaitable<std::optional<std::variant<request, response>>> read_request(
        std::shared_ptr<connection> c);
    bool evict_idle();

    asio::io_context& io_;
    handler_fn handler_;
    asio::ip::tcp::acceptor acceptor_;
    std::vector<std::weak_ptr<connection>> live_;
    std::size_t open_ = 0;
    bool stopped_ = false;
};

}  // namespace ringlb::admin
