#include "ringlb/http/forward.hpp"

namespace ringlb {

namespace {

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

bool is_absolute_form(std::string_view target) noexcept {
    return !target.empty() && target.front() != '/' && target != "*";
}

bool is_hop_by_hop(const header_view& h, const http_parser& p) noexcept {
    switch (h.id) {
        case header_id::connection:
        case header_id::keep_alive:
        case header_id::te:
        case header_id::upgrade:
        case header_id::proxy_prefixed:
            return true;
        case header_id::host:
        case header_id::content_length:
        case header_id::transfer_encoding:
            return false;  // framing: never dropped, whatever Connection says
        default:
            break;
    }
    // Any other name is hop-by-hop when a Connection header lists it. The parser knows
    // whether one lists more than keep-alive and close, so the usual head needs no scan.
    if (!p.connection_lists_names() && !iequals(h.name, "close")) return false;
    for (std::size_t i = 0; i < p.header_count(); ++i) {
        const header_view& c = p.header(i);
        if (c.id == header_id::connection && list_contains(c.value, h.name)) return true;
    }
    return false;
}

void build_backend_request(const http_parser& req, std::string_view client_ip, std::string_view scheme,
                           std::string& out, std::string_view strip, std::string_view upgrade) {
    const std::string_view target = req.target();
    const bool absolute = is_absolute_form(target);
    std::string_view authority;
    out.append(req.method_name()).push_back(' ');
    if (absolute) {
        const std::size_t after_scheme = target.find("://");
        std::string_view rest =
            after_scheme == std::string_view::npos ? target : target.substr(after_scheme + 3);
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
        if (is_hop_by_hop(h, req) || h.id == header_id::expect || h.id == header_id::x_forwarded_proto)
            continue;
        if (absolute && h.id == header_id::host) continue;
        if (!strip.empty() && iequals(h.name, strip)) continue;
        if (h.id == header_id::x_forwarded_for) {
            // Merged into one line below, in order, with the client appended.
            if (xff_seen) continue;
            xff_seen = true;
            out.append("X-Forwarded-For: ");
            bool first = true;
            for (std::size_t k = i; k < req.header_count(); ++k) {
                const header_view& x = req.header(k);
                if (x.id != header_id::x_forwarded_for || x.value.empty()) continue;
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
    out.append("X-Forwarded-Proto: ").append(scheme).append("\r\n");
    if (!upgrade.empty()) {
        append_header(out, "Upgrade", upgrade);
        out.append("Connection: upgrade\r\n");
    } else if (req.version_minor() == 0) {
        // HTTP/1.0 closes by default; asking keeps the backend connection poolable.
        out.append("Connection: keep-alive\r\n");
    }
    out.append("\r\n");
}

namespace {

bool valid_reason(std::string_view r) noexcept {
    for (const char c : r) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 ? u != '\t' : u == 0x7f) return false;
    }
    return true;
}

}  // namespace

void build_client_response(const http_parser& resp, const response_options& opts, std::string& out) {
    const int status = resp.status();
    char code[4] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10), ' '};
    out.append("HTTP/1.1 ").append(code, sizeof code);
    if (valid_reason(resp.reason())) out.append(resp.reason());
    out.append("\r\n");
    // RFC 9110 8.6, RFC 9112 6.1: a 1xx or 204 carries neither Content-Length nor
    // Transfer-Encoding; a backend that sends them anyway is not repeated.
    const bool no_framing = (status >= 100 && status < 200) || status == 204;
    for (std::size_t i = 0; i < resp.header_count(); ++i) {
        const header_view& h = resp.header(i);
        if (is_hop_by_hop(h, resp) && !(opts.upgrade && h.id == header_id::upgrade)) continue;
        if (no_framing && (h.id == header_id::content_length || h.id == header_id::transfer_encoding))
            continue;
        append_header(out, h.name, h.value);
    }
    if (opts.upgrade)
        out.append("Connection: upgrade\r\n");
    else if (opts.close)
        out.append("Connection: close\r\n");
    else if (opts.http10_keep_alive)
        out.append("Connection: keep-alive\r\n");
    out.append("\r\n");
}

}  // namespace ringlb
