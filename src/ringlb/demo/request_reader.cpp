#include "ringlb/demo/request_reader.hpp"

#include <asio/buffer.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <cstring>

// See src/ringlb/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::demo {

asio::awaitable<request_reader::status> request_reader::read_head(asio::ip::tcp::socket& s) {
    asio::error_code ec;
    parser_.reset();
    parsed_ = 0;
    head_end_ = 0;
    for (;;) {
        const auto r = parser_.feed(buf_.data() + parsed_, have_ - parsed_);
        if (r.what == http_parser::event::head_complete) {
            parsed_ += r.consumed;
            head_end_ = parsed_;
            co_return status::head;
        }
        if (r.what != http_parser::event::need_more)
            co_return parser_.error_status() == 431 ? status::too_large : status::malformed;
        parsed_ = have_;
        if (have_ == buf_.size()) co_return status::too_large;
        const std::size_t n =
            co_await s.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                                       asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return status::closed;
        have_ += n;
    }
}

asio::awaitable<bool> request_reader::read_body(asio::ip::tcp::socket& s) {
    asio::error_code ec;
    for (;;) {
        const auto r = parser_.feed(buf_.data() + parsed_, have_ - parsed_);
        if (r.what == http_parser::event::error) co_return false;
        parsed_ += r.consumed;
        if (r.what == http_parser::event::message_complete) break;
        have_ = parsed_ = 0;  // body bytes are counted by the parser, not kept
        const std::size_t n =
            co_await s.async_read_some(asio::buffer(buf_), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return false;
        have_ = n;
    }
    // Pipelined bytes of the next request move to the front.
    std::memmove(buf_.data(), buf_.data() + parsed_, have_ - parsed_);
    have_ -= parsed_;
    parsed_ = 0;
    head_end_ = 0;
    co_return true;
}

}  // namespace ringlb::demo
