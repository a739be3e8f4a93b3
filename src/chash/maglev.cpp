#include <chash/hash.hpp>
#include <chash/maglev.hpp>

#include "nodes.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace chash {

namespace {

bool is_prime(std::uint32_t n) noexcept {
    if (n < 2) return false;
    for (std::uint32_t d = 2; std::uint64_t{d} * d <= n; ++d) {
        if (n % d == 0) return false;
    }
    return true;
}

constexpr std::uint32_t empty_slot = std::numeric_limits<std::uint32_t>::max();

// A node's walk through its own permutation of the table: offset, offset + skip, ...
struct permutation {
    std::uint32_t node;
    std::uint64_t weight;
    std::uint64_t position;
    std::uint64_t skip;
    std::uint64_t taken = 0;
};

}  // namespace

maglev maglev::build(std::span<const node> nodes, const options& opts) {
    detail::validate(nodes, "maglev");
    const std::uint32_t m = opts.table_size;
    if (m > max_table_size || !is_prime(m)) {
        throw error("maglev: table_size " + std::to_string(m) + " must be a prime no larger than " +
                    std::to_string(max_table_size));
    }
    if (nodes.size() >= m) {
        throw error("maglev: " + std::to_string(nodes.size()) +
                    " nodes need a table_size larger than that (got " + std::to_string(m) + ")");
    }

    maglev g;
    g.size_ = nodes.size();
    g.fingerprint_ = detail::fingerprint(chash::kind::maglev, m, nodes);
    if (nodes.empty()) return g;

    // Turns are taken in id order so that the list order given to build cannot matter.
    std::vector<permutation> walkers;
    std::uint64_t max_weight = 0;
    for (const std::uint32_t i : detail::order_by_id(nodes)) {
        const node& n = nodes[i];
        if (n.weight == 0) continue;
        walkers.push_back({i, n.weight, hash64(n.id, 1) % m, hash64(n.id, 2) % (m - 1) + 1});
        max_weight = std::max<std::uint64_t>(max_weight, n.weight);
    }

    g.table_.assign(m, empty_slot);
    std::size_t filled = 0;
    for (std::uint64_t round = 1; filled < m; ++round) {
        for (permutation& w : walkers) {
            // A node of weight w has had floor(round * w / max) turns by this round.
            if (w.taken >= round * w.weight / max_weight) continue;
            while (g.table_[w.position] != empty_slot) {
                w.position += w.skip;
                if (w.position >= m) w.position -= m;
            }
            g.table_[w.position] = w.node;
            ++w.taken;
            if (++filled == m) break;
        }
    }
    for (const permutation& w : walkers) g.distinct_owners_ += w.taken > 0 ? 1 : 0;
    return g;
}

std::size_t maglev::candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept {
    if (table_.empty() || out.empty()) return 0;
    const std::size_t want = std::min(out.size(), distinct_owners_);
    const std::size_t m = table_.size();
    std::size_t s = slot(key_hash);
    out[0] = table_[s];
    std::size_t count = 1;
    // Neighbouring slots belong to unrelated nodes, so a handful of steps usually suffices;
    // the step bound only matters when nodes are fewer than asked.
    for (std::size_t walked = 1; count < want && walked < m; ++walked) {
        if (++s == m) s = 0;
        const std::size_t owner = table_[s];
        bool seen = false;
        for (std::size_t j = 0; j < count; ++j) seen |= out[j] == owner;
        if (!seen) out[count++] = owner;
    }
    return count;
}

}  // namespace chash
