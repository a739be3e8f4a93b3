#include "ringlb/forward.hpp"

#include "ringlb/key.hpp"

namespace ringlb {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_framing(std::string_view name) noexcept {
    return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "host");
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

bool is_absolute_form(std::string_view target) noexcept {
    return !target.empty() && target.front() != '/' && target != "*";
}

bool is_hop_by_hop(std::string_view name, const http_parser& p) noexcept {
    if (iequals(name, "connection") || iequals(name, "keep-alive") || iequals(name, "te") ||
        iequals(name, "upgrade") || starts_with_ci(name, "proxy-"))
        return true;
    if (is_framing(name)) return false;
    for (std::size_t i = 0; i < p.header_count(); ++i) {
        const header_view& h = p.header(i);
        if (iequals(h.name, "connection") && list_contains(h.value, name)) return true;
    }
    return false;
}

void build_backend_request(const http_parser& req, std::string_view client_ip, std::string& out) {
    const std::string_view target = req.target();
    const bool absolute = is_absolute_form(target);
    std::string_view authority;
    out.append(req.method_name()).push_back(' ');
    if (absolute) {
        const std::size_t scheme = target.find("://");
        std::string_view rest = scheme == std::string_view::npos ? target : target.substr(scheme + 3);
        const std::size_t end = rest.find_first_of("/?#");
        authority = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
        rest = rest.substr(0, rest.find('#'));
        if (rest.empty() || rest.front() != '/') out.push_back('/');
        out.append(rest);
    } else {
        out.append(target);
    }
    out.append(req.version_minor() == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");

    bool xff_seen = false;
    for (std::size_t i = 0; i < req.header_count(); ++i) {
        const header_view& h = req.header(i);
        if (is_hop_by_hop(h.name, req) || iequals(h.name, "expect") || iequals(h.name, "x-forwarded-proto"))
            continue;
        if (absolute && iequals(h.name, "host")) continue;
        if (iequals(h.name, "x-forwarded-for")) {
            // Merged into one line below, in order, with the client appended.
            if (xff_seen) continue;
            xff_seen = true;
            out.append("X-Forwarded-For: ");
            bool first = true;
            for (std::size_t k = i; k < req.header_count(); ++k) {
                const header_view& x = req.header(k);
                if (!iequals(x.name, "x-forwarded-for") || x.value.empty()) continue;
                if (!first) out.append(", ");
                out.append(x.value);
                first = false;
            }
            if (!first) out.append(", ");
            out.append(client_ip).append("\r\n");
            continue;
        }
        append_header(out, h.name, h.value);
    }
    if (absolute) append_header(out, "Host", authority);
    if (!xff_seen) append_header(out, "X-Forwarded-For", client_ip);
    out.append("X-Forwarded-Proto: http\r\n");
    // HTTP/1.0 closes by default; asking keeps the backend connection poolable.
    if (req.version_minor() == 0) out.append("Connection: keep-alive\r\n");
    out.append("\r\n");
}

void build_client_response(const http_parser& resp, std::string_view status_line,
                           const response_options& opts, std::string& out) {
    out.append(status_line).append("\r\n");
    for (std::size_t i = 0; i < resp.header_count(); ++i) {
        const header_view& h = resp.header(i);
        if (is_hop_by_hop(h.name, resp)) continue;
        append_header(out, h.name, h.value);
    }
    if (opts.close)
        out.append("Connection: close\r\n");
    else if (opts.http10_keep_alive)
        out.append("Connection: keep-alive\r\n");
    out.append("\r\n");
}

}  // namespace ringlb
