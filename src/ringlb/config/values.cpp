#include "ringlb/config/values.hpp"

#include "ringlb/common/text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <limits>
#include <thread>
#include <vector>

namespace ringlb {
namespace {

std::string quoted(std::string_view s) {
    std::string out = "\"";
    out.append(s);
    out += '"';
    return out;
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// Reads the leading decimal digits of `text` into `out`; returns how many were read, 0 on
// none or on overflow (so "99999999999999999999s" is an error, not a wrapped value).
std::size_t read_uint(std::string_view text, std::uint64_t& out) noexcept {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc{}) return 0;
    return static_cast<std::size_t>(end - text.data());
}

// RFC 1123 host names: labels of letters, digits and inner hyphens, joined by dots.
bool is_dns_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 253) return false;
    std::size_t label = 0;
    char prev = '.';
    for (const char c : s) {
        if (c == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
            if (label == 0 && c == '-') return false;
            if (++label > 63) return false;
        } else {
            return false;
        }
        prev = c;
    }
    return prev != '-' && prev != '.';
}

bool is_ipv4(const std::string& s) noexcept {
    in_addr a{};
    return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) noexcept {
    in6_addr a{};
    return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

std::string with_hint(std::string message, std::string_view word,
                      std::span<const std::string_view> candidates) {
    if (const auto close = closest_match(word, candidates)) {
        message += " (did you mean ";
        message += quoted(*close);
        message += "?)";
    }
    return message;
}

}  // namespace

