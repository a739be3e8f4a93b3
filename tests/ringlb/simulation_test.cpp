// simulate's figures checked against an independent count: the test places the same keys
// with chash directly and counts per node, moves and exchanges itself.
#include "ringlb/tools/experiments.hpp"
#include "ringlb/tools/simulation.hpp"

#include <chash/chash.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

namespace ringlb::tools {
namespace {

constexpr std::uint64_t test_keys = 20'000;

scenario make_scenario(chash::kind k, std::size_t nodes) {
    scenario s;
    s.before = pool{k, parse_nodes(std::to_string(nodes)), {}};
    s.keys = test_keys;
    s.measure_lookup = false;
    return s;
}

// The oracle: owner id of every key, from chash alone.
std::vector<std::string> owners(chash::kind k, const std::vector<chash::node>& nodes) {
    const auto algo = chash::make(k, nodes);
    std::vector<std::string> out;
    for (std::uint64_t i = 0; i < test_keys; ++i) {
        out.push_back(nodes[algo->pick("key-" + std::to_string(i))].id);
    }
    return out;
}

TEST(simulation, counts_moves_and_exchanges_match_an_independent_count) {
    for (const chash::kind k : {chash::kind::ring, chash::kind::ketama, chash::kind::maglev, chash::kind::rendezvous,
                                chash::kind::jump, chash::kind::modulo}) {
        SCOPED_TRACE(std::string{chash::to_string(k)});
        scenario s = make_scenario(k, 10);
        s.remove = {"node-010"};
        const simulation r = simulate(s);

        const auto before = owners(k, r.nodes_before);
        const auto after = owners(k, r.nodes_after);
        std::map<std::string, std::uint64_t> count;
        std::uint64_t moved = 0, exchanged = 0;
        for (std::uint64_t i = 0; i < test_keys; ++i) {
            ++count[before[i]];
            if (before[i] != after[i]) {
                ++moved;
                if (before[i] != "node-010") ++exchanged;
            }
        }
        for (std::size_t n = 0; n < r.nodes_before.size(); ++n) {
            EXPECT_EQ(r.before.keys[n], count[r.nodes_before[n].id]) << r.nodes_before[n].id;
        }
        ASSERT_TRUE(r.change);
        EXPECT_EQ(r.change->moved, moved);
        EXPECT_EQ(r.change->between_survivors, exchanged);
        EXPECT_DOUBLE_EQ(r.change->moved_fraction, static_cast<double>(moved) / test_keys);
        EXPECT_NEAR(r.change->ideal_fraction, 0.1, 1e-12);

        std::uint64_t max = 0, min = test_keys;
        for (const auto& [id, c] : count) {
            max = std::max(max, c);
            min = std::min(min, c);
        }
        EXPECT_EQ(r.before.max_keys, max);
        EXPECT_EQ(r.before.min_keys, min);
        EXPECT_DOUBLE_EQ(r.before.peak_to_mean, static_cast<double>(max) / (test_keys / 10.0));
    }
}

TEST(simulation, consistent_algorithms_never_exchange_keys_between_survivors) {
    for (const chash::kind k : {chash::kind::ring, chash::kind::rendezvous}) {
        scenario s = make_scenario(k, 20);
        s.remove = {"node-003", "node-017"};
        EXPECT_EQ(simulate(s).change->between_survivors, 0u) << chash::to_string(k);
        s.remove.clear();
        s.add = {{"node-021", 1}, {"node-022", 3}};
        const simulation r = simulate(s);
        EXPECT_EQ(r.change->between_survivors, 0u) << chash::to_string(k);
        // Only the new nodes gain.
        for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(r.change->gained[i], 0u);
        EXPECT_EQ(r.change->gained[20] + r.change->gained[21], r.change->moved);
    }
}

TEST(simulation, modulo_moves_almost_everything) {
    scenario s = make_scenario(chash::kind::modulo, 10);
    s.add = {{"node-011", 1}};
    const simulation r = simulate(s);
    EXPECT_GT(r.change->moved_fraction, 0.85);
    EXPECT_NEAR(r.change->ideal_fraction, 1.0 / 11, 1e-12);
}

TEST(simulation, weights_are_measured_against_expected_shares) {
    scenario s = make_scenario(chash::kind::rendezvous, 4);
    apply_weights(s.before.nodes, "1,1,1,5");
    const simulation r = simulate(s);
    // Rendezvous gives exact weight shares: ratios near 1 even with one heavy node.
    EXPECT_LT(r.before.peak_to_mean, 1.05);
    EXPECT_GT(r.before.min_ratio, 0.95);
    EXPECT_NEAR(static_cast<double>(r.before.keys[3]) / test_keys, 5.0 / 8, 0.02);
}

TEST(simulation, bounded_loads_cap_the_fullest_node) {
    scenario s = make_scenario(chash::kind::ring, 10);
    s.before.options.vnodes_per_weight = 4;   // deliberately uneven
    const double plain = simulate(s).before.peak_to_mean;
    s.balance_factor = 1.1;
    const simulation r = simulate(s);
    EXPECT_GT(plain, 1.2);
    EXPECT_LE(r.before.max_keys, static_cast<std::uint64_t>(std::ceil(1.1 * (test_keys + 1) / 10.0)));
    std::uint64_t total = 0;
    for (const auto c : r.before.keys) total += c;
    EXPECT_EQ(total, test_keys);
}

TEST(simulation, ideal_moved_fraction) {
    const std::vector<chash::node> four{{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
    const std::vector<chash::node> three{{"a", 1}, {"b", 1}, {"c", 1}};
    EXPECT_DOUBLE_EQ(ideal_moved_fraction(four, three), 0.25);
    EXPECT_DOUBLE_EQ(ideal_moved_fraction(three, four), 0.25);
    const std::vector<chash::node> heavier{{"a", 3}, {"b", 1}, {"c", 1}, {"d", 1}};
    EXPECT_NEAR(ideal_moved_fraction(four, heavier), 0.25, 1e-12);   // a goes from 1/4 to 1/2
    EXPECT_DOUBLE_EQ(ideal_moved_fraction(four, four), 0.0);
}

TEST(simulation, bad_input_is_a_usage_error) {
    scenario s = make_scenario(chash::kind::ring, 3);
    s.remove = {"nope"};
    EXPECT_THROW((void)simulate(s), usage_error);
    s.remove = {"node-001", "node-002", "node-003"};
    EXPECT_THROW((void)simulate(s), usage_error);
    s.remove.clear();
    s.add = {{"node-001", 1}};
    EXPECT_THROW((void)simulate(s), usage_error);
    s = make_scenario(chash::kind::jump, 3);
    apply_weights(s.before.nodes, "2");
    EXPECT_THROW((void)simulate(s), usage_error);
    EXPECT_THROW((void)parse_nodes("0"), usage_error);
    EXPECT_THROW((void)parse_nodes("a,,b"), usage_error);
    EXPECT_THROW((void)parse_nodes("a,a"), usage_error);
    std::vector<chash::node> n = parse_nodes("3");
    EXPECT_THROW(apply_weights(n, "1,2"), usage_error);
    EXPECT_THROW(apply_weights(n, "x"), usage_error);
    EXPECT_THROW((void)parse_algorithm("rign"), usage_error);
}

TEST(simulation, generated_ids_sort_numerically) {
    const auto n = parse_nodes("12");
    ASSERT_EQ(n.size(), 12u);
    EXPECT_EQ(n.front().id, "node-001");
    EXPECT_EQ(n.back().id, "node-012");
    EXPECT_EQ(generated_id(999, id_width(1000)), "node-1000");
    EXPECT_EQ(generated_id(8, id_width(1000)), "node-0009");
}

TEST(experiments, sweep_values_and_parse) {
    const sweep_spec s = parse_sweep("vnodes=10..1000:3");
    EXPECT_EQ(s.values(), (std::vector<std::uint64_t>{10, 100, 1000}));
    EXPECT_EQ(parse_sweep("vnodes=10..2000").values().size(), 12u);
    for (const char* bad : {"vnodes", "nodes=1..2", "vnodes=5..5", "vnodes=a..b", "vnodes=10..20:1"}) {
        EXPECT_THROW((void)parse_sweep(bad), usage_error) << bad;
    }
}

TEST(experiments, sweep_balances_better_with_more_vnodes) {
    scenario s = make_scenario(chash::kind::ring, 10);
    const auto points = run_sweep(s, parse_sweep("vnodes=2..500:3"));
    ASSERT_EQ(points.size(), 3u);
    EXPECT_GT(points.front().result.before.peak_to_mean, points.back().result.before.peak_to_mean);
    s.before.algorithm = chash::kind::maglev;
    EXPECT_THROW((void)run_sweep(s, parse_sweep("vnodes=2..500:3")), usage_error);
}

TEST(experiments, compare_reports_refusals_instead_of_failing) {
    scenario s = make_scenario(chash::kind::ring, 4);
    apply_weights(s.before.nodes, "1,2,1,1");
    const auto rows = run_compare(s);
    ASSERT_EQ(rows.size(), 6u);
    for (const auto& row : rows) {
        const bool unweighted_only = row.algorithm == chash::kind::jump || row.algorithm == chash::kind::modulo;
        EXPECT_EQ(row.result.has_value(), !unweighted_only) << chash::to_string(row.algorithm);
        EXPECT_EQ(row.error.empty(), !unweighted_only);
    }
}

}  // namespace
}  // namespace ringlb::tools
