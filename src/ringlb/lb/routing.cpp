#include "ringlb/lb/routing.hpp"

#include <chash/hash.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

namespace ringlb {

void routing_snapshot::adopt_states(const routing_snapshot* previous) {
    std::unordered_map<std::string_view, std::shared_ptr<backend_state>> old_states;
    if (previous != nullptr)
        for (const backend& b : previous->backends_) old_states.emplace(b.id, b.state);
    if (previous != nullptr) {
        totals_ = previous->totals_;
    } else {
        totals_ = std::make_shared<load_totals>();
        totals_->shards = options_.metric_shards;
    }
    for (backend& b : backends_) {
        auto it = old_states.find(b.id);
        b.state = it != old_states.end() ? it->second : std::make_shared<backend_state>(b.id, totals_);
        if (b.weight > 0) ++weighted_;
    }
    built_at_ = steady_clock::now();
    if (previous != nullptr && previous->algo_->fingerprint() != algo_->fingerprint()) {
        previous_algo_ = previous->algo_;
        previous_ids_.reserve(previous->backends_.size());
        for (const backend& b : previous->backends_) previous_ids_.push_back(b.id);
    } else if (previous != nullptr) {
        // Same placement (an address or a setting changed): the last change still counts.
        previous_algo_ = previous->previous_algo_;
        previous_ids_ = previous->previous_ids_;
        built_at_ = previous->built_at_;
    }
    // Exact count for this membership (see load_totals). A worker's transition racing this
    // store can leave it off by one until the next publication; it only moves the cap.
    std::int32_t down = 0;
    for (const backend& b : backends_) down += b.state->counted_down() ? 1 : 0;
    totals_->down.store(down, std::memory_order_relaxed);
}

std::shared_ptr<const routing_snapshot> routing_snapshot::build(std::span<const chash::node> nodes,
                                                                const routing_options& options,
                                                                const routing_snapshot* previous, std::string& error,
                                                                std::span<const std::string> zones) {
    std::unique_ptr<const chash::algorithm> algo;
    try {
        algo = chash::make(options.algorithm, nodes, options.build);
    } catch (const std::exception& e) {
        error = e.what();
        return nullptr;
    }
    auto s = build_with(std::move(algo), nodes, options, previous, zones);
    if (!s->options_.local_zone.empty() && s->zones_.empty() && !nodes.empty()) {
        error = "no zone has a backend with a positive weight";
        return nullptr;
    }
    return s;
}

std::shared_ptr<const routing_snapshot> routing_snapshot::build_with(
    std::unique_ptr<const chash::algorithm> algo, std::span<const chash::node> nodes,
    const routing_options& options, const routing_snapshot* previous, std::span<const std::string> zones) {
    std::shared_ptr<routing_snapshot> s{new routing_snapshot()};
    s->options_ = options;
    s->algo_ = std::move(algo);
    if (options.balance_factor > 0) s->bounded_.emplace(options.balance_factor);
    s->backends_.reserve(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
        s->backends_.push_back(
            backend{nodes[i].id, nodes[i].weight, nullptr, i < zones.size() ? zones[i] : std::string{}});
    s->adopt_states(previous);
    if (!options.local_zone.empty()) {
        std::string ignored;
        s->build_zones(ignored);
        s->update_zone_split(steady_clock::now());
    }
    return s;
}

void routing_snapshot::build_zones(std::string& error) {
    // Spill order: the local zone, then the configured order, then the rest by name;
    // backends without a zone form the zone "" last.
    std::map<std::string, std::vector<std::size_t>> members;
    for (std::size_t i = 0; i < backends_.size(); ++i)
        if (backends_[i].weight > 0) members[backends_[i].zone].push_back(i);
    std::vector<std::string> order{options_.local_zone};
    for (const std::string& z : options_.zone_order)
        if (std::find(order.begin(), order.end(), z) == order.end()) order.push_back(z);
    for (const auto& [z, list] : members)
        if (!z.empty() && std::find(order.begin(), order.end(), z) == order.end()) order.push_back(z);
    if (members.contains("") && std::find(order.begin(), order.end(), "") == order.end()) order.push_back("");
    for (const std::string& z : order) {
        const auto it = members.find(z);
        if (it == members.end()) continue;
        zone_view v;
        v.name = z;
        v.index = it->second;
        std::vector<chash::node> nodes;
        for (std::size_t i : v.index) {
            nodes.push_back({backends_[i].id, backends_[i].weight});
            v.weight += backends_[i].weight;
        }
        try {
            // A ring of the zone's own ids and weights: every instance of the zone agrees.
            v.algo = chash::make(options_.algorithm, nodes, options_.build);
        } catch (const std::exception& e) {
            error = "zone \"" + z + "\": " + e.what();
            continue;
        }
        zones_.push_back(std::move(v));
    }
    zone_split_ = std::make_unique<std::atomic<std::uint64_t>[]>(std::max<std::size_t>(1, zones_.size()));
}

std::vector<double> routing_snapshot::zone_shares() const {
    // Split points are hashes below which a zone takes a key; the last is 2^64 - 1 for "all".
    constexpr double whole = 18446744073709551616.0;
    const auto point = [&](std::size_t z) {
        const std::uint64_t at = zone_split_[z].load(std::memory_order_relaxed);
        return at == ~std::uint64_t{0} ? whole : static_cast<double>(at);
    };
    std::vector<double> out;
    double before = 0;
    for (std::size_t z = 0; z < zones_.size(); ++z) {
        const double at = std::max(before, point(z));
        out.push_back((at - before) / whole);
        before = at;
    }
    return out;
}

void routing_snapshot::update_zone_split(steady_clock::time_point now) const {
    if (zones_.empty()) return;
    // Health as it is, whatever the pool-wide panic says: fail-open panic must not count a
    // zone that is down as healthy (it would pull every key back into it).
    constexpr panic_state panic = panic_state::none;
    std::vector<double> load(zones_.size(), 0.0);
    double left = 1.0;
    double total = 0;
    for (std::size_t z = 0; z < zones_.size(); ++z) {
        std::uint64_t healthy = 0;
        for (std::size_t i : zones_[z].index) {
            const backend_state& st = *backends_[i].state;
            if (st.takes_keys(now, panic) && st.eligible(now)) healthy += backends_[i].weight;
        }
        const double health = std::min(1.0, options_.overprovision * static_cast<double>(healthy) /
                                                 static_cast<double>(std::max<std::uint64_t>(1, zones_[z].weight)));
        load[z] = std::min(left, health);
        left -= load[z];
        total += load[z];
    }
    if (total <= 0) {  // nobody healthy anywhere: the local zone, whose owners fail over as usual
        load.assign(zones_.size(), 0.0);
        load[0] = 1.0;
        total = 1.0;
    }
    double cumulative = 0;
    for (std::size_t z = 0; z < zones_.size(); ++z) {
        cumulative += load[z] / total;
        const std::uint64_t at = z + 1 == zones_.size() || cumulative >= 1.0
                                     ? ~std::uint64_t{0}
                                     : static_cast<std::uint64_t>(cumulative * 18446744073709551615.0);
        zone_split_[z].store(at, std::memory_order_relaxed);
    }
}

void observe_response_time(metrics::backend_shard& shard, std::int64_t now_ns, std::uint64_t rtt_ns) noexcept {
    const auto at = static_cast<std::int64_t>(shard.predicted_at_ns.get());
    const double cost = static_cast<double>(shard.predicted_ns.get());
    const double rtt = static_cast<double>(rtt_ns);
    double next = rtt;
    if (at != 0 && rtt < cost) {
        const double w = std::exp(-static_cast<double>(std::max<std::int64_t>(0, now_ns - at)) / ewma_decay_ns);
        next = cost * w + rtt * (1.0 - w);
    }
    shard.predicted_ns.set(static_cast<std::uint64_t>(next));
    shard.predicted_at_ns.set(static_cast<std::uint64_t>(std::max<std::int64_t>(1, now_ns)));
}

std::size_t routing_snapshot::first_usable(std::size_t start, const tried_set& tried,
                                           steady_clock::time_point now, std::uint64_t h2,
                                           panic_state panic) const noexcept {
    const std::size_t n = backends_.size();
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (start + k) % n;
        if (usable(i, tried, now, h2, panic)) return i;
    }
    return chash::npos;
}

routing_snapshot::load_view routing_snapshot::load_over(std::span<const std::size_t> zone,
                                                       steady_clock::time_point now,
                                                       panic_state panic) const noexcept {
    if (zone.empty()) {
        // Two shared counters, not a scan of every backend: O(1) per request at any pool
        // size. Backends tried by this request still count as eligible; that only raises
        // the cap for a request that is already failing over.
        const auto unavailable =
            static_cast<std::size_t>(std::max(0, totals_->down.load(std::memory_order_relaxed)) +
                                     std::max(0, totals_->out.load(std::memory_order_relaxed)));
        return {totals_->in_flight.load(std::memory_order_relaxed),
                weighted_ > unavailable ? weighted_ - unavailable : 1};
    }
    // A zone's cap is its own mean: the pool-wide counters would count other zones'
    // backends, which this zone's keys never reach. A few relaxed loads per zone backend.
    load_view out{0, 0};
    for (std::size_t g : zone) {
        const backend_state& st = *backends_[g].state;
        out.total += st.in_flight();
        if (backends_[g].weight > 0 && st.takes_keys(now, panic) && st.eligible(now)) ++out.eligible;
    }
    out.eligible = std::max<std::size_t>(1, out.eligible);
    return out;
}

std::size_t routing_snapshot::select_in(const chash::algorithm& algo, std::span<const std::size_t> index,
                                        std::uint64_t key_hash, const tried_set& tried, steady_clock::time_point now,
                                        std::uint64_t h2, panic_state panic) const noexcept {
    const auto global = [&](std::size_t i) { return i < index.size() ? index[i] : chash::npos; };
    if (bounded_) {
        const load_view load = load_over(index, now, panic);
        const std::size_t z = bounded_->pick(algo, key_hash, load.total, load.eligible, [&](std::size_t i) {
            const std::size_t g = global(i);
            return g != chash::npos && usable(g, tried, now, h2, panic) ? backends_[g].state->in_flight()
                                                                       : chash::bounded_load::ineligible;
        });
        return global(z);
    }
    const std::size_t first = global(algo.pick_hashed(key_hash));
    if (first != chash::npos && usable(first, tried, now, h2, panic)) return first;
    std::array<std::size_t, chash::bounded_load::walk_limit> walk;
    const std::size_t n = algo.candidates(key_hash, walk);
    for (std::size_t k = 1; k < n; ++k)
        if (const std::size_t g = global(walk[k]); g != chash::npos && usable(g, tried, now, h2, panic)) return g;
    for (std::size_t k = 0; k < index.size(); ++k)  // every listed candidate unusable: anyone in the zone
        if (const std::size_t g = index[(key_hash + k) % index.size()]; usable(g, tried, now, h2, panic)) return g;
    return chash::npos;
}

std::size_t routing_snapshot::key_zone(std::uint64_t key_hash) const noexcept {
    // A third hash of the key, independent of its place and of the ramp's, picks its zone by
    // the published split: a zone's outage moves the keys it loses, no others.
    const std::uint64_t hz = chash::mix64(key_hash ^ 0x5bd1e9955bd1e995ULL);
    for (std::size_t z = 0; z < zones_.size(); ++z) {
        const std::uint64_t split = zone_split_[z].load(std::memory_order_relaxed);
        if (hz < split || split == ~std::uint64_t{0}) return z;
    }
    return zones_.size() - 1;
}

std::size_t routing_snapshot::candidates(std::uint64_t key_hash,
                                         std::array<std::size_t, chash::bounded_load::walk_limit>& walk) const
    noexcept {
    if (zones_.empty()) return algo_->candidates(key_hash, walk);
    const zone_view& v = zones_[key_zone(key_hash)];
    const std::size_t n = v.algo->candidates(key_hash, walk);
    for (std::size_t k = 0; k < n; ++k) walk[k] = v.index[walk[k]];
    return n;
}

std::size_t routing_snapshot::owner(std::uint64_t key_hash) const noexcept {
    if (zones_.empty()) return algo_->pick_hashed(key_hash);
    const zone_view& v = zones_[key_zone(key_hash)];
    const std::size_t i = v.algo->pick_hashed(key_hash);
    return i < v.index.size() ? v.index[i] : chash::npos;
}

std::size_t routing_snapshot::settled_owner(std::uint64_t key_hash, steady_clock::time_point now) const noexcept {
    const panic_state panic = totals_->panic.load(std::memory_order_relaxed);
    if (panic == panic_state::fail_closed) return chash::npos;
    std::array<std::size_t, chash::bounded_load::walk_limit> walk;
    const std::size_t n = candidates(key_hash, walk);
    const std::uint64_t h2 = handover_hash(key_hash);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = walk[k];
        if (backends_[i].weight != 0 && backends_[i].state->admits(h2, now, panic)) return i;
    }
    return chash::npos;
}

