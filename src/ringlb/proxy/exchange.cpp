#include "ringlb/proxy/exchange.hpp"

#include "ringlb/http/error_response.hpp"
#include "ringlb/proxy/body_pump.hpp"
#include "ringlb/proxy/worker.hpp"

#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

// GCC 12 misreports asio's coroutine frame operator delete as mismatched with its operator
// new (a known false positive); the frames are allocated and freed by asio's own pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb {

namespace {

using asio::ip::tcp;

inline auto use_ec(asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

inline asio::mutable_buffer space(buffer& b) noexcept {
    const std::span<char> w = b.writable();
    return {w.data(), w.size()};
}

// Interim (1xx) heads a backend may send before its response: more is a flood, not HTTP.
constexpr int max_interim_heads = 16;

}  // namespace

exchange::~exchange() {
    drop_connection();
    release_response();
}

void exchange::release_response() noexcept {
    if (buf_) {
        buf_->clear();
        worker_.buffers().give(std::move(buf_));
    }
    if (resp_) worker_.response_parsers().give(std::move(resp_));
}

void exchange::hold(conn_ref c) noexcept {
    watch_.release();
    conn_ = std::move(c);
    if (conn_) watch_ = wd_.watch_backend(conn_->socket);
}

// A connection the exchange lets go of without returning it is closed: a standing read may
// still hold it, and must not keep its socket open.
void exchange::drop_connection() noexcept {
    watch_.release();
    if (conn_) conn_->close();
    conn_.reset();
}

void exchange::finish(bool reusable) {
    watch_.release();
    load_.reset();
    if (!conn_) return;
    if (!reusable || !sent_whole_ || !request_read_) {
        drop_connection();
        return;
    }
    ++conn_->requests;
    worker_.upstreams().give(bundle_.routing->backends()[chosen_], std::move(conn_), steady_clock::now(),
                             bundle_.settings.limits.idle_backend_connections);
}

conn_ref exchange::take_connection() noexcept {
    watch_.release();
    load_.reset();
    return std::move(conn_);
}

asio::awaitable<exchange::outcome> exchange::run(client_stream& client, buffer& in, http_parser& req,
                                                 request_plan& plan, request_record& rec) {
    const routing_snapshot& routing = *bundle_.routing;
    const proxy_settings& settings = bundle_.settings;
    asio::error_code ec;
    tried_set tried;
    bool continue_sent = false;
    bool fresh_only = false;  // the pooled connection just failed: use a new one
    // What the last failure would have been answered with had no retry been left: when a
    // failover then finds no candidate, the client gets that (502, 504), not a 503, since
    // a backend did fail it.
    std::optional<decision> spent;
    request_read_ = plan.complete;
    upgrade_ = plan.upgrade;

    for (;;) {
        // Each step runs while no fault is set; the first fault ends the attempt, and the
        // policy decides what follows.
        struct fault_at {
            failure_phase phase;
            failure what;
        };
        std::optional<fault_at> fault;
        bool reused = false;
        sent_whole_ = true;
        const auto now = steady_clock::now();
        chosen_ = rec.key_hash ? routing.select(*rec.key_hash, tried, now)
                               : routing.select_keyless(worker_.keyless(), tried, now);
        if (chosen_ == chash::npos) {
            if (spent) co_return outcome{outcome::answer, spent->status, !request_read_};
            fault = {failure_phase::select, failure::no_backend};
        }

        if (!fault) {
            const backend& b = routing.backends()[chosen_];
            const tcp::endpoint& address = bundle_.addresses[chosen_];
            rec.backend = b.id;
            rec.state = b.state.get();
            if (rec.retries > 0) b.state->shard(worker_.index()).retries.add();
            load_.hold(b.state.get());
            if (!fresh_only)
                hold(worker_.upstreams().take(b, address, now, settings.timeouts.idle, plan.replayable));
            fresh_only = false;
            reused = static_cast<bool>(conn_);
            if (!reused) {
                hold(upstream_conn::open(worker_.io().get_executor(), address));
                wd_.arm(watchdog::phase::connect, settings.timeouts.connect);
                co_await conn_->socket.async_connect(address, use_ec(ec));
                wd_.disarm();
                if (ec || wd_.expired()) {
                    const bool timed_out = wd_.timed_out() == watchdog::phase::connect;
                    fault = {failure_phase::connect, timed_out ? failure::timeout : failure::refused};
                } else {
                    asio::error_code ignored;
                    conn_->socket.set_option(tcp::no_delay(true), ignored);
                }
            }
        }

        // The client waits for our 100 before sending the body; the backend is reachable.
        if (!fault && plan.expect_continue && !continue_sent && !plan.complete) {
            wd_.arm(watchdog::phase::client_io, settings.timeouts.idle);
            co_await client.async_write(asio::buffer(continue_response), use_ec(ec));
            if (ec || wd_.expired()) fault = {failure_phase::send, failure::client_gone};
            continue_sent = true;
        }

        if (!fault && reused && conn_->stray()) {
            // Checked right before the write: from the write on, bytes are the answer.
            fault = {failure_phase::send, failure::stray_bytes};
        }

        if (!fault) {
            wd_.arm(watchdog::phase::backend, settings.timeouts.backend_response);
            // The previous owner's name, when the key changed hands recently, goes in just
            // before the head's blank line (the head was built without it: it depends on
            // the backend this attempt chose).
            std::string_view previous =
                settings.previous_owner_header.empty() || !rec.key_hash
                    ? std::string_view{}
                    : routing.previous_owner(*rec.key_hash, chosen_, now, settings.previous_owner_window);
            const std::string_view name = settings.previous_owner_header;
            if (name.size() + previous.size() + 6 > owner_line_.size()) previous = {};  // config caps both
            const asio::const_buffer body{in.data() + plan.body_begin, plan.body_end - plan.body_begin};
            std::size_t head_size = plan.head.size();
            std::size_t written = 0;
            if (previous.empty()) {
                written = co_await write_parts(
                    conn_->socket, std::array{asio::const_buffer{plan.head.data(), head_size}, body}, ec);
            } else {
                // "Name: id\r\n" and the blank line, in the exchange's own array: no allocation.
                char* at = std::copy(name.begin(), name.end(), owner_line_.data());
                at = std::copy_n(": ", 2, at);
                at = std::copy(previous.begin(), previous.end(), at);
                at = std::copy_n("\r\n\r\n", 4, at);
                const auto line_size = static_cast<std::size_t>(at - owner_line_.data());
                head_size += line_size - 2;
                written = co_await write_parts(
                    conn_->socket,
                    std::array{asio::const_buffer{plan.head.data(), plan.head.size() - 2},
                               asio::const_buffer{owner_line_.data(), line_size}, body},
                    ec);
            }
            // Past the deadline (the write cut by it, or completed as it passed): a backend
            // that does not read, 504, never a replay. A failed write that had not delivered
            // the head whole reached nothing the backend can act on; one that had, may have.
            if (wd_.expired())
                fault = {failure_phase::send, failure::timeout};
            else if (ec)
                fault = {failure_phase::send,
                         written < head_size ? failure::write_failed : failure::write_cut};
            if (written < head_size + body.size()) sent_whole_ = false;
        }

        if (!fault && !plan.complete) {
            switch (co_await pump_request_body(client, in, req, *conn_, wd_, settings, plan.body_end)) {
                case request_pump::done:
                    request_read_ = true;
                    break;
                case request_pump::client_malformed:
                    fault = {failure_phase::body, failure::client_malformed};
                    break;
                case request_pump::client_too_large:
                    fault = {failure_phase::body, failure::client_too_large};
                    break;
                case request_pump::client_timeout:
                    fault = {failure_phase::body, failure::client_timeout};
                    break;
                case request_pump::client_gone:
                    fault = {failure_phase::body, failure::client_gone};
                    break;
                case request_pump::backend_timeout:
                    fault = {failure_phase::body, failure::timeout};
                    break;
                case request_pump::backend_failed:
                    break;  // the backend stopped taking the body: it may have answered early
            }
        }

        // A backend that stopped reading (the deadline) or reset the request (a failed write
        // on a connection of our own: on a pooled one that is the backend closing it idle)
        // may have answered early, a 413 or a 401 to an upload it will not take: that answer
        // is relayed, not a 504 or a replay. A standing read the deadline cancelled
        // completes first, so the connection knows where its bytes are. The backend may not
        // have read all it was sent: the connection is not reused.
        if (fault && (fault->phase == failure_phase::send || fault->phase == failure_phase::body) &&
            (fault->what == failure::timeout ||
             (!reused && (fault->what == failure::write_failed || fault->what == failure::write_cut)))) {
            if (conn_->watching()) co_await asio::post(worker_.io().get_executor(), asio::use_awaitable);
            if (conn_->answer_waiting()) {
                fault.reset();
                sent_whole_ = false;
            }
        }

        if (!fault) {
            if (!resp_) resp_ = worker_.response_parsers().take();
            if (!buf_) buf_ = worker_.buffers().take();
            buf_->clear();
            wd_.arm(watchdog::phase::backend, settings.timeouts.backend_response);
            resp_->reset(plan.head_request);
            head_scan scan;
            head_status hs = head_status::need_more;
            while (hs == head_status::need_more) {
                if (buf_->full()) {
                    hs = head_status::bad;  // a response head larger than a buffer
                    break;
                }
                const std::size_t n = co_await conn_->async_read_some(space(*buf_), use_ec(ec));
                if (ec) {
                    hs = wd_.timed_out() == watchdog::phase::backend ? head_status::timeout
                         : buf_->size() > 0 || scan.interim > 0      ? head_status::bad
                                                                     : head_status::no_bytes;
                    break;
                }
                buf_->commit(n);
                if (wd_.expired()) {
                    hs = head_status::timeout;  // the deadline passed with these bytes in hand
                    break;
                }
                hs = scan_response_head(scan, plan.head_request);
            }
            wd_.disarm();
            if (hs == head_status::ok) {
                backend_state& state = *routing.backends()[chosen_].state;
                state.record_success();
                if (resp_->status() >= 500 && state.count_5xx()) state.record_error_status();
                co_return outcome{outcome::response};
            }
            fault = {failure_phase::response_head, hs == head_status::timeout    ? failure::timeout
                                                   : hs == head_status::no_bytes ? failure::no_response
                                                                                 : failure::bad_response};
        }

        failure_context context{.replayable = plan.replayable,
                                .reused = reused,
                                .retries_left = rec.retries < settings.retries,
                                .request_read = request_read_};
        const decision d = decide(fault->phase, fault->what, context);
        if (d.what == action::next_backend) {
            context.retries_left = false;
            spent = decide(fault->phase, fault->what, context);
        }
        drop_connection();
        // A stale pooled connection retried fresh is not the backend failing (nor the
        // client's going).
        if (chosen_ != chash::npos && fault->what != failure::client_gone && d.what != action::retry_fresh) {
            metrics::backend_shard& m = routing.backends()[chosen_].state->shard(worker_.index());
            m.failures.add();
            if (d.what == action::next_backend) m.failovers.add();
            if (routing.options().keyless == keyless_policy::peak_ewma)
                observe_response_time(m,
                                      std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          steady_clock::now().time_since_epoch())
                                          .count(),
                                      ewma_failure_penalty_ns);
        }
        if (d.mark_down && chosen_ != chash::npos)
            routing.backends()[chosen_].state->record_failure(steady_clock::now());
        switch (d.what) {
            case action::retry_fresh:
                fresh_only = true;
                break;
            case action::next_backend:
                tried.add(chosen_);
                ++rec.retries;
                break;
            case action::answer:
                co_return outcome{outcome::answer, d.status, d.close_client};
            case action::drop:
                co_return outcome{outcome::drop};
        }
    }
}

