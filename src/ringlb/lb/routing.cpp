#include "ringlb/lb/routing.hpp"

#include <algorithm>
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
                                                                const routing_snapshot* previous,
                                                                std::string& error) {
    std::unique_ptr<const chash::algorithm> algo;
    try {
        algo = chash::make(options.algorithm, nodes, options.build);
    } catch (const std::exception& e) {
        error = e.what();
        return nullptr;
    }
    return build_with(std::move(algo), nodes, options, previous);
}

std::shared_ptr<const routing_snapshot> routing_snapshot::build_with(
    std::unique_ptr<const chash::algorithm> algo, std::span<const chash::node> nodes,
    const routing_options& options, const routing_snapshot* previous) {
    std::shared_ptr<routing_snapshot> s{new routing_snapshot()};
    s->options_ = options;
    s->algo_ = std::move(algo);
    if (options.balance_factor > 0) s->bounded_.emplace(options.balance_factor);
    s->backends_.reserve(nodes.size());
    for (const chash::node& n : nodes) s->backends_.push_back(backend{n.id, n.weight, nullptr});
    s->adopt_states(previous);
    return s;
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

std::size_t routing_snapshot::select(std::uint64_t key_hash, const tried_set& tried,
                                     steady_clock::time_point now) const noexcept {
    if (backends_.empty()) return chash::npos;
    const panic_state panic = totals_->panic.load(std::memory_order_relaxed);
    if (panic == panic_state::fail_closed) return chash::npos;
    const std::uint64_t h2 = handover_hash(key_hash);
    if (bounded_) {
        // Two shared counters, not a scan of every backend: O(1) per request at any pool
        // size. Backends tried by this request still count as eligible; that only raises
        // the cap for a request that is already failing over.
        const std::uint64_t total = totals_->in_flight.load(std::memory_order_relaxed);
        const auto unavailable =
            static_cast<std::size_t>(std::max(0, totals_->down.load(std::memory_order_relaxed)) +
                                     std::max(0, totals_->out.load(std::memory_order_relaxed)));
        const std::size_t eligible = weighted_ > unavailable ? weighted_ - unavailable : 1;
        return bounded_->pick(*algo_, key_hash, total, eligible, [&](std::size_t i) {
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
    if (options_.keyless == keyless_policy::round_robin)
        return first_usable(ks.cursor++ % n, tried, now, h2, panic);
    // Power of two choices on in-flight per unit of weight: near least-loaded without
    // scanning every backend, and without the herd that "always the least loaded" causes
    // when several workers see the same counts.
    const std::size_t a = first_usable(ks.next_random() % n, tried, now, h2, panic);
    if (a == chash::npos) return a;
    const std::size_t b = first_usable(ks.next_random() % n, tried, now, h2, panic);
    if (b == a) return a;
    const auto la = backends_[a].state->in_flight() * backends_[b].weight;
    const auto lb = backends_[b].state->in_flight() * backends_[a].weight;
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
    const std::size_t n = algo_->candidates(key_hash, walk);
    const panic_state panic = totals_->panic.load(std::memory_order_relaxed);
    const std::uint64_t h2 = handover_hash(key_hash);
    std::uint64_t cap = ~std::uint64_t{0};
    if (bounded_) {
        const auto unavailable =
            static_cast<std::size_t>(std::max(0, totals_->down.load(std::memory_order_relaxed)) +
                                     std::max(0, totals_->out.load(std::memory_order_relaxed)));
        cap = bounded_->cap(totals_->in_flight.load(std::memory_order_relaxed),
                            weighted_ > unavailable ? weighted_ - unavailable : 1);
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
    const std::size_t n = algo_->candidates(key_hash, walk);
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
    if (previous_algo_ && now - built_at_ < window) {
        const std::size_t p = previous_algo_->pick_hashed(key_hash);
        if (p < previous_ids_.size() && previous_ids_[p] != backends_[chosen].id) return previous_ids_[p];
    }
    return {};
}

}  // namespace ringlb