std::size_t routing_snapshot::select_zoned(std::uint64_t key_hash, const tried_set& tried,
                                           steady_clock::time_point now) const noexcept {
    const panic_state panic = totals_->panic.load(std::memory_order_relaxed);
    if (panic == panic_state::fail_closed) return chash::npos;
    const std::uint64_t h2 = handover_hash(key_hash);
    const std::size_t chosen = key_zone(key_hash);
    for (std::size_t k = 0; k < zones_.size(); ++k) {
        // The chosen zone, then the others in spill order if it has nobody usable.
        const std::size_t z = k == 0 ? chosen : (k <= chosen ? k - 1 : k);
        const zone_view& v = zones_[z];
        const std::size_t pick = select_in(*v.algo, v.index, key_hash, tried, now, h2, panic);
        if (pick != chash::npos) return pick;
    }
    return chash::npos;
}

std::size_t routing_snapshot::select(std::uint64_t key_hash, const tried_set& tried,
                                     steady_clock::time_point now) const noexcept {
    if (backends_.empty()) return chash::npos;
    if (!zones_.empty()) return select_zoned(key_hash, tried, now);
    const panic_state panic = totals_->panic.load(std::memory_order_relaxed);
    if (panic == panic_state::fail_closed) return chash::npos;
    const std::uint64_t h2 = handover_hash(key_hash);
    if (bounded_) {
        const load_view load = load_over({}, now, panic);
        return bounded_->pick(*algo_, key_hash, load.total, load.eligible, [&](std::size_t i) {
            return usable(i, tried, now, h2, panic) ? backends_[i].state->in_flight()
                                                    : chash::bounded_load::ineligible;
        });
    }
    // The key's own backend is usable on nearly every request: one pick, no walk.
    const std::size_t first = algo_->pick_hashed(key_hash);
    if (first != chash::npos && usable(first, tried, now, h2, panic)) return first;
    std::array<std::size_t, chash::bounded_load::walk_limit> walk;
    const std::size_t n = algo_->candidates(key_hash, walk);
    for (std::size_t k = 1; k < n; ++k)
        if (usable(walk[k], tried, now, h2, panic)) return walk[k];
    // Every listed candidate is down or tried (rare): any usable backend beats a 503. Start
    // from a key-dependent position so such keys still spread.
    return n < backends_.size() ? first_usable(key_hash % backends_.size(), tried, now, h2, panic)
                                : chash::npos;
}

