// chunked_fuzz: a chunked request body (and whatever follows it on the connection), split
// into reads as the input says.
//
// Oracles: where the body ends (or fails) does not depend on the split, nor on the body's
// bytes staying in place (the split run reads them into a reused buffer, as the pump does,
// which is how trailers split across reads were once taken for obs-fold); the decoded size
// never exceeds the bytes consumed; the next pipelined request starts exactly where the
// body ended, and parsing it from there gives the same result in one piece.
#include "http_fuzz.hpp"

#include <string>

namespace {

using ringlb::http_parser;

constexpr std::string_view head = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto cuts = fuzz::take_cuts(data, size);
    std::string stream{head};
    stream.append(reinterpret_cast<const char*>(data), size);
    http_parser whole{http_parser::type::request}, split{http_parser::type::request};
    const auto a = fuzz::feed_stream(whole, stream, {}, {.max_messages = 2}, fuzz::no_head);
    std::vector<std::size_t> with_head{head.size()};
    with_head.insert(with_head.end(), cuts.begin(), cuts.end());
    const auto b = fuzz::feed_stream(split, stream, with_head, {.max_messages = 2, .reuse_body_buffer = true},
                                     fuzz::no_head);
    FUZZ_CHECK(fuzz::same_verdicts(a, b));
    FUZZ_CHECK(!a.empty() && a[0].what == http_parser::event::head_complete && a[0].at == head.size());
    if (a.size() >= 2 && a[1].what == http_parser::event::message_complete) {
        const std::size_t end = a[1].at;
        // The second parser has moved past the body; the body's decoded size is bounded.
        http_parser body_only{http_parser::type::request};
        const auto c = fuzz::feed_stream(body_only, std::string_view{stream}.substr(0, end), {},
                                         {.max_messages = 1}, fuzz::no_head);
        FUZZ_CHECK(c.size() == 2 && c[1].at == end);
        FUZZ_CHECK(body_only.bounded_bytes() <= end - head.size());
        // What follows is a new message, parsed the same in one piece from its first byte.
        http_parser next_a{http_parser::type::request}, next_b{http_parser::type::request};
        const std::string_view rest = std::string_view{stream}.substr(end);
        FUZZ_CHECK(
            fuzz::same_verdicts(fuzz::feed_stream(next_a, rest, {}, {.max_messages = 1}, fuzz::no_head),
                                fuzz::feed_stream(next_b, rest, cuts, {.max_messages = 1}, fuzz::no_head)));
    }
    return 0;
}
