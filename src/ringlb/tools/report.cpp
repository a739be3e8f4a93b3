#include "ringlb/tools/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

namespace ringlb::tools {
namespace {

std::uint64_t total_weight(const std::vector<chash::node>& nodes) {
    std::uint64_t w = 0;
    for (const auto& n : nodes) w += n.weight;
    return w;
}

// "remove node-100", "add node-101, node-102"; ids listed up to a handful.
std::string describe_change(const simulation& r) {
    std::unordered_set<std::string_view> before;
    std::unordered_set<std::string_view> after;
    for (const auto& n : r.nodes_before) before.insert(n.id);
    for (const auto& n : r.nodes_after) after.insert(n.id);
    const auto list = [](const std::vector<chash::node>& nodes, const std::unordered_set<std::string_view>& other) {
        std::vector<std::string_view> ids;
        for (const auto& n : nodes) {
            if (!other.contains(n.id)) ids.push_back(n.id);
        }
        std::string s;
        for (std::size_t i = 0; i < ids.size() && i < 5; ++i) s += (i ? ", " : "") + std::string{ids[i]};
        if (ids.size() > 5) s += fmt::format(" and {} more", ids.size() - 5);
        return s;
    };
    const std::string removed = list(r.nodes_before, after);
    const std::string added = list(r.nodes_after, before);
    std::string s;
    if (!removed.empty()) s += "remove " + removed;
    if (!added.empty()) s += (s.empty() ? "add " : "; add ") + added;
    return s;
}

std::string placement_description(chash::kind k, const chash::options& o) {
    switch (k) {
    case chash::kind::ring: return fmt::format("ring, {} vnodes per weight", o.vnodes_per_weight);
    case chash::kind::ketama: return "ketama, 160 points per server (MD5)";
    case chash::kind::maglev: return fmt::format("maglev, table of {}", o.table_size);
    default: return std::string{chash::to_string(k)};
    }
}

std::string percent(double fraction) { return fmt::format("{:.3f}%", fraction * 100); }

nlohmann::json spread_json(const spread& s, const std::vector<chash::node>& nodes, std::uint64_t keys) {
    nlohmann::json j;
    j["min_keys"] = s.min_keys;
    j["max_keys"] = s.max_keys;
    j["min_node"] = nodes.empty() ? "" : nodes[s.min_node].id;
    j["max_node"] = nodes.empty() ? "" : nodes[s.max_node].id;
    j["min_ratio"] = s.min_ratio;
    j["peak_to_mean"] = s.peak_to_mean;
    j["stddev"] = s.stddev;
    j["unplaced"] = s.unplaced;
    const double w = static_cast<double>(total_weight(nodes));
    nlohmann::json per = nlohmann::json::array();
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        per.push_back({{"id", nodes[i].id},
                       {"weight", nodes[i].weight},
                       {"keys", s.keys[i]},
                       {"share", keys ? static_cast<double>(s.keys[i]) / static_cast<double>(keys) : 0.0},
                       {"expected_share", w > 0 ? nodes[i].weight / w : 0.0}});
    }
    j["nodes"] = std::move(per);
    return j;
}

}  // namespace

std::string human_bytes(std::size_t bytes) {
    if (bytes < 1024) return fmt::format("{} B", bytes);
    double v = static_cast<double>(bytes);
    const char* unit = "B";
    for (const char* u : {"KiB", "MiB", "GiB", "TiB"}) {
        if (v < 1024) break;
        v /= 1024;
        unit = u;
    }
    return fmt::format("{:.1f} {}", v, unit);
}

