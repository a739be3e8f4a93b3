#include "ringlb/proxy/request_head.hpp"

#include "ringlb/common/text.hpp"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>

namespace ringlb {

namespace {

// Feeds the bytes of `in` past `parsed` (bytes the parser has already seen).
head_result step(const buffer& in, http_parser& req, std::size_t limit, std::size_t parsed) noexcept {
    const auto r = req.feed(in.data() + parsed, in.size() - parsed);
    if (r.what == http_parser::event::head_complete) {
        const std::size_t end = parsed + r.consumed;
        if (end > limit)
            return {head_result::kind::reject, req.target().size() + 64 > limit ? 414 : 431, end};
        return {head_result::kind::ok, 0, end};
    }
    if (r.what != http_parser::event::need_more)
        return {head_result::kind::reject, req.error_status(), parsed};
    if (in.size() > limit) return {head_result::kind::reject, req.target_complete() ? 431 : 414, in.size()};
    return {head_result::kind::need_more, 0, in.size()};
}

}  // namespace

std::size_t head_limit(const buffer& in, const proxy_limits& limits) noexcept {
    return std::min(limits.max_header_bytes, in.capacity() - 1);
}

head_result parse_request_head(const buffer& in, http_parser& req, std::size_t limit) noexcept {
    return step(in, req, limit, 0);
}

asio::awaitable<head_result> read_request_head(client_stream& client, buffer& in, http_parser& req,
                                               watchdog& wd, const proxy_settings& settings,
                                               head_result so_far) {
    const std::size_t limit = head_limit(in, settings.limits);
    asio::error_code ec;
    while (so_far.what == head_result::kind::need_more) {
        const std::span<char> space = in.writable();
        const std::size_t n = co_await client.async_read_some(asio::buffer(space.data(), space.size()),
                                                              asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            // A client that sent part of a head and then nothing is told (408); one that
            // left, or never sent a byte, is not.
            if (wd.timed_out() == watchdog::phase::client_head && in.size() > 0)
                co_return head_result{head_result::kind::reject, 408, in.size()};
            co_return head_result{head_result::kind::gone, 0, in.size()};
        }
        in.commit(n);
        // The deadline may have passed with this read's bytes already in hand: it still
        // counts (see watchdog.hpp), or bytes timed to arrive at each deadline would keep
        // the head open forever.
        if (wd.expired()) co_return head_result{head_result::kind::reject, 408, in.size()};
        so_far = step(in, req, limit, so_far.end);
    }
    co_return so_far;
}

int check_request_head(const http_parser& req, const proxy_limits& limits) noexcept {
    if (req.version_major() != 1) return 400;
    std::size_t hosts = 0;
    for (std::size_t i = 0; i < req.header_count(); ++i)
        if (req.header(i).id == header_id::host) ++hosts;
    if (hosts > 1 || (hosts == 0 && req.version_minor() != 0)) return 400;
    if (req.method() == HTTP_CONNECT) return 405;
    if (const auto expect = req.header_value(header_id::expect);
        !expect.empty() && !iequals(expect, "100-continue"))
        return 417;
    if (req.content_length() > limits.max_body_bytes) return 413;
    return 0;
}

bool expects_continue(const http_parser& req) noexcept {
    const bool has_body = req.chunked() || req.content_length() > 0;
    return has_body && req.version_minor() != 0 && !req.header_value(header_id::expect).empty();
}

}  // namespace ringlb
