// tests/fuzz/http_fuzz.hpp: what the parser fuzzers share: feeding one message stream to
// the parser in the pieces the input chooses, the way the proxy feeds it (bytes stay in
// place; each feed starts where the last one stopped), and recording the boundaries.
#pragma once

#include "ringlb/http/parser.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {

// Aborts with a message: an invariant broke (libFuzzer records the input).
[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}
#define FUZZ_CHECK(cond)                  \
    do {                                  \
        if (!(cond)) ::fuzz::fail(#cond); \
    } while (0)

struct event {
    ringlb::http_parser::event what;
    std::size_t at;    // absolute offset in the stream where it was reported
    std::string head;  // at head_complete: the target and every header, as the parser has them
    friend bool operator==(const event&, const event&) = default;
};

// Two runs over the same stream agree: the same events at the same positions with the same
// heads, except that where an error is reported within the failing message may depend on
// where a read ended (llhttp reports a callback's failure at the end of the span it was
// given), which changes nothing but how many of the bad message's bytes preceded it.
inline bool same_verdicts(const std::vector<event>& a, const std::vector<event>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].what != b[i].what || a[i].head != b[i].head) return false;
        if (a[i].what != ringlb::http_parser::event::error && a[i].at != b[i].at) return false;
        // Wherever within the failing message it is reported, never before what preceded it.
        if (a[i].what == ringlb::http_parser::event::error && i > 0 &&
            (a[i].at < a[i - 1].at || b[i].at < b[i - 1].at))
            return false;
    }
    return true;
}

struct feed_options {
    std::size_t max_messages = 4;
    bool head_request = false;  // responses: they answer HEAD
    // Body bytes go through one scratch buffer, poisoned and overwritten for every read, as
    // the proxy's pumps reuse theirs: nothing may depend on a body byte staying in place.
    bool reuse_body_buffer = false;
};

// Feeds `data` to `p` as the proxy does: each feed gets the bytes from the last stop to the
// end of what has "arrived" so far (`arrived` grows by the cut sizes); heads are parsed in
// place. Returns the events with their absolute positions, stopping at the first error or
// after max_messages. `on_head` runs at every head_complete, while the head's bytes are in
// place.
template <class OnHead>
std::vector<event> feed_stream(ringlb::http_parser& p, std::string_view data,
                               const std::vector<std::size_t>& cuts, const feed_options& opts,
                               OnHead&& on_head) {
    std::vector<event> out;
    std::vector<char> scratch;
    std::size_t arrived = 0, pos = 0, cut = 0, messages = 0, msg_start = 0;
    bool in_body = false;
    p.reset(opts.head_request);
    while (pos <= data.size()) {
        if (arrived == pos) {
            if (arrived == data.size()) break;
            arrived = std::min(data.size(), arrived + (cut < cuts.size() ? cuts[cut++] : data.size()));
        }
        const char* from = data.data() + pos;
        if (in_body && opts.reuse_body_buffer) {
            scratch.assign(data.size() + 1, '\xaa');
            std::memcpy(scratch.data(), from, arrived - pos);
            from = scratch.data();
        }
        const auto r = p.feed(from, arrived - pos);
        FUZZ_CHECK(r.consumed <= arrived - pos);
        pos += r.consumed;
        if (r.what == ringlb::http_parser::event::need_more) {
            FUZZ_CHECK(pos == arrived);
            continue;
        }
        out.push_back({r.what, pos, {}});
        if (r.what == ringlb::http_parser::event::error) break;
        if (r.what == ringlb::http_parser::event::head_complete) {
            // Every view lies inside this message's bytes.
            const char* lo = data.data() + msg_start;
            const char* hi = data.data() + pos;
            const auto inside = [&](std::string_view v) {
                return v.empty() || (v.data() >= lo && v.data() + v.size() <= hi);
            };
            FUZZ_CHECK(inside(p.target()));
            FUZZ_CHECK(inside(p.reason()));
            std::string& sig = out.back().head;
            sig.append(p.target()).push_back('\n');
            for (std::size_t i = 0; i < p.header_count(); ++i) {
                FUZZ_CHECK(inside(p.header(i).name));
                FUZZ_CHECK(inside(p.header(i).value));
                sig.append(p.header(i).name).push_back(':');
                sig.append(p.header(i).value).push_back('\n');
            }
            on_head(p, std::string_view{lo, static_cast<std::size_t>(hi - lo)});
            in_body = true;
        }
        if (r.what == ringlb::http_parser::event::message_complete) {
            if (++messages == opts.max_messages) break;
            msg_start = pos;
            in_body = false;
            p.reset(opts.head_request);
        }
    }
    return out;
}

inline void no_head(ringlb::http_parser&, std::string_view) {}

// Cut sizes (1..64 bytes each) from the first bytes of the input; the rest is the stream.
inline std::vector<std::size_t> take_cuts(const std::uint8_t*& data, std::size_t& size) {
    std::vector<std::size_t> cuts;
    if (size == 0) return cuts;
    const std::size_t n = std::min<std::size_t>(data[0] % 8, size - 1);
    for (std::size_t i = 1; i <= n; ++i) cuts.push_back(1 + data[i] % 64);
    data += n + 1;
    size -= n + 1;
    return cuts;
}

}  // namespace fuzz
