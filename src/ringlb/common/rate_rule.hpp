// ringlb/common/rate_rule.hpp: what [rate_limit] asks for. Vocabulary shared by the config
// (which parses it) and the data path (which enforces it: limit/gcra_table.hpp), so neither
// depends on the other.
//
//   ringlb::rate_rule r;            // off
//   r.count = 100; r.period = 1s;   // 100 requests a second per key ...
//   r.burst = 20;                   // ... of which 20 may come at once
//
// Thread-safety: plain values.
#pragma once

#include "ringlb/common/key_rule.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

namespace ringlb {

/// Whether a cluster-wide rate is split between the live instances (etcd membership) or
/// every instance enforces the whole rate by itself.
enum class rate_scope : std::uint8_t { cluster, instance };

struct rate_rule {
    std::uint32_t count = 0;                 ///< requests per period; 0 = rate limiting off
    std::chrono::milliseconds period{1000};  ///< "100/s": 1 s, "30/m": 60 s, "1000/h": 1 h
    std::uint32_t burst = 0;                 ///< requests a quiet client may send at once (>= 1 when on)
    std::optional<hash_key_rule> by;         ///< nullopt = the routing key
    bool dry_run = false;                    ///< count and log, refuse nothing
    rate_scope scope = rate_scope::cluster;
    std::uint32_t table_size = 65536;  ///< tracked keys (a power of two)

    [[nodiscard]] bool enabled() const noexcept { return count > 0; }
    friend bool operator==(const rate_rule&, const rate_rule&) = default;
};

}  // namespace ringlb
