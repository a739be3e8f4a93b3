// ringlb/etcd/http_client.hpp: a small HTTP/1.1 client for the control thread, enough for
// etcd's JSON gateway: one request per connection, a fixed body, and an answer read whole
// or streamed line by line.
//
//   auto r = co_await ringlb::etcd::http_call(io, {"127.0.0.1", 2379}, req, std::chrono::seconds{5});
//   if (r.ok()) use(r.status, r.body);                    // the body decoded (chunked too)
//
//   ringlb::etcd::http_stream s{io};
//   auto end = co_await s.run({"127.0.0.1", 2379}, watch_req, [](std::string_view line) {
//       return handle(line);                              // false: stop reading
//   }, idle_timeout);
//   s.cancel();                                           // from elsewhere: ends run()
//
// Why one connection per request: etcd's gateway cannot stream both ways over HTTP/1.1
// (it answers a stream only after reading the whole request body), so a watch is a fixed
// body and a connection of its own, cancelled by closing it; unary calls are rare (a
// keepalive every few seconds, a liveness probe, an operator's change), so a fresh
// loopback or LAN connection each time costs nothing worth a pool. Every step is bounded:
// name resolution, connect, send and the answer by `timeout` (unary), a stream by
// `idle_timeout` between two lines. Answers are parsed by ringlb's strict llhttp wrapper,
// chunked bodies and trailers included: the head (at most 64 KiB) in a buffer that never
// moves while the parser holds views into it, the body capped at 64 MiB and a streamed line
// at 16 MiB.
//
// Thread-safety: none; everything on the control thread's io_context.
#pragma once

#include "ringlb/config/config.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringlb::etcd {

struct http_request {
    std::string method = "POST";
    std::string path;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct http_result {
    std::string error;  ///< empty: an answer came (whatever its status)
    bool sent = false;  ///< the request reached the socket (a write may have taken effect)
    int status = 0;
    std::string body;  ///< decoded
    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// The largest answer body read.
inline constexpr std::size_t max_answer_body = 64u << 20;

/// One request and its whole answer, within `timeout`.
[[nodiscard]] asio::awaitable<http_result> http_call(asio::io_context& io, const endpoint& at,
                                                     const http_request& req,
                                                     std::chrono::milliseconds timeout);

/// How a stream ended.
struct stream_end {
    enum kind : std::uint8_t { stopped, finished, failed } what = failed;
    int status = 0;     ///< the answer's status, once its head came
    std::string error;  ///< for failed
    bool unreadable = false;  ///< failed on what was sent (a line over the cap, a message not understood)
};

/// One streamed answer, read line by line (etcd's gateway sends one JSON object per line).
class http_stream {
public:
    using line_fn = std::function<bool(std::string_view line)>;

    explicit http_stream(asio::io_context& io);
    ~http_stream();
    http_stream(const http_stream&) = delete;
    http_stream& operator=(const http_stream&) = delete;

    /// Sends `req` and hands each line of the answer's body to `on_line` (a non-2xx answer
    /// too: its body is the error). Ends when on_line returns false (stopped), the body
    /// ends (finished), or on an error, a timeout (`connect_timeout` until the answer's
    /// head, `idle_timeout` between lines), or cancel() (failed). One run at a time.
    [[nodiscard]] asio::awaitable<stream_end> run(const endpoint& at, const http_request& req,
                                                  line_fn on_line, std::chrono::milliseconds connect_timeout,
                                                  std::chrono::milliseconds idle_timeout);
    /// Ends the run in progress (its socket is closed), and any later run at once.
    void cancel();

private:
    struct state;
    asio::io_context& io_;
    std::shared_ptr<state> state_;
    bool cancelled_ = false;
};

/// The request's bytes on the wire (Host, Content-Length, Connection: close).
[[nodiscard]] std::string serialize_request(const endpoint& at, const http_request& req);

}  // namespace ringlb::etcd
