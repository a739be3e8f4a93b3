#include "ringlb/lb/routing.hpp"

#include <algorithm>
#include <unordered_map>

namespace ringlb {

std::shared_ptr<const routing_snapshot> routing_snapshot::build(std::span<const chash::node> nodes,
                                                                const routing_options& options,
                                                                const routing_snapshot* previous,
                                                                std::string& error) {
    std::unordered_map<std::string_view, std::shared_ptr<backend_state>> old_states;
    if (previous != nullptr)
        for (const backend& b : previous->backends_) old_states.emplace(b.id, b.state);

    std::shared_ptr<routing_snapshot> s{new routing_snapshot()};
    s->options_ = options;
    s->totals_ = previous != nullptr ? previous->totals_ : std::make_shared<load_totals>();
    s->backends_.reserve(nodes.size());
    for (const chash::node& n : nodes) {
        backend b;
        b.id = n.id;
        b.weight = n.weight;
        auto it = old_states.find(n.id);
        b.state = it != old_states.end() ? it->second : std::make_shared<backend_state>(n.id, s->totals_);
        if (n.weight > 0) ++s->weighted_;
        s->backends_.push_back(std::move(b));
    }
    try {
        s->algo_ = chash::make(options.algorithm, nodes, options.build);
        if (options.balance_factor > 0) s->bounded_.emplace(options.balance_factor);
    } catch (const std::exception& e) {
        error = e.what();
        return nullptr;
    }
    // Exact count for this membership (see load_totals). A worker's transition racing this
    // store can leave it off by one until the next publication; it only moves the cap.
    std::int32_t down = 0;
    for (const backend& b : s->backends_) down += b.state->failures() != 0 ? 1 : 0;
    s->totals_->down.store(down, std::memory_order_relaxed);
    return s;
}

std::size_t routing_snapshot::first_usable(std::size_t start, const tried_set& tried,
                                           steady_clock::time_point now) const noexcept {
    const std::size_t n = backends_.size();
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (start + k) % n;
        if (usable(i, tried, now)) return i;
    }
    return chash::npos;
}

std::size_t routing_snapshot::select(std::uint64_t key_hash, const tried_set& tried,
                                     steady_clock::time_point now) const noexcept {
    if (backends_.empty()) return chash::npos;
    if (bounded_) {
        // Two shared counters, not a scan of every backend: O(1) per request at any pool
        // size. Backends tried by this request still count as eligible; that only raises
        // the cap for a request that is already failing over.
        const std::uint64_t total = totals_->in_flight.load(std::memory_order_relaxed);
        const auto down =
            static_cast<std::size_t>(std::max(0, totals_->down.load(std::memory_order_relaxed)));
        const std::size_t eligible = weighted_ > down ? weighted_ - down : 1;
        return bounded_->pick(*algo_, key_hash, total, eligible, [&](std::size_t i) {
            return usable(i, tried, now) ? backends_[i].state->in_flight() : chash::bounded_load::ineligible;
        });
    }
    // The key's own backend is usable on nearly every request: one pick, no walk.
    const std::size_t first = algo_->pick_hashed(key_hash);
    if (first != chash::npos && usable(first, tried, now)) return first;
    std::array<std::size_t, chash::bounded_load::walk_limit> walk;
    const std::size_t n = algo_->candidates(key_hash, walk);
    for (std::size_t k = 1; k < n; ++k)
        if (usable(walk[k], tried, now)) return walk[k];
    // Every listed candidate is down or tried (rare): any usable backend beats a 503. Start
    // from a key-dependent position so such keys still spread.
    return n < backends_.size() ? first_usable(key_hash % backends_.size(), tried, now) : chash::npos;
}

std::size_t routing_snapshot::select_keyless(keyless_state& ks, const tried_set& tried,
                                             steady_clock::time_point now) const noexcept {
    const std::size_t n = backends_.size();
    if (n == 0) return chash::npos;
    if (options_.keyless == keyless_policy::round_robin) return first_usable(ks.cursor++ % n, tried, now);
    // Power of two choices on in-flight per unit of weight: near least-loaded without
    // scanning every backend, and without the herd that "always the least loaded" causes
    // when several workers see the same counts.
    const std::size_t a = first_usable(ks.next_random() % n, tried, now);
    if (a == chash::npos) return a;
    const std::size_t b = first_usable(ks.next_random() % n, tried, now);
    if (b == a) return a;
    const auto la = backends_[a].state->in_flight() * backends_[b].weight;
    const auto lb = backends_[b].state->in_flight() * backends_[a].weight;
    return lb < la ? b : a;
}

}  // namespace ringlb
