#include "ringlb/etcd/http_client.hpp"

#include "ringlb/config/values.hpp"
#include "ringlb/http/parser.hpp"

#include <asio/connect.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>

// See src/ringlb/proxy/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::etcd {

namespace {

using asio::ip::tcp;

inline auto use_ec(asio::error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// The largest answer head, and the longest line of a stream (etcd values are at most
// 1.5 MB; a watch line holds a batch of them).
constexpr std::size_t max_answer_head = 64 * 1024;
constexpr std::size_t max_line = 16u << 20;

// A socket and the deadline that closes it: every wait below ends when the socket does.
// Shared, and the deadline's handler holds it weakly: a deadline that fires in the same
// pass as the read it guards must not touch a link whose call has already returned.
struct link : std::enable_shared_from_this<link> {
    explicit link(asio::io_context& io) : sock{io}, deadline{io}, resolver{io} {}
    tcp::socket sock;
    asio::steady_timer deadline;
    tcp::resolver resolver;
    bool timed_out = false;
    std::uint64_t armed = 0;  // which arm() the pending deadline belongs to

    void arm(std::chrono::milliseconds d) {
        const std::uint64_t seq = ++armed;
        deadline.expires_after(d);
        deadline.async_wait([self = weak_from_this(), seq](const asio::error_code& ec) {
            auto l = self.lock();
            if (ec || !l || l->armed != seq) return;
            l->timed_out = true;
            asio::error_code ignored;
            l->resolver.cancel();
            l->sock.close(ignored);
        });
    }
    void close() {
        ++armed;
        deadline.cancel();
        resolver.cancel();
        asio::error_code ignored;
        sock.close(ignored);
    }
};

// Resolves and connects; empty on success, else why not.
asio::awaitable<std::string> open(link& l, const endpoint& at) {
    asio::error_code ec;
    const auto addr = asio::ip::make_address(at.host, ec);
    if (!ec) {
        co_await l.sock.async_connect(tcp::endpoint{addr, at.port}, use_ec(ec));
    } else {
        const auto results = co_await l.resolver.async_resolve(at.host, std::to_string(at.port), use_ec(ec));
        if (ec) co_return "cannot resolve " + at.host + ": " + (l.timed_out ? "timed out" : ec.message());
        co_await asio::async_connect(l.sock, results, use_ec(ec));
    }
    if (ec) co_return "cannot connect to " + to_string(at) + ": " + (l.timed_out ? "timed out" : ec.message());
    asio::error_code ignored;
    l.sock.set_option(tcp::no_delay(true), ignored);
    co_return std::string{};
}

// Decoded body bytes, from the parser's body sink.
struct body_collector {
    std::string data;
    bool overflow = false;
    static void take(void* self, const char* p, std::size_t n) {
        auto& c = *static_cast<body_collector*>(self);
        if (c.data.size() + n > max_answer_body) {
            c.overflow = true;
            return;
        }
        c.data.append(p, n);
    }
};

// Reads one answer. The head goes into a buffer of its own that never moves (the parser
// keeps views into it until the head is complete); body bytes go through the parser to
// the collector, whatever buffer they came in.
class answer_reader {
public:
    answer_reader(link& l, const endpoint& at) : l_{l}, at_{at}, head_{new char[max_answer_head]} {
        parser_.set_body_sink(&body_collector::take, &body);
    }
    body_collector body;
    http_parser& parser() noexcept { return parser_; }

    // Reads until the head is complete: empty, or why not.
    asio::awaitable<std::string> read_head() {
        asio::error_code ec;
        std::size_t size = 0, parsed = 0;
        for (;;) {
            const std::size_t n = co_await l_.sock.async_read_some(
                asio::buffer(head_.get() + size, max_answer_head - size), use_ec(ec));
            size += n;
            const auto r = parser_.feed(head_.get() + parsed, size - parsed);
            parsed += r.consumed;
            if (r.what == http_parser::event::error)
                co_return std::string{"malformed answer from "} + to_string(at_) + ": " + parser_.error_reason();
            if (r.what == http_parser::event::head_complete) {
                // What followed the head in the same reads is the body's start.
                leftover_ = std::string_view{head_.get() + parsed, size - parsed};
                co_return std::string{};
            }
            if (ec)
                co_return "reading from " + to_string(at_) + ": " + (l_.timed_out ? "timed out" : ec.message());
            if (size == max_answer_head) co_return "the answer head from " + to_string(at_) + " is over 64 KiB";
        }
    }

    struct step {
        bool complete = false;  // the body ended
        std::string error;      // or it failed
    };
    // Feeds what is buffered, or reads once more; the body's bytes land in `body`.
    asio::awaitable<step> read_body() {
        step out;
        std::string_view data = leftover_;
        leftover_ = {};
        asio::error_code ec;
        if (data.empty() && !body_started_) {
            // A body-less answer completes with a zero-length feed.
            body_started_ = true;
            if (parser_.feed(chunk_.data(), 0).what == http_parser::event::message_complete) {
                out.complete = true;
                co_return out;
            }
        }
        body_started_ = true;
        if (data.empty()) {
            const std::size_t n = co_await l_.sock.async_read_some(asio::buffer(chunk_), use_ec(ec));
            data = std::string_view{chunk_.data(), n};
        }
        while (!data.empty()) {
            const auto r = parser_.feed(data.data(), data.size());
            data.remove_prefix(r.consumed);
            if (body.overflow) {
                out.error = "the answer from " + to_string(at_) + " is over 64 MiB";
                co_return out;
            }
            if (r.what == http_parser::event::error) {
                out.error = std::string{"malformed answer from "} + to_string(at_) + ": " + parser_.error_reason();
                co_return out;
            }
            if (r.what == http_parser::event::message_complete) {
                out.complete = true;
                co_return out;
            }
            if (r.consumed == 0) break;
        }
        if (ec == asio::error::eof && parser_.finish()) {
            out.complete = true;  // a body delimited by the connection's end
        } else if (ec) {
            out.error = "reading from " + to_string(at_) + ": " +
                        (l_.timed_out ? std::string{"timed out"} : ec == asio::error::eof
                                                                       ? std::string{"the answer was cut short"}
                                                                       : ec.message());
        }
        co_return out;
    }

private:
    link& l_;
    endpoint at_;
    http_parser parser_{http_parser::type::response};
    std::unique_ptr<char[]> head_;
    std::string_view leftover_;
    std::array<char, 16384> chunk_{};
    bool body_started_ = false;
};

}  // namespace

std::string serialize_request(const endpoint& at, const http_request& req) {
    const std::string host = at.host.find(':') != std::string::npos ? "[" + at.host + "]" : at.host;
    std::string out = req.method + " " + req.path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(at.port) +
                      "\r\nUser-Agent: ringlb\r\nAccept: application/json\r\nConnection: close\r\n";
    for (const auto& [k, v] : req.headers) out += k + ": " + v + "\r\n";
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(req.body.size()) + "\r\n\r\n";
    out += req.body;
    return out;
}

asio::awaitable<http_result> http_call(asio::io_context& io, const endpoint& at, const http_request& req,
                                       std::chrono::milliseconds timeout) {
    auto l = std::make_shared<link>(io);
    l->arm(timeout);
    http_result r;
    const auto fail = [&](std::string why) {
        l->close();
        r.error = std::move(why);
        return r;
    };
    if (std::string e = co_await open(*l, at); !e.empty()) co_return fail(std::move(e));
    const std::string out = serialize_request(at, req);
    asio::error_code ec;
    const std::size_t written = co_await asio::async_write(l->sock, asio::buffer(out), use_ec(ec));
    r.sent = written > 0;
    if (ec) co_return fail("sending to " + to_string(at) + ": " + (l->timed_out ? "timed out" : ec.message()));
    answer_reader reader{*l, at};
    if (std::string e = co_await reader.read_head(); !e.empty()) co_return fail(std::move(e));
    for (;;) {
        const auto step = co_await reader.read_body();
        if (!step.error.empty()) co_return fail(step.error);
        if (step.complete) break;
    }
    l->close();
    r.status = reader.parser().status();
    r.body = std::move(reader.body.data);
    co_return r;
}

// --- streams ---

struct http_stream::state {
    explicit state(asio::io_context& io) : l{std::make_shared<link>(io)} {}
    std::shared_ptr<link> l;
};

http_stream::http_stream(asio::io_context& io) : io_{io} {}

http_stream::~http_stream() { cancel(); }

void http_stream::cancel() {
    cancelled_ = true;
    if (state_) state_->l->close();
}

asio::awaitable<stream_end> http_stream::run(const endpoint& at, const http_request& req, line_fn on_line,
                                             std::chrono::milliseconds connect_timeout,
                                             std::chrono::milliseconds idle_timeout) {
    stream_end end;
    if (cancelled_) {  // cancelled before it started: it does not start
        end.error = "cancelled";
        co_return end;
    }
    auto st = std::make_shared<state>(io_);
    state_ = st;
    link& l = *st->l;
    const auto fail = [&](std::string why) {
        l.close();
        end.what = stream_end::failed;
        end.error = cancelled_ ? std::string{"cancelled"} : std::move(why);
        return end;
    };
    l.arm(connect_timeout);
    if (std::string e = co_await open(l, at); !e.empty()) co_return fail(std::move(e));
    const std::string out = serialize_request(at, req);
    asio::error_code ec;
    co_await asio::async_write(l.sock, asio::buffer(out), use_ec(ec));
    if (ec) co_return fail("sending to " + to_string(at) + ": " + (l.timed_out ? "timed out" : ec.message()));
    answer_reader reader{l, at};
    if (std::string e = co_await reader.read_head(); !e.empty()) co_return fail(std::move(e));
    end.status = reader.parser().status();
    l.arm(idle_timeout);
    std::string& pending = reader.body.data;  // bytes of lines not yet ended
    std::size_t scanned = 0;                  // of them, searched for a newline already
    // Hands every complete line to on_line; false when it asked to stop.
    const auto deliver = [&](bool last) {
        std::size_t start = 0;
        for (std::size_t nl; (nl = pending.find('\n', scanned)) != std::string::npos; scanned = start) {
            std::string_view line{pending.data() + start, nl - start};
            start = nl + 1;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (!line.empty() && !on_line(line)) return false;
        }
        pending.erase(0, start);
        scanned = pending.size();
        if (last && !pending.empty()) {  // a last line without its newline
            const bool go_on = on_line(pending);
            pending.clear();
            return go_on;
        }
        return true;
    };
    for (;;) {
        const std::size_t before = pending.size();
        const auto step = co_await reader.read_body();
        if (!step.error.empty()) co_return fail(step.error);
        if (pending.size() > before) l.arm(idle_timeout);  // bytes came: the stream is alive
        if (!deliver(step.complete)) {
            l.close();
            end.what = stream_end::stopped;
            co_return end;
        }
        if (step.complete) {
            l.close();
            end.what = stream_end::finished;
            co_return end;
        }
        if (pending.size() > max_line) {
            end.unreadable = true;
            co_return fail("a line from " + to_string(at) + " is over 16 MiB");
        }
        if (cancelled_) co_return fail("cancelled");
    }
}

}  // namespace ringlb::etcd
