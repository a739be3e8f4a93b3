// response_head_fuzz: backend bytes through the response parser, as the exchange and the
// relay feed them, for a GET and for a HEAD.
//
// Oracles: events, their positions and the heads do not depend on the split into reads, nor
// on body bytes staying in place; header views lie inside their message; a response that
// cannot have a body (HEAD, 1xx, 204, 304) ends exactly at its head; the head ringlb relays
// to the client (its own status line, hop-by-hop headers removed) parses again, whole,
// with the same status and the same framing (chunked, length, until close), no control
// character in the status line and no CR that is not followed by LF. (It found that ringlb relayed the
// backend's status line: empty after empty lines llhttp skips, and with whatever control
// characters llhttp lets through in a reason phrase.)
#include "http_fuzz.hpp"

#include "ringlb/http/forward.hpp"

#include <string>
#include <vector>

namespace {

using ringlb::http_parser;

// Checks one head as the relay would send it; records where a body-less one ended.
struct head_checks {
    bool head_request;
    std::string_view stream;
    std::vector<std::size_t> bodyless_ends;

    void operator()(http_parser& resp, std::string_view head) {
        const int status = resp.status();
        const bool bodyless =
            head_request || (status >= 100 && status < 200) || status == 204 || status == 304;
        if (bodyless)
            bodyless_ends.push_back(static_cast<std::size_t>(head.data() + head.size() - stream.data()));
        std::string out;
        ringlb::build_client_response(resp, {.close = (status & 1) != 0}, out);
        FUZZ_CHECK(out.rfind("HTTP/1.1 ", 0) == 0);
        for (const char c : out.substr(0, out.find('\r')))
            FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 || c == '\t');
        for (std::size_t i = 0; i < out.size(); ++i)
            if (out[i] == '\r') FUZZ_CHECK(i + 1 < out.size() && out[i + 1] == '\n');
        // ringlb may add a header (Connection): past the parser's own line limit the
        // re-parse would refuse the count, not the bytes.
        if (resp.header_count() + 2 > http_parser::max_headers) return;
        http_parser again{http_parser::type::response};
        again.reset(head_request);
        const auto r = again.feed(out.data(), out.size());
        FUZZ_CHECK(r.what == http_parser::event::head_complete);
        FUZZ_CHECK(r.consumed == out.size());
        FUZZ_CHECK(again.status() == status);
        if (!bodyless) {
            // The client reads the body the way ringlb relays it.
            FUZZ_CHECK(again.chunked() == resp.chunked());
            FUZZ_CHECK(again.has_content_length() == resp.has_content_length());
            FUZZ_CHECK(again.content_length() == resp.content_length());
            FUZZ_CHECK(again.body_until_eof() == resp.body_until_eof());
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto cuts = fuzz::take_cuts(data, size);
    const std::string_view stream{reinterpret_cast<const char*>(data), size};
    for (const bool head : {false, true}) {
        http_parser whole{http_parser::type::response}, split{http_parser::type::response};
        head_checks checks{head, stream, {}};
        const auto a = fuzz::feed_stream(whole, stream, {}, {.head_request = head}, checks);
        const auto b = fuzz::feed_stream(split, stream, cuts,
                                         {.head_request = head, .reuse_body_buffer = true}, fuzz::no_head);
        FUZZ_CHECK(fuzz::same_verdicts(a, b));
        // A body delimited by the close ends at EOF, and only then.
        if (!a.empty() && a.back().what == http_parser::event::head_complete && whole.body_until_eof())
            FUZZ_CHECK(whole.finish());
        // A response that cannot have a body ends exactly where its head does.
        for (const std::size_t end : checks.bodyless_ends) {
            std::size_t i = 0;
            while (i < a.size() && !(a[i].what == http_parser::event::head_complete && a[i].at == end)) ++i;
            FUZZ_CHECK(i < a.size());
            if (i + 1 < a.size())
                FUZZ_CHECK(a[i + 1].what == http_parser::event::message_complete && a[i + 1].at == end);
        }
    }
    return 0;
}
