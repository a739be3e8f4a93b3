// ringlb/proxy/session.hpp: one client connection, served by a coroutine from accept to close.
//
//   auto s = std::make_shared<ringlb::session>(worker, std::move(socket));
//   s->start();                      // co_spawn on the worker's io_context
//
// The session is the connection loop: wait for a request (holding no pooled buffer while
// idle), read its head (request_head.hpp), hand the backend side to an exchange
// (exchange.hpp: select, connect or reuse, send, stream the body, response head, failover
// by failure_policy.hpp), relay the response (body_pump.hpp), log it, and loop for the
// next request on the connection (keep-alive; pipelined requests are answered in order
// because they are served one after the other). A request that switches protocols and gets
// its 101 turns the connection into a tunnel (tunnel.hpp) until either side ends it. Its own answers (error_response.hpp) end
// with a lingering close when the connection cannot carry another request. Timeouts are
// one watchdog (watchdog.hpp) per session.
//
// Thread-safety: a session lives on its worker's thread; drain() too (the worker calls it).
#pragma once

#include "ringlb/common/buffer.hpp"
#include "ringlb/http/parser.hpp"
#include "ringlb/proxy/client_stream.hpp"
#include "ringlb/proxy/watchdog.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <memory>
#include <string>

namespace ringlb {

class worker;
struct bundle;
struct request_record;

class session : public std::enable_shared_from_this<session> {
public:
    /// With `tls`, the connection is TLS: the handshake comes first.
    session(worker& w, asio::ip::tcp::socket socket, std::shared_ptr<const tls_server_context> tls = nullptr);
    /// A parked TLS connection served again (parking_lot.hpp).
    session(worker& w, asio::ip::tcp::socket socket, std::unique_ptr<tls_held> parked);
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
    asio::awaitable<void> run();
    asio::awaitable<bool> serve_one();
    /// Sends ringlb's own answer: error_response(status), or `prepared` when given.
    asio::awaitable<bool> reply_error(const bundle& b, request_record& rec, int status, bool close,
                                      std::string_view prepared = {});
    /// Counts the request against [rate_limit]. Answers 0 to let it through; otherwise the
    /// 429 is in out_ and the answer is 1 (keep the connection) or 2 (close it).
    /// `message_end`: where the request ends in in_ when it was read whole, else 0.
    int check_rate_limit(const bundle& b, request_record& rec, std::size_t message_end);
    asio::awaitable<void> linger_close(const bundle& b);
    asio::awaitable<void> run_tunnel(std::shared_ptr<const struct local_bundle>& holder, class exchange& ex,
                                     request_record& rec, std::string_view offered);
    /// Who gave the client its answer: a backend (relayed), ringlb itself (the error
    /// table), or nobody whole (the client left mid-response).
    enum class answered_by : std::uint8_t { backend, ringlb, client_left };
    void finish(request_record& rec, answered_by by);
    void release_buffers() noexcept;

    worker& worker_;
    client_stream client_;
    watchdog wd_;
    bool idle_ = true;
    bool linger_ = false;         // close after draining unread input
    std::size_t msg_end_ = 0;     // end of the current request in in_, once known
    std::unique_ptr<buffer> in_;  // client bytes; only while a request is in progress
    // Where a keep-alive connection's next request first lands, so that waiting for it holds
    // no pooled buffer and costs no epoll_ctl (see run()). nginx's client_header_buffer_size
    // default: most API requests fit whole.
    std::array<char, 1024> first_bytes_;
    std::unique_ptr<http_parser> req_;
    std::string out_;       // the head being sent (capacity reused)
    // The exchange's previous-owner line: here rather than in serve_one's coroutine frame,
    // which must stay under the 1020 bytes asio's frame recycling takes (Debug builds too),
    // or every request would allocate one.
    std::array<char, 64 + 2 + 128 + 4> owner_line_;
    std::string log_path_;  // the request path, kept for the access log
};

}  // namespace ringlb
