// ringlb/http/upgrade.hpp: whether a request may switch its connection to another protocol
// (RFC 9110 7.8), and whether a backend's 101 agrees.
//
//   const std::vector<std::string> allowed{"websocket"};           // [server] upgrade
//   std::string_view up = ringlb::tunnel_upgrade(req, allowed);    // "websocket", or empty
//   if (!up.empty()) build_backend_request(req, ip, "http", out, strip, up);
//   ...
//   if (resp.status() == 101 && ringlb::switch_accepted(req, resp, up)) { /* tunnel */ }
//
// A request asks for a tunnel when it is HTTP/1.1, its Connection header lists "upgrade",
// it has an Upgrade header whose every protocol is on the allow-list, and it has no body
// (a WebSocket handshake has none; a body before the switch would have to be relayed as
// HTTP and the tunnel would start mid-stream). Anything else is an ordinary request: its
// Upgrade header is removed as hop-by-hop, and the backend answers it as HTTP.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/http/parser.hpp"

#include <span>
#include <string>
#include <string_view>

namespace ringlb {

/// The Upgrade value to forward when `req` asks for a tunnel to an allowed protocol, else
/// empty. A view into the request's head.
[[nodiscard]] std::string_view tunnel_upgrade(const http_parser& req,
                                              std::span<const std::string> allowed) noexcept;

/// Whether a 101 answers `req`, whose forwarded Upgrade value was `offered`: one Upgrade
/// line naming only protocols the client offered (RFC 9110 15.2.2: a 101 must say what it
/// switches to), and for a WebSocket a Sec-WebSocket-Accept that answers the client's
/// Sec-WebSocket-Key (RFC 6455 4.2.2), so that a server which says 101 without switching
/// cannot make ringlb pass raw bytes to it as a tunnel.
[[nodiscard]] bool switch_accepted(const http_parser& req, const http_parser& resp, std::string_view offered) noexcept;

/// The Sec-WebSocket-Accept a server answers `key` with: base64(SHA-1(key + RFC 6455's GUID)).
[[nodiscard]] std::string websocket_accept(std::string_view key);

}  // namespace ringlb
