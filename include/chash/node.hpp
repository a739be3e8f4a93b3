// chash/node.hpp: the vocabulary shared by every algorithm.
//
//   std::vector<chash::node> nodes{{"app-1"}, {"app-2", 2}};
//   auto r = chash::ring::build(nodes);          // throws chash::error on bad input
//   std::size_t i = r.pick("user-42");          // index into `nodes`, or chash::npos
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace chash {

/// A member of the pool. Placement depends only on `id` and `weight`, never on the
/// position of the node in the list or on the other nodes.
struct node {
    std::string id;            ///< stable identity; hashed to place the node
    std::uint32_t weight = 1;  ///< relative share; 0 keeps the node listed but gives it no keys
};

/// Returned by `pick` when there is no node to return (empty list, nothing eligible).
inline constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

/// Thrown by `build` and the incremental operations for input that cannot be placed:
/// duplicate or empty ids, zero total weight, sizes over the documented caps.
class error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

}  // namespace chash
