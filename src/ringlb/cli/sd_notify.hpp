// ringlb/cli/sd_notify.hpp: tell systemd how the service is doing (Type=notify).
//
//   ringlb::sd_notify("READY=1\nSTATUS=serving on 0.0.0.0:80");   // once listening
//   ringlb::sd_notify_reloading();                                // SIGHUP received
//   ringlb::sd_notify("STOPPING=1");                              // SIGTERM received
//
// The notify protocol is one datagram of NEWLINE-separated assignments to the unix socket
// named by $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@'); without
// that variable (not started by systemd) nothing is sent. Written here in a few lines
// rather than linking libsystemd for one sendto(2).
//
// Thread-safety: any thread; each call opens and closes its own socket.
#pragma once

#include <string_view>

namespace ringlb {

/// Sends `state` to systemd; false when not under systemd or the send failed.
bool sd_notify(std::string_view state) noexcept;
/// RELOADING=1 with the monotonic time systemd asks for alongside it.
bool sd_notify_reloading() noexcept;

}  // namespace ringlb
