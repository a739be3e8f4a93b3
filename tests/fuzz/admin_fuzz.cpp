// admin_fuzz: arbitrary bytes as what a client sends the admin listener, answered by a real
// admin::api over a real controller with a small pool.
//
// The listener's parsing lives inside admin::server (src/ringlb/admin/server.cpp:
// read_request() and serve(), coroutines over a socket); this fuzzer mirrors their steps
// instead, in order, without a socket: one buffer of fixed size (max_head + max_body + one
// read) that never moves; reads of at most 4 KiB appended to it; the head fed to
// ringlb::http_parser until it completes, fails, or the buffer passes max_head (431); a
// chunked body 411, a Content-Length over max_body 413; the request copied out of the head
// as read_request() does (method, percent-decoded path, raw query, Host, Authorization,
// Content-Type, If-Match, whether a Content-Length came, keep-alive), a target that is not a
// decoded path 400; the body read to its length and the request consumed from the buffer
// (pipelined bytes stay); api::handle answers; an error answer closes the connection, and
// the loop goes on while the request kept it alive. A stream that ends before a request is
// whole ends the connection without an answer, as the listener's deadline does. Up to 8
// requests per input. Keep it in step with server.cpp when that changes.
//
// The first input byte picks the pool: bit 0 a token file (a fixed read and write token,
// which the corpus uses), bits 1-2 the algorithm (ring, maglev, ketama, rendezvous). Each
// input gets a fresh io_context, controller and api (no state carries over: an input that
// changes the pool cannot change the next one's answers). Oracles: AddressSanitizer and
// UBSan; LeakSanitizer after every input; handle() answers within 10 s and never throws;
// every answer is a status of the admin API's table, parses back as one HTTP/1.1 response
// of its declared length, and a JSON answer is valid JSON (errors with the documented shape
// and their own status); a GET or HEAD never changes the membership; after every answer the
// store's members are exactly the published backends (a refused change is undone, an
// accepted one is running).
//
//   build/fuzz/tests/fuzz/admin_fuzz -max_total_time=60 corpus/ tests/fuzz/corpus/admin/
#include "http_fuzz.hpp"

#include "ringlb/admin/api.hpp"
#include "ringlb/admin/message.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/http/parser.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ringlb::http_parser;
namespace admin = ringlb::admin;

constexpr std::size_t read_chunk = 4096;  // server.cpp's std::array<char, 4096> chunk
constexpr int max_requests = 8;

std::string config_text(unsigned algorithm) {
    static constexpr std::array<const char*, 4> names{"ring", "maglev", "ketama", "rendezvous"};
    // Resolution is bounded (an address that is a name goes to the resolver); checks are off.
    std::string t = std::string{"[routing]\nalgorithm = \""} + names[algorithm % names.size()] +
                    "\"\nbalance_factor = 1.25\n[timeouts]\nresolve = \"200ms\"\n";
    for (int i = 1; i <= 4; ++i)
        t += "[[backends]]\nid = \"app-" + std::to_string(i) +
             "\"\naddress = \"127.0.0.1:" + std::to_string(9000 + i) + "\"\n" +
             (i == 4 ? "weight = 2\n" : "");
    return t;
}

const std::set<int> api_statuses{200, 201, 400, 401, 403, 404, 405, 409, 411, 412, 413, 415, 431, 500, 503};

// One pool: an io_context, a controller with the config applied, the api over it.
struct world {
    explicit world(unsigned pick)
        : ctl{io,
              {.publish = [](std::shared_ptr<const ringlb::bundle>) {}, .log = [](const std::string&) {}}} {
        auto r = ringlb::parse_config(config_text(pick >> 1), "fuzz.toml");
        FUZZ_CHECK(r.value.has_value());
        bool done = false, ok = false;
        ctl.apply(std::make_shared<const ringlb::config>(*r.value), [&](bool o, const std::string&) {
            done = true;
            ok = o;
        });
        FUZZ_CHECK(run_until([&] { return done; }));
        FUZZ_CHECK(ok);
        std::optional<admin::token_set> tokens;
        if ((pick & 1) != 0) {
            std::string error;
            tokens = admin::token_set::parse(
                "read read-token-0123456789abcdef\nwrite write-token-0123456789abcdef\n", "tokens", error);
            FUZZ_CHECK(tokens.has_value());
        }
        admin::api_context ctx;
        ctx.control = &ctl;
        ctx.listen = {asio::ip::make_address("127.0.0.1"), 9901};
        ctx.version = "fuzz";
        api = std::make_unique<admin::api>(io, std::move(ctx), std::move(tokens));
    }
    ~world() {
        api->stop();
        ctl.stop();
        io.restart();
        io.poll();
    }

    template <class Done>
    bool run_until(Done&& done) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            if (io.stopped()) io.restart();
            io.run_for(1ms);
        }
        return true;
    }

    admin::response handle(admin::request req) {
        std::optional<admin::response> out;
        bool threw = false;
        asio::co_spawn(io, api->handle(std::move(req)), [&](std::exception_ptr e, admin::response r) {
            threw = e != nullptr;
            out = std::move(r);
        });
        FUZZ_CHECK(run_until([&] { return out.has_value(); }));
        FUZZ_CHECK(!threw);
        return std::move(*out);
    }

    asio::io_context io{1};
    ringlb::controller ctl;
    std::unique_ptr<admin::api> api;
};

