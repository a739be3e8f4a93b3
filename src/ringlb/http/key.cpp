#include "ringlb/http/key.hpp"

#include "ringlb/common/text.hpp"

namespace ringlb {

namespace {

std::optional<std::string_view> non_empty(std::string_view v) noexcept {
    if (v.empty()) return std::nullopt;
    return v;
}

}  // namespace

std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name) noexcept {
    while (!header.empty()) {
        const std::size_t semi = header.find(';');
        const std::string_view pair = trim(header.substr(0, semi));
        const std::size_t eq = pair.find('=');
        if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
            std::string_view value = trim(pair.substr(eq + 1));
            // RFC 6265 allows the value in double quotes; the quotes are not part of it.
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                value = value.substr(1, value.size() - 2);
            return value;
        }
        if (semi == std::string_view::npos) break;
        header.remove_prefix(semi + 1);
    }
    return std::nullopt;
}

std::optional<std::string_view> find_query_param(std::string_view target, std::string_view name) noexcept {
    const std::size_t q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const std::size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name)
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::string_view target_path(std::string_view target) noexcept {
    if (!target.empty() && target.front() != '/') {
        // absolute-form: skip "scheme://authority"
        const std::size_t scheme = target.find("://");
        if (scheme == std::string_view::npos) return target.substr(0, target.find_first_of("?#"));
        const std::size_t slash = target.find_first_of("/?#", scheme + 3);
        if (slash == std::string_view::npos || target[slash] != '/') return "/";
        target.remove_prefix(slash);
    }
    return target.substr(0, target.find_first_of("?#"));
}

std::optional<std::string_view> extract_key(const hash_key_rule& rule, const http_parser& request,
                                            std::string_view client_ip) noexcept {
    switch (rule.from) {
        case hash_key_rule::source::header:
            return non_empty(request.header_value(rule.name));
        case hash_key_rule::source::cookie:
            // Several Cookie headers are allowed over HTTP/2 gateways; look in each.
            for (std::size_t i = 0; i < request.header_count(); ++i) {
                const header_view& h = request.header(i);
                if (h.id != header_id::cookie) continue;
                if (auto v = find_cookie(h.value, rule.name); v && !v->empty()) return v;
            }
            return std::nullopt;
        case hash_key_rule::source::query: {
            auto v = find_query_param(request.target(), rule.name);
            if (v && v->empty()) return std::nullopt;
            return v;
        }
        case hash_key_rule::source::path:
            return non_empty(target_path(request.target()));
        case hash_key_rule::source::client_ip:
            return non_empty(client_ip);
    }
    return std::nullopt;
}

}  // namespace ringlb
