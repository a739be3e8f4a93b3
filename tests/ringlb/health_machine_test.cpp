// One backend's health verdict: it starts up, `fall` consecutive failures take it down,
// `rise` consecutive successes bring it back, a result that agrees with the verdict resets
// the count toward the other one, and the next check waits interval, fast_interval while a
// change is under way, or down_interval while down.
#include "ringlb/control/health_machine.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ringlb::health_machine;

// Feeds "+" (success) and "-" (failure) results; returns the verdict changes as "^" (up)
// and "v" (down) at the result that made them, "." elsewhere.
std::string feed(health_machine& m, const std::string& results) {
    std::string out;
    for (char c : results) out += m.observe(c == '+') ? (m.up() ? '^' : 'v') : '.';
    return out;
}

TEST(HealthMachine, StartsUpAndGoesDownAtTheFallthFailure) {
    health_machine m{2, 3};
    EXPECT_TRUE(m.up());
    EXPECT_FALSE(m.changing());
    EXPECT_EQ(feed(m, "--"), "..");
    EXPECT_TRUE(m.up()) << "two failures of three";
    EXPECT_TRUE(m.changing());
    EXPECT_EQ(feed(m, "-"), "v");
    EXPECT_FALSE(m.up());
    EXPECT_FALSE(m.changing()) << "the streak restarts with the new verdict";
    EXPECT_EQ(feed(m, "----"), "....") << "failures while down change nothing";
}

TEST(HealthMachine, ComesBackAtTheRisethSuccess) {
    health_machine m{2, 3};
    feed(m, "---");
    ASSERT_FALSE(m.up());
    EXPECT_EQ(feed(m, "+"), ".");
    EXPECT_FALSE(m.up());
    EXPECT_EQ(feed(m, "+"), "^");
    EXPECT_TRUE(m.up());
    EXPECT_EQ(feed(m, "++++"), "....");
}

TEST(HealthMachine, AResultAgreeingWithTheVerdictResetsTheStreak) {
    health_machine m{3, 3};
    // Up: two failures, one success, two failures: never three in a row.
    EXPECT_EQ(feed(m, "--+--+--"), "........");
    EXPECT_TRUE(m.up());
    EXPECT_EQ(feed(m, "-"), "v");  // the third in a row
    // Down: two successes, one failure, two successes: never three in a row.
    EXPECT_EQ(feed(m, "++-++-++"), "........");
    EXPECT_FALSE(m.up());
    EXPECT_EQ(feed(m, "+"), "^");
}

TEST(HealthMachine, ThresholdsOfOneFlipAtOnce) {
    health_machine m{1, 1};
    EXPECT_EQ(feed(m, "-+-+"), "v^v^");
}

TEST(HealthMachine, DefaultsAreRiseTwoFallThree) {
    health_machine m;
    EXPECT_EQ(feed(m, "---++"), "..v.^");
}

TEST(HealthMachine, NewThresholdsApplyToTheStreakUnderWay) {
    health_machine m{2, 5};
    EXPECT_EQ(feed(m, "--"), "..");
    m.set_thresholds(2, 3);
    EXPECT_EQ(feed(m, "-"), "v") << "the verdict is kept, the count goes on under the new fall";
    m.set_thresholds(4, 3);
    EXPECT_EQ(feed(m, "+++"), "...");
    EXPECT_EQ(feed(m, "+"), "^");
}

TEST(HealthMachine, NextDelayFollowsTheVerdictAndTheStreak) {
    ringlb::health_check_config c;
    c.interval = ringlb::duration{1000};
    c.fast_interval = ringlb::duration{100};
    c.down_interval = ringlb::duration{5000};
    health_machine m{2, 2};
    EXPECT_EQ(m.next_delay(c), c.interval) << "up and steady";
    m.observe(false);
    EXPECT_EQ(m.next_delay(c), c.fast_interval) << "a change under way";
    m.observe(true);
    EXPECT_EQ(m.next_delay(c), c.interval) << "the change called off";
    m.observe(false);
    m.observe(false);
    ASSERT_FALSE(m.up());
    EXPECT_EQ(m.next_delay(c), c.down_interval) << "down and steady";
    m.observe(true);
    EXPECT_EQ(m.next_delay(c), c.fast_interval) << "coming back";
    m.observe(false);
    EXPECT_EQ(m.next_delay(c), c.down_interval);
    m.observe(true);
    m.observe(true);
    ASSERT_TRUE(m.up());
    EXPECT_EQ(m.next_delay(c), c.interval);
}

}  // namespace

TEST(HealthMachine, ClientFailuresCountPerIntervalApartFromChecks) {
    ringlb::health_machine m{2, 3};
    // Failing intervals interleaved with passing checks still add up.
    EXPECT_FALSE(m.observe_passive(true));
    EXPECT_FALSE(m.observe(true));
    EXPECT_FALSE(m.observe_passive(true));
    EXPECT_TRUE(m.changing());
    EXPECT_FALSE(m.observe(true));
    EXPECT_TRUE(m.observe_passive(true)) << "the third failing interval in a row";
    EXPECT_FALSE(m.up());
    // An interval without failures resets the count.
    ringlb::health_machine n{2, 2};
    EXPECT_FALSE(n.observe_passive(true));
    EXPECT_FALSE(n.observe_passive(false));
    EXPECT_FALSE(n.observe_passive(true));
    EXPECT_TRUE(n.up());
    // Traffic never vouches for a down backend: only checks bring it back.
    EXPECT_TRUE(n.observe_passive(true));
    EXPECT_FALSE(n.observe_passive(false));
    EXPECT_FALSE(n.up());
    EXPECT_FALSE(n.observe(true));
    EXPECT_TRUE(n.observe(true));
    EXPECT_TRUE(n.up());
}
