#include "ringlb/proxy/session.hpp"

#include "ringlb/http/error_response.hpp"
#include "ringlb/http/forward.hpp"
#include "ringlb/http/key.hpp"
#include "ringlb/http/rate_limited.hpp"
#include "ringlb/http/upgrade.hpp"
#include "ringlb/lb/ramp.hpp"
#include "ringlb/proxy/body_pump.hpp"
#include "ringlb/proxy/exchange.hpp"
#include "ringlb/proxy/request_head.hpp"
#include "ringlb/proxy/tunnel.hpp"
#include "ringlb/proxy/worker.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <cassert>
#include <cstring>

// GCC 12 misreports asio's coroutine frame operator delete as mismatched with its operator
// new (a known false positive); the frames are allocated and freed by asio's own pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb {

using asio::ip::tcp;

namespace {

inline auto use_ec(asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
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

// A tunnel registered with its worker for as long as this lives: also when the coroutine
// frame holding it is destroyed suspended (a shutdown past its grace period).
class tunnel_registration {
public:
    tunnel_registration(worker& w, tunnel_entry& t) noexcept : w_{w}, t_{t} { w_.tunnel_opened(t_); }
    ~tunnel_registration() { w_.tunnel_closed(t_); }
    tunnel_registration(const tunnel_registration&) = delete;
    tunnel_registration& operator=(const tunnel_registration&) = delete;

private:
    worker& w_;
    tunnel_entry& t_;
};

std::uint64_t micros_since(steady_clock::time_point t) noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - t).count());
}

}  // namespace

session::session(worker& w, tcp::socket socket, std::shared_ptr<const tls_server_context> tls)
    : worker_{w}, client_{std::move(socket), std::move(tls)}, wd_{w.io(), client_} {
    worker_.session_opened(this);
}

session::session(worker& w, tcp::socket socket, std::unique_ptr<tls_held> parked)
    : worker_{w}, client_{std::move(socket), std::move(parked)}, wd_{w.io(), client_} {
    worker_.session_opened(this);
}

session::~session() {
    release_buffers();
    worker_.session_closed(this);
}