std::size_t routing_snapshot::select_keyless(keyless_state& ks, const tried_set& tried,
                                             steady_clock::time_point now) const noexcept {
    const std::size_t n = backends_.size();
    if (n == 0) return chash::npos;
    const panic_state panic = totals_->panic.load(std::memory_order_relaxed);
    if (panic == panic_state::fail_closed) return chash::npos;
    // Without a key, a ramp admits a random share of requests: its share of the traffic
    // rises with it.
    const std::uint64_t h2 = ks.next_random();
    if (!zones_.empty()) {
        // With zones, a request without a key stays in the local zone while anyone there
        // can take it.
        const auto& local = zones_.front().index;
        const auto random_local = [&] {
            const std::size_t start = ks.next_random() % local.size();
            for (std::size_t k = 0; k < local.size(); ++k)
                if (const std::size_t i = local[(start + k) % local.size()]; usable(i, tried, now, h2, panic)) return i;
            return chash::npos;
        };
        const std::size_t a = random_local();
        if (a != chash::npos) {
            if (options_.keyless == keyless_policy::round_robin) {
                const std::size_t start = ks.cursor++ % local.size();
                for (std::size_t k = 0; k < local.size(); ++k)
                    if (const std::size_t i = local[(start + k) % local.size()]; usable(i, tried, now, h2, panic))
                        return i;
            }
            return pick_two(a, random_local(), ks, now);
        }
    }
    if (options_.keyless == keyless_policy::round_robin)
        return first_usable(ks.cursor++ % n, tried, now, h2, panic);
    // Power of two choices: near the best without scanning every backend, and without the
    // herd that "always the least loaded" causes when several workers see the same counts.
    const std::size_t a = first_usable(ks.next_random() % n, tried, now, h2, panic);
    if (a == chash::npos) return a;
    return pick_two(a, first_usable(ks.next_random() % n, tried, now, h2, panic), ks, now);
}

