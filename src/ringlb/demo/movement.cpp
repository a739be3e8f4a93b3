#include "ringlb/demo/movement.hpp"

#include "ringlb/demo/traffic.hpp"

namespace ringlb::demo {

std::vector<removal_effect> removal_effects(chash::kind k, std::span<const chash::node> nodes,
                                            const chash::options& opts, std::size_t users) {
    const auto before = chash::make(k, nodes, opts);
    // Hash each user once; every removal below compares against the same owners.
    std::vector<std::uint64_t> hashes(users);
    std::vector<std::size_t> owner(users);
    for (std::size_t u = 0; u < users; ++u) {
        hashes[u] = before->hash_key(user_id(u));
        owner[u] = before->pick_hashed(hashes[u]);
    }
    std::vector<removal_effect> out;
    for (std::size_t gone = 0; gone < nodes.size() && nodes.size() > 1; ++gone) {
        std::vector<chash::node> rest;
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (i != gone) rest.push_back(nodes[i]);
        const auto after = chash::make(k, rest, opts);
        removal_effect e{nodes[gone].id};
        std::size_t moved = 0, owned = 0;
        for (std::size_t u = 0; u < users; ++u) {
            const std::size_t now_index = after->pick_hashed(hashes[u]);
            // Indices into `rest` skip `gone`: map back to indices into `nodes`.
            const std::size_t now = now_index >= gone ? now_index + 1 : now_index;
            if (owner[u] == gone) ++owned;
            if (now != owner[u]) {
                ++moved;
                if (owner[u] != gone) ++e.moved_between_stayers;
            }
        }
        const double n = users == 0 ? 1.0 : static_cast<double>(users);
        e.moved_share = static_cast<double>(moved) / n;
        e.owned_share = static_cast<double>(owned) / n;
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace ringlb::demo
