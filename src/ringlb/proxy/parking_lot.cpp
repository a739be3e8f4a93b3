#include "ringlb/proxy/parking_lot.hpp"

#include <new>

#include <sys/epoll.h>
#include <unistd.h>

#if defined(RINGLB_WITH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#elif defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#include <malloc.h>
#define RINGLB_HAS_MALLOC_TRIM 1
#endif

#include <array>
#include <cerrno>

namespace ringlb {

struct parking_lot::entry {
    entry* prev = nullptr;
    entry* next = nullptr;
    clock::time_point deadline;
    int fd = -1;
    bool v6 = false;
    std::unique_ptr<tls_held> tls;  // a TLS connection's state; freed with the entry
};

namespace {

constexpr std::chrono::milliseconds trim_pause{250};

// Gives the allocator's free pages back to the system: jemalloc returns what this thread's
// cache holds to its arena and purges every arena's dirty pages now (instead of after its
// 10 s decay, which only runs while allocating); glibc releases the free pages inside its
// arenas. Called on the worker's thread: each worker flushes its own cache.
void release_free_memory() noexcept {
#if defined(RINGLB_WITH_JEMALLOC)
    ::mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
    static_assert(MALLCTL_ARENAS_ALL == 4096, "the name below spells MALLCTL_ARENAS_ALL");
    ::mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
#elif defined(RINGLB_HAS_MALLOC_TRIM)
    ::malloc_trim(0);
#endif
}

}  // namespace

parking_lot::parking_lot(asio::io_context& io, hooks h)
    : hooks_{std::move(h)}, watcher_{io}, timer_{io}, trim_timer_{io} {}

parking_lot::~parking_lot() {
    // No hooks from here: the worker is going away with us.
    while (head_ != nullptr) drop(head_);
}

bool parking_lot::open_epoll() {
    if (epoll_fd_ >= 0) return true;
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return false;  // out of descriptors: sessions keep their connections
    asio::error_code ec;
    watcher_.assign(fd, ec);
    if (ec) {
        ::close(fd);
        return false;
    }
    epoll_fd_ = fd;
    return true;
}

bool parking_lot::park(asio::ip::tcp::socket& s, clock::time_point deadline, std::unique_ptr<tls_held>& tls) {
    if (!s.is_open() || !open_epoll()) return false;
    asio::error_code ec;
    const auto local = s.local_endpoint(ec);
    if (ec) return false;  // not connected any more: the session closes it
    const int fd = s.native_handle();
    // The list stays in deadline order: after a reload that shortened the idle timeout, a
    // connection parked now closes no later than the last one parked before it.
    if (tail_ != nullptr && tail_->deadline > deadline) deadline = tail_->deadline;
    auto* e = new (std::nothrow) entry{.prev = tail_,
                                       .next = nullptr,
                                       .deadline = deadline,
                                       .fd = fd,
                                       .v6 = local.protocol() == asio::ip::tcp::v6(),
                                       .tls = nullptr};
    if (e == nullptr) return false;  // (nothing handed over yet: the session keeps it)
    // Level-triggered: bytes that came between the session's last read and this call are
    // reported at once.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = e;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        delete e;
        return false;
    }
    s.release(ec);  // out of asio's reactor; the descriptor stays open
    if (ec) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        delete e;
        return false;
    }
    e->tls = std::move(tls);
    if (tail_ != nullptr)
        tail_->next = e;
    else
        head_ = e;
    tail_ = e;
    ++size_;
    wait_for_bytes();
    // The timer waits for the oldest entry's deadline; when that entry was taken out
    // meanwhile, the timer may be set later than the new oldest: it moves.
    if (timer_armed_ && timer_.expiry() > head_->deadline) timer_armed_ = false;
    arm_timer();
    note_parked();
    return true;
}

void parking_lot::stop() noexcept {
    while (head_ != nullptr) drop(head_);
    asio::error_code ignored;
    watcher_.cancel(ignored);
    timer_.cancel();
    trim_timer_.cancel();
}

