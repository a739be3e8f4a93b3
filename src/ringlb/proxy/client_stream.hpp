// ringlb/proxy/client_stream.hpp: the client's side of a session, as the session uses it.
//
//   ringlb::client_stream client{std::move(accepted_socket), tls_or_null};
//   if (client.tls() && !client.established()) co_await client.async_handshake(token);
//   auto n = co_await client.async_read_some(asio::buffer(buf), token);
//   co_await client.async_write(buffers, token);
//   client.peer_ip();    // "192.0.2.7", for X-Forwarded-For and the access log
//   client.scheme();     // "http" or "https": the X-Forwarded-Proto the backend is told
//
// Everything above this class talks to the client through these few operations, so the
// session, the request reader, the pumps and the tunnel do not know whether the bytes are
// TLS (tls/stream_ops.hpp) or plain. Each operation branches once on which it is; both
// branches produce the same awaitable for the same token.
//
// Thread-safety: none; a stream belongs to its session, on one worker thread.
#pragma once

#include "ringlb/tls/server_context.hpp"
#include "ringlb/tls/stream_ops.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace ringlb {

class client_stream {
public:
    /// A plain connection, or with `tls` a TLS one (the handshake is still to be done). A
    /// TLS connection OpenSSL cannot make state for is closed at once: its first operation
    /// fails.
    explicit client_stream(asio::ip::tcp::socket s, std::shared_ptr<const tls_server_context> tls = nullptr)
        : socket_{std::move(s)} {
        asio::error_code ec;
        const auto ep = socket_.remote_endpoint(ec);
        if (!ec) {
            const std::string ip = ep.address().to_string();
            ip_len_ = static_cast<std::uint8_t>(std::min(ip.size(), sizeof ip_));
            ip.copy(ip_, ip_len_);
        }
        if (tls) start_tls(std::move(tls));
    }
    /// A parked TLS connection taken up again: its handshake is long done.
    client_stream(asio::ip::tcp::socket s, std::unique_ptr<tls_held> held) : client_stream{std::move(s)} {
        asio::error_code ec;
        socket_.native_non_blocking(true, ec);         // (it still is; asio is told)
        tls_.ssl = std::exchange(held->ssl, nullptr);  // its BIO still names this descriptor
        context_ = std::move(held->context);
    }
    ~client_stream() {
        if (tls_.ssl != nullptr) SSL_free(tls_.ssl);
    }
    client_stream(const client_stream&) = delete;
    client_stream& operator=(const client_stream&) = delete;

    [[nodiscard]] bool tls() const noexcept { return tls_.ssl != nullptr; }
    /// A TLS connection whose handshake is done (a parked one taken up again, or after
    /// async_handshake).
    [[nodiscard]] bool established() const noexcept {
        return tls_.ssl != nullptr && SSL_is_init_finished(tls_.ssl) == 1;
    }
    /// Whether the TLS handshake resumed a session (a ticket) rather than a full one.
    [[nodiscard]] bool tls_resumed() const noexcept {
        return tls_.ssl != nullptr && SSL_session_reused(tls_.ssl) == 1;
    }

    /// The TLS handshake (a TLS stream only).
    template <class Token>
    auto async_handshake(Token&& token) {
        return async_tls_handshake(socket_, tls_, std::forward<Token>(token));
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& b, Token&& token) {
        if (tls_.ssl != nullptr)
            return async_tls_read_some(socket_, tls_, asio::mutable_buffer{*asio::buffer_sequence_begin(b)},
                                       std::forward<Token>(token));
        return socket_.async_read_some(b, std::forward<Token>(token));
    }
    /// Completes when bytes (or the end of stream) can be read, holding no buffer; at once
    /// when OpenSSL holds decrypted bytes already.
    template <class Token>
    auto async_wait_readable(Token&& token) {
        if (tls_.ssl != nullptr) return async_tls_wait_readable(socket_, tls_, std::forward<Token>(token));
        return socket_.async_wait(asio::ip::tcp::socket::wait_read, std::forward<Token>(token));
    }
    /// Writes all of `b` (one buffer or a sequence of at most two).
    template <class ConstBuffers, class Token>
    auto async_write(const ConstBuffers& b, Token&& token) {
        if (tls_.ssl != nullptr) return async_tls_write(socket_, tls_, b, std::forward<Token>(token));
        return asio::async_write(socket_, b, std::forward<Token>(token));
    }

