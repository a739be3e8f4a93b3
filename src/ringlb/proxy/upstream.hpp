// ringlb/proxy/upstream.hpp: a worker's keep-alive connections to the backends.
//
//   ringlb::upstream_pool pool{io};
//   ringlb::conn_ref c = pool.take(backend, address, now, idle_limit, replayable);  // or null
//   if (!c) c = ringlb::upstream_conn::open(io.get_executor(), backend.address);  // connect it
//   if (c->stray()) ...                        // checked right before the request is written
//   co_await asio::async_write(c->socket, request, ...);
//   auto n = co_await c->async_read_some(buf, ...);             // every read of the response
//   pool.give(backend, std::move(c), now, 1024);                // reusable after the exchange
//
// A pooled connection is watched. When it comes back to the pool, the pool starts a read
// on it (the standing read), so a backend that sends anything while no request is
// outstanding (a stray second response, the late body of a 204, a 408 before it closes, or
// only its FIN) is seen when it happens; the connection is then closed and never handed
// out, so no byte of one exchange can reach the next. The exchange that takes the
// connection next starts no read for its response: the standing read becomes its first
// read (async_read_some). The watch still costs a system call: asio starts every read with
// a speculative recv, which finds nothing when the connection is pooled (the old code's
// recv right after writing a request sometimes found the answer already there; measured
// in docs/DESIGN.md). Bytes the kernel handed over just before a take, whose completion
// has not run yet, are caught too: the standing read lands them in the connection's own
// array, whose first byte is zeroed before each standing read, and stray() looks there. (A
// stray stream that starts with a NUL byte stays invisible to that check; it can never
// parse as a response, so the exchange that meets it answers 502, and nothing crosses.) An
// end of stream leaves no byte to see: one already there when the connection was pooled
// completes the standing read at once, but its completion runs only after the handlers
// queued before it. Until then (a handler posted behind the gives marks them settled) a request that must not
// be replayed only gets the connection after a recv(MSG_PEEK) says it is open; a replayable one takes it as
// it is, and a dead connection costs it one retry on a fresh one (failure_policy.hpp).
//
// Connections are shared through an intrusive, non-atomic count (conn_ref): the pool, an
// exchange and a pending standing read each hold one, so whichever lets go last frees the
// connection, in any order, the io_context's destruction of a pending read at shutdown
// included.
//
// Thread-safety: none; a pool, its connections and their conn_refs belong to one worker
// thread.
#pragma once

#include "ringlb/lb/routing.hpp"

#include <asio/async_result.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <array>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ringlb {

class upstream_conn;

