// ringlb/tools/map.hpp: `ringlb map`, keys on stdin to the node that owns each.
//
//   auto algo = pool.build();
//   std::uint64_t n = ringlb::tools::map_keys(*algo, pool.nodes, std::cin, std::cout, 1);
//   // "user-1\tnode-002\n" per input line; with candidates = 3, the failover order too:
//   // "user-1\tnode-002\tnode-007\tnode-001\n"
//
// Streams line by line through one reused buffer, so memory stays constant however many
// keys come in (10 million keys use what 10 do). A trailing '\r' is dropped (CRLF files).
// The answer is the placement's first choice: bounded loads and health depend on live
// load and are not applied.
//
// Thread-safety: reads only the (immutable) algorithm.
#pragma once

#include <chash/algorithm.hpp>

#include <cstdint>
#include <iosfwd>
#include <span>

namespace ringlb::tools {

/// Most candidates map prints per key.
inline constexpr std::size_t max_map_candidates = 16;

/// Maps every line of `in` to `key<TAB>id[<TAB>id...]` on `out`; returns the number of keys.
std::uint64_t map_keys(const chash::algorithm& algo, std::span<const chash::node> nodes, std::istream& in,
                       std::ostream& out, std::size_t candidates = 1);

}  // namespace ringlb::tools
