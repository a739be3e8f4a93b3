#include "nodes.hpp"

#include <chash/hash.hpp>

#include <algorithm>
#include <string>
#include <unordered_set>

namespace chash::detail {

void validate(std::span<const node> nodes, std::string_view who) {
    const std::string prefix{who};
    if (nodes.size() > max_nodes) {
        throw error(prefix + ": " + std::to_string(nodes.size()) + " nodes is over the limit of " +
                    std::to_string(max_nodes));
    }
    std::unordered_set<std::string_view> seen;
    seen.reserve(nodes.size());
    std::uint64_t total_weight = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const node& n = nodes[i];
        if (n.id.empty()) throw error(prefix + ": node " + std::to_string(i) + " has an empty id");
        if (!seen.insert(n.id).second) throw error(prefix + ": duplicate node id '" + n.id + "'");
        total_weight += n.weight;
    }
    if (!nodes.empty() && total_weight == 0) throw error(prefix + ": total weight of the nodes is zero");
}

void require_unit_weights(std::span<const node> nodes, std::string_view who) {
    for (const node& n : nodes) {
        if (n.weight != 1) {
            throw error(std::string{who} + ": node '" + n.id + "' has weight " + std::to_string(n.weight) +
                        "; this algorithm has no weights (every weight must be 1)");
        }
    }
}

std::vector<std::uint32_t> order_by_id(std::span<const node> nodes) {
    std::vector<std::uint32_t> order(nodes.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return nodes[a].id < nodes[b].id; });
    return order;
}

std::uint64_t fingerprint(kind k, std::uint64_t parameter, std::span<const node> nodes) {
    // Sum of per-node digests: commutative, so node order cannot matter, and each digest
    // covers the id (length-prefixed by the seed) and the weight.
    std::uint64_t acc = mix64(static_cast<std::uint64_t>(k) + 1) ^ mix64(parameter + 0x9e3779b97f4a7c15ULL);
    for (const node& n : nodes) {
        acc += mix64(node_hash(n.id, n.weight) ^ (static_cast<std::uint64_t>(n.id.size()) << 32));
    }
    return mix64(acc ^ nodes.size());
}

}  // namespace chash::detail
