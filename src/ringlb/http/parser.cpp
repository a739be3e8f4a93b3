// llhttp wrapper: see http.hpp. The settings table is shared and constant; all per-message
// state lives in the http_parser object, reached from llhttp_t::data.
#include "ringlb/http/parser.hpp"

#include <array>

namespace ringlb {

namespace {

// Whether a Connection value lists any token besides keep-alive and close.
bool lists_other_tokens(std::string_view list) noexcept {
    while (!list.empty()) {
        const std::string_view item = next_list_item(list);
        if (!item.empty() && !iequals(item, "keep-alive") && !iequals(item, "close")) return true;
    }
    return false;
}

http_parser& self(llhttp_t* p) noexcept {
    return *static_cast<http_parser*>(p->data);
}

// Whether `name` (token characters only, checked before) equals `lower`, a lowercase
// literal of letters and '-'. Among token characters, c | 0x20 maps exactly the uppercase
// letters onto the lowercase ones and leaves '-' and lowercase letters alone, so one OR
// per byte replaces a case conversion.
bool is_named(std::string_view name, std::string_view lower) noexcept {
    if (name.size() != lower.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if ((name[i] | 0x20) != lower[i]) return false;
    return true;
}

}  // namespace

header_id classify_header(std::string_view n) noexcept {
    // By length and first letter: one comparison at most, usually none.
    if (n.empty()) return header_id::other;
    const char first = static_cast<char>(n[0] | 0x20);
    switch (n.size()) {
        case 2:
            if (is_named(n, "te")) return header_id::te;
            break;
        case 4:
            if (is_named(n, "host")) return header_id::host;
            break;
        case 6:
            if (first == 'c' && is_named(n, "cookie")) return header_id::cookie;
            if (first == 'e' && is_named(n, "expect")) return header_id::expect;
            break;
        case 7:
            if (is_named(n, "upgrade")) return header_id::upgrade;
            break;
        case 10:
            if (first == 'c' && is_named(n, "connection")) return header_id::connection;
            if (first == 'k' && is_named(n, "keep-alive")) return header_id::keep_alive;
            break;
        case 14:
            if (is_named(n, "content-length")) return header_id::content_length;
            break;
        case 15:
            if (is_named(n, "x-forwarded-for")) return header_id::x_forwarded_for;
            break;
        case 17:
            if (first == 't' && is_named(n, "transfer-encoding")) return header_id::transfer_encoding;
            if (first == 'x' && is_named(n, "x-forwarded-proto")) return header_id::x_forwarded_proto;
            break;
        default:
            break;
    }
    if (first == 'p' && n.size() >= 6 && is_named(n.substr(0, 6), "proxy-")) return header_id::proxy_prefixed;
    return header_id::other;
}

const llhttp_settings_t& http_parser::settings() noexcept {
    // One constant table for every parser; llhttp only reads it.
    static const llhttp_settings_t table = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_url = &http_parser::on_url;
        s.on_status = &http_parser::on_status;
        s.on_url_complete = &http_parser::on_url_complete;
        s.on_header_field = &http_parser::on_header_field;
        s.on_header_value = &http_parser::on_header_value;
        s.on_headers_complete = &http_parser::on_headers_complete;
        s.on_body = &http_parser::on_body;
        s.on_message_complete = &http_parser::on_message_complete;
        return s;
    }();
    return table;
}

http_parser::http_parser(type t) noexcept : type_{t} {
    llhttp_init(&parser_, t == type::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
    parser_.data = this;
}

void http_parser::reset(bool to_head_request) noexcept {
    llhttp_reset(&parser_);
    parser_.data = this;
    paused_ = pause_reason::none;
    last_ = last_cb::none;
    pending_complete_ = false;
    head_done_ = false;
    head_request_ = to_head_request;
    target_complete_ = false;
    has_content_length_ = false;
    until_eof_ = false;
    no_body_ = false;
    keep_alive_ = false;
    connection_lists_names_ = false;
    error_status_ = 400;
    error_reason_ = "";
    target_ = {};
    reason_ = {};
    content_length_ = 0;
    body_bytes_ = 0;
    trailer_bytes_ = 0;
    header_count_ = 0;
    base_ = 0;
    value_end_ = 0;
}

http_parser::result http_parser::feed(const char* data, std::size_t len) noexcept {
    if (pending_complete_) {
        pending_complete_ = false;
        return {event::message_complete, 0};
    }
    feed_start_ = data;
    const llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    if (err == HPE_OK) {
        base_ += len;
        return {event::need_more, len};
    }
    if (err == HPE_PAUSED) {
        const auto consumed = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
        base_ += consumed;
        llhttp_resume(&parser_);
        const pause_reason why = paused_;
        paused_ = pause_reason::none;
        if (why == pause_reason::head) return {event::head_complete, consumed};
        if (why == pause_reason::message) return {event::message_complete, consumed};
        return {event::error, consumed};
    }
    if (error_reason_[0] == '\0') error_reason_ = llhttp_get_error_reason(&parser_);
    if (error_reason_ == nullptr || error_reason_[0] == '\0') error_reason_ = llhttp_errno_name(err);
    const char* pos = llhttp_get_error_pos(&parser_);
    return {event::error, pos != nullptr ? static_cast<std::size_t>(pos - data) : 0};
}

bool http_parser::finish() noexcept {
    if (!until_eof_) return false;
    (void)llhttp_finish(&parser_);  // completes the until-EOF body; nothing else to report
    paused_ = pause_reason::none;
    return true;
}

std::string_view http_parser::method_name() const noexcept {
    return llhttp_method_name(method());
}

std::string_view http_parser::header_value(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count_; ++i)
        if (iequals(headers_[i].name, name)) return headers_[i].value;
    return {};
}

std::string_view http_parser::header_value(header_id id) const noexcept {
    if (id == header_id::other) return {};  // not a name
    for (std::size_t i = 0; i < header_count_; ++i)
        if (headers_[i].id == id) return headers_[i].value;
    return {};
}

int http_parser::fail(const char* reason, int status) noexcept {
    error_reason_ = reason;
    error_status_ = status;
    return -1;
}

int http_parser::on_url(llhttp_t* p, const char* at, std::size_t len) {
    http_parser& s = self(p);
    // Spans arriving in several pieces are adjacent: the caller keeps the head in place.
    if (s.target_.empty())
        s.target_ = {at, len};
    else
        s.target_ = {s.target_.data(), s.target_.size() + len};
    return 0;
}

int http_parser::on_status(llhttp_t* p, const char* at, std::size_t len) {
    http_parser& s = self(p);
    s.reason_ = s.reason_.empty() ? std::string_view{at, len}
                                  : std::string_view{s.reason_.data(), s.reason_.size() + len};
    return 0;
}

int http_parser::on_url_complete(llhttp_t* p) {
    self(p).target_complete_ = true;
    return 0;
}

int http_parser::on_header_field(llhttp_t* p, const char* at, std::size_t len) {
    http_parser& s = self(p);
    if (s.head_done_) {
        // A trailer field: forwarded as it came, not kept (its bytes may be gone by the next
        // read), but counted against the body limit so trailers cannot stream forever.
        s.trailer_bytes_ += len;
        s.last_ = last_cb::field;
        return 0;
    }
    if (s.last_ == last_cb::field) {
        header_view& h = s.headers_[s.header_count_ - 1];
        h.name = {h.name.data(), h.name.size() + len};
    } else {
        if (s.header_count_ == max_headers) return s.fail("too many header lines", 431);
        s.headers_[s.header_count_++] = {{at, len}, {}};
    }
    s.last_ = last_cb::field;
    return 0;
}

int http_parser::on_header_value(llhttp_t* p, const char* at, std::size_t len) {
    http_parser& s = self(p);
    // A continuation that does not start where the previous piece ended skipped a line
    // break: obs-fold (RFC 9112 5.2), which a recipient must reject or replace; we reject.
    // Positions are counted in the stream, not in memory, so a value split across reads
    // into a reused buffer (trailers are) is not mistaken for a fold.
    const std::uint64_t start = s.base_ + static_cast<std::uint64_t>(at - s.feed_start_);
    if (s.last_ == last_cb::value && start != s.value_end_) return s.fail("obsolete line folding", 400);
    s.value_end_ = start + len;
    if (s.head_done_) {
        s.trailer_bytes_ += len;
    } else {
        header_view& h = s.headers_[s.header_count_ - 1];
        if (s.last_ == last_cb::value)
            h.value = {h.value.data(), h.value.size() + len};  // the head is parsed in place
        else
            h.value = {at, len};
    }
    s.last_ = last_cb::value;
    return 0;
}

int http_parser::on_headers_complete(llhttp_t* p) {
    http_parser& s = self(p);
    bool any_te = false;
    for (std::size_t i = 0; i < s.header_count_; ++i) {
        header_view& h = s.headers_[i];
        if (h.name.empty()) return s.fail("empty header name", 400);
        // RFC 9110 token characters only: a header name with anything else ("Host :") is
        // rejected rather than guessed at, since proxies that disagree on names are how
        // smuggling starts.
        for (const char c : h.name)
            if (!is_tchar(c)) return s.fail("invalid header name", 400);
        while (!h.value.empty() && (h.value.back() == ' ' || h.value.back() == '\t'))
            h.value.remove_suffix(1);
        h.id = classify_header(h.name);
        if (h.id == header_id::content_length) s.has_content_length_ = true;
        if (h.id == header_id::transfer_encoding) any_te = true;
        if (h.id == header_id::connection && lists_other_tokens(h.value)) s.connection_lists_names_ = true;
    }
    if (any_te) {
        // The framing must be read one way only. What ringlb forwards is each value without
        // its trailing whitespace, and llhttp 8 does not take "chunked<TAB>" for chunked, so
        // when the final coding as RFC 9112 6.1 reads it and llhttp's verdict disagree, the
        // message is refused rather than passed on with two meanings. So is chunked applied
        // twice, or not last (RFC 9112 6.1): a head that says so describes no body a
        // recipient can read the one way we relay it.
        std::string_view final_coding;
        std::size_t chunked = 0;
        for (std::size_t i = 0; i < s.header_count_; ++i) {
            if (s.headers_[i].id != header_id::transfer_encoding) continue;
            std::string_view list = s.headers_[i].value;
            while (!list.empty()) {
                const std::string_view item = next_list_item(list);
                if (item.empty()) continue;
                final_coding = item;
                if (iequals(item, "chunked")) ++chunked;
            }
        }
        const bool final_chunked = iequals(final_coding, "chunked");
        if (final_chunked != ((p->flags & F_CHUNKED) != 0)) return s.fail("ambiguous Transfer-Encoding", 400);
        if (chunked > 1 || (chunked == 1 && !final_chunked))
            return s.fail("chunked applied twice or not last", 400);
    }
    s.content_length_ = s.has_content_length_ ? p->content_length : 0;
    s.keep_alive_ = llhttp_should_keep_alive(p) != 0;
    s.last_ = last_cb::none;
    s.head_done_ = true;
    if (s.type_ == type::response) {
        const int status = llhttp_get_status_code(p);
        // RFC 9112 6.3: these responses end with their head whatever framing they declare (a
        // 304's Content-Length describes the representation it did not send). llhttp would
        // read a declared body; bytes after such a head belong to no message.
        const bool no_body =
            s.head_request_ || (status >= 100 && status < 200) || status == 204 || status == 304;
        if (no_body) {
            // Returning 1 skips the body; the head/message boundary is then reported by the
            // message_complete pause, at the same position.
            s.no_body_ = true;
            s.paused_ = pause_reason::head;
            return 1;
        }
        if ((p->flags & F_CHUNKED) == 0 && !s.has_content_length_) s.until_eof_ = true;
    }
    s.paused_ = pause_reason::head;
    return HPE_PAUSED;
}

int http_parser::on_body(llhttp_t* p, const char* at, std::size_t len) {
    http_parser& s = self(p);
    s.body_bytes_ += len;
    if (s.sink_ != nullptr) s.sink_(s.sink_context_, at, len);
    return 0;
}

int http_parser::on_message_complete(llhttp_t* p) {
    http_parser& s = self(p);
    // Skipped body (HEAD response): report head_complete now, message_complete next feed.
    if (s.paused_ == pause_reason::head) {
        s.pending_complete_ = true;
        return HPE_PAUSED;
    }
    s.paused_ = pause_reason::message;
    return HPE_PAUSED;
}

}  // namespace ringlb
