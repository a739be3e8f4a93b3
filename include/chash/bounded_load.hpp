// chash/bounded_load.hpp: consistent hashing with bounded loads (Mirrokni, Thorup,
// Zadimoghaddam, arXiv 1608.01350), as a wrapper over any algorithm's candidate order.
//
//   chash::bounded_load bl{1.25};
//   std::size_t i = bl.pick(*algo, algo->hash_key(key), total_in_flight, up_count,
//       [&](std::size_t n) { return up[n] ? in_flight[n] : chash::bounded_load::ineligible; });
//
// The library owns no counters: the caller reports each candidate's load (or that it is
// ineligible: down, draining) and the totals. The pick is the first candidate, in the
// algorithm's preference order, whose load is below ceil(c * (total + 1) / eligible). A key
// therefore stays on its own node until that node is c times busier than the average.
//
// Thread-safety: a value type with no mutable state; safe to share.
#pragma once

#include <chash/algorithm.hpp>

#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>

namespace chash {

class bounded_load {
public:
    /// Returned by a load callback for a node that must not be picked.
    static constexpr std::uint64_t ineligible = std::numeric_limits<std::uint64_t>::max();
    /// Candidates examined in preference order before the fallback scan.
    static constexpr std::size_t walk_limit = 16;

    /// c must be > 1 (throws chash::error otherwise).
    explicit bounded_load(double c) : c_{c} {
        if (!(c > 1.0) || !std::isfinite(c)) throw error("bounded_load: balance factor must be > 1");
    }

    [[nodiscard]] double balance_factor() const noexcept { return c_; }

    /// The load a node may carry before its keys spill: ceil(c * (total + 1) / eligible).
    [[nodiscard]] std::uint64_t cap(std::uint64_t total, std::size_t eligible) const noexcept {
        if (eligible == 0) return 0;
        return static_cast<std::uint64_t>(
            std::ceil(c_ * (static_cast<double>(total) + 1.0) / static_cast<double>(eligible)));
    }

    /// First candidate whose load is below the cap, or npos when nothing is eligible.
    /// `load(i)` returns node i's load or `ineligible`. Walks at most walk_limit candidates;
    /// past them (every one full or down: rare with c >= 1.25) it takes the least-loaded
    /// eligible node, which is always below the cap. Allocation-free.
    template <class LoadFn>
    requires std::invocable<LoadFn&, std::size_t>
    [[nodiscard]] std::size_t pick(const algorithm& algo, std::uint64_t key_hash, std::uint64_t total,
                                   std::size_t eligible, LoadFn&& load) const {
        if (eligible == 0) return npos;
        const std::uint64_t limit = cap(total, eligible);
        // The common case, the key's own node under its cap, costs one pick; the walk
        // (whose first entry is that same node) only when it is full or ineligible.
        const std::size_t first = algo.pick_hashed(key_hash);
        if (first == npos) return npos;
        if (const std::uint64_t l = load(first); l != ineligible && l < limit) return first;
        std::array<std::size_t, walk_limit> walk;
        const std::size_t n = algo.candidates(key_hash, walk);
        for (std::size_t k = 1; k < n; ++k) {
            const std::uint64_t l = load(walk[k]);
            if (l != ineligible && l < limit) return walk[k];
        }
        std::size_t best = npos;
        std::uint64_t best_load = ineligible;
        for (std::size_t i = 0; i < algo.size(); ++i) {
            const std::uint64_t l = load(i);
            if (l < best_load) {
                best = i;
                best_load = l;
            }
        }
        return best;
    }

private:
    double c_;
};

}  // namespace chash
