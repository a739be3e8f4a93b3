// Shared fixtures for the chash tests: node lists, key sets, and whole-mapping helpers.
#pragma once

#include <chash/chash.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace chash::test {

inline std::vector<node> make_nodes(std::size_t n, const std::string& prefix = "node-") {
    std::vector<node> nodes;
    for (std::size_t i = 0; i < n; ++i) nodes.push_back({prefix + std::to_string(i), 1});
    return nodes;
}

inline std::vector<std::string> make_keys(std::size_t count, const std::string& prefix = "user-") {
    std::vector<std::string> keys;
    keys.reserve(count);
    for (std::size_t i = 0; i < count; ++i) keys.push_back(prefix + std::to_string(i));
    return keys;
}

/// The owner id of every key (the id, not the index, so lists in any order compare).
inline std::vector<std::string> owners(const algorithm& algo, const std::vector<node>& nodes,
                                       const std::vector<std::string>& keys) {
    std::vector<std::string> out;
    out.reserve(keys.size());
    for (const std::string& k : keys) {
        const std::size_t i = algo.pick(k);
        out.push_back(i == npos ? std::string{"<none>"} : nodes[i].id);
    }
    return out;
}

inline std::vector<kind> all_kinds() {
    return {kind::ring, kind::ketama, kind::maglev, kind::rendezvous, kind::jump, kind::modulo};
}

inline bool has_weights(kind k) {
    return k != kind::jump && k != kind::modulo;
}

inline std::vector<node> shuffled(std::vector<node> nodes, unsigned seed) {
    std::mt19937 rng{seed};
    std::shuffle(nodes.begin(), nodes.end(), rng);
    return nodes;
}

}  // namespace chash::test
