// ringlb/tools/experiments.hpp: many simulations over one input: a sweep of a parameter,
// or every algorithm side by side.
//
//   auto spec = ringlb::tools::parse_sweep("vnodes=10..2000");      // 12 log-spaced values
//   auto points = ringlb::tools::run_sweep(base, spec);              // one simulation each
//   auto rows = ringlb::tools::run_compare(base);                    // ring, ketama, maglev, ...
//
// A comparison keeps going when an algorithm refuses the input (weights with jump or
// modulo, more nodes than maglev's table): that row carries the reason instead of figures.
//
// Thread-safety: pure functions of their input.
#pragma once

#include "ringlb/tools/simulation.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb::tools {

/// --sweep PARAM=FROM..TO[:STEPS]; only vnodes (ring points per weight) for now.
struct sweep_spec {
    std::string parameter = "vnodes";
    std::uint64_t from = 10;
    std::uint64_t to = 2000;
    unsigned steps = 12;   ///< values, log-spaced from `from` to `to`, both included

    /// The distinct integer values swept, ascending.
    [[nodiscard]] std::vector<std::uint64_t> values() const;
};

[[nodiscard]] sweep_spec parse_sweep(std::string_view text);

struct sweep_point {
    std::uint64_t value = 0;
    simulation result;
};

/// Runs `base` once per swept value. Throws usage_error unless base is a ring.
[[nodiscard]] std::vector<sweep_point> run_sweep(const scenario& base, const sweep_spec& spec);

struct compare_row {
    chash::kind algorithm = chash::kind::ring;
    std::optional<simulation> result;   ///< absent when the algorithm refused the input
    std::string error;                  ///< why it refused
};

/// Runs `base` with every chash algorithm, in the order of chash::kind.
[[nodiscard]] std::vector<compare_row> run_compare(const scenario& base);

}  // namespace ringlb::tools