std::size_t routing_snapshot::pick_two(std::size_t a, std::size_t b, const keyless_state& ks,
                                       steady_clock::time_point now) const noexcept {
    if (b == chash::npos || b == a) return a;
    const backend_state& sa = *backends_[a].state;
    const backend_state& sb = *backends_[b].state;
    if (options_.keyless == keyless_policy::peak_ewma) {
        // Predicted response time (this worker's peak-EWMA, decayed to now as Finagle's is
        // when read, so a backend once slow and not picked since is tried again) times the
        // work queued there, per unit of weight. A backend never measured costs 0: it gets
        // tried, and measured.
        const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
        const auto cost = [&](const backend_state& st, std::uint32_t weight) {
            const metrics::backend_shard& sh = st.shard(ks.worker);
            const auto at = static_cast<std::int64_t>(sh.predicted_at_ns.get());
            const double age = static_cast<double>(std::max<std::int64_t>(0, now_ns - at));
            const double predicted = static_cast<double>(sh.predicted_ns.get()) * std::exp(-age / ewma_decay_ns);
            return predicted * static_cast<double>(st.in_flight() + 1) / static_cast<double>(std::max(1u, weight));
        };
        return cost(sb, backends_[b].weight) < cost(sa, backends_[a].weight) ? b : a;
    }
    // least-loaded: in-flight per unit of weight.
    const auto la = sa.in_flight() * backends_[b].weight;
    const auto lb = sb.in_flight() * backends_[a].weight;
    return lb < la ? b : a;
}

