// ringlb/config/values.hpp: the scalar notations a config (and the CLI) accepts.
//
//   auto grace = ringlb::parse_duration("1m30s");     // .value = 90000ms
//   auto body = ringlb::parse_size("100MiB");         // .value = 104857600
//   if (!body) std::cerr << body.error << '\n';      // says what was wrong and what is valid
//   auto rule = ringlb::parse_hash_key("cookie:sid");
//   std::cout << ringlb::to_string(*rule.value);      // "cookie:sid"
//
// Each parser answers a value or a message fit to follow "FILE:LINE:COL: ". They never
// throw and never touch the network: an address is checked for shape, not resolved.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/config/config.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringlb {

/// A parsed value, or the reason there is none.
template <class T>
struct parsed {
    std::optional<T> value;  ///< set on success
    std::string error;       ///< set on failure: what was wrong and what is accepted

    explicit operator bool() const noexcept { return value.has_value(); }
    static parsed fail(std::string why) { return parsed{std::nullopt, std::move(why)}; }
};

/// A backend id placement may hash: 1..128 letters, digits and - _ . : (what the config,
/// the admin API and the state file accept alike).
[[nodiscard]] bool valid_backend_id(std::string_view id) noexcept;
inline constexpr std::size_t max_backend_id = 128;
/// A zone name: 0..64 letters, digits and - _ . (empty = no zone).
[[nodiscard]] bool valid_zone(std::string_view zone) noexcept;
/// The largest backend weight.
inline constexpr std::uint32_t max_backend_weight = 10'000;

/// "150ms", "2s", "1m", "1h", or a sequence of them ("1m30s"). Whole milliseconds only.
[[nodiscard]] parsed<duration> parse_duration(std::string_view text);

/// "512", "32KiB", "100MiB", "1GiB", "1TiB" (powers of 1024) or "1KB", "1MB", "1GB", "1TB"
/// (powers of 1000); unit case is ignored. A bare "k"/"m"/"g" is refused as ambiguous.
[[nodiscard]] parsed<std::uint64_t> parse_size(std::string_view text);

/// "host:port" or "[v6]:port"; the host is an IPv4 literal, an IPv6 literal or a DNS name.
[[nodiscard]] parsed<endpoint> parse_endpoint_checked(std::string_view text);

/// header:NAME | cookie:NAME | query:NAME | path | client_ip
[[nodiscard]] parsed<hash_key_rule> parse_hash_key(std::string_view text);

/// A rate: "100/s", "30/m", "1000/h" (a whole number of requests, 1..1,000,000,000).
struct rate_value {
    std::uint32_t count = 0;
    duration period{1000};
};
[[nodiscard]] parsed<rate_value> parse_rate(std::string_view text);

/// least-loaded | round-robin | reject
[[nodiscard]] parsed<keyless_policy> parse_keyless(std::string_view text);

/// none | tcp | http
[[nodiscard]] parsed<check_kind> parse_check_kind(std::string_view text);
/// fail-open | fail-closed
[[nodiscard]] parsed<panic_mode> parse_panic_mode(std::string_view text);
/// ready | drain | maintenance
[[nodiscard]] parsed<admin_state> parse_admin_state(std::string_view text);
/// "200", "200-399", "200-299,404": statuses in 100..599, each range lo <= hi.
[[nodiscard]] parsed<std::vector<status_range>> parse_status_ranges(std::string_view text);

/// An algorithm ringlb can serve with (every chash kind but jump, which cannot remove an
/// arbitrary backend); the error for "jump" says why.
[[nodiscard]] parsed<chash::kind> parse_serving_algorithm(std::string_view text);

/// Inverse notations, for messages, `ringlb check` and tools output.
[[nodiscard]] std::string to_string(const endpoint& e);
[[nodiscard]] std::string to_string(const hash_key_rule& rule);
[[nodiscard]] std::string to_string(const rate_value& rate);
[[nodiscard]] std::string_view to_string(keyless_policy policy) noexcept;
[[nodiscard]] std::string_view to_string(check_kind kind) noexcept;
[[nodiscard]] std::string_view to_string(panic_mode mode) noexcept;
[[nodiscard]] std::string_view to_string(admin_state state) noexcept;
[[nodiscard]] std::string to_string(const std::vector<status_range>& ranges);
[[nodiscard]] std::string format_duration(duration d);
[[nodiscard]] std::string format_size(std::uint64_t bytes);

/// The candidate closest to `word` by edit distance when it is close enough to be a likely
/// typo (at most 2 edits, and fewer than half of the word); nullopt otherwise.
[[nodiscard]] std::optional<std::string_view> closest_match(std::string_view word,
                                                            std::span<const std::string_view> candidates);

}  // namespace ringlb
