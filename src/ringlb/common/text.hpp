// ringlb/common/text.hpp: the few text helpers HTTP and the config both need, once.
//
//   ringlb::iequals("Content-Length", "content-length");         // true (ASCII only)
//   ringlb::is_tchar('!');                                        // true: RFC 9110 token
//   ringlb::trim("  a b \t");                                     // "a b"
//   std::string_view list = "gzip, chunked";
//   while (!list.empty()) use(ringlb::next_list_item(list));      // "gzip", then "chunked"
//   ringlb::list_contains("keep-alive, Upgrade", "upgrade");      // true
//
// Everything is ASCII and locale-free on purpose: HTTP names and config keywords are ASCII,
// and a locale-dependent tolower would make two processes disagree.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace ringlb {

/// ASCII case-insensitive equality, for header names, tokens and config keywords.
/// ASCII lower case; every other byte as it is.
[[nodiscard]] constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

/// `s` in ASCII lower case.
[[nodiscard]] inline std::string to_lower(std::string_view s) {
    std::string out{s};
    for (char& c : out) c = ascii_lower(c);
    return out;
}

[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    constexpr auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

namespace detail {
inline constexpr std::array<bool, 256> tchar_table = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (const char c : std::string_view{"!#$%&'*+-.^_`|~"}) t[static_cast<unsigned char>(c)] = true;
    return t;
}();
}  // namespace detail

/// Whether `c` is an RFC 9110 token character (what a header name or method may contain).
[[nodiscard]] constexpr bool is_tchar(char c) noexcept {
    return detail::tchar_table[static_cast<unsigned char>(c)];
}

/// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
[[nodiscard]] constexpr std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// Takes the next item off a comma-separated list (trimmed; empty items are returned as
/// empty) and advances `list` past it.
[[nodiscard]] constexpr std::string_view next_list_item(std::string_view& list) noexcept {
    const std::size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    return trim(item);
}

/// Whether a comma-separated header value (e.g. Connection) lists `token`, ignoring case.
[[nodiscard]] constexpr bool list_contains(std::string_view list, std::string_view token) noexcept {
    while (!list.empty())
        if (iequals(next_list_item(list), token)) return true;
    return false;
}

}  // namespace ringlb
