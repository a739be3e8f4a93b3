// ringlb/common/key_rule.hpp: where a request's routing key comes from, and what happens to
// a request without one. Vocabulary shared by the config (which parses it) and the data
// path (which applies it), so neither depends on the other.
//
//   ringlb::hash_key_rule rule{ringlb::hash_key_rule::source::cookie, "session"};
//   auto key = ringlb::extract_key(rule, request, client_ip);     // http/key.hpp
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>

namespace ringlb {

/// Where the key comes from. `name` is the header, cookie or query parameter name.
struct hash_key_rule {
    enum class source : std::uint8_t { header, cookie, query, path, client_ip };
    source from = source::header;
    std::string name = "X-User-Id";
    friend bool operator==(const hash_key_rule&, const hash_key_rule&) = default;
};

/// A request without a key: spread by in-flight load, round-robin, or refused (400).
/// What a request without a key gets: least-loaded (power of two choices on in-flight
/// counts), round-robin, reject (400), or peak-ewma (power of two choices on each
/// backend's predicted response time, a peak-sensitive moving average, times its load).
enum class keyless_policy : std::uint8_t { least_loaded, round_robin, reject, peak_ewma };

}  // namespace ringlb
