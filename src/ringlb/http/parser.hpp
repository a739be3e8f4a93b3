// ringlb/http/parser.hpp: an incremental HTTP/1.1 message parser over llhttp, for both directions.
//
//   ringlb::http_parser p{ringlb::http_parser::type::request};
//   auto r = p.feed(buf, len);                      // bytes stay in place until head_complete
//   if (r.what == ringlb::http_parser::event::head_complete) {
//       auto host = p.header_value("host");          // views into `buf`
//       ...
//   }
//
// The parser never copies: header views point into the caller's buffer, so the caller must
// keep the head bytes where they are until it has used the head (ringlb's session does:
// it compacts its buffer only between messages). Body bytes are not decoded for the
// caller: the proxy forwards the framing (Content-Length or chunked) verbatim, and the
// parser's job is to validate it and to say exactly where the message ends, which is what
// keeps pipelining and request smuggling defences correct.
//
// Thread-safety: none; one parser belongs to one connection on one worker thread.
#pragma once

#include "ringlb/common/text.hpp"

#include <llhttp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringlb {

/// The header names the proxy acts on. The parser names each header once, when the head is
/// complete, so every later question ("is this Host?", "is it hop-by-hop?") compares a byte
/// rather than strings.
enum class header_id : std::uint8_t {
    other,
    host,
    content_length,
    transfer_encoding,
    connection,
    keep_alive,
    te,
    upgrade,
    proxy_prefixed,  ///< any "Proxy-*" name (Proxy-Connection, Proxy-Authorization...)
    expect,
    cookie,
    x_forwarded_for,
    x_forwarded_proto,
};

/// Which of the above `name` is (ASCII case-insensitive). `name` holds RFC 9110 token
/// characters, as the parser guarantees before it classifies.
[[nodiscard]] header_id classify_header(std::string_view name) noexcept;

/// One header line as it arrived (name keeps its case; value has no surrounding spaces).
struct header_view {
    std::string_view name;
    std::string_view value;
    header_id id = header_id::other;  ///< set when the head is complete
};

class http_parser {
public:
    enum class type : std::uint8_t { request, response };
    enum class event : std::uint8_t {
        need_more,         ///< everything consumed, message not finished
        head_complete,     ///< the head ends at consumed; header accessors are valid
        message_complete,  ///< the message (head and body) ends at consumed
        error,             ///< malformed; see error_reason() / error_status()
    };
    struct result {
        event what;
        std::size_t consumed;  ///< bytes of the input that belong to this message
    };

    /// More header lines than this is answered with 431 (the header block is too large).
    static constexpr std::size_t max_headers = 100;

    explicit http_parser(type t) noexcept;
    http_parser(const http_parser&) = delete;
    http_parser& operator=(const http_parser&) = delete;

    /// Receives the decoded body bytes (a chunked body's data without its framing) as they
    /// are parsed; null (the default) to count them only. For clients that read a body.
    using body_sink = void (*)(void* context, const char* data, std::size_t len);
    void set_body_sink(body_sink sink, void* context) noexcept {
        sink_ = sink;
        sink_context_ = context;
    }

    /// Forgets the current message; the next feed starts a new one. For a response,
    /// `to_head_request` says that it answers HEAD, so it has no body whatever it declares.
    void reset(bool to_head_request = false) noexcept;

    /// Parses the next bytes of the stream. Stops right after the head (head_complete) and
    /// right after the end of the message (message_complete), so the caller can act there
    /// and call feed again with the rest. A zero-length feed after head_complete reports
    /// message_complete for a message without a body.
    [[nodiscard]] result feed(const char* data, std::size_t len) noexcept;

    /// For a response whose body ends with the connection: call at EOF. True when that
    /// completes the message (false: the peer closed mid-message).
    [[nodiscard]] bool finish() noexcept;

