// ringlb/control/resolver.hpp: backend names to addresses, off the control loop, with a timeout.
//
//   ringlb::resolver r{io, std::chrono::seconds{5}};
//   r.resolve({"app-1.internal", 8080}, [](const resolve_result& res) { ... });
//
// A literal address completes at once (posted, so callers see one order of events). A name
// goes to asio's resolver, which runs getaddrinfo on a thread of its own, so the control
// loop keeps checking and publishing meanwhile; the callback runs on the control thread
// with the first address, or with an error when resolution fails or takes longer than the
// timeout (the lookup is then cancelled: skipped if it is still queued; asio runs every
// lookup of an io_context on one thread, so one getaddrinfo that hangs holds up the lookups
// behind it, which time out, until it returns). cancel_all() (shutdown) drops every
// callback and cancels what can be.
//
// Thread-safety: none; the control thread owns it.
#pragma once

#include "ringlb/config/config.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ringlb {

struct resolve_result {
    bool ok = false;
    asio::ip::tcp::endpoint address;
    std::string error;  ///< set when !ok
};

class resolver {
public:
    using done_fn = std::function<void(const resolve_result&)>;
    resolver(asio::io_context& io, duration timeout) : io_{io}, timeout_{timeout} {}
    void set_timeout(duration timeout) noexcept { timeout_ = timeout; }
    /// Resolves `at`; `done` runs on the control thread exactly once, unless cancel_all()
    /// comes first.
    void resolve(const endpoint& at, done_fn done);
    /// Cancels every lookup in progress; their callbacks never run.
    void cancel_all();

private:
    struct lookup;
    asio::io_context& io_;
    duration timeout_;
    std::vector<std::weak_ptr<lookup>> pending_;
};

}  // namespace ringlb
