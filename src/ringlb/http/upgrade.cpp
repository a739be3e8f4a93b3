#include "ringlb/http/upgrade.hpp"

#include <algorithm>

namespace ringlb {

namespace {

// Every protocol an Upgrade value lists ("websocket", "foo/2, bar") is on the allow-list;
// a version after '/' is the protocol's business. An empty list allows nothing.
bool all_allowed(std::string_view value, std::span<const std::string> allowed) noexcept {
    bool any = false;
    while (!value.empty()) {
        const std::string_view item = next_list_item(value);
        if (item.empty()) continue;
        const std::string_view name = item.substr(0, item.find('/'));
        const bool ok = std::any_of(allowed.begin(), allowed.end(),
                                    [&](const std::string& a) { return iequals(a, name); });
        if (!ok) return false;
        any = true;
    }
    return any;
}

}  // namespace

std::string_view tunnel_upgrade(const http_parser& req, std::span<const std::string> allowed) noexcept {
    if (allowed.empty() || req.version_major() != 1 || req.version_minor() == 0) return {};
    if (req.chunked() || req.content_length() != 0) return {};
    std::string_view upgrade;
    bool connection_upgrade = false;
    for (std::size_t i = 0; i < req.header_count(); ++i) {
        const header_view& h = req.header(i);
        if (h.id == header_id::upgrade) {
            if (!upgrade.empty()) return {};  // two Upgrade lines: ambiguous, not forwarded
            upgrade = h.value;
        } else if (h.id == header_id::connection && list_contains(h.value, "upgrade")) {
            connection_upgrade = true;
        }
    }
    if (!connection_upgrade || !all_allowed(upgrade, allowed)) return {};
    return upgrade;
}

bool switch_accepted(const http_parser& resp, std::span<const std::string> allowed) noexcept {
    return all_allowed(resp.header_value(header_id::upgrade), allowed);
}

}  // namespace ringlb