/// An owning reference to an upstream_conn (intrusive, non-atomic: one thread).
class conn_ref {
public:
    conn_ref() noexcept = default;
    explicit conn_ref(upstream_conn* c) noexcept;
    conn_ref(const conn_ref& o) noexcept : conn_ref{o.p_} {}
    conn_ref(conn_ref&& o) noexcept : p_{std::exchange(o.p_, nullptr)} {}
    conn_ref& operator=(conn_ref o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~conn_ref() { reset(); }
    void reset() noexcept;
    [[nodiscard]] upstream_conn* get() const noexcept { return p_; }
    upstream_conn* operator->() const noexcept { return p_; }
    upstream_conn& operator*() const noexcept { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    friend bool operator==(const conn_ref& a, std::nullptr_t) noexcept { return a.p_ == nullptr; }

private:
    upstream_conn* p_ = nullptr;
};

/// One connection to a backend.
class upstream_conn {
public:
    /// The first read of a response after a standing read lands in a buffer of at least
    /// this size (the exchange's response buffer, 16 KiB or more).
    static constexpr std::size_t landing_bytes = 2048;

    /// A new, unconnected socket for `to` (connect it with socket.async_connect).
    [[nodiscard]] static conn_ref open(const asio::any_io_executor& ex, const asio::ip::tcp::endpoint& to) {
        return conn_ref{new upstream_conn(ex, to)};
    }
    upstream_conn(const upstream_conn&) = delete;
    upstream_conn& operator=(const upstream_conn&) = delete;

    asio::ip::tcp::socket socket;
    asio::ip::tcp::endpoint peer;
    steady_clock::time_point idle_since{};
    std::uint64_t requests = 0;  ///< exchanges completed on this connection

    /// Whether the backend sent something nobody asked for: bytes, or an end of stream,
    /// arrived since the connection was pooled. Check it right before writing a request:
    /// after that moment, bytes are the answer.
    [[nodiscard]] bool stray() const noexcept {
        return standing_ == standing::landed || (standing_ == standing::pending && landing_[0] != 0);
    }
    /// Whether the socket holds nothing to read and no end of stream (a MSG_PEEK recv: one
    /// system call).
    [[nodiscard]] bool quiet() noexcept;
    /// Whether response bytes wait to be read: landed by the standing read, or in the
    /// socket (a MSG_PEEK recv). Asked of a backend that stopped reading a request: has it
    /// answered? Meaningful once no completion of the standing read is queued.
    [[nodiscard]] bool answer_waiting() noexcept;
    /// Whether the standing read is outstanding (its completion may be queued).
    [[nodiscard]] bool watching() const noexcept { return standing_ == standing::pending; }

    /// Reads the next bytes of the response. The first call after a take() completes with
    /// the standing read; others read the socket. `to` must hold at least landing_bytes.
    template <class Token>
    auto async_read_some(asio::mutable_buffer to, Token&& token) {
        return asio::async_initiate<Token, void(asio::error_code, std::size_t)>(
            [this, to](auto handler) { this->start_read(to, std::move(handler)); }, token);
    }

    /// Closes the socket (a pending standing read completes as aborted).
    void close() noexcept {
        asio::error_code ignored;
        socket.close(ignored);
    }

private:
    friend class conn_ref;
    friend class upstream_pool;
    enum class standing : std::uint8_t { none, pending, landed };

    // The standing read's completion handler: holds the connection while the read is
    // pending. Destroyed without running (the io_context shutting down), it also destroys
    // an exchange waiting for the read, whose coroutine would otherwise keep the connection
    // alive, and be kept alive by it, forever.
    struct standing_read {
        conn_ref c;
        explicit standing_read(conn_ref r) noexcept : c{std::move(r)} {}
        standing_read(standing_read&&) noexcept = default;
        standing_read& operator=(standing_read&&) = delete;
        ~standing_read() {
            if (c) c->waiter_.reset();
        }
        void operator()(const asio::error_code& ec, std::size_t n) {
            const conn_ref self = std::move(c);
            self->on_landed(ec, n);
        }
    };

    // The exchange's completion handler while it waits for the standing read: stored in
    // place (no allocation), invoked once.
    class waiter {
    public:
        waiter() noexcept = default;
        waiter(const waiter&) = delete;
        waiter& operator=(const waiter&) = delete;
        ~waiter() { reset(); }
        template <class Handler>
        void emplace(Handler&& h) {
            using H = std::decay_t<Handler>;
            static_assert(sizeof(H) <= sizeof(storage_) && alignof(H) <= alignof(std::max_align_t),
                          "the completion handler does not fit the waiter's storage");
            reset();
            ::new (static_cast<void*>(storage_)) H(std::forward<Handler>(h));
            invoke_ = [](void* p, const asio::error_code& ec, std::size_t n) {
                H handler = std::move(*static_cast<H*>(p));
                static_cast<H*>(p)->~H();
                std::move(handler)(ec, n);
            };
            destroy_ = [](void* p) { static_cast<H*>(p)->~H(); };
        }
        explicit operator bool() const noexcept { return invoke_ != nullptr; }
        void operator()(const asio::error_code& ec, std::size_t n) {
            auto* f = std::exchange(invoke_, nullptr);
            destroy_ = nullptr;
            f(storage_, ec, n);
        }
        void reset() noexcept {
            if (destroy_ != nullptr) std::exchange(destroy_, nullptr)(storage_);
            invoke_ = nullptr;
        }

    private:
        alignas(std::max_align_t) unsigned char storage_[64];
        void (*invoke_)(void*, const asio::error_code&, std::size_t) = nullptr;
        void (*destroy_)(void*) = nullptr;
    };

    upstream_conn(const asio::any_io_executor& ex, const asio::ip::tcp::endpoint& to)
        : socket{ex}, peer{to} {}

    template <class Handler>
    void start_read(asio::mutable_buffer to, Handler&& h) {
        if (deferred_ec_) {
            // The error deliver()'s extra recv met (the kernel reports it once).
            complete_later(std::forward<Handler>(h), std::exchange(deferred_ec_, {}), 0);
            return;
        }
        if (standing_ == standing::none) {
            socket.async_read_some(to, std::forward<Handler>(h));
            return;
        }
        if (to.size() < landing_bytes || waiter_) {
            // A misuse, answered as an error rather than by losing bytes.
            complete_later(std::forward<Handler>(h), asio::error::invalid_argument, 0);
            return;
        }
        if (standing_ == standing::landed) {
            standing_ = standing::none;
            complete_later(std::forward<Handler>(h), landed_ec_, deliver(to, landed_n_));
            return;
        }
        target_ = to;
        waiter_.emplace(std::forward<Handler>(h));
    }

    template <class Handler>
    void complete_later(Handler&& h, asio::error_code ec, std::size_t n) {
        auto ex = asio::get_associated_executor(h, socket.get_executor());
        asio::post(ex, [h = std::forward<Handler>(h), ec, n]() mutable { std::move(h)(ec, n); });
    }

    // Copies what the standing read landed into the exchange's buffer. A full landing
    // array means the answer may go on in the socket: what is there already is read now
    // (one recv), so a response of up to a buffer still arrives as one read, as it does on
    // a fresh connection. An error that recv meets is kept for the next read.
    std::size_t deliver(asio::mutable_buffer to, std::size_t n) noexcept;

    /// Starts the standing read (the pool, when the connection comes back).
    void watch();
    void on_landed(const asio::error_code& ec, std::size_t n);

    std::uint32_t refs_ = 0;
    std::uint64_t pooled_seq_ = 0;  // the pool's count of gives when this one was pooled
    standing standing_ = standing::none;
    bool claimed_ = false;  // taken by an exchange since the standing read started
    bool dead_ = false;     // closed while pooled: skipped by take, erased by sweep
    std::size_t landed_n_ = 0;
    asio::error_code landed_ec_;
    asio::error_code deferred_ec_;  // for the next read (deliver)
    asio::mutable_buffer target_;
    waiter waiter_;
    std::array<char, landing_bytes> landing_;
};

inline conn_ref::conn_ref(upstream_conn* c) noexcept : p_{c} {
    if (p_ != nullptr) ++p_->refs_;
}

inline void conn_ref::reset() noexcept {
    if (p_ != nullptr && --p_->refs_ == 0) delete p_;
    p_ = nullptr;
}

class upstream_pool {
public:
    /// `io` runs the settling handler (see the header comment); the pool must be destroyed
    /// before `io` is, which destroys that handler without running it.
    explicit upstream_pool(asio::io_context& io) : io_{io} {}
    upstream_pool(const upstream_pool&) = delete;
    upstream_pool& operator=(const upstream_pool&) = delete;

    /// A pooled connection to `b` at `address` younger than `max_idle` that holds no stray
    /// byte, or null. Its standing read becomes the first read of the exchange's response.
    /// When `replayable` is false the connection is also known to be open (see above).
    [[nodiscard]] conn_ref take(const backend& b, const asio::ip::tcp::endpoint& address,
                                steady_clock::time_point now, steady_clock::duration max_idle,
                                bool replayable);
    /// Keeps `c` for reuse and starts watching it, or closes it when `b` already has `keep`
    /// idle connections or takes no new requests (draining, maintenance, down unless the
    /// pool panics open: backend_state::keeps_connections). `c` must
    /// have been read to the end of a response.
    void give(const backend& b, conn_ref c, steady_clock::time_point now, std::size_t keep);
    /// Closes connections idle longer than `max_idle` and those of backends that take no
    /// new requests, forgets closed ones and pools of backends that are gone.
    void sweep(steady_clock::time_point now, steady_clock::duration max_idle);
    /// Closes every pooled connection.
    void clear();
    /// Pooled connections, closed ones not yet swept included.
    [[nodiscard]] std::size_t idle_count() const noexcept;

private:
    struct entry {
        std::shared_ptr<backend_state> state;  // keeps the key's object alive
        std::vector<conn_ref> idle;
    };
    // Posts the handler that marks the connections pooled so far as settled.
    void settle_after_queued();

    asio::io_context& io_;
    std::uint64_t given_ = 0;    // connections pooled so far (each one's pooled_seq_)
    std::uint64_t settled_ = 0;  // those whose standing read's first completion has run
    bool settle_pending_ = false;
    std::unordered_map<const backend_state*, entry> pools_;
};

}  // namespace ringlb
