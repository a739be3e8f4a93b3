// ringlb/demo/request_reader.hpp: reads HTTP/1.1 requests off a connection one after
// another, for the small servers ringlb ships: the demo's app servers and the e2e test backend.
//
//   ringlb::demo::request_reader in{16 * 1024};
//   while (co_await in.read_head(sock) == ringlb::demo::request_reader::status::head) {
//       std::string user{in.parser().header_value("x-user-id")};  // views end at read_body
//       if (!co_await in.read_body(sock)) break;                  // the body, discarded
//       ... answer ...
//   }
//
// The head is parsed in place: the parser's views and head() point into the reader's
// buffer until read_body(), which consumes the body to find where the request ends (its
// bytes are counted in parser().body_bytes(), not kept) and moves pipelined bytes to the
// front for the next read_head().
//
// Thread-safety: none; one reader per connection, on the connection's thread.
#pragma once

#include "ringlb/http/parser.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ringlb::demo {

class request_reader {
public:
    enum class status : std::uint8_t {
        head,       ///< a head was read: parser() and head() describe it
        closed,     ///< the peer closed (or the read failed) before a complete head
        malformed,  ///< the parser rejected the head (answer 400)
        too_large,  ///< the head does not fit the buffer, or has too many lines (answer 431)
    };

    explicit request_reader(std::size_t buffer_bytes) : buf_(buffer_bytes) {}

    /// Reads the next request's head.
    [[nodiscard]] asio::awaitable<status> read_head(asio::ip::tcp::socket& s);
    /// Reads the current request's body to its end; false if the peer left or the framing
    /// is broken. Invalidates head() and the parser's views.
    [[nodiscard]] asio::awaitable<bool> read_body(asio::ip::tcp::socket& s);

    [[nodiscard]] const http_parser& parser() const noexcept { return parser_; }
    /// The raw head bytes, request line to blank line.
    [[nodiscard]] std::string_view head() const noexcept { return {buf_.data(), head_end_}; }

private:
    std::vector<char> buf_;
    std::size_t have_ = 0;      // bytes in buf_
    std::size_t parsed_ = 0;    // bytes of buf_ the parser has consumed
    std::size_t head_end_ = 0;  // end of the current head in buf_
    http_parser parser_{http_parser::type::request};
};

}  // namespace ringlb::demo