std::string_view describe(skip_reason r) noexcept {
    switch (r) {
        case skip_reason::none:
            return "usable";
        case skip_reason::weight_zero:
            return "weight 0";
        case skip_reason::backing_off:
            return "backing off after failures seen by client traffic";
        case skip_reason::down:
            return "down: failed its health checks";
        case skip_reason::draining:
            return "draining: this key has been handed to the next candidate";
        case skip_reason::maintenance:
            return "in maintenance";
        case skip_reason::not_yet:
            return "slow start: its ramp has not reached this key yet";
        case skip_reason::over_cap:
            return "over the bounded-load cap";
        case skip_reason::panic_closed:
            return "the pool panics closed: requests are answered 503";
    }
    return "?";
}

std::vector<candidate_verdict> routing_snapshot::explain(std::uint64_t key_hash,
                                                         steady_clock::time_point now) const {
    std::array<std::size_t, chash::bounded_load::walk_limit> walk;
    const std::size_t n = candidates(key_hash, walk);
    const panic_state panic = totals_->panic.load(std::memory_order_relaxed);
    const std::uint64_t h2 = handover_hash(key_hash);
    std::uint64_t cap = ~std::uint64_t{0};
    if (bounded_) {
        const load_view load = load_over(zones_.empty() ? std::span<const std::size_t>{}
                                                        : std::span<const std::size_t>{zones_[key_zone(key_hash)].index},
                                         now, panic);
        cap = bounded_->cap(load.total, load.eligible);
    }
    std::vector<candidate_verdict> out;
    out.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = walk[k];
        const backend_state& s = *backends_[i].state;
        skip_reason why = skip_reason::none;
        if (panic == panic_state::fail_closed) {
            why = skip_reason::panic_closed;
        } else if (backends_[i].weight == 0) {
            why = skip_reason::weight_zero;
        } else if (!s.admits(h2, now, panic)) {
            switch (s.mode()) {
                case backend_mode::down:
                    why = skip_reason::down;
                    break;
                case backend_mode::draining:
                    why = skip_reason::draining;
                    break;
                case backend_mode::maintenance:
                    why = skip_reason::maintenance;
                    break;
                default:
                    why = skip_reason::not_yet;
                    break;
            }
        } else if (!s.eligible(now)) {
            why = skip_reason::backing_off;
        } else if (s.in_flight() >= cap) {
            why = skip_reason::over_cap;
        }
        out.push_back({i, why});
    }
    return out;
}

