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

inline auto use_ec(asio::error_code& ec) {
    return asio::redirect_error(asio::use_awaitable, ec);
}

// A socket and the deadline that closes it: every wait below ends when the socket does.
struct link {
    explicit link(asio::io_context& io) : sock{io}, deadline{io}, resolver{io} {}
    tcp::socket sock;
    asio::steady_timer deadline;
    tcp::resolver resolver;
    bool timed_out = false;

    void arm(std::chrono::milliseconds d) {
        deadline.expires_after(d);
        deadline.async_wait([this](const asio::error_code& ec) {
            if (ec) return;
            timed_out = true;
            asio::error_code ignored;
            resolver.cancel();
            sock.close(ignored);
        });
    }
    void close() {
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
    if (ec)
        co_return "cannot connect to " + to_string(at) + ": " + (l.timed_out ? "timed out" : ec.message());
    asio::error_code ignored;
    l.sock.set_option(tcp::no_delay(true), ignored);
    co_return std::string{};
}

// Collects decoded body bytes from the parser (its body sink).
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

}  // namespace

std::string serialize_request(const endpoint& at, const http_request& req) {
    const std::string host = at.host.find(':') != std::string::npos ? "[" + at.host + "]" : at.host;
    std::string out = req.method + " " + req.path + " HTTP/1.1\r\nHost: " + host + ":" +
                      std::to_string(at.port) +
                      "\r\nUser-Agent: ringlb\r\nAccept: application/json\r\nConnection: close\r\n";
    for (const auto& [k, v] : req.headers) out += k + ": " + v + "\r\n";
    out +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(req.body.size()) + "\r\n\r\n";
    out += req.body;
    return out;
}

asio::awaitable<http_result> http_call(asio::io_context& io, const endpoint& at, const http_request& req,
                                       std::chrono::milliseconds timeout) {
    link l{io};
    l.arm(timeout);
    http_result r;
    if (std::string e = co_await open(l, at); !e.empty()) {
        l.close();
        r.error = std::move(e);
        co_return r;
    }
    const std::string out = serialize_request(at, req);
    asio::error_code ec;
    co_await asio::async_write(l.sock, asio::buffer(out), use_ec(ec));
    if (ec) {
        l.close();
        r.error = "sending to " + to_string(at) + ": " + (l.timed_out ? "timed out" : ec.message());
        co_return r;
    }
    http_parser p{http_parser::type::response};
    body_collector body;
    p.set_body_sink(&body_collector::take, &body);
    std::array<char, 16384> chunk;
    bool head = false, done = false;
    while (!done) {
        const std::size_t n = co_await l.sock.async_read_some(asio::buffer(chunk), use_ec(ec));
        std::size_t off = 0;
        while (off < n && !done) {
            const auto res = p.feed(chunk.data() + off, n - off);
            off += res.consumed;
            if (res.what == http_parser::event::error) {
                l.close();
                r.error = std::string{"malformed answer from "} + to_string(at) + ": " + p.error_reason();
                co_return r;
            }
            if (res.what == http_parser::event::head_complete) {
                head = true;
                // A body-less answer completes with a zero-length feed.
                if (off == n && p.feed(chunk.data() + off, 0).what == http_parser::event::message_complete)
                    done = true;
            }
            if (res.what == http_parser::event::message_complete) done = true;
        }
        if (done) break;
        if (ec) {
            // The end of the connection ends a body delimited by it.
            if (ec == asio::error::eof && head && p.finish()) break;
            l.close();
            r.error = "reading from " + to_string(at) + ": " +
                      (l.timed_out ? "timed out"
                       : head      ? "the answer was cut short"
                                   : ec.message());
            co_return r;
        }
        if (body.overflow) {
            l.close();
            r.error = "the answer from " + to_string(at) + " is larger than 64 MiB";
            co_return r;
        }
    }
    l.close();
    r.status = p.status();
    r.body = std::move(body.data);
    co_return r;
}

// --- streams ---

struct http_stream::state {
    explicit state(asio::io_context& io) : l{io} {}
    link l;
    bool cancelled = false;
};

http_stream::http_stream(asio::io_context& io) : io_{io} {}

http_stream::~http_stream() {
    cancel();
}

void http_stream::cancel() {
    if (!state_) return;
    state_->cancelled = true;
    state_->l.close();
}

asio::awaitable<stream_end> http_stream::run(const endpoint& at, const http_request& req, line_fn on_line,
                                             std::chrono::milliseconds connect_timeout,
                                             std::chrono::milliseconds idle_timeout) {
    auto st = std::make_shared<state>(io_);
    state_ = st;
    link& l = st->l;
    stream_end end;
    const auto fail = [&](std::string why) {
        l.close();
        end.what = stream_end::failed;
        end.error = st->cancelled ? std::string{"cancelled"} : std::move(why);
        return end;
    };
    l.arm(connect_timeout);
    if (std::string e = co_await open(l, at); !e.empty()) co_return fail(std::move(e));
    const std::string out = serialize_request(at, req);
    asio::error_code ec;
    co_await asio::async_write(l.sock, asio::buffer(out), use_ec(ec));
    if (ec) co_return fail("sending to " + to_string(at) + ": " + (l.timed_out ? "timed out" : ec.message()));

    http_parser p{http_parser::type::response};
    body_collector body;  // the body's bytes not yet ended by a newline
    p.set_body_sink(&body_collector::take, &body);
    std::array<char, 16384> chunk;
    bool head = false;
    // Hands every complete line to on_line; false when it asked to stop.
    const auto deliver = [&]() {
        std::size_t start = 0;
        for (std::size_t nl; (nl = body.data.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string_view line{body.data.data() + start, nl - start};
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty()) continue;
            if (!on_line(line)) return false;
        }
        body.data.erase(0, start);
        return true;
    };
    for (;;) {
        const std::size_t n = co_await l.sock.async_read_some(asio::buffer(chunk), use_ec(ec));
        std::size_t off = 0;
        bool complete = false;
        while (off < n && !complete) {
            const auto res = p.feed(chunk.data() + off, n - off);
            off += res.consumed;
            if (res.what == http_parser::event::error)
                co_return fail(std::string{"malformed answer from "} + to_string(at) + ": " +
                               p.error_reason());
            if (res.what == http_parser::event::head_complete) {
                head = true;
                end.status = p.status();
                l.arm(idle_timeout);
            }
            if (res.what == http_parser::event::message_complete) complete = true;
        }
        if (body.overflow) co_return fail("a line from " + to_string(at) + " is longer than 64 MiB");
        if (!body.data.empty() && body.data.find('\n') != std::string::npos) {
            l.arm(idle_timeout);  // a line came: the stream is alive
            if (!deliver()) {
                l.close();
                end.what = stream_end::stopped;
                co_return end;
            }
        }
        if (complete || (ec == asio::error::eof && head && p.finish())) {
            if (!body.data.empty()) {  // a last line without its newline
                body.data += '\n';
                if (!deliver()) {
                    l.close();
                    end.what = stream_end::stopped;
                    co_return end;
                }
            }
            l.close();
            end.what = stream_end::finished;
            co_return end;
        }
        if (ec)
            co_return fail(
                "reading from " + to_string(at) + ": " +
                (l.timed_out ? (head ? "no line within the idle timeout" : "timed out") : ec.message()));
    }
}

}  // namespace ringlb::etcd