std::string format_table(const simulation& r, const report_options& opts) {
    std::string out;
    out += fmt::format("{}: {} nodes (total weight {}), {} keys{}\n", placement_description(r.algorithm, r.options),
                       r.nodes_before.size(), total_weight(r.nodes_before), r.keys,
                       r.balance_factor > 0 ? fmt::format(", bounded loads c = {}", r.balance_factor) : "");
    if (opts.timing) {
        out += fmt::format("  build       {:.2f} ms, {}; lookup {:.1f} ns per key (hash + pick)\n", r.build_ms,
                           human_bytes(r.memory_bytes), r.lookup_ns);
    } else {
        out += fmt::format("  memory      {}\n", human_bytes(r.memory_bytes));
    }
    const auto spread_lines = [&](const char* label, const spread& s, const std::vector<chash::node>& nodes) {
        if (nodes.empty()) return;
        out += fmt::format("  {:<11} min {} keys ({}, {:.3f} x expected), max {} keys ({}, {:.3f} x expected)\n",
                           label, s.min_keys, nodes[s.min_node].id, s.min_ratio, s.max_keys, nodes[s.max_node].id,
                           s.peak_to_mean);
        out += fmt::format("  {:<11} peak/mean {:.3f}, stddev {:.2f}%{}\n", "", s.peak_to_mean, s.stddev * 100,
                           s.unplaced ? fmt::format(", {} keys unplaced", s.unplaced) : "");
    };
    spread_lines("spread", r.before, r.nodes_before);
    if (r.change && r.after) {
        const movement& m = *r.change;
        out += fmt::format("  change      {}\n", describe_change(r));
        out += fmt::format("  moved       {} keys = {} (ideal {}, {:.2f} x ideal)\n", m.moved, percent(m.moved_fraction),
                           percent(m.ideal_fraction),
                           m.ideal_fraction > 0 ? m.moved_fraction / m.ideal_fraction : 0.0);
        out += fmt::format("  survivors   {} keys moved between nodes present before and after{}\n",
                           m.between_survivors, m.between_survivors == 0 ? " (none: only the change moved keys)" : "");
        spread_lines("after", *r.after, r.nodes_after);
    }
    if (opts.per_node) {
        const double w = static_cast<double>(total_weight(r.nodes_before));
        out += fmt::format("\n  {:<16} {:>6} {:>10} {:>9} {:>9} {:>7}", "node", "weight", "keys", "share", "expected",
                           "ratio");
        out += r.change ? fmt::format(" {:>10} {:>10}\n", "lost", "gained") : "\n";
        std::vector<std::size_t> after_index(r.nodes_before.size(), chash::npos);
        for (std::size_t i = 0, j = 0; i < r.nodes_before.size() && j < r.nodes_after.size(); ++i) {
            if (r.nodes_before[i].id == r.nodes_after[j].id) after_index[i] = j++;
        }
        for (std::size_t i = 0; i < r.nodes_before.size(); ++i) {
            const auto& n = r.nodes_before[i];
            const double share = r.keys ? static_cast<double>(r.before.keys[i]) / static_cast<double>(r.keys) : 0;
            const double expected = w > 0 ? n.weight / w : 0;
            out += fmt::format("  {:<16} {:>6} {:>10} {:>8.3f}% {:>8.3f}% {:>7.3f}", n.id, n.weight, r.before.keys[i],
                               share * 100, expected * 100, expected > 0 ? share / expected : 0.0);
            if (r.change) {
                const std::size_t a = after_index[i];
                out += fmt::format(" {:>10} {:>10}", r.change->lost[i], a == chash::npos ? "-" : fmt::format("{}", r.change->gained[a]));
            }
            out += '\n';
        }
        if (r.change) {
            for (std::size_t j = 0; j < r.nodes_after.size(); ++j) {
                if (std::find(after_index.begin(), after_index.end(), j) != after_index.end()) continue;
                out += fmt::format("  {:<16} {:>6} {:>10} {:>9} {:>9} {:>7} {:>10} {:>10}\n", r.nodes_after[j].id,
                                   r.nodes_after[j].weight, "-", "-", "-", "-", "-", r.change->gained[j]);
            }
        }
    }
    return out;
}

std::string format_sweep_table(const std::vector<sweep_point>& points, const report_options& opts) {
    std::string out;
    if (points.empty()) return out;
    const simulation& first = points.front().result;
    out += fmt::format("ring: {} nodes (total weight {}), {} keys; sweep of vnodes per weight\n",
                       first.nodes_before.size(), total_weight(first.nodes_before), first.keys);
    out += fmt::format("{:>8} {:>10} {:>9} {:>8} {:>12}", "vnodes", "peak/mean", "min/mean", "stddev", "memory");
    if (first.change) out += fmt::format(" {:>9} {:>10}", "moved", "moved/ideal");
    if (opts.timing) out += fmt::format(" {:>9} {:>10}", "build ms", "lookup ns");
    out += '\n';
    for (const auto& p : points) {
        const simulation& r = p.result;
        out += fmt::format("{:>8} {:>10.3f} {:>9.3f} {:>7.2f}% {:>12}", p.value, r.before.peak_to_mean,
                           r.before.min_ratio, r.before.stddev * 100, human_bytes(r.memory_bytes));
        if (r.change) {
            out += fmt::format(" {:>9} {:>11.2f}", percent(r.change->moved_fraction),
                               r.change->ideal_fraction > 0 ? r.change->moved_fraction / r.change->ideal_fraction : 0.0);
        }
        if (opts.timing) out += fmt::format(" {:>9.2f} {:>10.1f}", r.build_ms, r.lookup_ns);
        out += '\n';
    }
    return out;
}

