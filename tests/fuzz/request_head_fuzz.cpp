// request_head_fuzz: client bytes through the request parser, as the session feeds them.
//
// Oracles: the events (head, message end, error) and their positions do not depend on how
// the bytes were split into reads (fuzz::same_verdicts) (a parser whose verdict depends on packet boundaries
// is a smuggling bug); every header view lies inside its message; the head ringlb rewrites for the backend
// parses again, whole, with the same method and version, no hop-by-hop header, one X-Forwarded-For and one
// X-Forwarded-Proto, and the body framing unchanged; a request that may switch to a WebSocket tunnel is
// rewritten with exactly its Upgrade value and Connection: upgrade; the checks and key extraction run on
// whatever parsed.
#include "http_fuzz.hpp"

#include "ringlb/common/text.hpp"
#include "ringlb/http/forward.hpp"
#include "ringlb/http/key.hpp"
#include "ringlb/http/upgrade.hpp"
#include "ringlb/proxy/request_head.hpp"

#include <string>
#include <vector>

namespace {

using ringlb::header_id;
using ringlb::http_parser;

void check_rewritten(const http_parser& req, std::string_view upgrade) {
    std::string out;
    ringlb::build_backend_request(req, "192.0.2.1", "http", out, {}, upgrade);
    http_parser again{http_parser::type::request};
    const auto r = again.feed(out.data(), out.size());
    FUZZ_CHECK(r.what == http_parser::event::head_complete);
    FUZZ_CHECK(r.consumed == out.size());
    FUZZ_CHECK(again.method() == req.method());
    FUZZ_CHECK(again.version_minor() == req.version_minor());
    FUZZ_CHECK(again.chunked() == req.chunked());
    FUZZ_CHECK(again.content_length() == req.content_length());
    std::size_t xff = 0, xfp = 0, upgrades = 0;
    for (std::size_t i = 0; i < again.header_count(); ++i) {
        const auto& h = again.header(i);
        FUZZ_CHECK(h.id != header_id::keep_alive && h.id != header_id::te && h.id != header_id::proxy_prefixed &&
                   h.id != header_id::expect);
        if (h.id == header_id::upgrade) FUZZ_CHECK(!upgrade.empty() && h.value == upgrade && ++upgrades == 1);
        if (h.id == header_id::connection)
            FUZZ_CHECK(ringlb::iequals(h.value, upgrade.empty() ? "keep-alive" : "upgrade"));
        xff += h.id == header_id::x_forwarded_for;
        xfp += h.id == header_id::x_forwarded_proto;
    }
    FUZZ_CHECK(xff == 1 && xfp == 1 && upgrades == (upgrade.empty() ? 0u : 1u));
}

void on_head(http_parser& req, std::string_view head) {
    ringlb::proxy_limits limits;
    (void)ringlb::check_request_head(req, limits);
    (void)ringlb::expects_continue(req);
    const auto inside = [&](std::string_view v, std::string_view ip) {
        return (v.data() >= head.data() && v.data() + v.size() <= head.data() + head.size()) ||
               (v.data() >= ip.data() && v.data() + v.size() <= ip.data() + ip.size());
    };
    const std::string_view ip = "192.0.2.1";
    using src = ringlb::hash_key_rule::source;
    for (const auto& rule :
         {ringlb::hash_key_rule{src::header, "X-User-Id"}, ringlb::hash_key_rule{src::cookie, "sid"},
          ringlb::hash_key_rule{src::query, "id"}, ringlb::hash_key_rule{src::path, ""},
          ringlb::hash_key_rule{src::client_ip, ""}}) {
        const auto key = ringlb::extract_key(rule, req, ip);
        // (The path of an absolute-form target without one is the literal "/".)
        if (key) FUZZ_CHECK(!key->empty() && (inside(*key, ip) || *key == "/"));
    }
    (void)ringlb::target_path(req.target());
    // ringlb adds up to five lines (Host, X-Forwarded-For, X-Forwarded-Proto, Upgrade,
    // Connection): past the parser's own line limit the re-parse would refuse the count.
    static const std::vector<std::string> allowed{"websocket", "foo"};
    const std::string_view upgrade = ringlb::tunnel_upgrade(req, allowed);
    if (req.version_major() == 1 && req.header_count() + 5 <= http_parser::max_headers)
        check_rewritten(req, upgrade);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto cuts = fuzz::take_cuts(data, size);
    const std::string_view stream{reinterpret_cast<const char*>(data), size};
    http_parser whole{http_parser::type::request}, split{http_parser::type::request};
    const auto a = fuzz::feed_stream(whole, stream, {}, {.max_messages = 8}, on_head);
    const auto b =
        fuzz::feed_stream(split, stream, cuts, {.max_messages = 8, .reuse_body_buffer = true}, fuzz::no_head);
    FUZZ_CHECK(fuzz::same_verdicts(a, b));
    return 0;
}
