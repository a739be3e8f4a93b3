// ringlb/demo/movement.hpp: which users change backend when one backend leaves.
//
//   ringlb::config cfg = ringlb::demo::demo_config({});
//   auto ring = ringlb::demo::removal_effects(cfg.routing.algorithm, ringlb::chash_nodes(cfg),
//                                             ringlb::chash_options(cfg.routing), 10'000);
//   // ring[i].moved_share: users whose backend changed when backend i was removed (~0.25)
//
// The answer is computed with chash from the same nodes and options the balancer serves, over
// the same user ids the traffic generator sends, so it is the movement the demo's balancer
// would make. The ideal is 1/N of the users for N backends: the removed backend's own, and
// not one user more (a user moving between two backends that both stayed is a lost cache
// entry for no reason; hash-mod-N moves most of them).
//
// Thread-safety: pure functions.
#pragma once

#include <chash/algorithm.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace ringlb::demo {

struct removal_effect {
    std::string removed;                    ///< the id of the backend taken out
    double moved_share = 0;                 ///< users whose backend changed / all users
    double owned_share = 0;                 ///< users the removed backend had (the ideal move)
    std::size_t moved_between_stayers = 0;  ///< users that moved although their backend stayed
};

/// For each node in turn: remove it, rebuild with `k` over the others, and compare the
/// owners of `users` ids (user_id(0).. user_id(users-1)) before and after.
[[nodiscard]] std::vector<removal_effect> removal_effects(chash::kind k, std::span<const chash::node> nodes,
                                                          const chash::options& opts, std::size_t users);

}  // namespace ringlb::demo