std::string format_compare_table(const std::vector<compare_row>& rows, const report_options& opts) {
    std::string out;
    const simulation* any = nullptr;
    for (const auto& row : rows) {
        if (row.result) {
            any = &*row.result;
            break;
        }
    }
    if (any != nullptr) {
        out += fmt::format("{} nodes (total weight {}), {} keys{}{}\n", any->nodes_before.size(),
                           total_weight(any->nodes_before), any->keys,
                           any->change ? "; change: " + describe_change(*any) : "",
                           any->balance_factor > 0 ? fmt::format("; bounded loads c = {}", any->balance_factor) : "");
    }
    out += fmt::format("{:<11} {:>9} {:>8} {:>7}", "algorithm", "peak/mean", "min/mean", "stddev");
    const bool change = any != nullptr && any->change.has_value();
    if (change) out += fmt::format(" {:>8} {:>8} {:>11} {:>9}", "moved", "ideal", "moved/ideal", "survivors");
    out += fmt::format(" {:>11}", "memory");
    if (opts.timing) out += fmt::format(" {:>9} {:>9}", "build ms", "lookup ns");
    out += '\n';
    for (const auto& row : rows) {
        const std::string_view name = chash::to_string(row.algorithm);
        if (!row.result) {
            out += fmt::format("{:<11} n/a: {}\n", name, row.error);
            continue;
        }
        const simulation& r = *row.result;
        out += fmt::format("{:<11} {:>9.3f} {:>8.3f} {:>6.2f}%", name, r.before.peak_to_mean, r.before.min_ratio,
                           r.before.stddev * 100);
        if (change && r.change) {
            const movement& m = *r.change;
            out += fmt::format(" {:>8} {:>8} {:>11.2f} {:>9}", fmt::format("{:.2f}%", m.moved_fraction * 100),
                               fmt::format("{:.2f}%", m.ideal_fraction * 100),
                               m.ideal_fraction > 0 ? m.moved_fraction / m.ideal_fraction : 0.0, m.between_survivors);
        }
        out += fmt::format(" {:>11}", human_bytes(r.memory_bytes));
        if (opts.timing) out += fmt::format(" {:>9.2f} {:>9.1f}", r.build_ms, r.lookup_ns);
        out += '\n';
    }
    return out;
}

nlohmann::json to_json(const simulation& r, const report_options& opts) {
    nlohmann::json j;
    j["algorithm"] = chash::to_string(r.algorithm);
    if (r.algorithm == chash::kind::ring) j["vnodes"] = r.options.vnodes_per_weight;
    if (r.algorithm == chash::kind::maglev) j["table_size"] = r.options.table_size;
    j["nodes"] = r.nodes_before.size();
    j["total_weight"] = total_weight(r.nodes_before);
    j["keys"] = r.keys;
    j["balance_factor"] = r.balance_factor;
    j["memory_bytes"] = r.memory_bytes;
    if (opts.timing) {
        j["build_ms"] = r.build_ms;
        j["lookup_ns"] = r.lookup_ns;
    }
    j["spread"] = spread_json(r.before, r.nodes_before, r.keys);
    if (r.change && r.after) {
        const movement& m = *r.change;
        nlohmann::json c;
        c["description"] = describe_change(r);
        c["moved_keys"] = m.moved;
        c["moved_fraction"] = m.moved_fraction;
        c["ideal_fraction"] = m.ideal_fraction;
        c["between_survivors"] = m.between_survivors;
        nlohmann::json gained = nlohmann::json::object();
        for (std::size_t i = 0; i < r.nodes_after.size(); ++i) {
            if (m.gained[i]) gained[r.nodes_after[i].id] = m.gained[i];
        }
        nlohmann::json lost = nlohmann::json::object();
        for (std::size_t i = 0; i < r.nodes_before.size(); ++i) {
            if (m.lost[i]) lost[r.nodes_before[i].id] = m.lost[i];
        }
        c["gained"] = std::move(gained);
        c["lost"] = std::move(lost);
        c["after"] = spread_json(*r.after, r.nodes_after, r.keys);
        j["change"] = std::move(c);
    }
    return j;
}

nlohmann::json sweep_to_json(const std::vector<sweep_point>& points, const report_options& opts) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& p : points) {
        nlohmann::json j = to_json(p.result, opts);
        j["spread"].erase("nodes");   // per-node detail of every step would drown the curve
        if (j.contains("change")) j["change"]["after"].erase("nodes");
        a.push_back(std::move(j));
    }
    return a;
}

