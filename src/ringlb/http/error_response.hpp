// ringlb/http/error_response.hpp: the short responses ringlb itself sends (the error table).
//
//   co_await asio::async_write(client, asio::buffer(ringlb::error_response(503, true)), ...);
//
// Each is a complete response with a one-line text body. `close` adds "Connection: close":
// the session closes after it whenever the framing of the rest of the request is unknown
// (400, 408, 413, 414, 431) or the request body was not consumed.
//
// Thread-safety: returns views of immutable static strings.
#pragma once

#include <string_view>

namespace ringlb {

/// The full response for `status` (400, 405, 408, 413, 414, 417, 431, 502, 503, 504; any
/// other status yields a 500). 503 carries Retry-After. An answer to a HEAD request is the
/// head alone (RFC 9110 9.3.2): a client that sent HEAD reads no body, so one would be
/// taken for the start of the next response.
[[nodiscard]] std::string_view error_response(int status, bool close, bool head_request = false) noexcept;

/// "HTTP/1.1 100 Continue\r\n\r\n".
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace ringlb
