#include "ringlb/admin/metrics_text.hpp"

#include "ringlb/admin/totals.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/metrics/prometheus.hpp"

#include <fmt/format.h>

namespace ringlb::admin {

namespace {

constexpr std::array<backend_mode, 5> modes{backend_mode::up, backend_mode::slow_start,
                                            backend_mode::draining, backend_mode::maintenance,
                                            backend_mode::down};
constexpr std::array<std::string_view, 5> classes{"1xx", "2xx", "3xx", "4xx", "5xx"};

}  // namespace

std::string metrics_text(const controller& c, const std::vector<const metrics::proxy_shard*>& workers,
                         const share_cache& shares, std::string_view version, std::uint64_t admin_requests,
                         const etcd_source* etcd) {
    metrics::exposition out;
    const bundle& b = *c.current();
    const routing_snapshot& r = *b.routing;
    const auto backends = r.backends();
    const auto& share = shares.of(b);

    out.family("ringlb_build_info", "info", "The running ringlb's version.");
    out.sample("ringlb_build_info", {{"version", version}}, std::uint64_t{1});

    // --- the proxy, summed over workers ---
    const proxy_totals p = sum(workers);
    out.family("ringlb_connections_accepted_total", "counter", "Client connections accepted.");
    out.sample("ringlb_connections_accepted_total", {}, p.accepted);
    out.family("ringlb_connections_open", "gauge", "Client connections open now.");
    out.sample("ringlb_connections_open", {}, p.open);
    out.family("ringlb_connections_parked", "gauge",
               "Client connections open now that are parked: idle, held without a session.");
    out.sample("ringlb_connections_parked", {}, p.parked);
    out.family(
        "ringlb_accept_pauses_total", "counter",
        "Times accepting paused because limits.max_connections was reached (clients wait in the backlog).");
    out.sample("ringlb_accept_pauses_total", {}, p.accept_pauses);
    out.family("ringlb_requests_total", "counter", "Requests answered, by a backend or by ringlb.");
    out.sample("ringlb_requests_total", {}, p.requests);
    out.family("ringlb_own_responses_total", "counter",
               "Answers ringlb gave itself (the error table), by status.");
    for (std::size_t i = 0; i < metrics::own_statuses.size(); ++i) {
        const std::string code = std::to_string(metrics::own_statuses[i]);
        out.sample("ringlb_own_responses_total", {{"code", code}}, p.own_answers[i]);
    }
    out.family("ringlb_client_aborts_total", "counter",
               "Requests whose client left before the answer was whole.");
    out.sample("ringlb_client_aborts_total", {}, p.client_aborts);
    out.family("ringlb_tunnels_open", "gauge", "Upgrade tunnels (WebSocket...) open now.");
    out.sample("ringlb_tunnels_open", {}, p.tunnels);
    out.family("ringlb_tunnels_total", "counter", "Upgrade tunnels opened: 101 answers relayed.");
    out.sample("ringlb_tunnels_total", {}, p.tunnels_opened);
    out.family("ringlb_tunnels_moved_total", "counter",
               "Tunnels closed because their key moved to another backend (spread over routing.tunnel_handover).");
    out.sample("ringlb_tunnels_moved_total", {}, p.tunnels_moved);
    out.family("ringlb_rate_limited_total", "counter", "Requests refused with 429 by [rate_limit].");
    out.sample("ringlb_rate_limited_total", {}, p.rate_limited);
    out.family("ringlb_rate_limit_dry_run_total", "counter",
               "Requests over [rate_limit] let through because of rate_limit.dry_run.");
    out.sample("ringlb_rate_limit_dry_run_total", {}, p.rate_limit_dry_run);
    if (b.limiter) {
        out.family("ringlb_rate_limit_share", "gauge",
                   "The instances a cluster-wide [rate_limit] is split between (1: this instance enforces all of it).");
        out.sample("ringlb_rate_limit_share", {}, std::uint64_t{b.limiter->share()});
    }
    out.family("ringlb_tls_handshakes_total", "counter",
               "TLS handshakes, by result (ok: completed, of which resumed: by a session ticket; failed: refused, "
               "broken, stalled or cut).");
    out.sample("ringlb_tls_handshakes_total", {{"result", "ok"}}, p.tls_handshakes);
    out.sample("ringlb_tls_handshakes_total", {{"result", "resumed"}}, p.tls_resumed);
    out.sample("ringlb_tls_handshakes_total", {{"result", "failed"}}, p.tls_handshake_failures);
    out.family("ringlb_rate_limit_evictions_total", "counter",
               "Keys whose rate-limit state was dropped to track another key (rate_limit.table_size too small).");
    out.sample("ringlb_rate_limit_evictions_total", {}, p.rate_limit_evictions);

    // --- per backend ---
    std::vector<backend_totals> totals;
    totals.reserve(backends.size());
    for (const backend& be : backends) totals.push_back(sum(*be.state));
    out.family("ringlb_backend_responses_total", "counter",
               "Responses relayed from a backend, by status class.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        for (std::size_t k = 0; k < classes.size(); ++k)
            out.sample("ringlb_backend_responses_total", {{"backend", backends[i].id}, {"code", classes[k]}},
                       totals[i].responses[k]);
    out.family("ringlb_backend_response_seconds", "histogram",
               "Time from a request's start to the end of the response relayed from the backend.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        out.histogram("ringlb_backend_response_seconds", {{"backend", backends[i].id}}, totals[i].latency);
    out.family("ringlb_backend_response_bytes_total", "counter",
               "Bytes of backend responses sent to clients.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        out.sample("ringlb_backend_response_bytes_total", {{"backend", backends[i].id}},
                   totals[i].response_bytes);
    out.family("ringlb_backend_failures_total", "counter",
               "Attempts on a backend that failed: refused, reset, timed out or malformed.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        out.sample("ringlb_backend_failures_total", {{"backend", backends[i].id}}, totals[i].failures);
    out.family("ringlb_backend_failovers_total", "counter",
               "Requests that moved on to the next candidate after failing on a backend.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        out.sample("ringlb_backend_failovers_total", {{"backend", backends[i].id}}, totals[i].failovers);
    out.family("ringlb_backend_retries_total", "counter",
               "Attempts on a backend that retried a failed request.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        out.sample("ringlb_backend_retries_total", {{"backend", backends[i].id}}, totals[i].retries);
    out.family("ringlb_backend_in_flight", "gauge", "Requests a backend is working on now.");
    for (const backend& be : backends)
        out.sample("ringlb_backend_in_flight", {{"backend", be.id}}, be.state->in_flight());
    out.family("ringlb_backend_state", "gauge", "1 for the backend's current mode, 0 for the others.");
    for (const backend& be : backends) {
        const backend_mode m = be.state->mode();
        for (const backend_mode x : modes)
            out.sample("ringlb_backend_state", {{"backend", be.id}, {"state", to_string(x)}},
                       std::uint64_t{m == x ? 1u : 0u});
    }
    out.family("ringlb_backend_health_checks_total", "counter", "Active health check results.");
    for (const backend& be : backends) {
        const backend_health* h = c.health(be.id);
        out.sample("ringlb_backend_health_checks_total", {{"backend", be.id}, {"result", "pass"}},
                   h != nullptr ? h->passed : 0);
        out.sample("ringlb_backend_health_checks_total", {{"backend", be.id}, {"result", "fail"}},
                   h != nullptr ? h->failed : 0);
    }
    out.family("ringlb_backend_predicted_seconds", "gauge",
               "Predicted response time (peak-EWMA, 10 s decay; keyless = \"peak-ewma\"), the workers' mean.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        if (totals[i].predicted_seconds >= 0)
            out.sample("ringlb_backend_predicted_seconds", {{"backend", backends[i].id}}, totals[i].predicted_seconds);
    if (!r.zones().empty()) {
        out.family("ringlb_zone_share", "gauge", "Share of keys each zone takes now (the local zone first).");
        const auto shares_now = r.zone_shares();
        for (std::size_t z = 0; z < r.zones().size(); ++z)
            out.sample("ringlb_zone_share", {{"zone", r.zones()[z].name}}, shares_now[z]);
    }
    out.family("ringlb_backend_weight", "gauge", "A backend's weight.");
    for (const backend& be : backends)
        out.sample("ringlb_backend_weight", {{"backend", be.id}}, std::uint64_t{be.weight});
    out.family("ringlb_backend_key_share", "gauge",
               "A backend's share of the key space under the current placement.");
    for (std::size_t i = 0; i < backends.size(); ++i)
        out.sample("ringlb_backend_key_share", {{"backend", backends[i].id}}, share[i]);

    // --- the control plane ---
    out.family("ringlb_reloads_total", "counter", "Config reloads (SIGHUP), by result.");
    out.sample("ringlb_reloads_total", {{"result", "ok"}}, c.reloads_ok());
    out.sample("ringlb_reloads_total", {{"result", "failed"}}, c.reloads_failed());
    out.family("ringlb_panic", "gauge", "1 while the pool panics (too few healthy backends), else 0.");
    out.sample("ringlb_panic", {}, std::uint64_t{c.panic() != panic_state::none ? 1u : 0u});
    out.family("ringlb_panic_entries_total", "counter", "Times the pool entered panic.");
    out.sample("ringlb_panic_entries_total", {}, c.panic_entries());
    out.family("ringlb_membership_generation", "gauge", "Changes of the membership so far.");
    out.sample("ringlb_membership_generation", {}, c.store().generation());
    out.family("ringlb_bundle_generation", "gauge", "Bundles published to the workers so far.");
    out.sample("ringlb_bundle_generation", {}, b.generation);
    out.family("ringlb_placement_info", "info",
               "The placement: algorithm and fingerprint (equal on every instance "
               "that routes alike).");
    out.sample("ringlb_placement_info",
               {{"algorithm", chash::to_string(r.options().algorithm)},
                {"fingerprint", hex64(r.algorithm().fingerprint())}},
               std::uint64_t{1});
    out.family("ringlb_last_change_moved_share", "gauge",
               "Share of the key space the last placement change moved.");
    out.sample("ringlb_last_change_moved_share", {}, c.last_moved().value_or(0.0));
    out.family("ringlb_admin_requests_total", "counter", "Requests to the admin listener.");
    out.sample("ringlb_admin_requests_total", {}, admin_requests);
    if (etcd != nullptr) {
        // --- membership from etcd ---
        const cluster_agreement a = agreement(*etcd, c.published_base_tag(), hex64(r.algorithm().fingerprint()),
                                              to_string(c.cfg()->routing.hash_key));
        out.family("ringlb_etcd_stale", "gauge",
                   "1 while the membership is not followed live (etcd unreachable, or the snapshot served at start).");
        out.sample("ringlb_etcd_stale", {}, std::uint64_t{etcd->stale() ? 1u : 0u});
        out.family("ringlb_etcd_revision", "gauge", "The etcd revision applied; and that of the membership run.");
        out.sample("ringlb_etcd_revision", {{"of", "applied"}}, static_cast<double>(etcd->applied_revision()));
        out.sample("ringlb_etcd_revision", {{"of", "membership"}}, static_cast<double>(etcd->membership_revision()));
        out.family("ringlb_etcd_reconnects_total", "counter", "Watches given up for another attempt or endpoint.");
        out.sample("ringlb_etcd_reconnects_total", {}, etcd->reconnects());
        out.family("ringlb_etcd_full_reads_total", "counter", "Full reads of the prefix (start, compaction, restore).");
        out.sample("ringlb_etcd_full_reads_total", {}, etcd->full_reads());
        out.family("ringlb_cluster_instances", "gauge",
                   "Live registrations under the prefix; and those running this instance's membership.");
        out.sample("ringlb_cluster_instances", {{"running", "any"}}, static_cast<std::uint64_t>(a.instances));
        out.sample("ringlb_cluster_instances", {{"running", "same_membership"}},
                   static_cast<std::uint64_t>(a.same_membership));
        out.family("ringlb_cluster_agree", "gauge",
                   "1 when every instance running this membership has this placement fingerprint.");
        out.sample("ringlb_cluster_agree", {}, std::uint64_t{a.agree ? 1u : 0u});
    }
    return out.take();
}

}  // namespace ringlb::admin