nlohmann::json compare_to_json(const std::vector<compare_row>& rows, const report_options& opts) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& row : rows) {
        if (!row.result) {
            a.push_back({{"algorithm", chash::to_string(row.algorithm)}, {"error", row.error}});
            continue;
        }
        nlohmann::json j = to_json(*row.result, opts);
        j["spread"].erase("nodes");
        if (j.contains("change")) j["change"]["after"].erase("nodes");
        a.push_back(std::move(j));
    }
    return a;
}

std::vector<svg::chart> charts_for(const simulation& r) {
    std::vector<svg::chart> charts;
    svg::bar_chart share;
    share.title = fmt::format("Keys per node: {}, {} nodes, {} keys", placement_description(r.algorithm, r.options),
                              r.nodes_before.size(), r.keys);
    share.x_label = "node";
    share.y_label = "keys";
    for (std::size_t i = 0; i < r.nodes_before.size(); ++i) {
        share.bars.push_back({r.nodes_before[i].id, static_cast<double>(r.before.keys[i]), false});
    }
    if (!r.nodes_before.empty()) {
        share.reference = static_cast<double>(r.keys) / static_cast<double>(r.nodes_before.size());
        share.reference_label = fmt::format("mean {:.0f}; peak/mean {:.3f}", *share.reference, r.before.peak_to_mean);
    }
    charts.emplace_back(std::move(share));
    if (r.change) {
        const movement& m = *r.change;
        svg::bar_chart gained;
        gained.title = fmt::format("Keys gained after: {} ({} moved, {:.2f}x ideal)", describe_change(r),
                                   percent(m.moved_fraction),
                                   m.ideal_fraction > 0 ? m.moved_fraction / m.ideal_fraction : 0.0);
        gained.x_label = "node after the change";
        gained.y_label = "keys gained";
        std::unordered_set<std::string_view> before;
        for (const auto& n : r.nodes_before) before.insert(n.id);
        bool any_new = false;
        for (std::size_t i = 0; i < r.nodes_after.size(); ++i) {
            const bool is_new = !before.contains(r.nodes_after[i].id);
            any_new = any_new || is_new;
            gained.bars.push_back({r.nodes_after[i].id, static_cast<double>(m.gained[i]), is_new});
        }
        if (any_new) gained.highlight_label = "joined with the change";
        charts.emplace_back(std::move(gained));
    }
    return charts;
}

std::vector<svg::chart> charts_for_sweep(const std::vector<sweep_point>& points) {
    svg::line_chart c;
    if (!points.empty()) {
        const simulation& first = points.front().result;
        c.title = fmt::format("Balance against vnodes: ring, {} nodes, {} keys", first.nodes_before.size(), first.keys);
    }
    c.x_label = "vnodes per weight (log scale)";
    c.y_label = "keys / expected keys";
    c.log_x = true;
    svg::series peak{"fullest node (peak/mean)", {}};
    svg::series low{"emptiest node (min/mean)", {}};
    for (const auto& p : points) {
        peak.points.emplace_back(static_cast<double>(p.value), p.result.before.peak_to_mean);
        low.points.emplace_back(static_cast<double>(p.value), p.result.before.min_ratio);
    }
    c.lines = {std::move(peak), std::move(low)};
    c.reference = 1.0;
    c.reference_label = "perfect balance";
    return {c};
}

std::vector<svg::chart> charts_for_compare(const std::vector<compare_row>& rows) {
    std::vector<svg::chart> charts;
    svg::bar_chart balance;
    balance.title = "Peak/mean key share by algorithm";
    balance.x_label = "algorithm";
    balance.y_label = "fullest node / expected";
    balance.reference = 1.0;
    balance.reference_label = "perfect balance";
    svg::bar_chart moved;
    moved.title = "Keys moved by the change, relative to the ideal";
    moved.x_label = "algorithm";
    moved.y_label = "moved / ideal";
    moved.reference = 1.0;
    moved.reference_label = "ideal (only the change's share moves)";
    bool any_change = false;
    for (const auto& row : rows) {
        if (!row.result) continue;
        const std::string name{chash::to_string(row.algorithm)};
        balance.bars.push_back({name, row.result->before.peak_to_mean, false});
        if (const auto& m = row.result->change; m && m->ideal_fraction > 0) {
            moved.bars.push_back({name, m->moved_fraction / m->ideal_fraction, false});
            any_change = true;
        }
    }
    charts.emplace_back(std::move(balance));
    if (any_change) charts.emplace_back(std::move(moved));
    return charts;
}

}  // namespace ringlb::tools
