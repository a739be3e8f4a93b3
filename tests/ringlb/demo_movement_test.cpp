#include "ringlb/demo/demo_config.hpp"
#include "ringlb/demo/movement.hpp"
#include "ringlb/demo/traffic.hpp"
#include "ringlb/demo/traffic_report.hpp"

#include <gtest/gtest.h>

namespace ringlb::demo {
namespace {

TEST(DemoConfig, EmbeddedConfigValidatesWithTheGivenPorts) {
    const config cfg = demo_config({.listen = 18080, .first_backend = 19101});
    EXPECT_EQ(cfg.server.listen.port, 18080);
    ASSERT_EQ(cfg.backends.size(), backend_count);
    for (unsigned i = 0; i < backend_count; ++i) {
        EXPECT_EQ(cfg.backends[i].id, "app-" + std::to_string(i + 1));
        EXPECT_EQ(cfg.backends[i].address.port, 19101 + i);
    }
    // The --traffic comparison depends on these two.
    EXPECT_EQ(cfg.routing.hash_key.from, hash_key_rule::source::header);
    EXPECT_EQ(cfg.routing.hash_key.name, "X-User-Id");
    EXPECT_EQ(cfg.routing.keyless, keyless_policy::round_robin);
}

TEST(DemoConfig, PrintedTextParsesWithoutWarnings) {
    const config_result r = parse_config(demo_config_text({}), "demo.toml");
    EXPECT_TRUE(r.errors.empty());
    EXPECT_TRUE(r.warnings.empty());
}

TEST(DemoUsers, IdsAreOneBasedRanks) {
    EXPECT_EQ(user_id(0), "user-1");
    EXPECT_EQ(user_id(41), "user-42");
}

TEST(DemoMovement, RingMovesOnlyTheRemovedBackendsUsers) {
    const config cfg = demo_config({});
    const auto nodes = chash_nodes(cfg);
    const auto effects = removal_effects(cfg.routing.algorithm, nodes, chash_options(cfg.routing), 20'000);
    ASSERT_EQ(effects.size(), nodes.size());
    double mean = 0;
    for (const removal_effect& e : effects) {
        EXPECT_EQ(e.moved_between_stayers, 0u) << e.removed;
        EXPECT_DOUBLE_EQ(e.moved_share, e.owned_share) << e.removed;
        EXPECT_NEAR(e.moved_share, 0.25, 0.06) << e.removed;
        mean += e.moved_share / static_cast<double>(effects.size());
    }
    // Each user belongs to exactly one backend: the four removals move everybody once.
    EXPECT_NEAR(mean, 0.25, 1e-9);
}

TEST(DemoMovement, ModuloMovesMostUsers) {
    const config cfg = demo_config({});
    const auto effects = removal_effects(chash::kind::modulo, chash_nodes(cfg), {}, 20'000);
    for (const removal_effect& e : effects) {
        EXPECT_GT(e.moved_share, 0.6) << e.removed;
        EXPECT_GT(e.moved_between_stayers, 0u) << e.removed;
    }
}

TEST(DemoMovement, OneBackendHasNothingToRemove) {
    const std::vector<chash::node> one{{"app-1"}};
    EXPECT_TRUE(removal_effects(chash::kind::ring, one, {}, 100).empty());
}

TEST(DemoReport, TrafficTableHasSharesAndHitRates) {
    traffic_result r;
    r.backends = {{"app-1", 300, 270}, {"app-2", 100, 50}};
    r.requests = 400;
    r.hits = 320;
    r.seconds = 2;
    const std::string text = format_traffic("consistent hashing", r);
    EXPECT_NE(text.find("400 requests (200/s)"), std::string::npos) << text;
    EXPECT_NE(text.find("app-1         75.0%      90.0%"), std::string::npos) << text;
    EXPECT_NE(text.find("all          100.0%      80.0%"), std::string::npos) << text;
}

TEST(DemoReport, ComparisonSaysHowManyFewerDatabaseReads) {
    traffic_result hashed, keyless;
    hashed.requests = keyless.requests = 100;
    hashed.hits = 80;
    keyless.hits = 60;
    const std::string text = format_comparison(hashed, keyless);
    EXPECT_NE(text.find("80.0% with consistent hashing, 60.0% with round-robin"), std::string::npos) << text;
    EXPECT_NE(text.find("2.0x fewer"), std::string::npos) << text;
}

}  // namespace
}  // namespace ringlb::demo
