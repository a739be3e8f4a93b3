#include "ringlb/lb/placement_diff.hpp"

#include <chash/hash.hpp>

namespace ringlb {

namespace {

// Point i of n in the hash space the algorithm reads: evenly spaced over 64 bits (ring,
// maglev) or over the 32 bits ketama looks at; for the algorithms that read the hash as a
// number (modulo, jump, rendezvous), where evenly spaced points would share their low bits,
// a pseudo-random point instead (the share is then an estimate).
std::uint64_t probe(chash::kind k, std::size_t i, std::size_t points) noexcept {
    __extension__ using u128 = unsigned __int128;
    switch (k) {
        case chash::kind::ring:
        case chash::kind::maglev:
            return static_cast<std::uint64_t>((static_cast<u128>(i) << 64) / points);
        case chash::kind::ketama:
            return static_cast<std::uint64_t>((static_cast<u128>(i) << 32) / points);
        default:
            return chash::mix64(i + 1);
    }
}

}  // namespace

double moved_share(const routing_snapshot& before, const routing_snapshot& after, std::size_t points) {
    if (points == 0) return 0;
    const auto b = before.backends();
    const auto a = after.backends();
    std::size_t moved = 0;
    for (std::size_t i = 0; i < points; ++i) {
        const std::size_t x = before.algorithm().pick_hashed(probe(before.algorithm().kind(), i, points));
        const std::size_t y = after.algorithm().pick_hashed(probe(after.algorithm().kind(), i, points));
        const bool same = x < b.size() && y < a.size() && b[x].id == a[y].id;
        moved += same ? 0 : 1;
    }
    return static_cast<double>(moved) / static_cast<double>(points);
}

std::vector<owner_arc> owner_arcs(const routing_snapshot& s, std::uint32_t points) {
    std::vector<owner_arc> arcs;
    for (std::uint32_t i = 0; i < points; ++i) {
        const std::size_t owner = s.algorithm().pick_hashed(probe(s.algorithm().kind(), i, points));
        if (!arcs.empty() && arcs.back().owner == owner) {
            arcs.back().end = i + 1;
            continue;
        }
        arcs.push_back({i, i + 1, owner});
    }
    return arcs;
}

}  // namespace ringlb