void parking_lot::close_all() noexcept {
    if (head_ == nullptr) return;
    while (head_ != nullptr) drop(head_);
    if (hooks_.closed) hooks_.closed();
}

void parking_lot::wait_for_bytes() {
    if (waiting_ || head_ == nullptr) return;
    waiting_ = true;
    watcher_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& ec) {
        waiting_ = false;
        if (ec) return;  // the lot is closing
        on_ready();
        wait_for_bytes();
    });
}

void parking_lot::on_ready() {
    // asio watches the lot's epoll instance edge-triggered: it reports it again only when a
    // new event arrives, so every ready entry is taken now, batch after batch.
    std::array<epoll_event, 64> ready;
    bool closed = false;
    for (;;) {
        const int n = ::epoll_wait(epoll_fd_, ready.data(), static_cast<int>(ready.size()), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        closed |= take_ready(std::span{ready.data(), static_cast<std::size_t>(n)});
        if (static_cast<std::size_t>(n) < ready.size()) break;
    }
    if (closed && hooks_.closed) hooks_.closed();
}

bool parking_lot::take_ready(std::span<const epoll_event> ready) {
    bool closed = false;
    for (std::size_t i = 0; i < ready.size(); ++i) {
        auto* e = static_cast<entry*>(ready[i].data.ptr);
        const std::uint32_t events = ready[i].events;
        // A reset or an error: nothing to serve (a reset discards what was unread). A
        // half-close (EPOLLRDHUP alone) may follow a request, which is served.
        if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
            drop(e, false);
            closed = true;
            continue;
        }
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e->fd, nullptr);
        unlink(e);
        const int fd = e->fd;
        const bool v6 = e->v6;
        std::unique_ptr<tls_held> tls = std::move(e->tls);
        delete e;
        hooks_.resume(fd, v6, std::move(tls));
    }
    return closed;
}

void parking_lot::arm_timer() {
    // A later deadline needs no timer operation: the pending wait re-arms when it fires.
    if (timer_armed_ || head_ == nullptr) return;
    timer_armed_ = true;
    timer_.expires_at(head_->deadline);
    timer_.async_wait([this](const asio::error_code& ec) {
        if (ec) return;  // stopped, or moved sooner by park() (which re-armed it)
        timer_armed_ = false;
        on_timer();
    });
}

void parking_lot::on_timer() {
    const clock::time_point now = clock::now();
    bool closed = false;
    // Ordered by deadline (park() keeps it so).
    while (head_ != nullptr && head_->deadline <= now) {
        drop(head_);
        closed = true;
    }
    arm_timer();
    if (closed && hooks_.closed) hooks_.closed();
}

void parking_lot::note_parked() {
    ++parked_lately_;
    if (!trim_armed_) arm_trim();
}

void parking_lot::arm_trim() {
    // Purging while connections keep parking would give back pages the next sessions fault
    // in again: the purge waits until parking has been quiet for a pause.
    trim_armed_ = true;
    parked_lately_ = 0;
    trim_timer_.expires_after(trim_pause);
    trim_timer_.async_wait([this](const asio::error_code& ec) {
        trim_armed_ = false;
        if (ec) return;
        if (parked_lately_ > 0) {
            arm_trim();
            return;
        }
        release_free_memory();
    });
}

void parking_lot::unlink(entry* e) noexcept {
    if (e->prev != nullptr)
        e->prev->next = e->next;
    else
        head_ = e->next;
    if (e->next != nullptr)
        e->next->prev = e->prev;
    else
        tail_ = e->prev;
    --size_;
}

void parking_lot::drop(entry* e, bool notify) noexcept {
    unlink(e);
    // A TLS connection says goodbye first (not to a peer that reset), and its state goes
    // before its descriptor does: the number is not reused while an SSL still names it.
    if (e->tls) {
        if (notify) e->tls->notify_close();
        e->tls.reset();
    }
    ::close(e->fd);  // also takes it out of the epoll instance
    delete e;
}

}  // namespace ringlb
