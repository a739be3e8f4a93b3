// ringlb/session.hpp: one client connection, served by a coroutine from accept to close.
//
//   auto s = std::make_shared<ringlb::session>(worker, std::move(socket));
//   s->start();                      // co_spawn on the worker's io_context
//
// A session reads a request head, picks a backend (key -> hash -> snapshot selection),
// forwards the head and streams the body, streams the response back, and loops for the
// next request on the same connection (keep-alive; pipelined requests are answered in
// order because they are served one after the other). Failover, the error table and the
// access log line happen here. Timeouts are enforced by one timer per session that cancels
// whatever socket operation is pending when its deadline passes: moving a deadline costs
// a clock read, not a timer operation per read.
//
// Thread-safety: a session lives on its worker's thread; drain() too (the worker calls it).
#pragma once

#include "ringlb/buffer.hpp"
#include "ringlb/http.hpp"
#include "ringlb/routing.hpp"
#include "ringlb/upstream.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>

namespace ringlb {

class worker;

class session : public std::enable_shared_from_this<session> {
public:
    session(worker& w, asio::ip::tcp::socket socket);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    /// Starts serving the connection.
    void start();
    /// Shutdown: closes the connection now if it is between requests; otherwise the current
    /// response carries Connection: close and the session ends after it.
    void drain() noexcept;

    session* prev = nullptr;  ///< the worker's intrusive list of sessions
    session* next = nullptr;

private:
    enum class wait_kind : std::uint8_t { none, idle, client_head, client_io, connect, backend };
    struct request_record;
    struct exchange;
    enum class head_result : std::uint8_t { ok, no_bytes, timeout, bad };

    asio::awaitable<void> run();
    asio::awaitable<bool> serve_one();
    asio::awaitable<bool> reply_error(request_record& rec, int status, bool close);
    asio::awaitable<head_result> read_response_head(exchange& ex, bool head_request);
    asio::awaitable<void> linger_close();

    void arm(wait_kind k, std::chrono::milliseconds d);
    void disarm() noexcept { waiting_ = wait_kind::none; }
    void on_timer(const asio::error_code& ec);
    void finish(request_record& rec);
    void release_buffers() noexcept;

    worker& worker_;
    asio::ip::tcp::socket client_;
    asio::steady_timer timer_;
    steady_clock::time_point deadline_{};
    bool timer_running_ = false;
    wait_kind waiting_ = wait_kind::none;
    wait_kind timed_out_ = wait_kind::none;
    upstream_conn* upstream_ = nullptr;  // the backend socket the watchdog may cancel
    bool idle_ = true;
    bool linger_ = false;      // close after draining unread input
    std::size_t msg_end_ = 0;  // end of the current request in in_, once known
    char client_ip_[48] = {};
    std::size_t client_ip_len_ = 0;
    std::unique_ptr<buffer> in_;  // client bytes; only while a request is in progress
    // Where a keep-alive connection's next request first lands, so that waiting for it holds
    // no pooled buffer and costs no epoll_ctl (see run()). nginx's client_header_buffer_size
    // default: most API requests fit whole.
    std::array<char, 1024> first_bytes_;
    std::unique_ptr<http_parser> req_;
    std::string out_;       // the head being sent (capacity reused)
    std::string log_path_;  // the request path, kept for the access log
};

}  // namespace ringlb
