// ringlb/demo/zipf.hpp: Zipf-distributed ranks, the popularity of users on a real site.
//
//   ringlb::demo::zipf_distribution popularity{10'000, 0.9};  // 10k users, exponent 0.9
//   std::mt19937_64 rng{42};
//   std::size_t rank = popularity(rng);    // 0 is the most popular user, n-1 the least
//
// P(rank = k) is proportional to 1 / (k + 1)^s: a few users make most of the requests and a
// long tail makes the rest, which is what makes a bounded per-backend cache worth having and
// what round-robin wastes (every backend caches the same hot users).
//
// Thread-safety: immutable after construction; operator() only reads (the generator is the
// caller's), so threads may share one distribution with their own generators.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace ringlb::demo {

class zipf_distribution {
public:
    /// Ranks 0..n-1 (n >= 1) with exponent `s` (>= 0; 0 is uniform).
    zipf_distribution(std::size_t n, double s);

    /// A rank drawn from the distribution: O(log n), no allocation.
    template <class Generator>
    [[nodiscard]] std::size_t operator()(Generator& g) const {
        const double u = std::uniform_real_distribution<double>{0.0, 1.0}(g);
        const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
        return std::min(static_cast<std::size_t>(it - cdf_.begin()), cdf_.size() - 1);
    }

    /// The probability of `rank`.
    [[nodiscard]] double probability(std::size_t rank) const noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return cdf_.size(); }

private:
    std::vector<double> cdf_;  ///< cdf_[k] = P(rank <= k); the last is 1
};

}  // namespace ringlb::demo
