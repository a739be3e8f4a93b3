// ringlb/admin/totals.hpp: the per-worker shards of a backend or of the proxy, summed.
//
//   ringlb::admin::backend_totals t = ringlb::admin::sum(*backend.state);
//   t.requests();  t.latency.quantile(0.99);
//
// Read at scrape time from the admin thread while workers keep counting: each counter is
// some recent value, and sums of them are as consistent as Prometheus needs (counters only
// grow).
//
// Thread-safety: reads shared atomics; call from any thread.
#pragma once

#include "ringlb/lb/backend_state.hpp"
#include "ringlb/metrics/shards.hpp"

#include <array>
#include <cstdint>
#include <span>

namespace ringlb::admin {

struct backend_totals {
    std::array<std::uint64_t, 5> responses{};
    metrics::latency_totals latency;
    std::uint64_t response_bytes = 0;
    std::uint64_t failures = 0;
    std::uint64_t failovers = 0;
    std::uint64_t retries = 0;
    double predicted_seconds = -1;  ///< peak-EWMA response time, the workers' mean; -1 = none yet
    [[nodiscard]] std::uint64_t requests() const noexcept {
        std::uint64_t n = 0;
        for (auto r : responses) n += r;
        return n;
    }
};

struct proxy_totals {
    std::uint64_t accepted = 0;
    std::uint64_t open = 0;
    std::uint64_t parked = 0;
    std::uint64_t accept_pauses = 0;
    std::uint64_t requests = 0;
    std::array<std::uint64_t, metrics::own_statuses.size()> own_answers{};
    std::uint64_t client_aborts = 0;
    std::uint64_t tunnels = 0;
    std::uint64_t tunnels_opened = 0;
    std::uint64_t tunnels_moved = 0;
    std::uint64_t rate_limited = 0;
    std::uint64_t rate_limit_dry_run = 0;
    std::uint64_t rate_limit_evictions = 0;
    std::uint64_t tls_handshakes = 0;
    std::uint64_t tls_resumed = 0;
    std::uint64_t tls_handshake_failures = 0;
};

[[nodiscard]] inline backend_totals sum(const backend_state& s) {
    backend_totals t;
    for (std::size_t w = 0; w < s.shard_count(); ++w) {
        const metrics::backend_shard& sh = s.shard(w);
        for (std::size_t c = 0; c < t.responses.size(); ++c) t.responses[c] += sh.responses[c].get();
        t.latency.add(sh.latency);
        t.response_bytes += sh.response_bytes.get();
        t.failures += sh.failures.get();
        t.failovers += sh.failovers.get();
        t.retries += sh.retries.get();
    }
    double sum_ns = 0;
    std::size_t seen = 0;
    for (std::size_t w = 0; w < s.shard_count(); ++w) {
        if (s.shard(w).predicted_at_ns.get() == 0) continue;
        sum_ns += static_cast<double>(s.shard(w).predicted_ns.get());
        ++seen;
    }
    if (seen > 0) t.predicted_seconds = sum_ns / static_cast<double>(seen) / 1e9;
    return t;
}

[[nodiscard]] inline proxy_totals sum(std::span<const metrics::proxy_shard* const> shards) {
    proxy_totals t;
    for (const metrics::proxy_shard* p : shards) {
        t.accepted += p->accepted.get();
        t.open += p->open.get();
        t.parked += p->parked.get();
        t.accept_pauses += p->accept_pauses.get();
        t.requests += p->requests.get();
        for (std::size_t i = 0; i < t.own_answers.size(); ++i) t.own_answers[i] += p->own_answers[i].get();
        t.client_aborts += p->client_aborts.get();
        t.tunnels += p->tunnels.get();
        t.tunnels_opened += p->tunnels_opened.get();
        t.tunnels_moved += p->tunnels_moved.get();
        t.rate_limited += p->rate_limited.get();
        t.rate_limit_dry_run += p->rate_limit_dry_run.get();
        t.rate_limit_evictions += p->rate_limit_evictions.get();
        t.tls_handshakes += p->tls_handshakes.get();
        t.tls_resumed += p->tls_resumed.get();
        t.tls_handshake_failures += p->tls_handshake_failures.get();
    }
    return t;
}

}  // namespace ringlb::admin
