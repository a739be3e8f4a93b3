// ringlb/proxy/bundle.hpp: what the control thread publishes to the workers, and all that a
// worker reads of the configuration.
//
//   auto b = std::make_shared<ringlb::bundle>();        // control thread (control/bundle_builder)
//   b->routing = routing_snapshot::build(...);
//   b->addresses = {...};                               // backend i is at addresses[i]
//   b->settings = {...};
//   b->generation = next_generation++;
//   for (auto& w : workers) w->publish(b);              // each worker swaps its pointer
//
// The control-to-worker boundary is four things only: this bundle (immutable once
// published; a request keeps the one it started with), the per-backend state atomics the
// routing snapshot points to (lb/backend_state.hpp), the rate-limit table (lock-free, its
// instance share set by control: limit/gcra_table.hpp), and per-worker metric shards. The data plane never includes the control plane: this header is the one
// thing control includes from proxy/, and it is plain data.
//
// Thread-safety: immutable after publication; shared read-only by every worker.
#pragma once

#include "ringlb/common/key_rule.hpp"
#include "ringlb/common/rate_rule.hpp"
#include "ringlb/lb/routing.hpp"
#include "ringlb/limit/gcra_table.hpp"
#include "ringlb/tls/server_context.hpp"

#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ringlb {

struct proxy_timeouts {
    std::chrono::milliseconds connect{2000};
    std::chrono::milliseconds client_header{10000};
    std::chrono::milliseconds backend_response{30000};
    std::chrono::milliseconds idle{60000};
    std::chrono::milliseconds linger{2000};
    std::chrono::milliseconds tunnel{3600000};  ///< an Upgrade tunnel idle both ways
};

struct proxy_limits {
    std::size_t max_header_bytes = 32768;
    std::uint64_t max_body_bytes = 100ull << 20;
    std::size_t max_connections = 100000;
    std::size_t idle_backend_connections = 1024;  ///< kept per backend per worker
};

/// How the data path treats requests (the config's [routing], [timeouts] and [limits], as
/// far as the workers need them).
struct proxy_settings {
    proxy_timeouts timeouts;
    proxy_limits limits;
    hash_key_rule key;
    unsigned retries = 2;  ///< further backends a failed request may try
    std::string previous_owner_header;  ///< empty = off; else stripped from clients, set by ringlb
    std::chrono::milliseconds previous_owner_window{60000};
    std::vector<std::string> upgrade;  ///< protocols an Upgrade may switch to (http/upgrade.hpp)
    std::chrono::milliseconds tunnel_handover{10000};  ///< tunnels of a key that moved close over this
    rate_rule rate_limit;  ///< off unless enabled(); the state is bundle::limiter
};

struct bundle {
    std::shared_ptr<const routing_snapshot> routing;
    std::vector<asio::ip::tcp::endpoint> addresses;  ///< addresses[i] is routing->backends()[i]'s
    proxy_settings settings;
    /// The rate-limit state (nullptr = off): one table shared by every worker and kept
    /// across reloads of the same size, so a reload forgives no one.
    std::shared_ptr<gcra_table> limiter;
    /// The listener's TLS (nullptr = plain HTTP): a connection keeps the context it was
    /// accepted with, whatever a reload publishes meanwhile.
    std::shared_ptr<const tls_server_context> tls;
    std::uint64_t generation = 0;  ///< monotonic per process; the first bundle is 1
};

}  // namespace ringlb
