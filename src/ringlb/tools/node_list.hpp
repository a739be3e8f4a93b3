// ringlb/tools/node_list.hpp: the placement inputs the tools share, from flags or a config.
//
//   auto nodes = ringlb::tools::parse_nodes("3");           // node-001, node-002, node-003
//   auto named = ringlb::tools::parse_nodes("a,b,c");       // a, b, c
//   ringlb::tools::apply_weights(named, "1,2,1");           // or "2" for every node
//   auto kind = ringlb::tools::parse_algorithm("maglev");   // any chash kind, jump included
//
// Every parser throws usage_error with a one-line message on bad input; the command layer
// prints it and exits 2.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/config/config.hpp"

#include <chash/algorithm.hpp>
#include <chash/node.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb::tools {

/// Bad command-line input: printed on one line, exit status 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// What decides placement: algorithm, nodes (in list order) and build options.
struct pool {
    chash::kind algorithm = chash::kind::ring;
    std::vector<chash::node> nodes;
    chash::options options;

    /// Builds the algorithm; chash::error becomes usage_error.
    [[nodiscard]] std::unique_ptr<const chash::algorithm> build() const;
};

/// Largest --nodes count and --keys count the tools accept.
inline constexpr std::uint64_t max_tool_nodes = 100'000;
inline constexpr std::uint64_t max_tool_keys = 1'000'000'000;

/// Any chash algorithm name; the error lists the valid ones.
[[nodiscard]] chash::kind parse_algorithm(std::string_view name);

/// Id of the i-th (0-based) generated node: "node-001"... Zero-padded to `width` digits so
/// that id order is numeric order (jump and modulo number nodes in id order).
[[nodiscard]] std::string generated_id(std::uint64_t i, unsigned width);
/// Digits used by generated ids when up to `count` nodes exist (at least 3).
[[nodiscard]] unsigned id_width(std::uint64_t count) noexcept;

/// A count ("100": generated ids) or a comma list of ids ("a,b,c"); `width` pads generated
/// ids (0 = id_width(count)).
[[nodiscard]] std::vector<chash::node> parse_nodes(std::string_view spec, unsigned width = 0);

/// One weight for every node ("2") or one per node ("1,2,1").
void apply_weights(std::vector<chash::node>& nodes, std::string_view spec);

/// Parses a non-negative integer flag value, naming the flag in the error.
[[nodiscard]] std::uint64_t parse_count(std::string_view flag, std::string_view text, std::uint64_t min,
                                        std::uint64_t max);

/// The pool a config routes with. Throws usage_error listing the config's errors.
[[nodiscard]] pool pool_from_config(const config& cfg);

/// Loads and validates a config for a tool; on errors throws usage_error whose message holds
/// one "FILE:LINE:COL: message" line per error.
[[nodiscard]] config load_config_for_tool(const std::string& path);

}  // namespace ringlb::tools
