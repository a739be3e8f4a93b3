// ringlb/lb/placement_diff.hpp: how much of the key space a placement change moved, and
// where each part of the key space goes, measured the same way for every algorithm.
//
//   double moved = ringlb::moved_share(*old_snapshot, *new_snapshot);   // 0..1
//   auto arcs = ringlb::owner_arcs(*snapshot, 4096);                      // for the dashboard
//
// Both probe the key-hash space at evenly spaced points (point i of n is hash i * 2^64 / n;
// 2^32 for ketama, which reads 32 bits) and ask the algorithm whose it is (pick_hashed).
// Backends are compared by id, so the index order of the two snapshots does not matter.
// For ring, ketama and maglev, whose ownership is a set of arcs or slots, the error is at
// most one probe (1/65536) per arc boundary that moves, under 0.002 in the tests; for
// modulo, jump and rendezvous the points are pseudo-random and the share an estimate
// (+-0.4% at 95%). `ringlb plan` computes exact figures where the algorithm allows.
//
// Thread-safety: pure functions of immutable snapshots.
#pragma once

#include "ringlb/lb/routing.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringlb {

/// The share of probed points whose owner id differs between `before` and `after`.
[[nodiscard]] double moved_share(const routing_snapshot& before, const routing_snapshot& after,
                                 std::size_t points = 65536);

/// A run of consecutive probe points with one owner: [begin, end) in units of 1/points of
/// the hash space, owner an index into the snapshot's backends.
struct owner_arc {
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::size_t owner = 0;
};
/// The hash space probed at `points` points, adjacent points of one owner merged.
[[nodiscard]] std::vector<owner_arc> owner_arcs(const routing_snapshot& s, std::uint32_t points);

}  // namespace ringlb
