// ringlb/http/key.hpp: extracting the routing key from a request head.
//
//   ringlb::hash_key_rule rule{ringlb::hash_key_rule::source::cookie, "session"};
//   std::optional<std::string_view> key = ringlb::extract_key(rule, parser, "10.0.0.7");
//   if (key) h = algo.hash_key(*key);                // hashed once per request
//
// The key is a view into the request head (or into `client_ip`); nothing is copied or
// decoded. Values are taken byte for byte: `query:id` on "?id=a%20b" hashes "a%20b", so two
// balancers (or a balancer and a test) agree without sharing a decoder. A header or cookie
// that is present but empty counts as absent: an empty key would pin every such request to
// one backend.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/common/key_rule.hpp"
#include "ringlb/http/parser.hpp"

#include <optional>
#include <string_view>

namespace ringlb {

/// The key the rule selects, or nullopt when the request has none.
[[nodiscard]] std::optional<std::string_view> extract_key(const hash_key_rule& rule,
                                                          const http_parser& request,
                                                          std::string_view client_ip) noexcept;

/// The value of cookie `name` in a Cookie header value ("a=1; b=2"), or nullopt.
[[nodiscard]] std::optional<std::string_view> find_cookie(std::string_view cookie_header,
                                                          std::string_view name) noexcept;

/// The value of query parameter `name` in a request target ("/p?a=1&b=2"), or nullopt.
[[nodiscard]] std::optional<std::string_view> find_query_param(std::string_view target,
                                                               std::string_view name) noexcept;

/// The path of a request target: origin-form up to '?' or '#'; for absolute-form
/// ("http://h/p?q") the path after the authority ("/p"; "/" when there is none).
[[nodiscard]] std::string_view target_path(std::string_view target) noexcept;

}  // namespace ringlb
