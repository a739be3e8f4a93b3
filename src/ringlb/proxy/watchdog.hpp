// ringlb/proxy/watchdog.hpp: one timer per session over a moving deadline.
//
//   ringlb::watchdog wd{io, client};          // the client stream is always watched
//   wd.bind(weak_from_this());                // what a pending timer keeps alive
//   wd.arm(watchdog::phase::client_head, 10s);
//   auto n = co_await client.async_read_some(...);   // cancelled if the deadline passes
//   if (ec && wd.timed_out() == watchdog::phase::client_head) { /* 408 */ }
//   {
//       auto w = wd.watch_backend(conn->socket);       // the watchdog may cancel it now...
//       ...
//   }                                                  // ...and never after
//
// Moving a deadline later costs a clock read, not a timer operation: the pending wait
// re-arms itself when it fires early. When the deadline passes, the watchdog records the
// phase that timed out and cancels the pending operations of the client stream and of the
// backend socket registered at that moment, so whoever awaits them sees the error and
// asks timed_out() why. A cancel cannot stop a read whose bytes arrived just before the
// deadline (its completion is queued already): so a loop of reads under one deadline (a
// head, a lingering close) asks timed_out() after every successful read too, or a client
// that keeps a byte arriving at each deadline would never be cut.
//
// What the watchdog may cancel lives exactly as long as its registration: the client stream
// is the session's own (it outlives the watchdog), and a backend socket is registered by a
// `watch` guard, which its owner (the exchange, next to the connection) destroys before it
// lets go of the connection. A dangling socket cannot be expressed.
//
// Thread-safety: none; the session's worker thread only.
#pragma once

#include "ringlb/proxy/client_stream.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

namespace ringlb {

class watchdog {
public:
    enum class phase : std::uint8_t { none, idle, park, client_head, client_io, connect, backend, tunnel, handover };

    /// A backend socket's registration: the watchdog may cancel it while this lives.
    class watch {
    public:
        watch() noexcept = default;
        watch(watch&& o) noexcept : wd_{std::exchange(o.wd_, nullptr)}, socket_{o.socket_} {}
        watch& operator=(watch&& o) noexcept {
            if (this != &o) {
                release();
                wd_ = std::exchange(o.wd_, nullptr);
                socket_ = o.socket_;
            }
            return *this;
        }
        watch(const watch&) = delete;
        watch& operator=(const watch&) = delete;
        ~watch() { release(); }
        void release() noexcept {
            // Only our own registration: a newer one may have replaced it already.
            if (wd_ != nullptr && wd_->backend_ == socket_) wd_->backend_ = nullptr;
            wd_ = nullptr;
        }

    private:
        friend class watchdog;
        watch(watchdog* wd, asio::ip::tcp::socket* s) noexcept : wd_{wd}, socket_{s} {}
        watchdog* wd_ = nullptr;
        asio::ip::tcp::socket* socket_ = nullptr;
    };

    watchdog(asio::io_context& io, client_stream& client) : timer_{io}, client_{client} {}
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

    /// The object a pending timer wait keeps alive (the session).
    void bind(std::weak_ptr<void> owner) noexcept { owner_ = std::move(owner); }

    /// Sets the deadline `d` from now for the wait that follows, in phase `p`.
    void arm(phase p, std::chrono::milliseconds d);
    /// No deadline until the next arm().
    void disarm() noexcept { waiting_ = phase::none; }
    /// The phase whose deadline passed since the last arm() (none if it did not).
    [[nodiscard]] phase timed_out() const noexcept { return timed_out_; }
    /// Whether the deadline of the last arm() passed, the operation that followed having
    /// succeeded or not.
    [[nodiscard]] bool expired() const noexcept { return timed_out_ != phase::none; }
    /// Registers `s` as the backend socket to cancel on expiry, for the guard's lifetime.
    [[nodiscard]] watch watch_backend(asio::ip::tcp::socket& s) noexcept {
        backend_ = &s;
        return watch{this, &s};
    }
    /// Ends what is pending now, as a deadline passing in phase `p` would (a tunnel whose
    /// key moved to another backend).
    void expire_now(phase p) noexcept;
    /// Stops the timer for good (the session ends).
    void stop() noexcept;

private:
    void start_wait();
    void on_timer(const asio::error_code& ec);

    asio::steady_timer timer_;
    client_stream& client_;
    std::weak_ptr<void> owner_;
    asio::ip::tcp::socket* backend_ = nullptr;
    std::chrono::steady_clock::time_point deadline_{};
    bool running_ = false;
    phase waiting_ = phase::none;
    phase timed_out_ = phase::none;
};

}  // namespace ringlb
