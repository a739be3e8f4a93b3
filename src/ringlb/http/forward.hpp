// ringlb/http/forward.hpp: the heads ringlb sends on, with hop-by-hop headers handled.
//
//   std::string out;                                          // reused, keeps its capacity
//   ringlb::build_backend_request(req_parser, "10.0.0.7", "http", out);
//   ...
//   ringlb::build_client_response(resp_parser, {.close = true}, out);
//
// Requests (RFC 9110 7.6.1): Connection, the headers it lists, Keep-Alive, TE, Upgrade,
// Proxy-* and Expect (ringlb answers 100-continue itself) are removed (an Upgrade that may
// switch protocols, upgrade.hpp, is sent on with Connection: upgrade); X-Forwarded-For gets
// the client address appended to what the client sent, X-Forwarded-Proto is set to the
// scheme the client used ("http"; "https" once TLS listeners exist), replacing its own.
// An absolute-form target ("GET http://h/p") is sent on in origin-form with Host set to its
// authority: ringlb forwards only to its own backends, so it is never an open proxy.
// Content-Length and Transfer-Encoding are never removed, even when Connection lists them:
// the body is forwarded with its original framing, and a proxy that drops a framing header
// its peer still sees is how request smuggling works.
//
// Responses: the same hop-by-hop set is removed, and Content-Length and Transfer-Encoding
// from a 1xx or 204 (which has no body and must not declare one); Connection: close is added when ringlb will
// close the client connection after the response, Connection: keep-alive for an HTTP/1.0
// client that asked for it. A 101 that switches to a tunnel keeps its Upgrade header and
// says Connection: upgrade.
//
// Thread-safety: pure functions over the caller's objects.
#pragma once

#include "ringlb/http/parser.hpp"

#include <string>
#include <string_view>

namespace ringlb {

/// Whether header `h` of the message `parser` holds is removed when forwarding (the fixed
/// hop-by-hop set, or a name its Connection headers list).
[[nodiscard]] bool is_hop_by_hop(const header_view& h, const http_parser& parser) noexcept;

/// Whether the request target is absolute-form ("http://host/path").
[[nodiscard]] bool is_absolute_form(std::string_view target) noexcept;

/// Appends the head to send to the backend (request line, headers, blank line) to `out`.
/// Every header named `strip` (case-insensitive) is left out: one ringlb sets itself, which
/// a client must not be able to forge. A non-empty `upgrade` (upgrade.hpp: tunnel_upgrade)
/// is sent on as the Upgrade header, with Connection: upgrade.
void build_backend_request(const http_parser& req, std::string_view client_ip, std::string_view scheme,
                           std::string& out, std::string_view strip = {}, std::string_view upgrade = {});

struct response_options {
    bool close = false;              ///< ringlb closes the client connection after this response
    bool http10_keep_alive = false;  ///< an HTTP/1.0 client asked for keep-alive and gets it
    bool upgrade = false;            ///< a 101 that switches protocols: Upgrade kept, Connection: upgrade
};

/// Appends the head to send to the client. The status line is ringlb's own: its HTTP
/// version (RFC 9110 7.6.3: an intermediary sends its own), the backend's status code, and
/// the backend's reason phrase when it holds only what RFC 9112 4 allows (HTAB, SP, visible
/// characters, obs-text), else none.
void build_client_response(const http_parser& resp, const response_options& opts, std::string& out);

}  // namespace ringlb
