// The --join report: seconds from cumulative readings, the peak after the join, the table.
#include "ringlb/demo/join_report.hpp"

#include <gtest/gtest.h>

namespace ringlb::demo {
namespace {

std::vector<app_counts> reading(std::uint64_t old_hits, std::uint64_t old_misses, std::uint64_t new_hits,
                                std::uint64_t new_misses) {
    return {{"app-1", old_hits, old_misses, 0}, {"app-2", new_hits, new_misses, 0}};
}

TEST(DemoJoinReport, SecondsAreDifferencesOfConsecutiveReadings) {
    const std::vector<std::vector<app_counts>> readings{reading(0, 0, 0, 0), reading(100, 10, 0, 0),
                                                        reading(190, 15, 30, 20), reading(300, 16, 80, 22)};
    const auto secs = per_second(readings, 1, -1);
    ASSERT_EQ(secs.size(), 3u);
    EXPECT_EQ(secs[0].second, -1);
    EXPECT_EQ(secs[0].requests, 110u);
    EXPECT_EQ(secs[0].misses, 10u);
    EXPECT_EQ(secs[0].new_requests, 0u);
    EXPECT_LT(secs[0].new_hit_rate(), 0);  // served nothing: no rate
    EXPECT_EQ(secs[1].second, 0);
    EXPECT_EQ(secs[1].requests, 95u + 50u);
    EXPECT_EQ(secs[1].misses, 5u + 20u);
    EXPECT_EQ(secs[1].new_hits, 30u);
    EXPECT_EQ(secs[1].new_misses, 20u);
    EXPECT_DOUBLE_EQ(secs[1].new_hit_rate(), 0.6);
    EXPECT_DOUBLE_EQ(secs[1].new_share(), 50.0 / 145.0);
    EXPECT_EQ(secs[2].second, 1);
}

TEST(DemoJoinReport, ACounterThatWentDownCountsAsZero) {
    const std::vector<std::vector<app_counts>> readings{reading(100, 10, 5, 5), reading(3, 1, 6, 5)};
    const auto secs = per_second(readings, 1, 0);
    ASSERT_EQ(secs.size(), 1u);
    EXPECT_EQ(secs[0].requests, 1u);
    EXPECT_EQ(secs[0].misses, 0u);
}

TEST(DemoJoinReport, PeakCountsOnlySecondsFromTheJoinOn) {
    join_run run;
    run.seconds = {{.second = -2, .misses = 900}, {.second = 0, .misses = 40}, {.second = 3, .misses = 70}};
    EXPECT_EQ(peak_misses_after_join(run), 70u);
    EXPECT_EQ(peak_misses_after_join(join_run{}), 0u);
}

TEST(DemoJoinReport, TableShowsBothRunsAndHowMuchLowerTheRampedPeakIs) {
    join_run instant{
        duration{0},
        {{.second = -1, .requests = 100, .misses = 1},
         {.second = 0, .requests = 100, .misses = 400, .new_requests = 25, .new_hits = 5, .new_misses = 20}}};
    join_run ramped{
        duration{6000},
        {{.second = -1, .requests = 100, .misses = 1},
         {.second = 0, .requests = 100, .misses = 100, .new_requests = 5, .new_hits = 4, .new_misses = 1}}};
    const std::string table = format_join(instant, ramped, "app-4", 1);
    EXPECT_NE(table.find("instant join (slow_start = 0)"), std::string::npos) << table;
    EXPECT_NE(table.find("slow start (slow_start = \"6s\")"), std::string::npos) << table;
    EXPECT_NE(table.find("join 0"), std::string::npos) << table;
    EXPECT_NE(table.find("25.0%"), std::string::npos) << table;  // app-4's share, instant
    EXPECT_NE(table.find("20.0%"), std::string::npos) << table;  // its hit rate, instant
    EXPECT_NE(table.find("400 with an instant join, 100 with slow start (4.0x lower)"), std::string::npos)
        << table;
}

}  // namespace
}  // namespace ringlb::demo
