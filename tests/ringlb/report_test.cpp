// simulate's output formats, pinned by golden files (timings left out: they vary).
#include "ringlb/tools/report.hpp"

#include "golden_file.hpp"

#include <gtest/gtest.h>

namespace ringlb::tools {
namespace {

scenario ten_nodes_remove_one() {
    scenario s;
    s.before = pool{chash::kind::ring, parse_nodes("10"), {}};
    s.keys = 10'000;
    s.measure_lookup = false;
    s.remove = {"node-010"};
    return s;
}

constexpr report_options reproducible{.timing = false, .per_node = true};

TEST(report, simulate_table_golden) {
    EXPECT_GOLDEN("simulate_ring_10_remove_1.txt", format_table(simulate(ten_nodes_remove_one()), reproducible));
}

TEST(report, simulate_json_golden_and_consistent) {
    const simulation r = simulate(ten_nodes_remove_one());
    const nlohmann::json j = to_json(r, reproducible);
    EXPECT_FALSE(j.contains("build_ms"));
    EXPECT_EQ(j["keys"], 10'000);
    EXPECT_EQ(j["change"]["moved_keys"], r.change->moved);
    std::uint64_t lost = 0;
    for (const auto& [id, n] : j["change"]["lost"].items()) lost += n.get<std::uint64_t>();
    EXPECT_EQ(lost, r.change->moved);
    EXPECT_GOLDEN("simulate_ring_10_remove_1.json", j.dump(2) + "\n");
}

TEST(report, compare_table_golden) {
    EXPECT_GOLDEN("compare_10_remove_1.txt", format_compare_table(run_compare(ten_nodes_remove_one()), reproducible));
}

TEST(report, sweep_table_golden) {
    scenario s = ten_nodes_remove_one();
    EXPECT_GOLDEN("sweep_ring_10.txt", format_sweep_table(run_sweep(s, parse_sweep("vnodes=10..1000:5")), reproducible));
}

TEST(report, charts_for_a_change_show_who_gained) {
    const simulation r = simulate(ten_nodes_remove_one());
    const auto charts = charts_for(r);
    ASSERT_EQ(charts.size(), 2u);
    const auto& gained = std::get<svg::bar_chart>(charts[1]);
    ASSERT_EQ(gained.bars.size(), 9u);
    double total = 0;
    for (const auto& b : gained.bars) total += b.value;
    EXPECT_EQ(total, static_cast<double>(r.change->moved));
    EXPECT_GOLDEN("simulate_ring_10_remove_1.svg", svg::render(charts));
}

TEST(report, human_bytes) {
    EXPECT_EQ(human_bytes(400), "400 B");
    EXPECT_EQ(human_bytes(2048), "2.0 KiB");
    EXPECT_EQ(human_bytes(3u << 20), "3.0 MiB");
}

}  // namespace
}  // namespace ringlb::tools
