// key_fuzz: key extraction on arbitrary targets, cookies and header values.
//
// Oracles: a key is never empty and is always a view into the bytes it came from (nothing
// copied, nothing read out of bounds); find_cookie, find_query_param and target_path return
// views inside their input.
#include "http_fuzz.hpp"

#include "ringlb/http/key.hpp"

#include <string>

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() ||
           (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Three fields separated by NUL: target, cookie header value, a name.
    const std::string_view in{reinterpret_cast<const char*>(data), size};
    const std::size_t a = in.find('\0');
    const std::string_view target = in.substr(0, a);
    const std::string_view rest = a == std::string_view::npos ? std::string_view{} : in.substr(a + 1);
    const std::size_t b = rest.find('\0');
    const std::string_view cookie = rest.substr(0, b);
    const std::string_view name = b == std::string_view::npos ? std::string_view{"id"} : rest.substr(b + 1);

    if (const auto v = ringlb::find_query_param(target, name)) FUZZ_CHECK(inside(*v, target));
    if (const auto v = ringlb::find_cookie(cookie, name)) FUZZ_CHECK(inside(*v, cookie));
    FUZZ_CHECK(inside(ringlb::target_path(target), target) || ringlb::target_path(target) == "/");

    // The same fields in a real head, if they make one.
    std::string head = "GET ";
    head.append(target).append(" HTTP/1.1\r\nHost: a\r\nCookie: ").append(cookie);
    head.append("\r\nX-User-Id: ").append(name).append("\r\n\r\n");
    ringlb::http_parser p{ringlb::http_parser::type::request};
    if (p.feed(head.data(), head.size()).what != ringlb::http_parser::event::head_complete) return 0;
    using src = ringlb::hash_key_rule::source;
    const std::string rule_name{name};
    for (const auto& rule :
         {ringlb::hash_key_rule{src::header, "X-User-Id"}, ringlb::hash_key_rule{src::cookie, rule_name},
          ringlb::hash_key_rule{src::query, rule_name}, ringlb::hash_key_rule{src::path, ""}}) {
        const auto key = ringlb::extract_key(rule, p, "192.0.2.1");
        // (The path of an absolute-form target without one is the literal "/".)
        if (key) FUZZ_CHECK(!key->empty() && (inside(*key, head) || *key == "/"));
    }
    return 0;
}
