// ringlb/tools/plan.hpp: `ringlb plan`, what a membership change would move, before it is
// made.
//
//   ringlb::config cfg = ringlb::tools::load_config_for_tool("ringlb.toml");
//   auto change = ringlb::tools::parse_plan_add("app-4=10.0.0.4:8080,2");
//   ringlb::tools::plan_result p = ringlb::tools::make_plan(ringlb::tools::pool_from_config(cfg), change);
//   std::cout << ringlb::tools::format_plan(p);   // fraction moving, from -> to, shares
//
// A drain is modelled as removing the backend from [[backends]] (what a reload without it
// does). The fractions are exact where the placement allows it and sampled otherwise, and
// the result says which:
//  - ring and ketama: exact arc arithmetic. Both point lists are merged; each arc between
//    consecutive points belongs to one node before and one after, and its length is the
//    fraction of hash space (so of uniformly hashed keys) that goes from one to the other.
//  - maglev: exact over the table: every slot is 1/table_size of the hash space.
//  - rendezvous, jump, modulo: sampled over `sample_keys` keys ("key-0", ...), with the 95%
//    margin of error of the moved fraction.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/tools/node_list.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb::tools {

/// One change to the backend list.
struct plan_change {
    enum class action : std::uint8_t { drain, add, reweight };
    action what = action::drain;
    std::string id;
    std::string address;        ///< add: host:port (validated)
    std::uint32_t weight = 1;   ///< add, reweight
};

[[nodiscard]] plan_change parse_plan_drain(std::string_view id);
/// "ID=ADDRESS[,WEIGHT]"
[[nodiscard]] plan_change parse_plan_add(std::string_view spec);
/// "ID=WEIGHT"
[[nodiscard]] plan_change parse_plan_weight(std::string_view spec);

struct plan_flow {
    std::string from;
    std::string to;
    double fraction = 0;   ///< of the whole key space
};

struct plan_result {
    chash::kind algorithm = chash::kind::ring;
    chash::options options;
    plan_change change;
    std::vector<chash::node> before;
    std::vector<chash::node> after;
    bool exact = true;
    std::string method;                 ///< how the fractions were obtained, for people
    std::uint64_t samples = 0;          ///< keys sampled (0 when exact)
    double moved_fraction = 0;
    double margin = 0;                  ///< 95% margin of error of moved_fraction (0 when exact)
    double ideal_fraction = 0;
    std::vector<plan_flow> flows;       ///< moving parts, largest first
    std::vector<double> share_before;   ///< per node of `before`
    std::vector<double> share_after;    ///< per node of `after`
};

/// Computes the plan. Throws usage_error for a change that does not apply (unknown id,
/// existing id, the last backend drained, weights the algorithm refuses).
[[nodiscard]] plan_result make_plan(const pool& current, const plan_change& change,
                                    std::uint64_t sample_keys = 1'000'000);

[[nodiscard]] std::string format_plan(const plan_result& p);
[[nodiscard]] nlohmann::json plan_to_json(const plan_result& p);

}  // namespace ringlb::tools
