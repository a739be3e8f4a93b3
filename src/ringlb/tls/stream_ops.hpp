// ringlb/tls/stream_ops.hpp: TLS over a non-blocking TCP socket, as asio operations, without
// asio::ssl's two 17 KiB buffers per connection.
//
//   ringlb::tls_conn t{ssl};                  // SSL_set_fd'd to the socket's descriptor
//   co_await ringlb::async_tls_handshake(socket, t, use_awaitable);
//   n = co_await ringlb::async_tls_read_some(socket, t, buffer, use_awaitable);
//   co_await ringlb::async_tls_write(socket, t, buffers, use_awaitable);   // all of them
//
// OpenSSL reads and writes the descriptor itself (a socket BIO); when it needs the socket to
// be readable or writable it says so, and the operation waits for that with async_wait, no
// buffer held. With SSL_MODE_RELEASE_BUFFERS (tls/server_context.cpp) an idle connection
// keeps only OpenSSL's per-connection state. Errors: a close_notify or an end of stream is
// asio::error::eof; a reset, connection_reset; anything else the peer got wrong,
// std::errc::protocol_error. After one of the last two, `broken` is set: no close_notify
// may be sent then (SSL_shutdown after a fatal error is refused by OpenSSL).
//
// The operations complete inline when OpenSSL needs no wait: fine for use_awaitable, which
// resumes the coroutine after the initiation returns; other tokens are not used here.
//
// Thread-safety: none; a connection and its operations belong to one worker thread.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <asio/buffer.hpp>
#include <asio/compose.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace ringlb {

struct tls_conn {
    SSL* ssl = nullptr;
    bool broken = false;  ///< a fatal error happened: close without close_notify
    /// Bumped by every cancel (the watchdog, a drain). An operation loops over several
    /// waits; one whose wait had already completed when the socket was cancelled would
    /// otherwise wait again with no deadline left. Each operation ends with
    /// operation_aborted after a wait if this moved since it started.
    std::uint32_t cancels = 0;
};

namespace tls_detail {

// What one SSL call asks for next.
struct step {
    enum class kind : std::uint8_t { done, want_read, want_write } what = kind::done;
    asio::error_code ec;
    std::size_t n = 0;
};

// An SSL call's return value `r` turned into a step.
inline step after(tls_conn& t, int r, std::size_t n) noexcept {
    if (r == 1) return {step::kind::done, {}, n};
    switch (SSL_get_error(t.ssl, r)) {
        case SSL_ERROR_WANT_READ:
            return {step::kind::want_read, {}, 0};
        case SSL_ERROR_WANT_WRITE:
            return {step::kind::want_write, {}, 0};
        case SSL_ERROR_ZERO_RETURN:
            return {step::kind::done, asio::error::eof, 0};
        case SSL_ERROR_SYSCALL:
            t.broken = true;
            ERR_clear_error();
            return {step::kind::done, asio::error::connection_reset, 0};
        default:
            t.broken = true;
            ERR_clear_error();
            return {step::kind::done, std::make_error_code(std::errc::protocol_error), 0};
    }
}

// Runs `call` (one SSL step) until it is done, waiting for the socket in between.
template <class Call>
class op {
public:
    op(asio::ip::tcp::socket& s, tls_conn& t, Call call)
        : socket_{s}, t_{t}, started_{t.cancels}, call_{std::move(call)} {}

    template <class Self>
    void operator()(Self& self, asio::error_code ec = {}) {
        if (!ec && t_.cancels != started_) ec = asio::error::operation_aborted;
        if (ec) {
            self.complete(ec, 0);
            return;
        }
        ERR_clear_error();  // a stale error would be taken for this call's
        const step s = call_();
        if (s.what == step::kind::want_read) {
            socket_.async_wait(asio::ip::tcp::socket::wait_read, std::move(self));
        } else if (s.what == step::kind::want_write) {
            socket_.async_wait(asio::ip::tcp::socket::wait_write, std::move(self));
        } else {
            self.complete(s.ec, s.n);
        }
    }

private:
    asio::ip::tcp::socket& socket_;
    tls_conn& t_;
    std::uint32_t started_;
    Call call_;
};

template <class Token, class Call>
auto start(asio::ip::tcp::socket& s, tls_conn& t, Call call, Token&& token) {
    return asio::async_compose<Token, void(asio::error_code, std::size_t)>(op<Call>{s, t, std::move(call)},
                                                                           token, s);
}

}  // namespace tls_detail

