// ringlb/tools/plan.hpp: `ringlb plan`, what a membership change would move, before it is
// made.
//
//   ringlb::config cfg = ringlb::tools::load_config_for_tool("ringlb.toml");
//   auto change = ringlb::tools::parse_plan_add("app-4=10.0.0.4:8080,2");
//   ringlb::tools::plan_result p = ringlb::tools::make_plan(ringlb::tools::pool_from_config(cfg), change);
//   std::cout << ringlb::tools::format_plan(p);   // fraction moving, from -> to, shares
//   auto s = ringlb::tools::make_plan(pool, change, 1'000'000, std::chrono::seconds{60});
//   // s.slow_start: when the added backend's keys arrive under [routing] slow_start = "60s"
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
// With a slow-start window, an added backend does not take its keys at the reload: each
// moves to it once the ramp of lb/ramp.hpp passes the key's hand-over hash, and until then
// stays with its next candidate. The schedule (slow_start_schedule) replays that with the
// proxy's own functions over `sample_keys` keys: which ones the backend owns, and at each of
// 11 evenly spaced instants from the reload to the end of the window, how many of them have
// arrived. Each key is counted once, at the first instant its ramp has passed, and the
// figures are running sums of those counts, so they never fall.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/tools/node_list.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
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
    std::string address;       ///< add: host:port (validated)
    std::uint32_t weight = 1;  ///< add, reweight
};

[[nodiscard]] plan_change parse_plan_drain(std::string_view id);
/// "ID=ADDRESS[,WEIGHT]"
[[nodiscard]] plan_change parse_plan_add(std::string_view spec);
/// "ID=WEIGHT"
[[nodiscard]] plan_change parse_plan_weight(std::string_view spec);

struct plan_flow {
    std::string from;
    std::string to;
    double fraction = 0;  ///< of the whole key space
};

/// One instant of a slow-start schedule.
struct ramp_step {
    std::chrono::nanoseconds at{0};  ///< time since the reload that added the backend
    std::uint64_t arrived = 0;       ///< sampled keys of the new backend that it serves by then
    double backend_share = 0;        ///< arrived / the new backend's sampled keys
    double key_share = 0;            ///< arrived / all sampled keys
};

/// When an added backend's keys reach it under slow start.
struct slow_start_schedule {
    std::string backend;                 ///< the added backend's id
    std::chrono::nanoseconds window{0};  ///< routing.slow_start
    std::uint64_t samples = 0;           ///< keys sampled: key-0 ... key-(samples-1)
    std::uint64_t owned = 0;             ///< of them, owned by the backend after the change
    /// Sampled keys that change backend at the reload itself, before any reaches the new
    /// backend: keys of others whose owner changes, and keys of the new backend whose next
    /// candidate is not their owner before (0 for ring and ketama; maglev exchanges some).
    std::uint64_t moved_at_reload = 0;
    std::vector<ramp_step> steps;  ///< from 0 to `window`, evenly spaced, in time order
};

/// Called once per sampled key the backend owns: its index (key-<index>) and the first step
/// at which it has arrived.
using ramp_arrival_fn = std::function<void(std::uint64_t key_index, std::size_t step)>;

/// Instants in a schedule: 0, window/10, ..., window.
inline constexpr std::size_t slow_start_steps = 11;

/// The schedule of node `added` of `after` (the pool after the change) against `before`,
/// over `sample_keys` keys. `on_arrival`, when given, sees every key counted.
[[nodiscard]] slow_start_schedule make_slow_start_schedule(const pool& before, const pool& after,
                                                           std::size_t added, std::chrono::nanoseconds window,
                                                           std::uint64_t sample_keys,
                                                           const ramp_arrival_fn& on_arrival = {});

struct plan_result {
    chash::kind algorithm = chash::kind::ring;
    chash::options options;
    plan_change change;
    std::vector<chash::node> before;
    std::vector<chash::node> after;
    bool exact = true;
    std::string method;         ///< how the fractions were obtained, for people
    std::uint64_t samples = 0;  ///< keys sampled (0 when exact)
    double moved_fraction = 0;
    double margin = 0;  ///< 95% margin of error of moved_fraction (0 when exact)
    double ideal_fraction = 0;
    std::vector<plan_flow> flows;      ///< moving parts, largest first
    std::vector<double> share_before;  ///< per node of `before`
    std::vector<double> share_after;   ///< per node of `after`
    /// Set for an added backend (with a positive weight) when slow start is on.
    std::optional<slow_start_schedule> slow_start;
};

/// Computes the plan. Throws usage_error for a change that does not apply (unknown id,
/// existing id, the last backend drained, weights the algorithm refuses). A positive
/// `slow_start` (the config's routing.slow_start) adds the schedule of an added backend,
/// over `sample_keys` keys.
[[nodiscard]] plan_result make_plan(const pool& current, const plan_change& change,
                                    std::uint64_t sample_keys = 1'000'000,
                                    std::chrono::milliseconds slow_start = {});

[[nodiscard]] std::string format_plan(const plan_result& p);
[[nodiscard]] nlohmann::json plan_to_json(const plan_result& p);

}  // namespace ringlb::tools
