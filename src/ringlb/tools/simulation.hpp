// ringlb/tools/simulation.hpp: how evenly an algorithm spreads keys, and what a membership
// change moves; the engine behind `ringlb simulate`.
//
//   ringlb::tools::scenario s;
//   s.before = {chash::kind::ring, ringlb::tools::parse_nodes("100"), {}};
//   s.remove = {"node-100"};
//   s.keys = 1'000'000;
//   ringlb::tools::simulation r = ringlb::tools::simulate(s);
//   r.before.peak_to_mean;            // fullest node's load over its expected load
//   r.change->moved_fraction;         // vs r.change->ideal_fraction
//   r.change->between_survivors;      // 0 for ring, ketama (equal weights), rendezvous
//
// Keys are "key-0", "key-1", ... so every run, and every algorithm in a comparison, sees the
// same keys. The pass streams them (nothing per key is stored), so memory does not grow
// with --keys. With a balance factor, keys are placed one after another through
// chash::bounded_load with each node's load = keys placed on it so far (the static
// balls-into-bins setting of Mirrokni et al.).
//
// Thread-safety: pure function of its input.
#pragma once

#include "ringlb/tools/node_list.hpp"

#include <chash/algorithm.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb::tools {

/// One experiment: a placement, optionally a membership change, and how many keys.
struct scenario {
    pool before;                       ///< algorithm, nodes, options before the change
    std::vector<std::string> remove;   ///< ids leaving (must be in before.nodes)
    std::vector<chash::node> add;      ///< nodes joining (new ids)
    std::uint64_t keys = 1'000'000;
    double balance_factor = 0;         ///< 0: plain placement; > 1: bounded loads
    bool measure_lookup = true;        ///< time hash + pick separately (a short extra pass)
};

/// How the keys spread over one node list. Ratios compare a node's keys with its expected
/// keys (keys x weight / total weight), so they read the same with or without weights.
struct spread {
    std::vector<std::uint64_t> keys;   ///< per node, in list order
    std::uint64_t min_keys = 0;        ///< fewest keys on a node of positive weight
    std::uint64_t max_keys = 0;
    std::size_t min_node = 0;          ///< index of that node
    std::size_t max_node = 0;
    double min_ratio = 0;              ///< emptiest node: keys / expected
    double peak_to_mean = 0;           ///< fullest node: keys / expected
    double stddev = 0;                 ///< root mean square of (keys / expected - 1), as a fraction
    std::uint64_t unplaced = 0;        ///< keys no node could take (should be 0)
};

/// What the change moved.
struct movement {
    std::uint64_t moved = 0;               ///< keys whose node changed
    double moved_fraction = 0;             ///< moved / keys
    double ideal_fraction = 0;             ///< the least any placement must move
    std::uint64_t between_survivors = 0;   ///< moved from a staying node to another staying node
    std::vector<std::uint64_t> gained;     ///< per node after the change: keys that arrived
    std::vector<std::uint64_t> lost;       ///< per node before the change: keys that left
};

/// The result of simulate().
struct simulation {
    chash::kind algorithm = chash::kind::ring;
    chash::options options;
    std::vector<chash::node> nodes_before;
    std::vector<chash::node> nodes_after;   ///< empty without a change
    std::uint64_t keys = 0;
    double balance_factor = 0;
    double build_ms = 0;                     ///< building the placement before the change
    std::size_t memory_bytes = 0;            ///< held by that placement
    double lookup_ns = 0;                    ///< hash + pick per key (0 if not measured)
    spread before;
    std::optional<spread> after;             ///< set with a change
    std::optional<movement> change;          ///< set with a change
};

/// Runs the scenario. Throws usage_error for inputs the algorithm refuses (weights with
/// jump or modulo, unknown ids in remove, duplicate ids in add, ...).
[[nodiscard]] simulation simulate(const scenario& s);

/// The least fraction of keys any placement must move when weights go from `before` to
/// `after` (matched by id): 1 - sum over staying nodes of min(share before, share after).
[[nodiscard]] double ideal_moved_fraction(std::span<const chash::node> before, std::span<const chash::node> after);

/// Writes "key-<i>" into `buf` and returns it as a view (the keys of every simulation).
[[nodiscard]] std::string_view simulated_key(std::uint64_t i, std::array<char, 32>& buf) noexcept;

}  // namespace ringlb::tools
