// ringlb/proxy/request_head.hpp: reading and checking a request head.
//
//   ringlb::head_result h = ringlb::parse_request_head(in, parser, limit);  // what is buffered
//   if (h.what == head_result::kind::need_more)
//       h = co_await ringlb::read_request_head(client, in, parser, wd, settings, h);
//   if (h.what == head_result::kind::reject) { /* answer h.status, close */ }
//   if (int status = ringlb::check_request_head(parser, settings.limits)) { /* answer, close */ }
//
// The head is parsed in place in the session's buffer: the parser's views stay valid until
// the body streams. The first step is synchronous, so a head that arrived whole (the usual
// case: the session's first read holds it) costs no coroutine frame; only a head that
// arrives in pieces goes through read_request_head, under the client_header deadline.
//
// Limits: the head must fit max_header_bytes (and the buffer: a reload that raises the
// limit past the pooled buffers' size is capped by them); a longer one is 414 while the
// request target is still being read, 431 after.
//
// Thread-safety: none; the session's worker thread.
#pragma once

#include "ringlb/common/buffer.hpp"
#include "ringlb/http/parser.hpp"
#include "ringlb/proxy/bundle.hpp"
#include "ringlb/proxy/client_stream.hpp"
#include "ringlb/proxy/watchdog.hpp"

#include <asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>

namespace ringlb {

struct head_result {
    enum class kind : std::uint8_t {
        ok,         ///< the head is complete: it ends at `end`
        need_more,  ///< incomplete so far (`end`: bytes already parsed)
        reject,     ///< answer `status` and close
        gone,       ///< the client left, or idled out before sending a byte
    };
    kind what = kind::need_more;
    int status = 0;
    std::size_t end = 0;
};

/// The longest head the session accepts with `in` as its buffer.
[[nodiscard]] std::size_t head_limit(const buffer& in, const proxy_limits& limits) noexcept;

/// Parses what `in` holds past the start of a new request. `req` must have been reset.
[[nodiscard]] head_result parse_request_head(const buffer& in, http_parser& req, std::size_t limit) noexcept;

/// Reads until the head is complete (or fails), under the client_header deadline. `so_far`
/// is what parse_request_head returned.
[[nodiscard]] asio::awaitable<head_result> read_request_head(client_stream& client, buffer& in,
                                                             http_parser& req, watchdog& wd,
                                                             const proxy_settings& settings,
                                                             head_result so_far);

/// The checks that need the whole head: 0 when the request may go on, else the status to
/// answer (and close): 400 (not HTTP/1.x; Host missing in HTTP/1.1, or repeated), 405
/// (CONNECT: not a forward proxy), 417 (an Expect other than 100-continue), 413 (a declared
/// body over max_body_bytes).
[[nodiscard]] int check_request_head(const http_parser& req, const proxy_limits& limits) noexcept;

/// Whether the client waits for "100 Continue" before it sends the body.
[[nodiscard]] bool expects_continue(const http_parser& req) noexcept;

}  // namespace ringlb
