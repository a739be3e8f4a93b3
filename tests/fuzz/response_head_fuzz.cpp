// response_head_fuzz: backend bytes through the response parser, as the exchange and the
// relay feed them, for a GET and for a HEAD.
//
// Oracles: events and their positions do not depend on the split into reads; header views
// lie inside their message; a response that cannot have a body (HEAD, 1xx, 204, 304) ends
// exactly at its head; the head ringlb relays to the client (its own status line, hop-by-hop
// headers removed) parses again, whole, with the same status, no control character in the
// status line and no CR that is not followed by LF. (It found that ringlb relayed the
// backend's status line: empty after empty lines llhttp skips, and with whatever control
// characters llhttp lets through in a reason phrase.)
#include "http_fuzz.hpp"

#include "ringlb/http/forward.hpp"

#include <string>

namespace {

using ringlb::http_parser;

template <bool Head>
void on_head(http_parser& resp, std::string_view head) {
    const int status = resp.status();
    if (Head || (status >= 100 && status < 200) || status == 204 || status == 304) FUZZ_CHECK(resp.no_body());
    (void)head;
    std::string out;
    ringlb::build_client_response(resp, {.close = (status & 1) != 0}, out);
    FUZZ_CHECK(out.rfind("HTTP/1.1 ", 0) == 0);
    for (const char c : out.substr(0, out.find('\r')))
        FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 || c == '\t');
    for (std::size_t i = 0; i < out.size(); ++i)
        if (out[i] == '\r') FUZZ_CHECK(i + 1 < out.size() && out[i + 1] == '\n');
    // ringlb may add a header or two (Connection): past the parser's own line limit the
    // re-parse would refuse the count, not the bytes.
    if (resp.header_count() + 2 > http_parser::max_headers) return;
    http_parser again{http_parser::type::response};
    again.reset(Head);
    const auto r = again.feed(out.data(), out.size());
    FUZZ_CHECK(r.what == http_parser::event::head_complete);
    FUZZ_CHECK(r.consumed == out.size());
    FUZZ_CHECK(again.status() == status);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto cuts = fuzz::take_cuts(data, size);
    const std::string_view stream{reinterpret_cast<const char*>(data), size};
    for (const bool head : {false, true}) {
        http_parser whole{http_parser::type::response}, split{http_parser::type::response};
        const auto a = head ? fuzz::feed_stream(whole, stream, {}, 4, true, on_head<true>)
                            : fuzz::feed_stream(whole, stream, {}, 4, false, on_head<false>);
        const auto b = fuzz::feed_stream(split, stream, cuts, 4, head, [](http_parser&, std::string_view) {});
        FUZZ_CHECK(fuzz::same_verdicts(a, b));
        // A body delimited by the close ends at EOF, and only then.
        if (!a.empty() && a.back().what == http_parser::event::head_complete && whole.body_until_eof())
            FUZZ_CHECK(whole.finish());
    }
    return 0;
}
