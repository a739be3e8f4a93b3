#include "ringlb/session.hpp"

#include "ringlb/error_response.hpp"
#include "ringlb/forward.hpp"
#include "ringlb/key.hpp"
#include "ringlb/worker.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>

// GCC 12 misreports asio's coroutine frame operator delete as mismatched with its operator
// new (a known false positive); the frames are allocated and freed by asio's own pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb {

using asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

inline auto use_ec(asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

inline asio::mutable_buffer space(buffer& b) noexcept {
    const std::span<char> w = b.writable();
    return {w.data(), w.size()};
}

// Writes a head and an optional second part. One buffer goes out with send(); two need
// sendmsg(), which also copies an iovec array in, so an empty second part is left out.
// Not a coroutine: it returns asio's awaitable for either form, with no frame of its own.
asio::awaitable<std::size_t> write_parts(tcp::socket& s, const std::array<asio::const_buffer, 2>& parts,
                                         asio::error_code& ec) {
    if (parts[1].size() == 0) return asio::async_write(s, parts[0], use_ec(ec));
    return asio::async_write(s, parts, use_ec(ec));
}

// RFC 9110 9.2.2: a request with these methods can be sent again without changing the
// outcome, so failover may replay it.
bool idempotent(llhttp_method m) noexcept {
    switch (m) {
        case HTTP_GET:
        case HTTP_HEAD:
        case HTTP_OPTIONS:
        case HTTP_TRACE:
        case HTTP_PUT:
        case HTTP_DELETE:
            return true;
        default:
            return false;
    }
}

std::uint64_t micros_since(steady_clock::time_point t) noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - t).count());
}

// Holds a backend's in-flight count for the life of the exchange.
class in_flight_guard {
public:
    in_flight_guard() = default;
    in_flight_guard(const in_flight_guard&) = delete;
    in_flight_guard& operator=(const in_flight_guard&) = delete;
    ~in_flight_guard() { reset(); }
    void hold(backend_state* s) noexcept {
        reset();
        state_ = s;
        state_->begin_request();
    }
    void reset() noexcept {
        if (state_ != nullptr) state_->end_request();
        state_ = nullptr;
    }

private:
    backend_state* state_ = nullptr;
};

}  // namespace

// What the access log needs about the request being served.
struct session::request_record {
    steady_clock::time_point started;
    std::string_view method;
    int status = 0;
    std::string_view backend;
    std::optional<std::uint64_t> key_hash;
    std::uint64_t bytes = 0;
    unsigned retries = 0;
};

// The backend side of one request: connection, response parser and buffer. The connection
// it holds is the one the session's watchdog may cancel: the exchange registers it in the
// watchdog's slot when it takes one and clears the slot when it lets go of it, destruction
// included, so the watchdog can never reach a freed socket.
struct session::exchange {
    worker& w;
    upstream_conn*& watched;  // the session's watchdog slot
    conn_ref conn;
    std::unique_ptr<http_parser> resp;
    std::unique_ptr<buffer> buf;
    std::size_t head_len = 0;
    exchange(worker& wk, upstream_conn*& slot) : w{wk}, watched{slot} {}
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;
    void hold(conn_ref c) noexcept {
        conn = std::move(c);
        watched = conn.get();
    }
    // A connection the exchange lets go of without returning it is closed: a standing read
    // may still hold it, and must not keep its socket open.
    void drop() noexcept {
        watched = nullptr;
        if (conn) conn->close();
        conn.reset();
    }
    conn_ref release() noexcept {
        watched = nullptr;
        return std::move(conn);
    }
    ~exchange() {
        drop();
        if (buf) {
            buf->clear();
            w.buffers().give(std::move(buf));
        }
        if (resp) w.response_parsers().give(std::move(resp));
    }
};

