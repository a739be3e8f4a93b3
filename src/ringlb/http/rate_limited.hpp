// ringlb/http/rate_limited.hpp: the 429 a rate-limited request gets.
//
//   std::string out;
//   ringlb::append_rate_limited(out, {.quota = 100, .window_s = 1, .retry_after_us = 250000},
//                               /*close=*/false, /*head_request=*/false);
//
// A complete response with a one-line body, Retry-After (whole seconds, rounded up: a
// client that waits that long is allowed), and the IETF RateLimit header fields
// (draft-ietf-httpapi-ratelimit-headers-10): the policy as configured (`q` requests per `w`
// seconds) and the key's state (`r` requests remaining, `t` seconds until one is allowed).
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>

namespace ringlb {

struct rate_limited_info {
    std::uint32_t quota = 0;           ///< requests per window, as configured (the whole cluster's)
    std::uint64_t window_s = 1;        ///< the window in seconds
    std::uint64_t retry_after_us = 0;  ///< until a request of this key would be allowed
};

/// Appends the 429 to `out`. `close` adds "Connection: close"; an answer to HEAD is the
/// head alone.
void append_rate_limited(std::string& out, const rate_limited_info& info, bool close, bool head_request);

}  // namespace ringlb
