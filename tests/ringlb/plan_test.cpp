// plan: exact methods agree with sampling, fractions add up, and bad changes are refused;
// the slow-start schedule counts exactly the new backend's keys, each once, as the ramp
// reaches them.
#include "ringlb/tools/plan.hpp"

#include "ringlb/lb/ramp.hpp"
#include "ringlb/tools/commands.hpp"
#include "ringlb/tools/simulation.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

namespace ringlb::tools {
namespace {

pool three(chash::kind k) {
    return pool{k, {{"app-1", 1}, {"app-2", 1}, {"app-3", 2}}, {}};
}

double sum_of(const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0);
}

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
    EXPECT_THROW((void)make_plan(pool{chash::kind::ring, {{"only", 1}}, {}}, parse_plan_drain("only")),
                 usage_error);
    EXPECT_THROW(
        (void)make_plan(pool{chash::kind::modulo, {{"a", 1}, {"b", 1}}, {}}, parse_plan_weight("a=2")),
        usage_error);
    for (const char* bad :
         {"", "=1.2.3.4:5", "a", "a=", "a=nowhere", "a=127.0.0.1:1,x", "a=127.0.0.1:1,20000"}) {
        EXPECT_THROW((void)parse_plan_add(bad), usage_error) << bad;
    }
    for (const char* bad : {"", "a", "a=", "a=-1", "=2"})
        EXPECT_THROW((void)parse_plan_weight(bad), usage_error) << bad;
}

using namespace std::chrono_literals;

