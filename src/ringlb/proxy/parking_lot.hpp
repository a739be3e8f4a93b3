// ringlb/proxy/parking_lot.hpp: idle client connections kept as a descriptor and a deadline.
//
//   ringlb::parking_lot lot{io, hooks};
//   lot.park(socket, steady_clock::now() + 59s);   // takes the descriptor out of asio
//   ...                                           // bytes arrive: hooks.resume(fd, v6, tls)
//                                                 // the deadline passes: closed, hooks.closed()
//   lot.close_all();                              // a drain: idle connections go now
//
// A keep-alive connection between requests costs what its session holds: the coroutine
// frame, the landing array, a timer, asio's per-descriptor state and the operation waiting
// on it, about 4.7 KB. A session idle for `park_after` hands its descriptor here and ends.
// What a parked connection costs is one 48-byte entry (its descriptor, its idle deadline,
// two list links, and for TLS a pointer to its OpenSSL state, kept whole: about 15 KB more)
// and an epoll registration in the kernel: the lot's own epoll instance,
// which asio watches as one descriptor. When bytes arrive, the descriptor is taken out of
// the lot and a new session starts on it, whose first read finds the request waiting.
// Connections that went idle reach the lot in the order they went idle and share one idle
// timeout, so the list is ordered by deadline and one timer serves every parked connection.
//
// Freed sessions leave their memory in the allocator's free lists, resident. Once parking
// has been quiet for 250 ms, the lot asks the allocator to give free pages back (jemalloc's
// purge, or glibc's malloc_trim as HAProxy's pool collector does): not while connections
// keep parking, when the next sessions would fault the same pages in again, and at most
// four times a second.
//
// Thread-safety: none; the worker's thread only. The hooks run on it.
#pragma once

#include "ringlb/tls/server_context.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include <sys/epoll.h>

namespace ringlb {

class parking_lot {
public:
    using clock = std::chrono::steady_clock;

    /// How long a connection waits for its next request in a session before it is parked.
    static constexpr std::chrono::milliseconds park_after{1000};

    struct hooks {
        /// Bytes arrived on a parked descriptor (or its peer closed): serve it again, with
        /// its TLS state when it has one.
        std::function<void(int fd, bool v6, std::unique_ptr<tls_held> tls)> resume;
        /// The lot closed parked connections itself (idle timeout, peer gone, close_all).
        std::function<void()> closed;
    };

    parking_lot(asio::io_context& io, hooks h);
    ~parking_lot();
    parking_lot(const parking_lot&) = delete;
    parking_lot& operator=(const parking_lot&) = delete;

    /// Takes `s`'s descriptor (and `tls`, a TLS connection's OpenSSL state), to be closed at
    /// `deadline` unless bytes arrive first. On false (no epoll instance, a failed
    /// registration) `s` and `tls` are left as they were: the caller keeps serving it.
    bool park(asio::ip::tcp::socket& s, clock::time_point deadline, std::unique_ptr<tls_held>& tls);
    /// A plain connection.
    bool park(asio::ip::tcp::socket& s, clock::time_point deadline) {
        std::unique_ptr<tls_held> none;
        return park(s, deadline, none);
    }
    /// Closes every parked connection now.
    void close_all() noexcept;
    /// Closes every parked connection and cancels the lot's waits, without hooks: the
    /// worker has finished and its loop must run out of work.
    void stop() noexcept;
    /// Connections parked now.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    struct entry;

    bool open_epoll();
    void wait_for_bytes();
    void on_ready();
    bool take_ready(std::span<const epoll_event> ready);  // true when some were closed
    void arm_timer();
    void on_timer();
    void note_parked();
    void arm_trim();
    void unlink(entry* e) noexcept;
    void drop(entry* e, bool notify = true) noexcept;  // unlink, (close_notify,) close, free

    hooks hooks_;
    int epoll_fd_ = -1;                       // owned by watcher_ once open
    asio::posix::stream_descriptor watcher_;  // the epoll instance, readable when a parked one is
    asio::steady_timer timer_;                // the oldest entry's deadline
    asio::steady_timer trim_timer_;
    entry* head_ = nullptr;  // oldest first
    entry* tail_ = nullptr;
    std::size_t size_ = 0;
    bool waiting_ = false;
    bool timer_armed_ = false;
    bool trim_armed_ = false;
    std::size_t parked_lately_ = 0;  // parkings since the purge timer was armed
};

}  // namespace ringlb
