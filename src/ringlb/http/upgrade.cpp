#include "ringlb/http/upgrade.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <new>

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

std::string websocket_accept(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input{key};
    input.append(guid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_sha1(), nullptr) != 1) return {};
    std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> text{};
    const int n = EVP_EncodeBlock(text.data(), digest.data(), static_cast<int>(size));
    return {reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(n)};
}

bool switch_accepted(const http_parser& req, const http_parser& resp, std::string_view offered) noexcept {
    std::string_view chosen;
    for (std::size_t i = 0; i < resp.header_count(); ++i) {
        if (resp.header(i).id != header_id::upgrade) continue;
        if (!chosen.empty()) return false;  // two Upgrade lines: which one is it?
        chosen = resp.header(i).value;
    }
    // Every protocol named is one the client offered (by name; a version is theirs).
    const auto was_offered = [&](std::string_view name) noexcept {
        for (std::string_view list = offered; !list.empty();) {
            const std::string_view item = next_list_item(list);
            if (iequals(item.substr(0, item.find('/')), name)) return true;
        }
        return false;
    };
    bool any = false, websocket = false;
    for (std::string_view list = chosen; !list.empty();) {
        const std::string_view item = next_list_item(list);
        if (item.empty()) continue;
        const std::string_view name = item.substr(0, item.find('/'));
        if (!was_offered(name)) return false;
        any = true;
        websocket |= iequals(name, "websocket");
    }
    if (!any) return false;
    if (!websocket) return true;
    const std::string_view key = req.header_value("sec-websocket-key");
    const std::string_view accept = resp.header_value("sec-websocket-accept");
    try {
        return !key.empty() && accept == websocket_accept(key);
    } catch (const std::bad_alloc&) {
        return false;
    }
}

}  // namespace ringlb