session::session(worker& w, tcp::socket socket) : worker_{w}, client_{std::move(socket)}, timer_{w.io()} {
    asio::error_code ec;
    const auto ep = client_.remote_endpoint(ec);
    if (!ec) {
        const std::string ip = ep.address().to_string();
        client_ip_len_ = std::min(ip.size(), sizeof client_ip_ - 1);
        ip.copy(client_ip_, client_ip_len_);
    }
    worker_.session_opened(this);
}

session::~session() {
    release_buffers();
    worker_.session_closed(this);
}

void session::start() {
    asio::co_spawn(
        worker_.io(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void session::drain() noexcept {
    if (idle_) {
        asio::error_code ec;
        client_.cancel(ec);
    }
}

void session::release_buffers() noexcept {
    if (in_) {
        in_->clear();
        worker_.buffers().give(std::move(in_));
    }
    if (req_) worker_.request_parsers().give(std::move(req_));
}

// --- the watchdog ---

void session::arm(wait_kind k, milliseconds d) {
    waiting_ = k;
    timed_out_ = wait_kind::none;
    deadline_ = steady_clock::now() + d;
    // A later deadline needs no timer operation: the pending wait re-arms when it fires.
    if (timer_running_ && timer_.expiry() <= deadline_) return;
    timer_.expires_at(deadline_);
    timer_running_ = true;
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) { self->on_timer(ec); });
}

void session::on_timer(const asio::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // superseded or the session ended
    timer_running_ = false;
    if (waiting_ == wait_kind::none) return;
    if (steady_clock::now() < deadline_) {
        timer_.expires_at(deadline_);
        timer_running_ = true;
        timer_.async_wait([self = shared_from_this()](const asio::error_code& e) { self->on_timer(e); });
        return;
    }
    timed_out_ = waiting_;
    waiting_ = wait_kind::none;
    asio::error_code ignored;
    client_.cancel(ignored);
    if (upstream_ != nullptr) upstream_->socket.cancel(ignored);
}

// --- the connection loop ---

asio::awaitable<void> session::run() {
    asio::error_code ec;
    for (;;) {
        if (!in_ || in_->size() == 0) {
            // Between requests: hold no pooled buffer, only the socket (see buffer.hpp). The
            // wait is a read into the session's own small array rather than an
            // async_wait(wait_read): asio re-arms the descriptor with epoll_ctl(MOD) for
            // every wait, while a read of a hot connection, whose next request is usually
            // in the socket already, is a single recv.
            release_buffers();
            idle_ = true;
            if (worker_.draining()) break;
            arm(wait_kind::idle, worker_.current()->snap->cfg().timeouts.idle);
            const std::size_t n = co_await client_.async_read_some(asio::buffer(first_bytes_), use_ec(ec));
            idle_ = false;
            // A drain cancels this read; but bytes that arrived before it are a request in
            // flight: it is served, with Connection: close (serve_one sees draining()).
            if (ec) break;
            in_ = worker_.buffers().take();
            assert(n <= in_->writable().size());  // pooled buffers are >= 16 KiB (worker.cpp)
            std::memcpy(in_->writable().data(), first_bytes_.data(), n);
            in_->commit(n);
        }
        if (!req_) req_ = worker_.request_parsers().take();
        if (!co_await serve_one()) break;
    }
    disarm();
    if (linger_) co_await linger_close();
    asio::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    client_.close(ignored);
    timer_.cancel();
}

asio::awaitable<void> session::linger_close() {
    // Closing with unread input makes the kernel send RST, which can destroy the error
    // response before the client reads it: half-close, then drain input briefly.
    asio::error_code ec;
    client_.shutdown(tcp::socket::shutdown_send, ec);
    if (!in_) in_ = worker_.buffers().take();
    arm(wait_kind::client_io, worker_.current()->snap->cfg().timeouts.linger);
    std::size_t drained = 0;
    while (!ec && drained < (1u << 20)) {
        in_->clear();
        drained += co_await client_.async_read_some(space(*in_), use_ec(ec));
    }
    disarm();
}

void session::finish(request_record& rec) {
    if (!worker_.logging()) return;
    access_entry e;
    e.client = {client_ip_, client_ip_len_};
    e.method = rec.method;
    e.path = log_path_;
    e.status = rec.status;
    e.backend = rec.backend;
    e.key_hash = rec.key_hash;
    e.bytes = rec.bytes;
    e.duration_us = micros_since(rec.started);
    e.retries = rec.retries;
    worker_.log(e);
}

asio::awaitable<bool> session::reply_error(request_record& rec, int status, bool close) {
    const std::string_view r = error_response(status, close);
    asio::error_code ec;
    arm(wait_kind::client_io, worker_.current()->snap->cfg().timeouts.idle);
    co_await asio::async_write(client_, asio::buffer(r), use_ec(ec));
    disarm();
    rec.status = status;
    rec.bytes += ec ? 0 : r.size();
    finish(rec);
    if (close) linger_ = !ec;
    // Keeping the connection is only offered once the whole request was read: drop it so
    // the next request starts at the right byte.
    else
        in_->consume(msg_end_);
    co_return !close && !ec;
}

asio::awaitable<session::head_result> session::read_response_head(exchange& ex, bool head_request) {
    http_parser& p = *ex.resp;
    buffer& b = *ex.buf;
    std::size_t parsed = 0;
    bool any_byte = false;
    asio::error_code ec;
    p.reset(head_request);
    for (;;) {
        if (b.size() > parsed) {
            const auto r = p.feed(b.data() + parsed, b.size() - parsed);
            if (r.what == http_parser::event::error) co_return head_result::bad;
            if (r.what == http_parser::event::head_complete) {
                const int status = p.status();
                if (status == 101) co_return head_result::bad;  // we never forward Upgrade
                if (status >= 100 && status < 200) {
                    // Interim response (103 Early Hints...): not forwarded; skip its head.
                    b.consume(parsed + r.consumed);
                    parsed = 0;
                    p.reset(head_request);
                    continue;
                }
                ex.head_len = parsed + r.consumed;
                co_return head_result::ok;
            }
            parsed += r.consumed;
        }
        if (b.full()) co_return head_result::bad;  // a response head larger than a buffer
        const std::size_t n = co_await ex.conn->async_read_some(space(b), use_ec(ec));
        if (ec) {
            if (timed_out_ == wait_kind::backend) co_return head_result::timeout;
            co_return any_byte || b.size() > 0 ? head_result::bad : head_result::no_bytes;
        }
        any_byte = true;
        b.commit(n);
    }
}

asio::awaitable<bool> session::serve_one() {
    // The worker-local handle keeps this request's snapshot alive until it ends, whatever a
    // reload publishes meanwhile.
    const local_snapshot_ptr holder = worker_.current();
    const snapshot& snap = *holder->snap;
    const config& cfg = snap.cfg();
    http_parser& req = *req_;
    buffer& in = *in_;
    request_record rec;
    rec.started = steady_clock::now();
    log_path_.clear();
    msg_end_ = 0;
    asio::error_code ec;

    // 1. The head. Views into `in` stay valid until the body streams.
    const std::size_t head_limit = std::min(cfg.limits.max_header_bytes, in.capacity() - 1);
    arm(wait_kind::client_head, cfg.timeouts.client_header);
    req.reset();
    std::size_t parsed = 0;
    for (;;) {
        const auto r = req.feed(in.data() + parsed, in.size() - parsed);
        if (r.what == http_parser::event::head_complete) {
            parsed += r.consumed;
            break;
        }
        if (r.what != http_parser::event::need_more) {
            rec.method = req.method_name();
            co_return co_await reply_error(rec, req.error_status(), true);
        }
        parsed = in.size();
        if (in.size() > head_limit)
            co_return co_await reply_error(rec, req.target_complete() ? 431 : 414, true);
        const std::size_t n = co_await client_.async_read_some(space(in), use_ec(ec));
        if (ec) {
            if (timed_out_ == wait_kind::client_head && in.size() > 0)
                co_return co_await reply_error(rec, 408, true);
            co_return false;  // the client left (or idled out before sending anything)
        }
        in.commit(n);
    }
    rec.method = req.method_name();
    if (worker_.logging()) log_path_.assign(target_path(req.target()));
    if (parsed > head_limit)
        co_return co_await reply_error(rec, req.target().size() + 64 > head_limit ? 414 : 431, true);

    // 2. Checks that need the whole head.
    const bool http10 = req.version_minor() == 0;
    if (req.version_major() != 1) co_return co_await reply_error(rec, 400, true);
    std::size_t hosts = 0;
    for (std::size_t i = 0; i < req.header_count(); ++i)
        if (req.header(i).id == header_id::host) ++hosts;
    if (hosts > 1 || (hosts == 0 && !http10)) co_return co_await reply_error(rec, 400, true);
    // Not a forward proxy: no tunnels to arbitrary hosts.
    if (req.method() == HTTP_CONNECT) co_return co_await reply_error(rec, 405, true);
    const bool has_body = req.chunked() || req.content_length() > 0;
    bool expect_continue = false;
    if (const auto expect = req.header_value(header_id::expect); !expect.empty()) {
        if (!iequals(expect, "100-continue")) co_return co_await reply_error(rec, 417, true);
        expect_continue = has_body && !http10;
    }
    if (req.content_length() > cfg.limits.max_body_bytes) co_return co_await reply_error(rec, 413, true);

    const auto key = extract_key(cfg.routing.hash_key, req, {client_ip_, client_ip_len_});
    if (key)
        rec.key_hash = snap.hash_key(*key);
    else if (cfg.routing.keyless == keyless_policy::reject)
        co_return co_await reply_error(rec, 400, true);

    out_.clear();
    build_backend_request(req, {client_ip_, client_ip_len_}, out_);

    // 3. The part of the body already buffered. If it holds the whole message, the request
    // can be replayed on another backend (we still have every byte).
    std::size_t body_begin = parsed;
    auto first = req.feed(in.data() + parsed, in.size() - parsed);
    if (first.what == http_parser::event::error)
        co_return co_await reply_error(rec, req.error_status(), true);
    if (req.body_bytes() > cfg.limits.max_body_bytes) co_return co_await reply_error(rec, 413, true);
    const bool complete = first.what == http_parser::event::message_complete;
    std::size_t body_end = parsed + first.consumed;
    msg_end_ = body_end;
    const bool replayable = idempotent(req.method()) && complete;
    const bool head_request = req.method() == HTTP_HEAD;
    const bool client_keep_alive = req.keep_alive();

    // 4. Choose a backend, connect, send; fail over while nothing irreversible happened.
    tried_set tried;
    in_flight_guard load;
    exchange ex{worker_, upstream_};
    std::size_t chosen = chash::npos;
    bool continue_sent = false;
    bool fresh_only = false;    // the pooled connection just failed: use a new one
    bool request_sent = false;  // all request bytes reached the backend
    for (;;) {
        const auto now = steady_clock::now();
        chosen = rec.key_hash ? snap.select(*rec.key_hash, tried, now)
                              : snap.select_keyless(worker_.keyless(), tried, now);
        if (chosen == chash::npos) co_return co_await reply_error(rec, 503, !complete);
        const backend& b = snap.backends()[chosen];
        rec.backend = b.id;
        load.hold(b.state.get());
        // The backend failed this request: mark it, never pick it again for this request,
        // and say whether the retry budget allows the next candidate.
        const auto fail_over = [&] {
            b.state->record_failure(steady_clock::now());
            tried.add(chosen);
            if (rec.retries >= cfg.routing.retries) return false;
            ++rec.retries;
            return true;
        };

        bool reused = false;
        if (!fresh_only) ex.hold(worker_.upstreams().take(b, now, cfg.timeouts.idle));
        fresh_only = false;
        if (ex.conn) {
            reused = true;
        } else {
            ex.hold(upstream_conn::open(worker_.io().get_executor(), b.address));
            arm(wait_kind::connect, cfg.timeouts.connect);
            co_await ex.conn->socket.async_connect(b.address, use_ec(ec));
            disarm();
            if (ec) {
                const bool timed_out = timed_out_ == wait_kind::connect;
                ex.drop();
                // Nothing reached the backend: any request may go to the next candidate.
                if (fail_over()) continue;
                co_return co_await reply_error(rec, timed_out ? 504 : 502, !complete);
            }
            asio::error_code ignored;
            ex.conn->socket.set_option(tcp::no_delay(true), ignored);
        }

        // The client waits for our 100 before sending the body; the backend is reachable.
        if (expect_continue && !continue_sent && !complete) {
            arm(wait_kind::client_io, cfg.timeouts.idle);
            co_await asio::async_write(client_, asio::buffer(continue_response), use_ec(ec));
            if (ec) co_return false;
            continue_sent = true;
        }

        if (reused && ex.conn->stray()) {
            // The backend sent something since the connection was pooled: it is out of step
            // with its requests. Not the request's fault: a fresh connection, no retry used.
            ex.drop();
            fresh_only = true;
            continue;
        }
        arm(wait_kind::backend, cfg.timeouts.backend_response);
        co_await write_parts(
            ex.conn->socket,
            {asio::buffer(out_), asio::buffer(in.data() + body_begin, body_end - body_begin)}, ec);
        bool backend_write_failed = static_cast<bool>(ec);
        if (backend_write_failed) {
            // Nothing was streamed from the client yet (every byte sent is still in `in`),
            // and a partial request cannot have been acted on: any method may move on.
            ex.drop();
            if (reused) {
                fresh_only = true;  // the backend closed an idle connection under us
                continue;
            }
            if (fail_over()) continue;
            co_return co_await reply_error(rec, 502, true);
        }

        // 5. Stream the rest of the body: client -> backend, bounded by one buffer.
        if (!complete) {
            in.clear();  // everything buffered was consumed and sent
            body_begin = body_end = 0;
            for (;;) {
                arm(wait_kind::client_io, cfg.timeouts.idle);
                const std::size_t n = co_await client_.async_read_some(space(in), use_ec(ec));
                if (ec) {
                    if (timed_out_ == wait_kind::client_io) co_return co_await reply_error(rec, 408, true);
                    co_return false;
                }
                in.commit(n);
                const auto r = req.feed(in.data(), in.size());
                if (r.what == http_parser::event::error)
                    co_return co_await reply_error(rec, req.error_status(), true);
                if (req.body_bytes() > cfg.limits.max_body_bytes)
                    co_return co_await reply_error(rec, 413, true);
                arm(wait_kind::backend, cfg.timeouts.backend_response);
                co_await asio::async_write(ex.conn->socket, asio::buffer(in.data(), r.consumed), use_ec(ec));
                if (ec) {
                    backend_write_failed = true;
                    break;
                }
                if (r.what == http_parser::event::message_complete) {
                    msg_end_ = r.consumed;
                    request_sent = true;
                    break;
                }
                in.clear();
            }
        } else {
            request_sent = true;
        }

        // 6. The response head.
        if (!ex.resp) ex.resp = worker_.response_parsers().take();
        if (!ex.buf) ex.buf = worker_.buffers().take();
        ex.buf->clear();
        arm(wait_kind::backend, cfg.timeouts.backend_response);
        const head_result hr = co_await read_response_head(ex, head_request);
        disarm();
        if (hr == head_result::ok) {
            b.state->record_success();
            break;
        }
        ex.drop();
        if (hr == head_result::timeout) co_return co_await reply_error(rec, 504, !request_sent);
        if (hr == head_result::no_bytes && replayable) {
            if (reused) {
                // A pooled connection the backend closed as we wrote: not the backend's
                // fault; once more on a fresh connection, not counted as a retry.
                fresh_only = true;
                continue;
            }
            if (fail_over()) continue;
        } else if (hr == head_result::no_bytes && !reused) {
            b.state->record_failure(steady_clock::now());
        }
        co_return co_await reply_error(rec, 502, !request_sent);
    }

    // 7. Stream the response: backend -> client.
    http_parser& resp = *ex.resp;
    buffer& rb = *ex.buf;
    const bool client_close =
        !client_keep_alive || !request_sent || worker_.draining() || resp.body_until_eof();
    rec.status = resp.status();
    const std::string_view raw{rb.data(), ex.head_len};
    // Up to the first CR or LF: llhttp (not built strict) ends a status line at a CR followed
    // by any byte, and a bare CR must never reach the client (RFC 9112 2.2).
    const std::string_view status_line = raw.substr(0, std::min(raw.find('\r'), raw.find('\n')));
    out_.clear();
    build_client_response(resp, status_line,
                          {.close = client_close, .http10_keep_alive = http10 && !client_close}, out_);

    auto r = resp.feed(rb.data() + ex.head_len, rb.size() - ex.head_len);
    bool backend_reusable = resp.keep_alive() && request_sent;
    // A small first part of the body joins the head, so the usual response is one buffer
    // and one send() (see write_parts); a large one is not worth the copy.
    constexpr std::size_t join_body_below = 4096;
    std::array<asio::const_buffer, 2> chunk{};
    if (r.consumed < join_body_below) {
        out_.append(rb.data() + ex.head_len, r.consumed);
        chunk[0] = asio::buffer(out_);
    } else {
        chunk = {asio::buffer(out_), asio::buffer(rb.data() + ex.head_len, r.consumed)};
    }
    std::size_t leftover = rb.size() - ex.head_len - r.consumed;
    for (;;) {
        if (r.what == http_parser::event::error) {
            // Broken framing mid-response: the client cannot be told, only disconnected.
            co_await asio::async_write(client_, chunk, use_ec(ec));
            rec.status = 502;
            finish(rec);
            co_return false;
        }
        // The backend's part is over once its response is complete: release the load count
        // before the last write, so a client's next request (maybe on another worker) never
        // sees this one still in flight and spills its key under bounded loads.
        if (r.what == http_parser::event::message_complete) load.reset();
        arm(wait_kind::client_io, cfg.timeouts.idle);
        rec.bytes += co_await write_parts(client_, chunk, ec);
        if (ec) {
            finish(rec);
            co_return false;
        }
        if (r.what == http_parser::event::message_complete) break;
        rb.clear();
        arm(wait_kind::backend, cfg.timeouts.backend_response);
        const std::size_t n = co_await ex.conn->async_read_some(space(rb), use_ec(ec));
        if (ec) {
            if (ec == asio::error::eof && resp.finish()) {  // body delimited by the close
                backend_reusable = false;
                break;
            }
            finish(rec);  // truncated: the client sees the connection close mid-body
            co_return false;
        }
        rb.commit(n);
        r = resp.feed(rb.data(), rb.size());
        chunk = {asio::buffer(rb.data(), r.consumed), asio::const_buffer{}};
        leftover = rb.size() - r.consumed;
    }
    disarm();
    if (backend_reusable && leftover == 0) {
        ++ex.conn->requests;
        worker_.upstreams().give(snap.backends()[chosen], ex.release(), steady_clock::now(),
                                 cfg.limits.idle_backend_connections);
    }
    load.reset();
    finish(rec);
    if (client_close) co_return false;
    in.consume(msg_end_);  // pipelined bytes of the next request move to the front
    co_return true;
}

}  // namespace ringlb