/// The server side of the handshake (the SSL is in accept state).
template <class Token>
auto async_tls_handshake(asio::ip::tcp::socket& s, tls_conn& t, Token&& token) {
    return tls_detail::start(
        s, t, [&t] { return tls_detail::after(t, SSL_do_handshake(t.ssl), 0); }, std::forward<Token>(token));
}

/// Reads at least one byte of application data into `b` (or ends with an error).
///
/// Unless OpenSSL holds bytes already, it first waits for the socket to be readable, and
/// only then reads: a read that finds nothing leaves OpenSSL's record buffer (17 KiB, which
/// SSL_MODE_RELEASE_BUFFERS otherwise frees once a record is consumed) allocated for the
/// whole wait, and an idle keep-alive connection waits in a read. This costs the
/// readiness wait's epoll_ctl per read, which the plain path avoids.
template <class Token>
auto async_tls_read_some(asio::ip::tcp::socket& s, tls_conn& t, asio::mutable_buffer b, Token&& token) {
    return asio::async_compose<Token, void(asio::error_code, std::size_t)>(
        [&s, &t, b, waited = false, started = t.cancels](auto& self, asio::error_code ec = {}) mutable {
            if (!ec && t.cancels != started) ec = asio::error::operation_aborted;
            if (ec || b.size() == 0) {
                self.complete(ec, 0);
                return;
            }
            if (!waited && SSL_has_pending(t.ssl) != 1) {
                waited = true;
                s.async_wait(asio::ip::tcp::socket::wait_read, std::move(self));
                return;
            }
            ERR_clear_error();
            std::size_t n = 0;
            const int r = SSL_read_ex(t.ssl, b.data(), b.size(), &n);  // before `n` is read
            const tls_detail::step st = tls_detail::after(t, r, n);
            if (st.what == tls_detail::step::kind::want_read) {
                s.async_wait(asio::ip::tcp::socket::wait_read, std::move(self));
            } else if (st.what == tls_detail::step::kind::want_write) {
                s.async_wait(asio::ip::tcp::socket::wait_write, std::move(self));
            } else {
                self.complete(st.ec, st.n);
            }
        },
        token, s);
}

/// Writes every byte of `buffers` (one buffer or a sequence of at most two).
template <class ConstBuffers, class Token>
auto async_tls_write(asio::ip::tcp::socket& s, tls_conn& t, const ConstBuffers& buffers, Token&& token) {
    std::array<asio::const_buffer, 2> parts{};
    std::size_t count = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
        assert(count < parts.size());
        parts[count++] = asio::const_buffer(*it);
    }
    return tls_detail::start(
        s, t,
        [&t, parts, count, i = std::size_t{0}, done = std::size_t{0}]() mutable {
            // Partial writes (SSL_MODE_ENABLE_PARTIAL_WRITE): one record at a time, so a
            // large body is not copied whole into OpenSSL's buffer first.
            while (i < count) {
                if (parts[i].size() == 0) {
                    ++i;
                    continue;
                }
                std::size_t n = 0;
                const int r = SSL_write_ex(t.ssl, parts[i].data(), parts[i].size(), &n);
                const tls_detail::step st = tls_detail::after(t, r, n);
                if (st.what != tls_detail::step::kind::done || st.ec)
                    return tls_detail::step{st.what, st.ec, done};
                done += n;
                parts[i] += n;
            }
            return tls_detail::step{tls_detail::step::kind::done, {}, done};
        },
        std::forward<Token>(token));
}

/// Completes when application data may be read: at once when OpenSSL holds some already,
/// else when the socket is readable (which may turn out to hold only a TLS record without
/// data, such as a session ticket: the read that follows then waits on).
template <class Token>
auto async_tls_wait_readable(asio::ip::tcp::socket& s, tls_conn& t, Token&& token) {
    return asio::async_compose<Token, void(asio::error_code)>(
        [&s, &t, started = false, gen = t.cancels](auto& self, asio::error_code ec = {}) mutable {
            if (!ec && t.cancels != gen) ec = asio::error::operation_aborted;
            if (started || ec || SSL_has_pending(t.ssl) == 1) {
                self.complete(ec);
                return;
            }
            started = true;
            s.async_wait(asio::ip::tcp::socket::wait_read, std::move(self));
        },
        token, s);
}

}  // namespace ringlb
