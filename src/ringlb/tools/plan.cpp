#include "ringlb/tools/plan.hpp"

#include "ringlb/config/values.hpp"
#include "ringlb/lb/ramp.hpp"
#include "ringlb/tools/simulation.hpp"

#include <chash/ketama.hpp>
#include <chash/maglev.hpp>
#include <chash/ring.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <tuple>

namespace ringlb::tools {
namespace {

// (node before, node after) -> fraction of the key space; npos on either side = none.
using flow_matrix = std::map<std::pair<std::size_t, std::size_t>, long double>;

// Exact split of a hash space of `space` values between two sorted point lists. A key h
// belongs to the first point at or after h (wrapping), so between two consecutive
// boundaries of the merged lists both owners are constant: the arc (b[k-1], b[k]] goes to
// the first point >= b[k] of each list, and the wrap-around arc (b[last], space) u [0, b[0]]
// to the first point of each list.
template <class Point>
flow_matrix split_arcs(std::span<const Point> old_points, std::span<const Point> new_points,
                       long double space) {
    std::vector<std::uint64_t> bounds;
    bounds.reserve(old_points.size() + new_points.size());
    for (const auto& p : old_points) bounds.push_back(p.position);
    for (const auto& p : new_points) bounds.push_back(p.position);
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    flow_matrix flows;
    if (bounds.empty() || old_points.empty() || new_points.empty()) return flows;
    std::size_t i = 0;  // first old point with position >= bound
    std::size_t j = 0;
    for (std::size_t k = 0; k < bounds.size(); ++k) {
        const std::uint64_t b = bounds[k];
        while (i < old_points.size() && old_points[i].position < b) ++i;
        while (j < new_points.size() && new_points[j].position < b) ++j;
        const std::size_t from = old_points[i == old_points.size() ? 0 : i].owner;
        const std::size_t to = new_points[j == new_points.size() ? 0 : j].owner;
        const long double length =
            k == 0 ? space - static_cast<long double>(bounds.back()) + static_cast<long double>(b)
                   : static_cast<long double>(b - bounds[k - 1]);
        flows[{from, to}] += length / space;
    }
    return flows;
}

flow_matrix split_tables(std::span<const std::uint32_t> old_table, std::span<const std::uint32_t> new_table) {
    flow_matrix flows;
    const long double slot = 1.0L / static_cast<long double>(old_table.size());
    for (std::size_t s = 0; s < old_table.size() && s < new_table.size(); ++s)
        flows[{old_table[s], new_table[s]}] += slot;
    return flows;
}

flow_matrix split_sampled(const chash::algorithm& before, const chash::algorithm& after, std::uint64_t keys) {
    std::vector<std::uint64_t> counts;  // dense (before+1) x (after+1), last index = none
    const std::size_t nb = before.size() + 1;
    const std::size_t na = after.size() + 1;
    counts.assign(nb * na, 0);
    std::array<char, 32> buf;
    for (std::uint64_t k = 0; k < keys; ++k) {
        const std::uint64_t h = before.hash_key(simulated_key(k, buf));
        std::size_t b = before.pick_hashed(h);
        std::size_t a = after.pick_hashed(h);
        if (b == chash::npos) b = nb - 1;
        if (a == chash::npos) a = na - 1;
        ++counts[b * na + a];
    }
    flow_matrix flows;
    for (std::size_t b = 0; b < nb; ++b) {
        for (std::size_t a = 0; a < na; ++a) {
            if (counts[b * na + a] == 0) continue;
            flows[{b == nb - 1 ? chash::npos : b, a == na - 1 ? chash::npos : a}] =
                static_cast<long double>(counts[b * na + a]) / static_cast<long double>(keys);
        }
    }
    return flows;
}

std::string_view action_name(plan_change::action a) {
    switch (a) {
        case plan_change::action::drain:
            return "drain";
        case plan_change::action::add:
            return "add";
        case plan_change::action::reweight:
            return "weight";
    }
    return "?";
}

std::string describe(const plan_change& c) {
    switch (c.what) {
        case plan_change::action::drain:
            return "drain " + c.id;
        case plan_change::action::add:
            return fmt::format("add {} at {} with weight {}", c.id, c.address, c.weight);
        case plan_change::action::reweight:
            return fmt::format("set the weight of {} to {}", c.id, c.weight);
    }
    return "?";
}

std::pair<std::string_view, std::string_view> split_once(std::string_view s, char sep) {
    const std::size_t at = s.find(sep);
    if (at == std::string_view::npos) return {s, {}};
    return {s.substr(0, at), s.substr(at + 1)};
}

void check_id(std::string_view flag, std::string_view id) {
    if (id.empty()) throw usage_error(std::string{flag} + ": missing backend id");
}

std::string percent_of(std::uint64_t part, std::uint64_t whole) {
    return fmt::format("{:.3f}%",
                       whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string format_schedule(const slow_start_schedule& s) {
    const auto ms = [](std::chrono::nanoseconds d) {
        return format_duration(std::chrono::round<std::chrono::milliseconds>(d));
    };
    std::string out = fmt::format(
        "\nslow start ([routing] slow_start = \"{}\"): {} takes its keys over the window, each key once\n"
        "the ramp reaches its hand-over hash; until then the key stays with its next candidate\n",
        ms(s.window), s.backend);
    out += fmt::format(
        "sampled: {} keys (key-0 ... key-{}); {} owns {} ({}); {} ({}) change backend at the "
        "reload itself\n",
        s.samples, s.samples - 1, s.backend, s.owned, percent_of(s.owned, s.samples), s.moved_at_reload,
        percent_of(s.moved_at_reload, s.samples));
    if (s.owned == 0) return out + "  (none of the sampled keys is the new backend's: nothing to schedule)\n";
    out += fmt::format("\n  {:>10} {:>14} {:>12} {:>10}\n", "after", "its keys", "of all keys", "arrived");
    for (const ramp_step& st : s.steps) {
        out += fmt::format("  {:>10} {:>13.1f}% {:>11.3f}% {:>10}\n", ms(st.at), st.backend_share * 100,
                           st.key_share * 100, st.arrived);
    }
    return out;
}

}  // namespace

slow_start_schedule make_slow_start_schedule(const pool& before, const pool& after, std::size_t added,
                                             std::chrono::nanoseconds window, std::uint64_t sample_keys,
                                             const ramp_arrival_fn& on_arrival) {
    if (added >= after.nodes.size()) throw usage_error("slow start: no such backend in the new pool");
    if (sample_keys == 0) throw usage_error("--keys must be at least 1 for the slow-start schedule");
    slow_start_schedule s;
    s.backend = after.nodes[added].id;
    s.window = window;
    s.samples = sample_keys;
    const auto algo_before = before.build();
    const auto algo_after = after.build();
    // Backends are compared by id: the index of a backend may differ between the two pools.
    std::vector<std::size_t> before_of_after(after.nodes.size(), chash::npos);
    for (std::size_t a = 0; a < after.nodes.size(); ++a) {
        for (std::size_t b = 0; b < before.nodes.size(); ++b)
            if (before.nodes[b].id == after.nodes[a].id) before_of_after[a] = b;
    }
    std::array<std::int64_t, slow_start_steps> instants{};
    for (std::size_t i = 0; i < slow_start_steps; ++i) {
        // Exact for any window under 29 years: no rounding drift between the steps.
        instants[i] =
            window.count() * static_cast<std::int64_t>(i) / static_cast<std::int64_t>(slow_start_steps - 1);
    }
    // first_at[i]: keys whose ramp first passes at instants[i]. Counting each key once, at
    // its first instant, and summing makes the schedule non-decreasing by construction.
    std::array<std::uint64_t, slow_start_steps> first_at{};
    std::array<char, 32> buf;
    std::array<std::size_t, 2> walk{};
    for (std::uint64_t k = 0; k < sample_keys; ++k) {
        // Both pools hash a key alike (the algorithm is the same).
        const std::uint64_t h = algo_after->hash_key(simulated_key(k, buf));
        const std::size_t owner_before = algo_before->pick_hashed(h);
        const std::size_t owner_after = algo_after->pick_hashed(h);
        if (owner_after != added) {
            // Not the new backend's: served by its owner after the change from the reload on.
            if (owner_after == chash::npos || before_of_after[owner_after] != owner_before)
                ++s.moved_at_reload;
            continue;
        }
        ++s.owned;
        // During the ramp the proxy serves the key from its next candidate (selection skips
        // a backend whose ramp has not passed the key).
        const std::size_t n = algo_after->candidates(h, walk);
        if (n < 2 || before_of_after[walk[1]] != owner_before) ++s.moved_at_reload;
        const std::uint64_t h2 = handover_hash(h);
        std::size_t step = slow_start_steps - 1;
        for (std::size_t i = 0; i < slow_start_steps; ++i) {
            if (ramp_passed(h2, instants[i], window.count())) {
                step = i;
                break;
            }
        }
        ++first_at[step];
        if (on_arrival) on_arrival(k, step);
    }
    std::uint64_t arrived = 0;
    for (std::size_t i = 0; i < slow_start_steps; ++i) {
        arrived += first_at[i];
        ramp_step st;
        st.at = std::chrono::nanoseconds{instants[i]};
        st.arrived = arrived;
        st.backend_share = s.owned == 0 ? 0.0 : static_cast<double>(arrived) / static_cast<double>(s.owned);
        st.key_share = static_cast<double>(arrived) / static_cast<double>(sample_keys);
        s.steps.push_back(st);
    }
    return s;
}

plan_change parse_plan_drain(std::string_view id) {
    check_id("--drain", id);
    return plan_change{plan_change::action::drain, std::string{id}, {}, 0};
}

plan_change parse_plan_add(std::string_view spec) {
    const auto [id, rest] = split_once(spec, '=');
    check_id("--add", id);
    if (rest.empty()) throw usage_error("--add \"" + std::string{spec} + "\": expected ID=ADDRESS[,WEIGHT]");
    const auto [address, weight] = split_once(rest, ',');
    const auto parsed = parse_endpoint_checked(address);
    if (!parsed) throw usage_error("--add: " + parsed.error);
    plan_change c{plan_change::action::add, std::string{id}, to_string(*parsed.value), 1};
    if (!weight.empty())
        c.weight = static_cast<std::uint32_t>(parse_count("--add weight", weight, 0, 10'000));
    return c;
}

plan_change parse_plan_weight(std::string_view spec) {
    const auto [id, weight] = split_once(spec, '=');
    check_id("--weight", id);
    if (weight.empty()) throw usage_error("--weight \"" + std::string{spec} + "\": expected ID=WEIGHT");
    return plan_change{plan_change::action::reweight,
                       std::string{id},
                       {},
                       static_cast<std::uint32_t>(parse_count("--weight", weight, 0, 10'000))};
}

plan_result make_plan(const pool& current, const plan_change& change, std::uint64_t sample_keys,
                      std::chrono::milliseconds slow_start) {
    plan_result p;
    p.algorithm = current.algorithm;
    p.options = current.options;
    p.change = change;
    p.before = current.nodes;
    p.after = current.nodes;
    const auto it =
        std::find_if(p.after.begin(), p.after.end(), [&](const chash::node& n) { return n.id == change.id; });
    const std::string flag = "--" + std::string{action_name(change.what)};
    switch (change.what) {
        case plan_change::action::drain:
            if (it == p.after.end())
                throw usage_error(flag + ": no backend \"" + change.id + "\" in the config");
            p.after.erase(it);
            break;
        case plan_change::action::add:
            if (it != p.after.end())
                throw usage_error(flag + ": backend \"" + change.id + "\" already exists");
            p.after.push_back(chash::node{change.id, change.weight});
            break;
        case plan_change::action::reweight:
            if (it == p.after.end())
                throw usage_error(flag + ": no backend \"" + change.id + "\" in the config");
            it->weight = change.weight;
            break;
    }
    const bool any_weight =
        std::any_of(p.after.begin(), p.after.end(), [](const chash::node& n) { return n.weight > 0; });
    if (!any_weight) throw usage_error(flag + ": afterwards no backend would have a positive weight");

    const auto before = current.build();
    const auto after = pool{current.algorithm, p.after, current.options}.build();
    flow_matrix flows;
    if (const auto* rb = dynamic_cast<const chash::ring*>(before.get())) {
        const auto* ra = dynamic_cast<const chash::ring*>(after.get());
        flows = split_arcs(rb->points(), ra->points(), 18446744073709551616.0L);
        p.method = fmt::format("exact: arc arithmetic over the ring's {} + {} points", rb->points().size(),
                               ra->points().size());
    } else if (const auto* kb = dynamic_cast<const chash::ketama*>(before.get())) {
        const auto* ka = dynamic_cast<const chash::ketama*>(after.get());
        flows = split_arcs(kb->points(), ka->points(), 4294967296.0L);
        p.method = fmt::format("exact: arc arithmetic over ketama's {} + {} points (32-bit)",
                               kb->points().size(), ka->points().size());
    } else if (const auto* mb = dynamic_cast<const chash::maglev*>(before.get())) {
        const auto* ma = dynamic_cast<const chash::maglev*>(after.get());
        flows = split_tables(mb->table(), ma->table());
        p.method = fmt::format("exact: slot by slot over maglev's table of {}", mb->table().size());
    } else {
        if (sample_keys == 0) throw usage_error("--keys must be at least 1 for sampling");
        flows = split_sampled(*before, *after, sample_keys);
        p.exact = false;
        p.samples = sample_keys;
        p.method = fmt::format("sampled: {} keys (key-0 ... key-{}), {} has no stored layout to measure",
                               sample_keys, sample_keys - 1, chash::to_string(current.algorithm));
    }

    p.share_before.assign(p.before.size(), 0);
    p.share_after.assign(p.after.size(), 0);
    std::vector<std::size_t> after_of_before(p.before.size(), chash::npos);
    for (std::size_t b = 0, a = 0; b < p.before.size(); ++b) {
        if (a < p.after.size() && p.after[a].id == p.before[b].id) after_of_before[b] = a++;
    }
    long double moved = 0;
    for (const auto& [pair, fraction] : flows) {
        const auto [b, a] = pair;
        if (b != chash::npos) p.share_before[b] += static_cast<double>(fraction);
        if (a != chash::npos) p.share_after[a] += static_cast<double>(fraction);
        if (b != chash::npos && a != chash::npos && after_of_before[b] == a) continue;
        moved += fraction;
        p.flows.push_back(plan_flow{b == chash::npos ? "(none)" : p.before[b].id,
                                    a == chash::npos ? "(none)" : p.after[a].id,
                                    static_cast<double>(fraction)});
    }
    std::sort(p.flows.begin(), p.flows.end(), [](const plan_flow& x, const plan_flow& y) {
        return x.fraction != y.fraction ? x.fraction > y.fraction
                                        : std::tie(x.from, x.to) < std::tie(y.from, y.to);
    });
    p.moved_fraction = static_cast<double>(moved);
    if (!p.exact)
        p.margin =
            1.96 * std::sqrt(p.moved_fraction * (1 - p.moved_fraction) / static_cast<double>(p.samples));
    p.ideal_fraction = ideal_moved_fraction(p.before, p.after);
    if (change.what == plan_change::action::add && change.weight > 0 && slow_start.count() > 0) {
        p.slow_start = make_slow_start_schedule(current, pool{current.algorithm, p.after, current.options},
                                                p.after.size() - 1, slow_start, sample_keys);
    }
    return p;
}

std::string format_plan(const plan_result& p) {
    std::string out;
    out += fmt::format("plan: {} ({}; {} -> {} backends)\n", describe(p.change),
                       chash::to_string(p.algorithm), p.before.size(), p.after.size());
    out += fmt::format("method: {}\n", p.method);
    out +=
        fmt::format("moves: {:.3f}%{} of the key space (ideal {:.3f}%, {:.2f} x ideal)\n",
                    p.moved_fraction * 100, p.exact ? "" : fmt::format(" +/- {:.3f}%", p.margin * 100),
                    p.ideal_fraction * 100, p.ideal_fraction > 0 ? p.moved_fraction / p.ideal_fraction : 0.0);
    if (!p.flows.empty()) {
        out += fmt::format("\n  {:<20} {:<20} {:>10}\n", "from", "to", "share");
        const std::size_t shown = std::min<std::size_t>(p.flows.size(), 50);
        for (std::size_t i = 0; i < shown; ++i) {
            out += fmt::format("  {:<20} {:<20} {:>9.3f}%\n", p.flows[i].from, p.flows[i].to,
                               p.flows[i].fraction * 100);
        }
        if (shown < p.flows.size())
            out += fmt::format("  ... {} smaller flows (see --format json)\n", p.flows.size() - shown);
    }
    out += fmt::format("\n  {:<20} {:>10} {:>10}\n", "backend", "before", "after");
    std::vector<bool> listed(p.after.size(), false);
    for (std::size_t b = 0; b < p.before.size(); ++b) {
        std::string after = "-";
        for (std::size_t a = 0; a < p.after.size(); ++a) {
            if (p.after[a].id == p.before[b].id) {
                after = fmt::format("{:.3f}%", p.share_after[a] * 100);
                listed[a] = true;
            }
        }
        out += fmt::format("  {:<20} {:>9.3f}% {:>10}\n", p.before[b].id, p.share_before[b] * 100, after);
    }
    for (std::size_t a = 0; a < p.after.size(); ++a) {
        if (!listed[a])
            out += fmt::format("  {:<20} {:>10} {:>9.3f}%\n", p.after[a].id, "-", p.share_after[a] * 100);
    }
    if (p.slow_start) out += format_schedule(*p.slow_start);
    return out;
}

nlohmann::json plan_to_json(const plan_result& p) {
    nlohmann::json j;
    j["change"] = {{"action", action_name(p.change.what)}, {"id", p.change.id}};
    if (p.change.what == plan_change::action::add) j["change"]["address"] = p.change.address;
    if (p.change.what != plan_change::action::drain) j["change"]["weight"] = p.change.weight;
    j["algorithm"] = chash::to_string(p.algorithm);
    j["exact"] = p.exact;
    j["method"] = p.method;
    if (!p.exact) {
        j["samples"] = p.samples;
        j["margin"] = p.margin;
    }
    j["moved_fraction"] = p.moved_fraction;
    j["ideal_fraction"] = p.ideal_fraction;
    nlohmann::json flows = nlohmann::json::array();
    for (const auto& f : p.flows) flows.push_back({{"from", f.from}, {"to", f.to}, {"fraction", f.fraction}});
    j["flows"] = std::move(flows);
    nlohmann::json before = nlohmann::json::object();
    for (std::size_t i = 0; i < p.before.size(); ++i) before[p.before[i].id] = p.share_before[i];
    nlohmann::json after = nlohmann::json::object();
    for (std::size_t i = 0; i < p.after.size(); ++i) after[p.after[i].id] = p.share_after[i];
    j["share_before"] = std::move(before);
    j["share_after"] = std::move(after);
    if (p.slow_start) {
        const slow_start_schedule& s = *p.slow_start;
        const auto ms = [](std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; };
        nlohmann::json steps = nlohmann::json::array();
        for (const ramp_step& st : s.steps) {
            steps.push_back({{"at_ms", ms(st.at)},
                             {"arrived", st.arrived},
                             {"backend_share", st.backend_share},
                             {"key_share", st.key_share}});
        }
        j["slow_start"] = {{"backend", s.backend},
                           {"window_ms", ms(s.window)},
                           {"samples", s.samples},
                           {"owned", s.owned},
                           {"moved_at_reload", s.moved_at_reload},
                           {"steps", std::move(steps)}};
    }
    return j;
}

}  // namespace ringlb::tools