// The store's members are the running backends.
void check_published(const ringlb::controller& ctl) {
    std::vector<std::string> store, running;
    for (const auto& m : ctl.store().members()) store.push_back(m.backend.id);
    for (const auto& b : ctl.current()->routing->backends()) running.push_back(b.id);
    std::sort(store.begin(), store.end());
    std::sort(running.begin(), running.end());
    FUZZ_CHECK(store == running);
}

void check_answer(const admin::response& r, bool keep, bool head_only) {
    FUZZ_CHECK(api_statuses.contains(r.status));
    if (r.content_type == "application/json") {
        const auto j = nlohmann::json::parse(r.body, nullptr, false);
        FUZZ_CHECK(!j.is_discarded());
        if (r.status >= 400) {
            FUZZ_CHECK(j.is_object() && j.contains("error"));
            FUZZ_CHECK(j["error"]["status"] == r.status);
            FUZZ_CHECK(j["error"]["message"].is_string());
        }
    }
    const std::string out = admin::serialize(r, keep, head_only);
    http_parser p{http_parser::type::response};
    p.reset(head_only);
    const auto h = p.feed(out.data(), out.size());
    FUZZ_CHECK(h.what == http_parser::event::head_complete);
    FUZZ_CHECK(p.status() == r.status);
    FUZZ_CHECK(p.content_length() == r.body.size());
    FUZZ_CHECK(p.keep_alive() == keep);
    FUZZ_CHECK(out.size() - h.consumed == (head_only ? 0 : r.body.size()));
}

// server.cpp's read_request() and serve(), step by step, over `stream` instead of a socket.
void serve(world& w, std::string_view stream) {
    constexpr std::size_t capacity = admin::max_head + admin::max_body + read_chunk;  // connection::capacity
    const auto buf = std::make_unique<char[]>(capacity);
    std::size_t size = 0;  // bytes in buf
    std::size_t next = 0;  // the bytes of `stream` read so far
    const auto read_some = [&] {
        if (next == stream.size()) return false;  // the client sends nothing more: the deadline closes
        const std::size_t room = std::min(capacity - size, read_chunk);
        FUZZ_CHECK(room > 0);  // a read of nothing would spin
        const std::size_t n = std::min(room, stream.size() - next);
        std::memcpy(buf.get() + size, stream.data() + next, n);
        next += n;
        size += n;
        return true;
    };
    for (int round = 0; round < max_requests; ++round) {
        // read_request()
        http_parser parser{http_parser::type::request};
        std::size_t parsed = 0;
        http_parser::result r{http_parser::event::need_more, 0};
        for (;;) {
            if (parsed < size) {
                r = parser.feed(buf.get() + parsed, size - parsed);
                parsed += r.consumed;
                if (r.what != http_parser::event::need_more) break;
            }
            if (size > admin::max_head) break;
            if (!read_some()) return;
        }
        std::optional<admin::request> req;
        admin::response answer;
        if (r.what == http_parser::event::error) {
            answer = admin::json_error(parser.error_status(),
                                       std::string{"malformed request: "} + parser.error_reason());
        } else if (r.what != http_parser::event::head_complete) {
            answer = admin::json_error(431, "the request head is larger than 16 KiB");
        } else if (parser.chunked()) {
            answer = admin::json_error(411, "send the body with a Content-Length");
        } else if (parser.content_length() > admin::max_body) {
            answer = admin::json_error(413, "the body is larger than 64 KiB");
        } else {
            req.emplace();
            req->method = std::string{parser.method_name()};
            const std::string_view target = parser.target();
            const std::size_t q = target.find('?');
            const auto path = admin::percent_decode(target.substr(0, q), false);
            req->query = q == std::string_view::npos ? std::string{} : std::string{target.substr(q + 1)};
            req->host = std::string{parser.header_value("host")};
            req->authorization = std::string{parser.header_value("authorization")};
            req->content_type = std::string{parser.header_value("content-type")};
            req->if_match = std::string{parser.header_value("if-match")};
            req->has_body = parser.has_content_length();
            req->keep_alive = parser.keep_alive();
            if (!path || path->empty() || (*path)[0] != '/') {
                req.reset();
                answer = admin::json_error(400, "the request target must be a path");
            } else {
                req->path = *path;
                const auto length = static_cast<std::size_t>(parser.content_length());
                FUZZ_CHECK(parsed + length <= capacity);
                while (size < parsed + length)
                    if (!read_some()) return;
                req->body.assign(buf.get() + parsed, length);
                std::memmove(buf.get(), buf.get() + parsed + length, size - parsed - length);  // consume()
                size -= parsed + length;
            }
        }
        // serve()
        bool keep = false;
        bool head_only = false;
        if (req) {
            keep = req->keep_alive;
            head_only = req->method == "HEAD";
            const bool reads = req->method == "GET" || req->method == "HEAD";
            const auto generation = w.ctl.store().generation();
            answer = w.handle(std::move(*req));
            if (reads) FUZZ_CHECK(w.ctl.store().generation() == generation);
            check_published(w.ctl);
        }
        keep = keep && answer.status < 400;
        check_answer(answer, keep, head_only);
        if (!keep) return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    world w{data[0]};
    serve(w, std::string_view{reinterpret_cast<const char*>(data) + 1, size - 1});
    return 0;
}