    // --- the head (valid from head_complete until the caller moves the bytes) ---
    [[nodiscard]] std::string_view method_name() const noexcept;
    [[nodiscard]] llhttp_method method() const noexcept { return static_cast<llhttp_method>(parser_.method); }
    [[nodiscard]] std::string_view target() const noexcept { return target_; }
    [[nodiscard]] int status() const noexcept { return parser_.status_code; }
    /// A response's reason phrase as received (may be empty; may hold bytes a client should
    /// not see: build_client_response checks it).
    [[nodiscard]] std::string_view reason() const noexcept { return reason_; }
    [[nodiscard]] unsigned version_major() const noexcept { return parser_.http_major; }
    [[nodiscard]] unsigned version_minor() const noexcept { return parser_.http_minor; }
    [[nodiscard]] std::size_t header_count() const noexcept { return header_count_; }
    [[nodiscard]] const header_view& header(std::size_t i) const noexcept { return headers_[i]; }
    /// The value of the first header called `name` (case-insensitive), or empty.
    [[nodiscard]] std::string_view header_value(std::string_view name) const noexcept;
    /// The value of the first header with this id, or empty (`other` is not a name).
    [[nodiscard]] std::string_view header_value(header_id id) const noexcept;
    /// Whether a Connection header lists a name other than keep-alive and close, i.e. one
    /// that may be an end-to-end header to drop (RFC 9110 7.6.1). Rare: when false, only the
    /// fixed hop-by-hop set (and a header named Close) needs removing.
    [[nodiscard]] bool connection_lists_names() const noexcept { return connection_lists_names_; }
    /// Whether the head has a body framed by Transfer-Encoding: chunked.
    [[nodiscard]] bool chunked() const noexcept { return (parser_.flags & F_CHUNKED) != 0; }
    /// The declared Content-Length (0 when absent).
    [[nodiscard]] std::uint64_t content_length() const noexcept { return content_length_; }
    [[nodiscard]] bool has_content_length() const noexcept { return has_content_length_; }
    /// A response body delimited by the connection closing (no length, not chunked).
    [[nodiscard]] bool body_until_eof() const noexcept { return until_eof_; }
    /// A response that ends with its head whatever it declares: to HEAD, 1xx, 204, 304.
    [[nodiscard]] bool no_body() const noexcept { return no_body_; }
    /// Whether the peer allows the connection to be reused after this message.
    [[nodiscard]] bool keep_alive() const noexcept { return keep_alive_; }
    /// Whether the head has been parsed past the request target (false: a too-long head is
    /// a too-long URI, 414).
    [[nodiscard]] bool target_complete() const noexcept { return target_complete_; }
    /// Decoded body bytes seen so far.
    [[nodiscard]] std::uint64_t body_bytes() const noexcept { return body_bytes_; }
    /// Body and trailer-field bytes seen so far: what max_body_bytes bounds, so neither a
    /// chunked body nor its trailers can stream forever.
    [[nodiscard]] std::uint64_t bounded_bytes() const noexcept { return body_bytes_ + trailer_bytes_; }

    // --- errors ---
    /// Why the message was rejected (static string), for logs.
    [[nodiscard]] const char* error_reason() const noexcept { return error_reason_; }
    /// The status a client gets for the error: 400, or 431 for too many headers.
    [[nodiscard]] int error_status() const noexcept { return error_status_; }

private:
    static int on_url(llhttp_t* p, const char* at, std::size_t len);
    static int on_url_complete(llhttp_t* p);
    static int on_status(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_field(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_value(llhttp_t* p, const char* at, std::size_t len);
    static int on_headers_complete(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, std::size_t len);
    static int on_message_complete(llhttp_t* p);
    int fail(const char* reason, int status) noexcept;
    static const llhttp_settings_t& settings() noexcept;

    enum class pause_reason : std::uint8_t { none, head, message };
    enum class last_cb : std::uint8_t { none, field, value };

    llhttp_t parser_;
    type type_;
    pause_reason paused_ = pause_reason::none;
    last_cb last_ = last_cb::none;
    bool pending_complete_ = false;
    bool head_done_ = false;  // fields from now on are trailers
    bool head_request_ = false;
    bool target_complete_ = false;
    bool has_content_length_ = false;
    bool until_eof_ = false;
    bool no_body_ = false;
    bool keep_alive_ = false;
    bool connection_lists_names_ = false;
    int error_status_ = 400;
    const char* error_reason_ = "";
    std::string_view target_;
    std::string_view reason_;
    std::uint64_t content_length_ = 0;
    std::uint64_t body_bytes_ = 0;
    std::uint64_t trailer_bytes_ = 0;
    std::size_t header_count_ = 0;
    std::uint64_t base_ = 0;            // stream offset of the current feed's first byte
    const char* feed_start_ = nullptr;  // the current feed's first byte
    std::uint64_t value_end_ = 0;       // stream offset just past the last value piece
    std::array<header_view, max_headers> headers_;
    body_sink sink_ = nullptr;
    void* sink_context_ = nullptr;
};

}  // namespace ringlb
