#include "ringlb/control/bundle_builder.hpp"

#include <chash/ring.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <atomic>
#include <unordered_map>

namespace ringlb {

namespace {

std::atomic<std::uint64_t> next_generation{1};

bool resolve(const endpoint& ep, asio::ip::tcp::endpoint& out, std::string& error) {
    asio::error_code ec;
    const auto addr = asio::ip::make_address(ep.host, ec);
    if (!ec) {
        out = {addr, ep.port};
        return true;
    }
    asio::io_context ctx;
    asio::ip::tcp::resolver resolver{ctx};
    const auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
    if (ec || results.empty()) {
        error = "cannot resolve " + ep.host + ": " + (ec ? ec.message() : "no address");
        return false;
    }
    out = results.begin()->endpoint();
    return true;
}

}  // namespace

routing_options make_routing_options(const routing_config& routing) {
    routing_options o;
    o.algorithm = routing.algorithm;
    o.build = chash_options(routing);
    o.balance_factor = routing.balance_factor;
    o.keyless = routing.keyless;
    o.zone_order = routing.zone_order;
    o.overprovision = routing.overprovision;
    return o;
}

proxy_settings make_settings(const config& cfg) {
    proxy_settings s;
    s.timeouts = {.connect = cfg.timeouts.connect,
                  .client_header = cfg.timeouts.client_header,
                  .backend_response = cfg.timeouts.backend_response,
                  .idle = cfg.timeouts.idle,
                  .linger = cfg.timeouts.linger,
                  .tunnel = cfg.timeouts.tunnel};
    s.limits = {.max_header_bytes = cfg.limits.max_header_bytes,
                .max_body_bytes = cfg.limits.max_body_bytes,
                .max_connections = cfg.limits.max_connections,
                .idle_backend_connections = cfg.limits.idle_backend_connections};
    s.key = cfg.routing.hash_key;
    s.retries = cfg.routing.retries;
    s.previous_owner_header = cfg.routing.previous_owner_header;
    s.previous_owner_window = cfg.routing.previous_owner_window;
    s.upgrade = cfg.server.upgrade;
    s.tunnel_handover = cfg.routing.tunnel_handover;
    s.rate_limit = cfg.rate_limit;
    return s;
}

std::shared_ptr<const bundle> build_bundle(const config& cfg, const bundle* previous, std::string& error) {
    std::vector<member> members;
    std::vector<asio::ip::tcp::endpoint> addresses(cfg.backends.size());
    for (std::size_t i = 0; i < cfg.backends.size(); ++i) {
        members.push_back(member{cfg.backends[i]});
        if (!resolve(cfg.backends[i].address, addresses[i], error)) {
            error = "backend " + cfg.backends[i].id + ": " + error;
            return nullptr;
        }
    }
    std::shared_ptr<const tls_server_context> tls;
    if (cfg.tls.enabled() && !(tls = tls_server_context::build(cfg.tls, error))) return nullptr;
    auto b = build_bundle(cfg, members, addresses, previous, error);
    if (b) b->tls = std::move(tls);
    return b;
}

namespace {

bool same_options(const routing_options& a, const routing_options& b) noexcept {
    return a.algorithm == b.algorithm && a.build.vnodes_per_weight == b.build.vnodes_per_weight &&
           a.build.table_size == b.build.table_size && a.balance_factor == b.balance_factor &&
           a.keyless == b.keyless && a.metric_shards == b.metric_shards && a.local_zone.empty() &&
           b.local_zone.empty();  // zones: each zone's ring is built afresh
}

// The routing for `nodes` derived from `previous` when placement allows: the same snapshot
// when the nodes are the same set, a ring merged or trimmed by one node. Null otherwise.
std::shared_ptr<const routing_snapshot> derive(const std::shared_ptr<const routing_snapshot>& running,
                                               const std::vector<chash::node>& nodes,
                                               const routing_options& options, placement_change& how) {
    const routing_snapshot& previous = *running;
    if (!same_options(previous.options(), options)) return nullptr;
    const auto old = previous.backends();
    std::unordered_map<std::string_view, std::uint32_t> old_weight;
    for (const backend& b : old) old_weight.emplace(b.id, b.weight);
    std::size_t kept = 0;
    const chash::node* added = nullptr;
    std::size_t added_count = 0;
    for (const chash::node& n : nodes) {
        const auto it = old_weight.find(n.id);
        if (it == old_weight.end()) {
            added = &n;
            ++added_count;
        } else if (it->second == n.weight) {
            ++kept;
        } else {
            return nullptr;  // a reweight: rebuilt
        }
    }
    if (added_count == 0 && kept == old.size()) {
        how = placement_change::none;
        return running;
    }
    const auto* ring = dynamic_cast<const chash::ring*>(&previous.algorithm());
    if (ring == nullptr) return nullptr;
    try {
        if (added_count == 1 && kept == old.size()) {
            auto r = std::make_unique<chash::ring>(ring->with_node_added(*added));
            std::vector<chash::node> order = r->nodes();
            how = placement_change::added_one;
            return routing_snapshot::build_with(std::move(r), order, options, &previous);
        }
        if (added_count == 0 && kept + 1 == old.size()) {
            const auto gone = std::find_if(old.begin(), old.end(), [&](const backend& b) {
                return std::none_of(nodes.begin(), nodes.end(),
                                    [&](const chash::node& n) { return n.id == b.id; });
            });
            auto r = std::make_unique<chash::ring>(ring->with_node_removed(gone->id));
            std::vector<chash::node> order = r->nodes();
            how = placement_change::removed_one;
            return routing_snapshot::build_with(std::move(r), order, options, &previous);
        }
    } catch (const std::exception&) {
        return nullptr;  // the full build reports it
    }
    return nullptr;
}

}  // namespace

std::shared_ptr<bundle> build_bundle(const config& cfg, std::span<const member> members,
                                           std::span<const asio::ip::tcp::endpoint> addresses,
                                           const bundle* previous, std::string& error,
                                           placement_change* how) {
    std::vector<chash::node> nodes;
    nodes.reserve(members.size());
    for (const member& m : members) nodes.push_back(chash::node{m.backend.id, m.backend.weight});
    routing_options options = make_routing_options(cfg.routing);
    options.metric_shards = worker_count(cfg.server);
    options.local_zone = cfg.server.zone;
    std::vector<std::string> zones;
    zones.reserve(members.size());
    for (const member& m : members) zones.push_back(m.backend.zone);
    auto b = std::make_shared<bundle>();
    placement_change change = previous == nullptr ? placement_change::first : placement_change::rebuilt;
    if (previous != nullptr) {
        b->routing = derive(previous->routing, nodes, options, change);
    }
    if (!b->routing) {
        change = previous == nullptr ? placement_change::first : placement_change::rebuilt;
        b->routing = routing_snapshot::build(nodes, options,
                                             previous != nullptr ? previous->routing.get() : nullptr, error, zones);
        if (!b->routing) return nullptr;
    }
    // Addresses in the snapshot's order, which an incremental ring may have changed.
    std::unordered_map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < members.size(); ++i) index.emplace(members[i].backend.id, i);
    for (const backend& be : b->routing->backends()) b->addresses.push_back(addresses[index.at(be.id)]);
    b->settings = make_settings(cfg);
    if (cfg.rate_limit.enabled()) {
        // The same table across rebuilds and reloads while its size holds: the keys' state
        // (and the instance share control set on it) carries over.
        if (previous != nullptr && previous->limiter && previous->limiter->slots() == cfg.rate_limit.table_size)
            b->limiter = previous->limiter;
        else
            b->limiter = std::make_shared<gcra_table>(cfg.rate_limit.table_size);
        if (previous != nullptr && previous->limiter && b->limiter != previous->limiter)
            b->limiter->set_share(previous->limiter->share());
    }
    b->generation = next_generation.fetch_add(1, std::memory_order_relaxed);
    if (how != nullptr) *how = change;
    return b;
}

}  // namespace ringlb