exchange::head_status exchange::scan_response_head(head_scan& scan, bool head_request) noexcept {
    http_parser& p = *resp_;
    buffer& b = *buf_;
    while (b.size() > scan.parsed) {
        const auto r = p.feed(b.data() + scan.parsed, b.size() - scan.parsed);
        if (r.what == http_parser::event::error) return head_status::bad;
        if (r.what != http_parser::event::head_complete) {
            scan.parsed += r.consumed;
            continue;
        }
        const int status = p.status();
        // llhttp takes any one to three digits; HTTP's are 100-599 (RFC 9110 15).
        if (status < 100 || status > 599) return head_status::bad;
        // A 101 answers a request that asked to switch protocols; to any other it was not
        // asked for. The bytes after its head belong to the tunnel.
        if (status == 101) {
            if (!upgrade_) return head_status::bad;
            head_end_ = scan.parsed + r.consumed;
            return head_status::ok;
        }
        if (status >= 100 && status < 200) {
            // Interim response (103 Early Hints...): not forwarded; skip its head.
            if (++scan.interim > max_interim_heads) return head_status::bad;
            b.consume(scan.parsed + r.consumed);
            scan.parsed = 0;
            p.reset(head_request);
            continue;
        }
        head_end_ = scan.parsed + r.consumed;
        return head_status::ok;
    }
    return head_status::need_more;
}

}  // namespace ringlb