std::string_view routing_snapshot::previous_owner(std::uint64_t key_hash, std::size_t chosen,
                                                  steady_clock::time_point now,
                                                  steady_clock::duration window) const noexcept {
    if (chosen >= backends_.size()) return {};
    const std::int64_t now_ticks = now.time_since_epoch().count();
    const auto recent = [&](std::int64_t at) { return at != 0 && now_ticks - at < window.count(); };
    std::array<std::size_t, chash::bounded_load::walk_limit> walk;
    const std::size_t n = candidates(key_hash, walk);
    for (std::size_t k = 0; k < n; ++k) {
        const backend_state& s = *backends_[walk[k]].state;
        if (walk[k] == chosen) {
            // The key's owner took it back: recently, when its ramp ended (or, without a
            // ramp, began) less than `window` ago. Its keeper meanwhile was the next
            // candidate in service. (A draining owner that still keeps the key took
            // nothing back.)
            const backend_state::mode_view v = s.view();
            const bool in_service = v.mode == backend_mode::up || v.mode == backend_mode::slow_start;
            if (k != 0 || !in_service || !recent(v.ramp_start == 0 ? 0 : v.ramp_start + v.ramp_window)) break;
            if (s.left_at() == 0) break;  // a first start: nobody held its keys
            for (std::size_t j = 1; j < n; ++j)
                if (backends_[walk[j]].state->serving()) return backends_[walk[j]].id;
            break;
        }
        // A candidate before the chosen one that left service recently held the key.
        if (!s.serving() && recent(s.left_at())) return backends_[walk[k]].id;
    }
    if (previous_algo_ && zones_.empty() && now - built_at_ < window) {
        const std::size_t p = previous_algo_->pick_hashed(key_hash);
        if (p < previous_ids_.size() && previous_ids_[p] != backends_[chosen].id) return previous_ids_[p];
    }
    return {};
}

}  // namespace ringlb
