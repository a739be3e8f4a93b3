#include "ringlb/tools/map.hpp"

#include <algorithm>
#include <array>
#include <istream>
#include <ostream>
#include <string>

namespace ringlb::tools {

std::uint64_t map_keys(const chash::algorithm& algo, std::span<const chash::node> nodes, std::istream& in,
                       std::ostream& out, std::size_t candidates) {
    candidates = std::clamp<std::size_t>(candidates, 1, max_map_candidates);
    std::array<std::size_t, max_map_candidates> order;
    std::string key;
    std::uint64_t count = 0;
    while (std::getline(in, key)) {
        if (!key.empty() && key.back() == '\r') key.pop_back();
        const std::uint64_t h = algo.hash_key(key);
        // The first choice alone is pick_hashed: cheaper than a candidate walk.
        std::size_t n = 0;
        if (candidates == 1) {
            order[0] = algo.pick_hashed(h);
            n = order[0] == chash::npos ? 0 : 1;
        } else {
            n = algo.candidates(h, std::span{order.data(), candidates});
        }
        out << key;
        if (n == 0) out << "\t-";
        for (std::size_t i = 0; i < n; ++i) out << '\t' << nodes[order[i]].id;
        out << '\n';
        ++count;
    }
    return count;
}

}  // namespace ringlb::tools
