// ringlb/proxy/exchange.hpp: the backend side of one request: select, connect or reuse,
// send, stream the body, read the response head; fail over by the failure policy.
//
//   ringlb::exchange ex{worker, wd, bundle};
//   const auto out = co_await ex.run(client, in, req, request, rec);
//   switch (out.what) {
//       case exchange::outcome::response: /* relay ex.response() from ex.response_buffer() */
//       case exchange::outcome::answer:   /* send error_response(out.status), close if told */
//       case exchange::outcome::drop:     /* the client left */
//   }
//   ex.finish(reusable);                  // the connection back to the pool, or closed
//
// The exchange owns everything the backend side holds: the connection (a conn_ref), its
// registration with the session's watchdog (destroyed before the connection is let go, so
// the watchdog never reaches a socket the exchange no longer has), the backend's in-flight
// count, and the response parser and buffer (pooled, returned on destruction). Every exit,
// early or not, releases them in that order by destruction. What a failure at each phase
// leads to is failure_policy.hpp's `decide`, the only place such choices are made.
//
// Thread-safety: none; the session's worker thread.
#pragma once

#include "ringlb/common/buffer.hpp"
#include "ringlb/http/parser.hpp"
#include "ringlb/lb/backend_state.hpp"
#include "ringlb/proxy/bundle.hpp"
#include "ringlb/proxy/client_stream.hpp"
#include "ringlb/proxy/failure_policy.hpp"
#include "ringlb/proxy/upstream.hpp"
#include "ringlb/proxy/watchdog.hpp"

#include <asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringlb {

class worker;

/// What the access log keeps of a request.
struct request_record {
    std::chrono::steady_clock::time_point started;
    std::string_view method;
    int status = 0;
    std::string_view backend;
    backend_state* state = nullptr;  ///< the backend's state, for its metric shard
    std::optional<std::uint64_t> key_hash;
    std::uint64_t bytes = 0;
    unsigned retries = 0;
    bool rate_limited = false;  ///< over [rate_limit] (refused, or let through in a dry run)
};

/// What the exchange needs to know of the request.
struct request_plan {
    std::string_view head;         ///< the head to send (hop-by-hop handled)
    std::size_t body_begin = 0;    ///< the buffered start of the body in `in`
    std::size_t body_end = 0;      ///< ...and its end (the message's end when complete)
    bool complete = false;         ///< the whole request (head and body) is in `in`
    bool replayable = false;       ///< idempotent and complete: may go to another backend
    bool expect_continue = false;  ///< the client waits for our 100 before sending its body
    bool head_request = false;     ///< a HEAD: the response has no body whatever it says
    bool upgrade = false;          ///< asks to switch protocols: a 101 is the answer, not an error
};

class exchange {
public:
    struct outcome {
        enum kind : std::uint8_t { response, answer, drop } what = drop;
        int status = 0;             ///< for answer
        bool close_client = false;  ///< for answer
    };

    /// The previous-owner header line and the blank line after it: a name of at most 64
    /// characters, ": ", a backend id of at most 128, "\r\n\r\n" (config.cpp caps both; a
    /// longer pair is not sent).
    static constexpr std::size_t owner_line_bytes = 64 + 2 + 128 + 4;

    /// `owner_line`: owner_line_bytes of scratch that outlives the exchange.
    exchange(worker& w, watchdog& wd, const bundle& b, std::span<char, owner_line_bytes> owner_line) noexcept
        : worker_{w}, wd_{wd}, bundle_{b}, owner_line_{owner_line} {}
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;
    ~exchange();

    /// Runs the exchange up to the response head (or a decision to answer or drop).
    /// `plan.body_end` becomes where the request ends in `in` once its body was streamed.
    [[nodiscard]] asio::awaitable<outcome> run(client_stream& client, buffer& in, http_parser& req,
                                               request_plan& plan, request_record& rec);

    // --- after a response outcome ---
    [[nodiscard]] http_parser& response() noexcept { return *resp_; }
    [[nodiscard]] buffer& response_buffer() noexcept { return *buf_; }
    [[nodiscard]] std::size_t head_end() const noexcept { return head_end_; }
    [[nodiscard]] upstream_conn& connection() noexcept { return *conn_; }
    [[nodiscard]] in_flight_guard& load() noexcept { return load_; }
    /// Whether every byte of the request was read from the client (the client connection
    /// can carry another request after this one).
    [[nodiscard]] bool request_read() const noexcept { return request_read_; }
    /// Ends the exchange: the connection goes back to the pool when `reusable` and the
    /// whole request reached the backend, else closes.
    void finish(bool reusable);
    /// Ends the exchange after a 101: the connection leaves with the caller, who makes it a
    /// tunnel; the request no longer counts as in flight.
    [[nodiscard]] conn_ref take_connection() noexcept;
    /// The state of the backend that answered (null before one was chosen).
    [[nodiscard]] std::shared_ptr<const backend_state> chosen_state() const noexcept {
        return chosen_ == chash::npos ? nullptr : bundle_.routing->backends()[chosen_].state;
    }
    /// Returns the response buffer and parser to their pools (their views are dead after).
    void release_response() noexcept;

private:
    enum class head_status : std::uint8_t { ok, need_more, timeout, no_bytes, bad };
    struct head_scan {
        std::size_t parsed = 0;  // bytes of buf_ the parser has seen
        int interim = 0;         // 1xx heads skipped so far
    };
    // Parses what buf_ holds of the response head (synchronous: the read loop is run()'s,
    // so a response costs no coroutine frame of its own).
    head_status scan_response_head(head_scan& scan, bool head_request) noexcept;
    void hold(conn_ref c) noexcept;
    void drop_connection() noexcept;

    worker& worker_;
    watchdog& wd_;
    const bundle& bundle_;
    std::size_t chosen_ = chash::npos;
    in_flight_guard load_;
    conn_ref conn_;
    watchdog::watch watch_;  // after conn_: destroyed first
    std::unique_ptr<http_parser> resp_;
    std::unique_ptr<buffer> buf_;
    std::size_t head_end_ = 0;
    // Where the previous-owner header line and the blank line after it are written, when
    // one is sent: the session's (owner_line_bytes), so that this object, which lives in
    // the session's coroutine frame, keeps that frame small enough for asio to recycle.
    std::span<char> owner_line_;
    bool request_read_ = false;
    bool upgrade_ = false;    // a 101 is welcome (plan.upgrade)
    bool sent_whole_ = true;  // the backend is in step: it got (and read) the first write whole
};

}  // namespace ringlb
