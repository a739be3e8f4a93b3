#include "ringlb/http/rate_limited.hpp"

#include <fmt/format.h>

#include <iterator>
#include <string_view>

namespace ringlb {

void append_rate_limited(std::string& out, const rate_limited_info& info, bool close, bool head_request) {
    constexpr std::string_view body = "too many requests\n";
    const std::uint64_t seconds = (info.retry_after_us + 999'999) / 1'000'000;
    const std::uint64_t retry = seconds == 0 ? 1 : seconds;
    fmt::format_to(std::back_inserter(out),
                   "HTTP/1.1 429 Too Many Requests\r\n"
                   "Content-Type: text/plain\r\n"
                   "Content-Length: {}\r\n"
                   "Retry-After: {}\r\n"
                   "RateLimit-Policy: \"ringlb\";q={};w={}\r\n"
                   "RateLimit: \"ringlb\";r=0;t={}\r\n"
                   "{}\r\n",
                   body.size(), retry, info.quota, info.window_s, retry,
                   close ? "Connection: close\r\n" : "");
    if (!head_request) out += body;
}

}  // namespace ringlb
