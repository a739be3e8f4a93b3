// plan: exact methods agree with sampling, fractions add up, and bad changes are refused.
#include "ringlb/tools/plan.hpp"

#include <gtest/gtest.h>

#include <numeric>

namespace ringlb::tools {
namespace {

pool three(chash::kind k) { return pool{k, {{"app-1", 1}, {"app-2", 1}, {"app-3", 2}}, {}}; }

double sum_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

TEST(plan, exact_methods_agree_with_sampling) {
    for (const chash::kind k : {chash::kind::ring, chash::kind::ketama, chash::kind::maglev}) {
        SCOPED_TRACE(std::string{chash::to_string(k)});
        for (const plan_change& change : {parse_plan_drain("app-2"), parse_plan_add("app-4=127.0.0.1:9,2"),
                                          parse_plan_weight("app-1=3")}) {
            const plan_result exact = make_plan(three(k), change);
            ASSERT_TRUE(exact.exact);
            // The sampled answer of the same placement, through the rendezvous-style path.
            std::uint64_t moved = 0;
            const auto before = three(k).build();
            const auto after = pool{k, exact.after, {}}.build();
            constexpr std::uint64_t n = 200'000;
            for (std::uint64_t i = 0; i < n; ++i) {
                const std::string key = "key-" + std::to_string(i);
                if (exact.before[before->pick(key)].id != exact.after[after->pick(key)].id) ++moved;
            }
            const double sampled = static_cast<double>(moved) / n;
            EXPECT_NEAR(exact.moved_fraction, sampled, 0.005) << exact.method;
            EXPECT_NEAR(sum_of(exact.share_before), 1.0, 1e-9);
            EXPECT_NEAR(sum_of(exact.share_after), 1.0, 1e-9);
            double flows = 0;
            for (const auto& f : exact.flows) flows += f.fraction;
            EXPECT_NEAR(flows, exact.moved_fraction, 1e-12);
        }
    }
}

TEST(plan, ring_drain_moves_only_the_drained_share) {
    const plan_result p = make_plan(three(chash::kind::ring), parse_plan_drain("app-2"));
    for (const auto& f : p.flows) EXPECT_EQ(f.from, "app-2");
    EXPECT_NEAR(p.moved_fraction, p.share_before[1], 1e-12);
    EXPECT_DOUBLE_EQ(p.ideal_fraction, 0.25);
    EXPECT_NE(p.method.find("exact"), std::string::npos);
}

TEST(plan, ring_add_moves_keys_only_to_the_new_backend) {
    const plan_result p = make_plan(three(chash::kind::ring), parse_plan_add("app-4=[::1]:80"));
    for (const auto& f : p.flows) EXPECT_EQ(f.to, "app-4");
    EXPECT_EQ(p.change.address, "[::1]:80");
    EXPECT_EQ(p.change.weight, 1u);
}

TEST(plan, sampled_methods_say_so_with_a_margin) {
    const plan_result p = make_plan(three(chash::kind::rendezvous), parse_plan_drain("app-3"), 100'000);
    EXPECT_FALSE(p.exact);
    EXPECT_EQ(p.samples, 100'000u);
    EXPECT_GT(p.margin, 0.0);
    EXPECT_NE(p.method.find("sampled"), std::string::npos);
    EXPECT_NEAR(p.moved_fraction, 0.5, 4 * p.margin);
    for (const auto& f : p.flows) EXPECT_EQ(f.from, "app-3");
}

TEST(plan, changes_that_do_not_apply_are_refused) {
    EXPECT_THROW((void)make_plan(three(chash::kind::ring), parse_plan_drain("app-9")), usage_error);
    EXPECT_THROW((void)make_plan(three(chash::kind::ring), parse_plan_add("app-1=127.0.0.1:1")), usage_error);
    EXPECT_THROW((void)make_plan(three(chash::kind::ring), parse_plan_weight("app-9=2")), usage_error);
    EXPECT_THROW((void)make_plan(pool{chash::kind::ring, {{"only", 1}}, {}}, parse_plan_drain("only")), usage_error);
    EXPECT_THROW((void)make_plan(pool{chash::kind::modulo, {{"a", 1}, {"b", 1}}, {}}, parse_plan_weight("a=2")),
                 usage_error);
    for (const char* bad : {"", "=1.2.3.4:5", "a", "a=", "a=nowhere", "a=127.0.0.1:1,x", "a=127.0.0.1:1,20000"}) {
        EXPECT_THROW((void)parse_plan_add(bad), usage_error) << bad;
    }
    for (const char* bad : {"", "a", "a=", "a=-1", "=2"}) EXPECT_THROW((void)parse_plan_weight(bad), usage_error) << bad;
}

}  // namespace
}  // namespace ringlb::tools