void session::start() {
    wd_.bind(weak_from_this());
    asio::co_spawn(
        worker_.io(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void session::drain() noexcept {
    if (idle_) client_.cancel();
}

void session::release_buffers() noexcept {
    if (in_) {
        in_->clear();
        worker_.buffers().give(std::move(in_));
    }
    if (req_) worker_.request_parsers().give(std::move(req_));
}

// --- the connection loop ---

asio::awaitable<void> session::run() {
    asio::error_code ec;
    if (client_.tls() && !client_.established()) {
        // Cut like a slow head: a client that stalls its handshake holds nothing for long.
        wd_.arm(watchdog::phase::client_head, worker_.current()->b->settings.timeouts.client_header);
        co_await client_.async_handshake(use_ec(ec));
        wd_.disarm();
        (ec ? worker_.counters().tls_handshake_failures : worker_.counters().tls_handshakes).add();
        if (!ec && client_.tls_resumed()) worker_.counters().tls_resumed.add();
    }
    while (!ec) {
        if (!in_ || in_->size() == 0) {
            // Between requests: hold no pooled buffer, only the socket (see buffer.hpp). The
            // wait is a read into the session's own small array rather than an
            // async_wait(wait_read): asio re-arms the descriptor with epoll_ctl(MOD) for
            // every wait, while a read of a hot connection, whose next request is usually
            // in the socket already, is a single recv.
            release_buffers();
            idle_ = true;
            if (worker_.draining()) break;
            // A connection still idle after park_after leaves the session for the worker's
            // parking lot (parking_lot.hpp), which holds it for the rest of the idle timeout
            // at a fraction of the cost. If the lot cannot take it, the session waits on.
            const std::chrono::milliseconds idle = worker_.current()->b->settings.timeouts.idle;
            bool may_park = idle > parking_lot::park_after && client_.parkable();
            std::chrono::milliseconds left = idle;
            std::size_t n = 0;
            for (;;) {
                wd_.arm(may_park ? watchdog::phase::park : watchdog::phase::idle,
                        may_park ? parking_lot::park_after : left);
                n = co_await client_.async_read_some(asio::buffer(first_bytes_), use_ec(ec));
                // Only a wait the park deadline cut is parked: not an end of stream or a
                // reset that came with it, and not once the worker drains.
                if (ec != asio::error::operation_aborted || wd_.timed_out() != watchdog::phase::park) break;
                left = idle - parking_lot::park_after;
                if (worker_.park(client_, left) || worker_.draining()) break;
                may_park = false;
            }
            idle_ = false;
            // A drain cancels this read; but bytes that arrived before it are a request in
            // flight: it is served, with Connection: close (serve_one sees draining()).
            // Parked, the socket is closed here and its descriptor lives on in the lot.
            if (ec) break;
            in_ = worker_.buffers().take();
            assert(n <= in_->writable().size());  // pooled buffers are >= 16 KiB (worker.cpp)
            std::memcpy(in_->writable().data(), first_bytes_.data(), n);
            in_->commit(n);
        }
        if (!req_) req_ = worker_.request_parsers().take();
        if (!co_await serve_one()) break;
    }
    wd_.disarm();
    if (linger_) co_await linger_close(*worker_.current()->b);
    wd_.stop();
    client_.close();
}

asio::awaitable<void> session::linger_close(const bundle& b) {
    // Closing with unread input makes the kernel send RST, which can destroy the error
    // response before the client reads it: half-close, then drain input briefly.
    asio::error_code ec;
    client_.shutdown_send();
    if (!in_) in_ = worker_.buffers().take();
    wd_.arm(watchdog::phase::client_io, b.settings.timeouts.linger);
    std::size_t drained = 0;
    while (!ec && drained < (1u << 20) && !wd_.expired()) {
        in_->clear();
        const std::span<char> space = in_->writable();
        drained += co_await client_.async_read_some(asio::buffer(space.data(), space.size()), use_ec(ec));
    }
    wd_.disarm();
}

void session::finish(request_record& rec, answered_by by) {
    // Metrics: this worker's shards, no lock, no shared line (metrics/shards.hpp).
    metrics::proxy_shard& p = worker_.counters();
    p.requests.add();
    const bool timed = by == answered_by::backend || worker_.logging();
    const std::uint64_t us = timed ? micros_since(rec.started) : 0;
    if (by == answered_by::ringlb) {
        p.own_answers[metrics::own_status_index(rec.status)].add();
    } else if (by == answered_by::client_left) {
        p.client_aborts.add();
    } else if (rec.state != nullptr) {
        metrics::backend_shard& b = rec.state->shard(worker_.index());
        if (rec.status >= 100 && rec.status < 600)
            b.responses[static_cast<std::size_t>(rec.status / 100 - 1)].add();
        b.latency.observe(us);
        b.response_bytes.add(rec.bytes);
        if (worker_.current()->b->routing->options().keyless == keyless_policy::peak_ewma) {
            const std::int64_t started =
                std::chrono::duration_cast<std::chrono::nanoseconds>(rec.started.time_since_epoch()).count();
            observe_response_time(b, started + static_cast<std::int64_t>(us) * 1000, us * 1000);
        }
    }
    if (!worker_.logging()) return;
    access_entry e;
    e.client = client_.peer_ip();
    e.method = rec.method;
    e.path = log_path_;
    e.status = rec.status;
    e.backend = rec.backend;
    e.key_hash = rec.key_hash;
    e.bytes = rec.bytes;
    e.duration_us = us;
    e.retries = rec.retries;
    e.rate_limited = rec.rate_limited;
    worker_.log(e);
}

asio::awaitable<bool> session::reply_error(const bundle& b, request_record& rec, int status, bool close,
                                          std::string_view prepared) {
    const std::string_view r = prepared.empty() ? error_response(status, close, rec.method == "HEAD") : prepared;
    asio::error_code ec;
    wd_.arm(watchdog::phase::client_io, b.settings.timeouts.idle);
    co_await client_.async_write(asio::buffer(r), use_ec(ec));
    wd_.disarm();
    rec.status = status;
    rec.bytes += ec ? 0 : r.size();
    finish(rec, answered_by::ringlb);
    if (close) {
        linger_ = !ec;
    } else {
        // Keeping the connection is only offered once the whole request was read: drop it so
        // the next request starts at the right byte.
        in_->consume(msg_end_);
    }
    co_return !close && !ec;
}

asio::awaitable<void> session::run_tunnel(local_bundle_ptr& holder, exchange& ex, request_record& rec,
                                          std::string_view offered) {
    const bundle& b = *holder->b;
    http_parser& resp = ex.response();
    rec.status = 101;
    if (!switch_accepted(*req_, resp, offered)) {
        // A 101 to a protocol the client did not offer, naming none, or (a WebSocket) whose
        // Sec-WebSocket-Accept does not answer the client's key: the backend did not switch
        // as asked, and what follows cannot be trusted as the tunnel.
        ex.finish(false);
        if (rec.state != nullptr) rec.state->shard(worker_.index()).failures.add();
        co_await reply_error(b, rec, 502, true);
        co_return;
    }
    // The 101 and whatever the backend sent right after it (its first frames); then the
    // bytes are the tunnel's.
    out_.clear();
    build_client_response(resp, {.upgrade = true}, out_);
    buffer& down = ex.response_buffer();
    const asio::const_buffer early{down.data() + ex.head_end(), down.size() - ex.head_end()};
    asio::error_code ec;
    wd_.arm(watchdog::phase::client_io, b.settings.timeouts.idle);
    rec.bytes += co_await write_parts(client_, std::array{asio::const_buffer{out_.data(), out_.size()}, early}, ec);
    wd_.disarm();
    const conn_ref conn = ex.take_connection();
    finish(rec, ec ? answered_by::client_left : answered_by::backend);
    if (ec) {
        conn->close();
        co_return;
    }
    worker_.counters().tunnels_opened.add();

    // What the tunnel needs of the request, the exchange and the bundle, taken now: an open
    // tunnel holds none of them (a bundle kept for hours would keep old rings, addresses
    // and removed backends' state alive). What the client sent after its handshake goes to
    // the backend first, inside the tunnel, while the other direction already reads.
    const std::chrono::milliseconds idle = b.settings.timeouts.tunnel;
    tunnel_entry entry{.key_hash = rec.key_hash, .backend = ex.chosen_state(), .home = {}, .wd = &wd_};
    if (rec.key_hash) {
        const std::size_t home = b.routing->settled_owner(*rec.key_hash, steady_clock::now());
        if (home != chash::npos) entry.home = b.routing->backends()[home].state;
    }
    in_->consume(msg_end_);
    std::unique_ptr<buffer> leftover = in_->size() > 0 ? std::move(in_) : nullptr;
    release_buffers();
    ex.release_response();
    holder.reset();

    auto watch = wd_.watch_backend(conn->socket);
    {
        const tunnel_registration registered{worker_, entry};
        co_await relay_tunnel(client_, conn->socket, wd_, idle, worker_.buffers(), std::move(leftover));
    }
    watch.release();
    conn->close();
}

int session::check_rate_limit(const bundle& b, request_record& rec, std::size_t message_end) {
    const rate_rule& rule = b.settings.rate_limit;
    const http_parser& req = *req_;
    std::uint64_t key = 0;
    if (!rule.by) {
        if (!rec.key_hash) return 0;  // nothing to count it against: not limited
        key = *rec.key_hash;
    } else if (const auto k = extract_key(*rule.by, req, client_.peer_ip())) {
        key = b.routing->hash_key(*k);
    } else {
        return 0;
    }
    gcra_table& table = *b.limiter;
    // A mix of the key's hash, so where a key sits in the table is unrelated to where it
    // sits on the ring.
    const gcra_answer a =
        table.take(handover_hash(key), table.now_us(rec.started), gcra_limit::from(rule, table.share()));
    metrics::proxy_shard& p = worker_.counters();
    if (a.evicted) p.rate_limit_evictions.add();
    if (a.allowed) return 0;
    rec.rate_limited = true;
    if (rule.dry_run) {
        p.rate_limit_dry_run.add();
        return 0;
    }
    p.rate_limited.add();
    // The connection stays when the request was read whole and the client keeps it.
    // (An HTTP/1.0 client is not told keep-alive: it closes, as the exchange's answers do.)
    const bool close = message_end == 0 || !req.keep_alive() || req.version_minor() == 0 || worker_.draining();
    if (!close) msg_end_ = message_end;
    out_.clear();
    append_rate_limited(out_,
                        {.quota = rule.count,
                         .window_s = static_cast<std::uint64_t>(rule.period.count()) / 1000,
                         .retry_after_us = a.retry_after_us},
                        close, rec.method == "HEAD");
    return close ? 2 : 1;
}

asio::awaitable<bool> session::serve_one() {
    // The worker-local handle keeps this request's bundle alive until it ends, whatever a
    // reload publishes meanwhile.
    local_bundle_ptr holder = worker_.current();  // (a tunnel lets go of it early)
    const bundle& b = *holder->b;
    const proxy_settings& settings = b.settings;
    http_parser& req = *req_;
    buffer& in = *in_;
    request_record rec;
    rec.started = steady_clock::now();
    log_path_.clear();
    msg_end_ = 0;

    // 1. The head, parsed in place: its views into `in` stay valid until the body streams.
    wd_.arm(watchdog::phase::client_head, settings.timeouts.client_header);
    req.reset();
    head_result h = parse_request_head(in, req, head_limit(in, settings.limits));
    if (h.what == head_result::kind::need_more)
        h = co_await read_request_head(client_, in, req, wd_, settings, h);
    if (h.what == head_result::kind::gone) co_return false;
    rec.method = req.method_name();
    if (h.what == head_result::kind::reject) co_return co_await reply_error(b, rec, h.status, true);
    if (worker_.logging()) log_path_.assign(target_path(req.target()));

    // 2. Checks that need the whole head; the key.
    if (const int status = check_request_head(req, settings.limits); status != 0)
        co_return co_await reply_error(b, rec, status, true);
    if (const auto key = extract_key(settings.key, req, client_.peer_ip()))
        rec.key_hash = b.routing->hash_key(*key);
    else if (b.routing->options().keyless == keyless_policy::reject)
        co_return co_await reply_error(b, rec, 400, true);
    const std::string_view upgrade = tunnel_upgrade(req, settings.upgrade);
    out_.clear();
    build_backend_request(req, client_.peer_ip(), client_.scheme(), out_, settings.previous_owner_header, upgrade);

    // 3. The part of the body already buffered. If it holds the whole message, the request
    // can be replayed on another backend (we still have every byte).
    const auto first = req.feed(in.data() + h.end, in.size() - h.end);
    if (first.what == http_parser::event::error)
        co_return co_await reply_error(b, rec, req.error_status(), true);
    if (req.bounded_bytes() > settings.limits.max_body_bytes)
        co_return co_await reply_error(b, rec, 413, true);
    if (b.limiter) {
        const bool whole = first.what == http_parser::event::message_complete;
        if (const int limited = check_rate_limit(b, rec, whole ? h.end + first.consumed : 0))
            co_return co_await reply_error(b, rec, 429, limited == 2, out_);
    }
    request_plan plan;
    plan.head = out_;
    plan.body_begin = h.end;
    plan.body_end = h.end + first.consumed;
    plan.complete = first.what == http_parser::event::message_complete;
    plan.replayable = plan.complete && idempotent(req.method());
    plan.expect_continue = expects_continue(req);
    plan.head_request = req.method() == HTTP_HEAD;
    plan.upgrade = !upgrade.empty();
    const bool http10 = req.version_minor() == 0;
    const bool client_keep_alive = req.keep_alive();

    // 4. The backend side, up to the response head.
    exchange ex{worker_, wd_, b, owner_line_};
    const exchange::outcome out = co_await ex.run(client_, in, req, plan, rec);
    msg_end_ = plan.body_end;                   // where the request ends in `in` (once it was read whole)
    if (out.what == exchange::outcome::drop) {  // the client left
        worker_.counters().requests.add();
        worker_.counters().client_aborts.add();
        co_return false;
    }
    // Our own answer closes too when the client asked for that (Connection: close, HTTP/1.0)
    // or the worker is draining: RFC 9112 9.6. The pre-rendered answers do not say
    // keep-alive, so an HTTP/1.0 client, which would close on them anyway, is closed now.
    if (out.what == exchange::outcome::answer)
        co_return co_await reply_error(
            b, rec, out.status, out.close_client || !client_keep_alive || http10 || worker_.draining());

    // 5. The response, streamed to the client; or, after a 101, the tunnel.
    http_parser& resp = ex.response();
    if (plan.upgrade && resp.status() == 101) {
        co_await run_tunnel(holder, ex, rec, upgrade);  // `b` is not to be used after this
        co_return false;
    }
    const bool client_close =
        !client_keep_alive || !ex.request_read() || worker_.draining() || resp.body_until_eof();
    rec.status = resp.status();
    out_.clear();
    build_client_response(resp, {.close = client_close, .http10_keep_alive = http10 && !client_close}, out_);
    relay_state st;
    response_relay relayed;
    if (relay_begin(resp, ex.response_buffer(), ex.head_end(), out_, st)) {
        // The whole response is in hand (the usual case): one write, no pump.
        ex.load().reset();  // before the write: see relay_response
        asio::error_code ec;
        wd_.arm(watchdog::phase::client_io, settings.timeouts.idle);
        st.bytes += co_await write_parts(client_, st.chunk, ec);
        wd_.disarm();
        relay_done(resp, st);
        relayed = ec ? response_relay::client_gone : response_relay::done;
    } else {
        relayed = co_await relay_response(client_, ex.connection(), resp, ex.response_buffer(), wd_, settings,
                                          ex.load(), st);
    }
    rec.bytes += st.bytes;
    if (relayed != response_relay::done) {
        // The client cannot be told mid-response: it sees the connection end.
        if (relayed == response_relay::backend_malformed) rec.status = 502;
        if (relayed != response_relay::client_gone && rec.state != nullptr)
            rec.state->shard(worker_.index()).failures.add();  // cut short by the backend
        finish(rec, relayed == response_relay::client_gone ? answered_by::client_left : answered_by::backend);
        co_return false;
    }
    ex.finish(st.backend_reusable);
    finish(rec, answered_by::backend);
    // A backend that answered before the body was all read (a 413, a 401): the rest of the
    // body is unread, and closing at once would send an RST that can destroy the answer.
    if (!ex.request_read()) linger_ = true;
    if (client_close) co_return false;
    in.consume(msg_end_);  // pipelined bytes of the next request move to the front
    co_return true;
}

}  // namespace ringlb