TEST(plan_slow_start, shares_rise_from_nothing_to_all_of_the_new_backends_keys) {
    for (const chash::kind k : {chash::kind::ring, chash::kind::maglev, chash::kind::rendezvous}) {
        SCOPED_TRACE(std::string{chash::to_string(k)});
        const plan_result p = make_plan(three(k), parse_plan_add("app-4=127.0.0.1:9,2"), 100'000, 60s);
        ASSERT_TRUE(p.slow_start);
        const slow_start_schedule& s = *p.slow_start;
        EXPECT_EQ(s.backend, "app-4");
        EXPECT_EQ(s.window, 60s);
        EXPECT_EQ(s.samples, 100'000u);
        ASSERT_EQ(s.steps.size(), slow_start_steps);
        EXPECT_EQ(s.steps.front().at, 0s);
        EXPECT_EQ(s.steps.back().at, 60s);
        EXPECT_EQ(s.steps.front().arrived, 0u);
        EXPECT_EQ(s.steps.front().backend_share, 0.0);
        EXPECT_EQ(s.steps.back().arrived, s.owned);
        EXPECT_EQ(s.steps.back().backend_share, 1.0);
        // app-4 has weight 2 of 6: a third of the keys, as the plan's own share says.
        EXPECT_NEAR(s.steps.back().key_share, p.share_after.back(), 0.01);
        for (std::size_t i = 1; i < s.steps.size(); ++i) {
            EXPECT_EQ(s.steps[i].at, 6s * static_cast<int>(i));
            EXPECT_GE(s.steps[i].arrived, s.steps[i - 1].arrived) << i;
            EXPECT_GE(s.steps[i].backend_share, s.steps[i - 1].backend_share) << i;
            EXPECT_GE(s.steps[i].key_share, s.steps[i - 1].key_share) << i;
            // Linear in time: ~33,000 keys, so 3% is more than 10 standard deviations.
            EXPECT_NEAR(s.steps[i].backend_share, static_cast<double>(i) / 10, 0.03) << i;
        }
    }
}

TEST(plan_slow_start, the_keys_that_arrive_are_exactly_the_new_backends) {
    const pool before = three(chash::kind::ring);
    pool after = before;
    after.nodes.push_back({"app-4", 1});
    std::map<std::uint64_t, std::size_t> arrivals;  // key index -> step
    const slow_start_schedule s =
        make_slow_start_schedule(before, after, 3, 10s, 20'000, [&](std::uint64_t key, std::size_t step) {
            EXPECT_TRUE(arrivals.emplace(key, step).second) << "key-" << key << " counted twice";
        });
    const auto algo = after.build();
    const auto window = std::chrono::nanoseconds{10s}.count();
    std::uint64_t owned = 0;
    std::array<char, 32> buf;
    for (std::uint64_t k = 0; k < 20'000; ++k) {
        const std::uint64_t h = algo->hash_key(simulated_key(k, buf));
        const auto it = arrivals.find(k);
        if (algo->pick_hashed(h) != 3) {
            EXPECT_EQ(it, arrivals.end()) << "key-" << k << " is not app-4's";
            continue;
        }
        ++owned;
        ASSERT_NE(it, arrivals.end()) << "key-" << k << " is app-4's and never arrived";
        // Counted at the first instant at which the proxy's own test admits it.
        const std::size_t step = it->second;
        const std::uint64_t h2 = handover_hash(h);
        EXPECT_TRUE(ramp_passed(h2, s.steps[step].at.count(), window)) << k;
        if (step > 0) {
            EXPECT_FALSE(ramp_passed(h2, s.steps[step - 1].at.count(), window)) << k;
        }
    }
    EXPECT_EQ(s.owned, owned);
    EXPECT_EQ(arrivals.size(), owned);
    EXPECT_GT(owned, 3000u);
    // On a ring, a new backend's keys wait on the backend that held them before: nothing
    // moves at the reload itself.
    EXPECT_EQ(s.moved_at_reload, 0u);
    for (std::size_t i = 0; i < s.steps.size(); ++i) {
        std::uint64_t by_then = 0;
        for (const auto& [key, step] : arrivals) by_then += step <= i ? 1 : 0;
        EXPECT_EQ(s.steps[i].arrived, by_then) << i;
    }
}

TEST(plan_slow_start, maglev_says_what_moves_at_the_reload) {
    // Maglev's table shifts between the backends that stay when one joins, and a new
    // backend's key may wait on a next candidate that did not hold it: those keys move at the
    // reload whatever the ramp does. Counted here from the placements themselves.
    const plan_result p =
        make_plan(three(chash::kind::maglev), parse_plan_add("app-4=127.0.0.1:9"), 50'000, 5s);
    ASSERT_TRUE(p.slow_start);
    const auto before = three(chash::kind::maglev).build();
    const auto after = pool{chash::kind::maglev, p.after, {}}.build();
    std::uint64_t moved = 0;
    std::array<std::size_t, 2> walk{};
    std::array<char, 32> buf;
    for (std::uint64_t k = 0; k < 50'000; ++k) {
        const std::uint64_t h = after->hash_key(simulated_key(k, buf));
        ASSERT_EQ(after->candidates(h, walk), 2u);
        // During the ramp a key of app-4 (index 3) is served by its next candidate.
        const std::size_t serving = walk[0] == 3 ? walk[1] : walk[0];
        if (p.after[serving].id != p.before[before->pick_hashed(h)].id) ++moved;
    }
    EXPECT_GT(moved, 0u);
    EXPECT_EQ(p.slow_start->moved_at_reload, moved);
}

TEST(plan_slow_start, only_an_add_with_slow_start_has_a_schedule) {
    EXPECT_FALSE(make_plan(three(chash::kind::ring), parse_plan_add("app-4=127.0.0.1:9"), 1000).slow_start);
    EXPECT_FALSE(make_plan(three(chash::kind::ring), parse_plan_drain("app-1"), 1000, 60s).slow_start);
    EXPECT_FALSE(make_plan(three(chash::kind::ring), parse_plan_weight("app-1=5"), 1000, 60s).slow_start);
    EXPECT_FALSE(
        make_plan(three(chash::kind::ring), parse_plan_add("app-4=127.0.0.1:9,0"), 1000, 60s).slow_start);
}

TEST(plan_slow_start, table_and_json_show_the_schedule) {
    const plan_result p =
        make_plan(three(chash::kind::ring), parse_plan_add("app-4=127.0.0.1:9"), 10'000, 30s);
    const std::string text = format_plan(p);
    EXPECT_NE(text.find("slow start ([routing] slow_start = \"30s\")"), std::string::npos) << text;
    EXPECT_NE(text.find("its keys"), std::string::npos) << text;
    EXPECT_NE(text.find("       30s         100.0%"), std::string::npos) << text;
    const nlohmann::json j = plan_to_json(p);
    ASSERT_TRUE(j.contains("slow_start")) << j.dump(2);
    EXPECT_EQ(j["slow_start"]["backend"], "app-4");
    EXPECT_EQ(j["slow_start"]["window_ms"], 30000.0);
    ASSERT_EQ(j["slow_start"]["steps"].size(), slow_start_steps);
    EXPECT_EQ(j["slow_start"]["steps"][10]["backend_share"], 1.0);
    EXPECT_EQ(j["slow_start"]["steps"][5]["at_ms"], 15000.0);
    EXPECT_FALSE(
        plan_to_json(make_plan(three(chash::kind::ring), parse_plan_drain("app-1"))).contains("slow_start"));
}

TEST(plan_slow_start, the_command_reads_slow_start_from_the_config) {
    const std::string path = ::testing::TempDir() + "ringlb_plan_slow_start_test.toml";
    std::ofstream{path} << "[routing]\nslow_start = \"2m\"\n\n"
                           "[[backends]]\nid = \"a\"\naddress = \"127.0.0.1:1\"\n\n"
                           "[[backends]]\nid = \"b\"\naddress = \"127.0.0.1:2\"\n";
    const auto run = [&](const std::string& args) {
        CLI::App app{"ringlb"};
        commands cmds{app};
        app.parse("plan -c " + path + " " + args, false);
        std::ostringstream out, err;
        EXPECT_EQ(cmds.run(out, err), 0) << err.str();
        return out.str();
    };
    const std::string text = run("--add c=127.0.0.1:3 --keys 30000");
    EXPECT_NE(text.find("slow_start = \"2m\""), std::string::npos) << text;
    EXPECT_NE(text.find("sampled: 30000 keys"), std::string::npos) << text;
    EXPECT_NE(text.find("1m"), std::string::npos) << text;  // the middle step
    const nlohmann::json j = nlohmann::json::parse(run("--add c=127.0.0.1:3 --keys 30000 --format json"));
    EXPECT_EQ(j["slow_start"]["window_ms"], 120000.0);
    EXPECT_EQ(run("--drain a").find("slow start"), std::string::npos);
}

}  // namespace
}  // namespace ringlb::tools