    /// Aborts the pending operations (the watchdog, a drain).
    void cancel() noexcept {
        ++tls_.cancels;  // (tls/stream_ops.hpp: a TLS operation between two waits stops too)
        asio::error_code ignored;
        socket_.cancel(ignored);
    }
    /// Half-close: no more bytes to the client (after a TLS close_notify); reading goes on.
    void shutdown_send() noexcept {
        notify_close();
        asio::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }
    void close() noexcept {
        notify_close();
        asio::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    // --- parking (parking_lot.hpp): the descriptor, and for TLS the OpenSSL state with it ---

    /// Whether the connection can be parked now: plain, or TLS established, unbroken, with
    /// nothing buffered in OpenSSL (SSL_has_pending: bytes already read from the socket
    /// would not wake the lot) and nothing waiting to be sent.
    [[nodiscard]] bool parkable() const noexcept {
        if (tls_.ssl == nullptr) return socket_.is_open();
        // (Nor bytes OpenSSL still has to send: the lot waits for input only.)
        return !tls_.broken && SSL_is_init_finished(tls_.ssl) == 1 && SSL_has_pending(tls_.ssl) != 1 &&
               SSL_want_write(tls_.ssl) == 0;
    }
    [[nodiscard]] asio::ip::tcp::socket& socket() noexcept { return socket_; }
    /// Hands the OpenSSL state over (null for plain): the stream is left without it.
    [[nodiscard]] std::unique_ptr<tls_held> release_tls() noexcept {
        if (tls_.ssl == nullptr) return nullptr;
        auto held = std::unique_ptr<tls_held>{new (std::nothrow) tls_held};
        if (!held) return nullptr;
        held->ssl = std::exchange(tls_.ssl, nullptr);
        held->context = std::move(context_);
        return held;
    }
    /// Takes it back (the lot could not take the connection).
    void restore_tls(std::unique_ptr<tls_held> held) noexcept {
        if (!held) return;
        tls_.ssl = std::exchange(held->ssl, nullptr);
        context_ = std::move(held->context);
    }

    /// The client's address as text (empty when it could not be read).
    [[nodiscard]] std::string_view peer_ip() const noexcept { return {ip_, ip_len_}; }
    /// The scheme the client used, for X-Forwarded-Proto.
    [[nodiscard]] std::string_view scheme() const noexcept { return tls_.ssl != nullptr ? "https" : "http"; }

private:
    void start_tls(std::shared_ptr<const tls_server_context> tls) noexcept {
        asio::error_code ec;
        socket_.native_non_blocking(true, ec);  // OpenSSL reads the descriptor itself
        SSL* ssl = ec ? nullptr : tls->new_connection();
        if (ssl == nullptr || SSL_set_fd(ssl, socket_.native_handle()) != 1) {
            if (ssl != nullptr) SSL_free(ssl);
            ERR_clear_error();
            socket_.close(ec);
            return;
        }
        tls_.ssl = ssl;
        context_ = std::move(tls);  // the SSL's callbacks refer to it
    }
    // A TLS close_notify, once, unless the connection broke (best effort: the socket is
    // non-blocking and nothing waits for the peer's).
    void notify_close() noexcept {
        if (tls_.ssl == nullptr || tls_.broken || closed_) return;
        closed_ = true;
        if (SSL_is_init_finished(tls_.ssl) == 1) {
            ERR_clear_error();
            SSL_shutdown(tls_.ssl);
            ERR_clear_error();
        }
    }

    asio::ip::tcp::socket socket_;
    tls_conn tls_;
    bool closed_ = false;  // close_notify sent
    std::shared_ptr<const tls_server_context> context_;
    char ip_[46] = {};  // INET6_ADDRSTRLEN
    std::uint8_t ip_len_ = 0;
};

}  // namespace ringlb