parsed<duration> parse_duration(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return parsed<duration>::fail("malformed duration " + quoted(text) + ": " + std::string{why} +
                                      "; write a whole number with a unit: ms, s, m or h "
                                      "(e.g. \"150ms\", \"2s\", \"1m30s\")");
    };
    if (text.empty()) return bad("empty");
    // Units longest first so "ms" is not read as "m" followed by garbage.
    struct unit {
        std::string_view name;
        std::uint64_t ms;
    };
    static constexpr std::array<unit, 4> units{{{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
    std::uint64_t total = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
        std::uint64_t n = 0;
        const std::size_t digits = read_uint(rest, n);
        if (digits == 0) {
            if (!rest.empty() && is_digit(rest.front())) return bad("number too large");
            return bad("expected a number");
        }
        rest.remove_prefix(digits);
        if (!rest.empty() && rest.front() == '.') return bad("fractions are not accepted");
        const auto u =
            std::find_if(units.begin(), units.end(), [&](const unit& x) { return rest.starts_with(x.name); });
        if (u == units.end()) return bad(rest.empty() ? "missing unit" : "unknown unit");
        rest.remove_prefix(u->name.size());
        if (n > std::numeric_limits<std::int64_t>::max() / u->ms) return bad("too large");
        total += n * u->ms;
        if (total > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return bad("too large");
        }
    }
    return {duration{static_cast<duration::rep>(total)}, {}};
}

parsed<std::uint64_t> parse_size(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return parsed<std::uint64_t>::fail(
            "malformed size " + quoted(text) + ": " + std::string{why} +
            "; write bytes as an integer or a number with a unit: KiB, MiB, GiB, TiB "
            "(x1024) or KB, MB, GB, TB (x1000), e.g. \"100MiB\"");
    };
    std::uint64_t n = 0;
    const std::size_t digits = read_uint(text, n);
    if (digits == 0)
        return bad(!text.empty() && is_digit(text.front()) ? "number too large" : "expected a number");
    std::string_view suffix = text.substr(digits);
    if (!suffix.empty() && suffix.front() == '.') return bad("fractions are not accepted");
    if (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
    struct unit {
        std::string_view name;
        std::uint64_t factor;
    };
    static constexpr std::array<unit, 10> units{{{"", 1},
                                                 {"B", 1},
                                                 {"KiB", 1ull << 10},
                                                 {"MiB", 1ull << 20},
                                                 {"GiB", 1ull << 30},
                                                 {"TiB", 1ull << 40},
                                                 {"KB", 1'000},
                                                 {"MB", 1'000'000},
                                                 {"GB", 1'000'000'000},
                                                 {"TB", 1'000'000'000'000}}};
    const auto u =
        std::find_if(units.begin(), units.end(), [&](const unit& x) { return iequals(suffix, x.name); });
    if (u == units.end()) {
        // nginx writes "100m" for MiB and others read it as MB: refuse to guess.
        if (suffix.size() == 1 &&
            std::string_view{"kKmMgGtT"}.find(suffix.front()) != std::string_view::npos) {
            return bad("unit " + quoted(suffix) + " is ambiguous");
        }
        return bad("unknown unit " + quoted(suffix));
    }
    if (n > std::numeric_limits<std::uint64_t>::max() / u->factor) return bad("too large");
    return {n * u->factor, {}};
}

parsed<endpoint> parse_endpoint_checked(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return parsed<endpoint>::fail("malformed address " + quoted(text) + ": " + std::string{why} +
                                      "; expected host:port or [IPv6]:port, e.g. \"127.0.0.1:8080\"");
    };
    if (text.empty()) return bad("empty");
    std::string host;
    std::string_view port_text;
    if (text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) return bad("missing ']'");
        host = std::string{text.substr(1, close - 1)};
        if (!is_ipv6(host)) return bad("not an IPv6 address between the brackets");
        const std::string_view after = text.substr(close + 1);
        if (after.empty() || after.front() != ':') return bad("missing :port after ']'");
        port_text = after.substr(1);
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return bad("missing :port");
        host = std::string{text.substr(0, colon)};
        if (host.find(':') != std::string::npos) return bad("an IPv6 address must be in brackets");
        if (host.empty()) return bad("missing host");
        // A dotted all-digit host must be a valid IPv4 literal, not a name: "10.0.0.256".
        const bool looks_numeric =
            std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
        if (looks_numeric ? !is_ipv4(host) : !is_dns_name(host)) {
            return bad(looks_numeric ? "not a valid IPv4 address" : "not a valid host name");
        }
        port_text = text.substr(colon + 1);
    }
    std::uint64_t port = 0;
    if (port_text.empty() || read_uint(port_text, port) != port_text.size())
        return bad("port is not a number");
    if (port < 1 || port > 65535) return bad("port out of range 1..65535");
    return {endpoint{std::move(host), static_cast<std::uint16_t>(port)}, {}};
}

unsigned worker_count(const server_config& s) noexcept {
    return s.workers != 0 ? s.workers : std::max(1u, std::thread::hardware_concurrency());
}

bool is_loopback_host(std::string_view host) noexcept {
    if (host == "localhost") return true;
    char buf[64];
    if (host.size() >= sizeof buf) return false;
    std::copy(host.begin(), host.end(), buf);
    buf[host.size()] = '\0';
    in_addr v4{};
    if (::inet_pton(AF_INET, buf, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (::inet_pton(AF_INET6, buf, &v6) == 1) {
        static constexpr std::array<unsigned char, 16> loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                                0, 0, 0, 0, 0, 0, 0, 1};
        return std::equal(loopback.begin(), loopback.end(), v6.s6_addr);
    }
    return false;
}

std::optional<endpoint> parse_endpoint(std::string_view text) {
    return parse_endpoint_checked(text).value;
}

parsed<hash_key_rule> parse_hash_key(std::string_view text) {
    static constexpr std::array<std::string_view, 5> forms{"header", "cookie", "query", "path", "client_ip"};
    const std::string expected = "; expected header:NAME, cookie:NAME, query:NAME, path or client_ip";
    if (text == "path") return {hash_key_rule{hash_key_rule::source::path, ""}, {}};
    if (text == "client_ip") return {hash_key_rule{hash_key_rule::source::client_ip, ""}, {}};
    const std::size_t colon = text.find(':');
    const std::string_view kind = text.substr(0, colon);
    hash_key_rule rule;
    if (kind == "header") {
        rule.from = hash_key_rule::source::header;
    } else if (kind == "cookie") {
        rule.from = hash_key_rule::source::cookie;
    } else if (kind == "query") {
        rule.from = hash_key_rule::source::query;
    } else if ((kind == "path" || kind == "client_ip") && colon != std::string_view::npos) {
        return parsed<hash_key_rule>::fail("hash_key " + quoted(text) + ": " + std::string{kind} +
                                           " takes no name" + expected);
    } else {
        return parsed<hash_key_rule>::fail(
            with_hint("unknown hash_key " + quoted(text) + expected, kind, forms));
    }
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
        return parsed<hash_key_rule>::fail("hash_key " + quoted(text) + ": missing the " + std::string{kind} +
                                           " name after ':', e.g. \"" + std::string{kind} + ":X-User-Id\"");
    }
    const std::string_view name = text.substr(colon + 1);
    // Header names are tokens; cookie and query names are matched byte for byte, so only
    // refuse what could never appear in a request head.
    const bool ok = rule.from == hash_key_rule::source::header
                        ? std::all_of(name.begin(), name.end(), is_tchar)
                        : std::none_of(name.begin(), name.end(), [](char c) {
                              const auto u = static_cast<unsigned char>(c);
                              return u <= 0x20 || u == 0x7f || c == ';' || c == '=' || c == '&' || c == '#';
                          });
    if (!ok) {
        return parsed<hash_key_rule>::fail("hash_key " + quoted(text) + ": " + quoted(name) +
                                           " is not a valid " + std::string{kind} + " name");
    }
    rule.name = std::string{name};
    return {std::move(rule), {}};
}

parsed<keyless_policy> parse_keyless(std::string_view text) {
    static constexpr std::array<std::string_view, 4> names{"least-loaded", "round-robin", "reject", "peak-ewma"};
    if (text == names[0]) return {keyless_policy::least_loaded, {}};
    if (text == names[1]) return {keyless_policy::round_robin, {}};
    if (text == names[2]) return {keyless_policy::reject, {}};
    if (text == names[3]) return {keyless_policy::peak_ewma, {}};
    return parsed<keyless_policy>::fail(with_hint(
        "unknown keyless policy " + quoted(text) + "; expected least-loaded, round-robin, reject or peak-ewma", text,
        names));
}

parsed<check_kind> parse_check_kind(std::string_view text) {
    static constexpr std::array<std::string_view, 3> names{"none", "tcp", "http"};
    if (text == names[0]) return {check_kind::none, {}};
    if (text == names[1]) return {check_kind::tcp, {}};
    if (text == names[2]) return {check_kind::http, {}};
    return parsed<check_kind>::fail(
        with_hint("unknown check " + quoted(text) + "; expected none, tcp or http", text, names));
}

parsed<panic_mode> parse_panic_mode(std::string_view text) {
    static constexpr std::array<std::string_view, 2> names{"fail-open", "fail-closed"};
    if (text == names[0]) return {panic_mode::fail_open, {}};
    if (text == names[1]) return {panic_mode::fail_closed, {}};
    return parsed<panic_mode>::fail(
        with_hint("unknown panic mode " + quoted(text) + "; expected fail-open or fail-closed", text, names));
}

parsed<admin_state> parse_admin_state(std::string_view text) {
    static constexpr std::array<std::string_view, 3> names{"ready", "drain", "maintenance"};
    if (text == names[0]) return {admin_state::ready, {}};
    if (text == names[1]) return {admin_state::drain, {}};
    if (text == names[2]) return {admin_state::maintenance, {}};
    return parsed<admin_state>::fail(
        with_hint("unknown state " + quoted(text) + "; expected ready, drain or maintenance", text, names));
}

parsed<std::vector<status_range>> parse_status_ranges(std::string_view text) {
    using result = parsed<std::vector<status_range>>;
    const auto number = [](std::string_view t, int& out) {
        const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
        return ec == std::errc{} && end == t.data() + t.size() && out >= 100 && out <= 599;
    };
    std::vector<status_range> out;
    std::string_view rest = text;
    while (true) {
        const std::size_t comma = rest.find(',');
        std::string_view item = trim(rest.substr(0, comma));
        const std::size_t dash = item.find('-');
        status_range r;
        const bool ok = dash == std::string_view::npos ? number(item, r.lo) && number(item, r.hi)
                                                       : number(trim(item.substr(0, dash)), r.lo) &&
                                                             number(trim(item.substr(dash + 1)), r.hi);
        if (!ok || r.lo > r.hi) {
            return result::fail("expected statuses " + quoted(text) +
                                " are invalid: use statuses in 100..599 and ranges, e.g. \"200-399\" or "
                                "\"200,204\"");
        }
        out.push_back(r);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    return {std::move(out), {}};
}

parsed<chash::kind> parse_serving_algorithm(std::string_view text) {
    static constexpr std::array<std::string_view, 5> names{"ring", "ketama", "maglev", "rendezvous",
                                                           "modulo"};
    const auto k = chash::parse_kind(text);
    if (k == chash::kind::jump) {
        return parsed<chash::kind>::fail(
            "algorithm \"jump\" cannot serve: jump hash numbers backends 0..n-1, so removing "
            "any backend but the last (a failure, a drain) renumbers the rest and moves their "
            "keys; use ring, maglev or rendezvous");
    }
    if (!k) {
        return parsed<chash::kind>::fail(with_hint(
            "unknown algorithm " + quoted(text) + "; expected ring, ketama, maglev, rendezvous or modulo",
            text, names));
    }
    return {*k, {}};
}

std::string to_string(const endpoint& e) {
    const bool v6 = e.host.find(':') != std::string::npos;
    return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
}

parsed<rate_value> parse_rate(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return parsed<rate_value>::fail("malformed rate " + quoted(text) + ": " + std::string{why} +
                                        "; expected a count per unit, e.g. \"100/s\", \"30/m\" or \"1000/h\"");
    };
    const std::size_t slash = text.find('/');
    if (slash == std::string_view::npos) return bad("no '/'");
    const std::string_view number = text.substr(0, slash);
    const std::string_view unit = text.substr(slash + 1);
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
    if (number.empty() || ec != std::errc{} || end != number.data() + number.size())
        return bad("the count is not a whole number");
    if (n < 1 || n > 1'000'000'000) return bad("the count is out of range 1..1000000000");
    rate_value r;
    r.count = static_cast<std::uint32_t>(n);
    if (unit == "s") {
        r.period = duration{1000};
    } else if (unit == "m") {
        r.period = duration{60'000};
    } else if (unit == "h") {
        r.period = duration{3'600'000};
    } else {
        return bad("unknown unit " + quoted(unit));
    }
    return {r, {}};
}

std::string to_string(const rate_value& rate) {
    const char* unit = rate.period == duration{1000} ? "s" : rate.period == duration{60'000} ? "m" : "h";
    return std::to_string(rate.count) + "/" + unit;
}

std::string to_string(const hash_key_rule& rule) {
    switch (rule.from) {
        case hash_key_rule::source::header:
            return "header:" + rule.name;
        case hash_key_rule::source::cookie:
            return "cookie:" + rule.name;
        case hash_key_rule::source::query:
            return "query:" + rule.name;
        case hash_key_rule::source::path:
            return "path";
        case hash_key_rule::source::client_ip:
            return "client_ip";
    }
    return "?";
}

std::string_view to_string(check_kind kind) noexcept {
    switch (kind) {
        case check_kind::none:
            return "none";
        case check_kind::tcp:
            return "tcp";
        case check_kind::http:
            return "http";
    }
    return "?";
}

std::string_view to_string(panic_mode mode) noexcept {
    return mode == panic_mode::fail_open ? "fail-open" : "fail-closed";
}

std::string_view to_string(admin_state state) noexcept {
    switch (state) {
        case admin_state::ready:
            return "ready";
        case admin_state::drain:
            return "drain";
        case admin_state::maintenance:
            return "maintenance";
    }
    return "?";
}

std::string to_string(const std::vector<status_range>& ranges) {
    std::string s;
    for (const status_range& r : ranges) {
        if (!s.empty()) s += ',';
        s += std::to_string(r.lo);
        if (r.hi != r.lo) s += '-' + std::to_string(r.hi);
    }
    return s;
}

std::string_view to_string(keyless_policy policy) noexcept {
    switch (policy) {
        case keyless_policy::least_loaded:
            return "least-loaded";
        case keyless_policy::round_robin:
            return "round-robin";
        case keyless_policy::reject:
            return "reject";
        case keyless_policy::peak_ewma:
            return "peak-ewma";
    }
    return "?";
}

std::string format_duration(duration d) {
    const auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
    if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
    static constexpr std::array<std::string_view, 4> units{"TiB", "GiB", "MiB", "KiB"};
    for (std::size_t i = 0; i < units.size(); ++i) {
        const std::uint64_t factor = 1ull << (10 * (units.size() - i));
        if (bytes != 0 && bytes % factor == 0) return std::to_string(bytes / factor) + std::string{units[i]};
    }
    return std::to_string(bytes);
}

std::optional<std::string_view> closest_match(std::string_view word,
                                              std::span<const std::string_view> candidates) {
    // Edit distance counting a swap of neighbours as one edit ("rign" -> "ring"), the most
    // common typo; optimal string alignment over a full table (config words are short).
    const auto distance = [](std::string_view a, std::string_view b) {
        const auto same = [](char x, char y) { return iequals({&x, 1}, {&y, 1}); };
        const std::size_t w = b.size() + 1;
        std::vector<std::size_t> d((a.size() + 1) * w);
        for (std::size_t i = 0; i <= a.size(); ++i) d[i * w] = i;
        for (std::size_t j = 0; j <= b.size(); ++j) d[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            for (std::size_t j = 1; j <= b.size(); ++j) {
                std::size_t v = std::min({d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1,
                                          d[(i - 1) * w + j - 1] + (same(a[i - 1], b[j - 1]) ? 0 : 1)});
                if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1])) {
                    v = std::min(v, d[(i - 2) * w + j - 2] + 1);
                }
                d[i * w + j] = v;
            }
        }
        return d.back();
    };
    std::optional<std::string_view> best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    for (const std::string_view c : candidates) {
        const std::size_t d = distance(word, c);
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    if (!best || best_distance > 2 || 2 * best_distance >= std::max(word.size(), best->size())) {
        return std::nullopt;
    }
    return best;
}

bool valid_zone(std::string_view zone) noexcept {
    return zone.size() <= 64 && std::all_of(zone.begin(), zone.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
           });
}

bool valid_backend_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > max_backend_id) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
    });
}

}  // namespace ringlb
