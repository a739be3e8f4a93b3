// ringlb/proxy/client_stream.hpp: the client's side of a session, as the session uses it.
//
//   ringlb::client_stream client{std::move(accepted_socket)};
//   auto n = co_await client.async_read_some(asio::buffer(buf), token);
//   co_await client.async_write(buffers, token);
//   client.peer_ip();    // "192.0.2.7", for X-Forwarded-For and the access log
//   client.scheme();     // "http": the X-Forwarded-Proto the backend is told
//
// Everything above this class talks to the client through these few operations, so a TLS
// transport (issue 13) slots in here, behind the same calls, without the session, the
// request reader or the pumps knowing which one they talk to.
//
// Thread-safety: none; a stream belongs to its session, on one worker thread.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace ringlb {

class client_stream {
public:
    explicit client_stream(asio::ip::tcp::socket s) : socket_{std::move(s)} {
        asio::error_code ec;
        const auto ep = socket_.remote_endpoint(ec);
        if (ec) return;
        const std::string ip = ep.address().to_string();
        ip_len_ = static_cast<std::uint8_t>(std::min(ip.size(), sizeof ip_));
        ip.copy(ip_, ip_len_);
    }
    client_stream(const client_stream&) = delete;
    client_stream& operator=(const client_stream&) = delete;

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& b, Token&& token) {
        return socket_.async_read_some(b, std::forward<Token>(token));
    }
    /// Completes when bytes (or the end of stream) can be read, holding no buffer. (A TLS
    /// stream will have to answer at once when it holds decrypted bytes already.)
    template <class Token>
    auto async_wait_readable(Token&& token) {
        return socket_.async_wait(asio::ip::tcp::socket::wait_read, std::forward<Token>(token));
    }
    /// Writes all of `b` (one buffer or a sequence).
    template <class ConstBuffers, class Token>
    auto async_write(const ConstBuffers& b, Token&& token) {
        return asio::async_write(socket_, b, std::forward<Token>(token));
    }

    /// Aborts the pending operations (the watchdog, a drain).
    void cancel() noexcept {
        asio::error_code ignored;
        socket_.cancel(ignored);
    }
    /// Half-close: no more bytes to the client; reading goes on.
    void shutdown_send() noexcept {
        asio::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }
    void close() noexcept {
        asio::error_code ignored;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

    /// The TCP socket, when nothing else holds state for the connection (parking takes its
    /// descriptor: parking_lot.hpp). A TLS stream will answer nullptr.
    [[nodiscard]] asio::ip::tcp::socket* plain_socket() noexcept { return &socket_; }

    /// The client's address as text (empty when it could not be read).
    [[nodiscard]] std::string_view peer_ip() const noexcept { return {ip_, ip_len_}; }
    /// The scheme the client used, for X-Forwarded-Proto.
    [[nodiscard]] std::string_view scheme() const noexcept { return "http"; }

private:
    asio::ip::tcp::socket socket_;
    char ip_[46] = {};  // INET6_ADDRSTRLEN
    std::uint8_t ip_len_ = 0;
};

}  // namespace ringlb
