// ringlb/metrics/shards.hpp: what one worker counts, per backend and for the whole proxy.
//
//   backend_shard& s = state.shard(worker_index);    // lb/backend_state.hpp holds one per worker
//   s.responses[status / 100 - 1].add();
//   s.latency.observe(duration_us);
//   proxy_shard& p = worker.metrics();                // one per worker
//   p.accepted.add();
//
// Every counter here has one writer, the worker that owns the shard; the admin listener
// sums the shards of all workers at scrape time (admin/metrics_text.cpp). Shards are
// cache-line aligned so two workers never write the same line. Nothing on the request path
// takes a lock or allocates to count.
//
// Thread-safety: see counter.hpp: writes from the owning worker only, reads from anywhere.
#pragma once

#include "ringlb/metrics/counter.hpp"
#include "ringlb/metrics/histogram.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace ringlb::metrics {

/// One worker's counts for one backend.
struct alignas(64) backend_shard {
    std::array<counter, 5> responses;  ///< answers relayed from the backend, by class 1xx..5xx
    latency_histogram latency;         ///< request start to the end of the relayed response
    counter response_bytes;            ///< bytes of those responses sent to clients
    counter failures;                  ///< attempts that failed (refused, reset, timed out, malformed)
    counter failovers;                 ///< requests that moved on to another backend after failing here
    counter retries;                   ///< attempts here that were a retry of a request that failed
    counter predicted_ns;              ///< keyless peak-ewma: this worker's predicted response time
    counter predicted_at_ns;           ///< ...and when it last moved (steady clock), 0 = no answer yet
};

/// The statuses ringlb answers itself (http/error_response.hpp), in exposition order.
inline constexpr std::array<int, 10> own_statuses{400, 408, 413, 414, 429, 431, 500, 502, 503, 504};

/// Index of `status` in own_statuses; the last slot (504) never collides because every
/// status ringlb answers is listed.
[[nodiscard]] constexpr std::size_t own_status_index(int status) noexcept {
    for (std::size_t i = 0; i < own_statuses.size(); ++i)
        if (own_statuses[i] == status) return i;
    return 6;  // 500: anything unexpected is ringlb's own failure
}

/// One worker's counts for the whole proxy.
struct alignas(64) proxy_shard {
    counter accepted;       ///< client connections accepted
    counter open;           ///< client connections open now (a gauge)
    counter parked;         ///< ...of which parked, idle without a session (a gauge)
    counter accept_pauses;  ///< times accepting paused at limits.max_connections
    counter requests;       ///< requests answered (by a backend or by ringlb), any status
    std::array<counter, own_statuses.size()> own_answers;  ///< ringlb's own answers by status
    counter client_aborts;  ///< requests whose client left before the answer was complete
    counter tunnels;         ///< Upgrade tunnels open now (a gauge)
    counter tunnels_opened;  ///< Upgrade tunnels opened (101s relayed)
    counter tunnels_moved;   ///< tunnels closed because their key moved to another backend
    counter rate_limited;          ///< requests refused with 429 by [rate_limit]
    counter rate_limit_dry_run;    ///< requests over [rate_limit] let through (dry_run)
    counter rate_limit_evictions;  ///< keys' limit state dropped to track another key
    counter tls_handshakes;          ///< TLS handshakes completed
    counter tls_resumed;             ///< ...of which resumed a session (a ticket)
    counter tls_handshake_failures;  ///< TLS handshakes that failed, stalled or were cut
};

}  // namespace ringlb::metrics
