#include <chash/hash.hpp>
#include <chash/rendezvous.hpp>

#include "nodes.hpp"

#include <bit>
#include <cmath>

namespace chash {

rendezvous rendezvous::build(std::span<const node> nodes, const options&) {
    detail::validate(nodes, "rendezvous");
    rendezvous r;
    r.members_.reserve(nodes.size());
    for (const node& n : nodes) {
        r.members_.push_back({hash64(n.id), static_cast<double>(n.weight)});
        if (n.weight != nodes.front().weight) r.equal_weights_ = false;
    }
    r.fingerprint_ = detail::fingerprint(chash::kind::rendezvous, 0, nodes);
    return r;
}

// An order-preserving integer for the node's score of this key; 0 means "never".
// Equal weights: the mixed hash itself. Otherwise the logarithmic method's
// weight / -ln(u), whose positive doubles compare like their bit patterns.
namespace {
std::uint64_t rank_of(std::uint64_t id_hash, double weight, bool equal_weights,
                      std::uint64_t key_hash) noexcept {
    const std::uint64_t x = mix64(key_hash ^ id_hash);
    if (equal_weights) return x | 1;
    if (weight <= 0.0) return 0;
    const double u = (static_cast<double>(x >> 11) + 0.5) * 0x1p-53;  // in (0, 1)
    return std::bit_cast<std::uint64_t>(weight / -std::log(u));
}
}  // namespace

std::size_t rendezvous::pick_hashed(std::uint64_t key_hash) const noexcept {
    std::size_t best = npos;
    candidates(key_hash, std::span<std::size_t>{&best, 1});
    return best;
}

std::size_t rendezvous::candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept {
    // k passes, each taking the best (rank, id_hash) strictly below the previous one:
    // O(n * k) time, no allocation.
    std::uint64_t below_rank = ~std::uint64_t{0};
    std::uint64_t below_id = ~std::uint64_t{0};
    std::size_t count = 0;
    while (count < out.size()) {
        std::size_t best = npos;
        std::uint64_t best_rank = 0;
        std::uint64_t best_id = 0;
        for (std::size_t i = 0; i < members_.size(); ++i) {
            const member& m = members_[i];
            const std::uint64_t rank = rank_of(m.id_hash, m.weight, equal_weights_, key_hash);
            if (rank == 0) continue;
            const bool below = rank < below_rank || (rank == below_rank && m.id_hash < below_id);
            const bool better = rank > best_rank || (rank == best_rank && m.id_hash > best_id);
            if (below && (best == npos || better)) {
                best = i;
                best_rank = rank;
                best_id = m.id_hash;
            }
        }
        if (best == npos) break;
        out[count++] = best;
        below_rank = best_rank;
        below_id = best_id;
    }
    return count;
}

}  // namespace chash
