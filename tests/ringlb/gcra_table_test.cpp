// The rate-limit table: burst, rate, independence of keys, the instance share, eviction
// under a flood of new keys, sweeping, the 44-bit clock wrap, and exact counts under
// concurrent takes.
#include "ringlb/limit/gcra_table.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace ringlb {
namespace {

using namespace std::chrono_literals;

rate_rule rule(std::uint32_t count, std::chrono::milliseconds period, std::uint32_t burst) {
    rate_rule r;
    r.count = count;
    r.period = period;
    r.burst = burst;
    return r;
}

constexpr std::uint64_t ms = 1000;  // in the table's microseconds

TEST(gcra_table, a_quiet_key_gets_its_burst_then_one_request_per_interval) {
    gcra_table t{1024};
    const gcra_limit l = gcra_limit::from(rule(10, 1s, 5), 1);
    EXPECT_EQ(l.interval_us, 100 * ms);
    EXPECT_EQ(l.tolerance_us, 400 * ms);
    const std::uint64_t now = 5'000 * ms;
    for (std::uint32_t i = 0; i < 5; ++i) {
        const gcra_answer a = t.take(42, now, l);
        EXPECT_TRUE(a.allowed) << i;
        EXPECT_EQ(a.remaining, 4 - i);
    }
    const gcra_answer refused = t.take(42, now, l);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.retry_after_us, 100 * ms);
    // 60 ms later: 40 ms to go.
    EXPECT_EQ(t.take(42, now + 60 * ms, l).retry_after_us, 40 * ms);
    EXPECT_TRUE(t.take(42, now + 100 * ms, l).allowed);
    EXPECT_FALSE(t.take(42, now + 100 * ms, l).allowed);
}

TEST(gcra_table, over_a_window_a_key_gets_the_burst_plus_the_rate) {
    gcra_table t{1024};
    const gcra_limit l = gcra_limit::from(rule(10, 1s, 5), 1);
    int allowed = 0;
    // Ten times the rate, for ten seconds (both ends included).
    for (std::uint64_t now = 1'000 * ms; now <= 11'000 * ms; now += 10 * ms)
        allowed += t.take(7, now, l).allowed;
    EXPECT_EQ(allowed, 5 + 100);
    // A client below the rate is never refused.
    int refused = 0;
    for (std::uint64_t now = 1'000 * ms; now <= 11'000 * ms; now += 110 * ms)
        refused += !t.take(8, now, l).allowed;
    EXPECT_EQ(refused, 0);
}

TEST(gcra_table, keys_do_not_share_a_limit) {
    gcra_table t{1024};
    const gcra_limit l = gcra_limit::from(rule(1, 1s, 2), 1);
    for (std::uint64_t key = 1; key <= 200; ++key) {
        EXPECT_TRUE(t.take(key * 0x9e3779b97f4a7c15ULL, 0, l).allowed);
        EXPECT_TRUE(t.take(key * 0x9e3779b97f4a7c15ULL, 0, l).allowed);
        EXPECT_FALSE(t.take(key * 0x9e3779b97f4a7c15ULL, 0, l).allowed);
    }
}

TEST(gcra_table, a_cluster_rule_is_split_between_instances) {
    const gcra_limit one = gcra_limit::from(rule(100, 1s, 10), 1);
    EXPECT_EQ(one.interval_us, 10 * ms);
    EXPECT_EQ(one.tolerance_us, 90 * ms);
    const gcra_limit four = gcra_limit::from(rule(100, 1s, 10), 4);
    EXPECT_EQ(four.interval_us, 40 * ms);       // 25/s each
    EXPECT_EQ(four.tolerance_us, 2 * 40 * ms);  // a burst of ceil(10 / 4) = 3
    // More instances than the burst: each still lets one request through.
    const gcra_limit many = gcra_limit::from(rule(100, 1s, 10), 50);
    EXPECT_EQ(many.tolerance_us, 0u);
    EXPECT_EQ(gcra_limit::from(rule(30, 60s, 1), 1).interval_us, 2'000 * ms);
    // Whole microseconds, rounded up: never faster than the rate.
    EXPECT_EQ(gcra_limit::from(rule(600'000, 1s, 1), 1).interval_us, 2u);
    EXPECT_EQ(gcra_limit::from(rule(1'000'000, 1s, 1), 1).interval_us, 1u);
}

TEST(gcra_table, a_flood_of_new_keys_evicts_them_before_a_key_held_at_its_limit) {
    gcra_table t{64};  // 16 buckets
    const gcra_limit l = gcra_limit::from(rule(1, 1s, 3), 1);
    const std::uint64_t held = 0xabcdef0123456789ULL;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(t.take(held, 0, l).allowed);
    ASSERT_FALSE(t.take(held, 0, l).allowed);
    std::uint64_t evictions = 0;
    for (std::uint64_t k = 1; k <= 100'000; ++k)
        evictions += t.take(k * 0xff51afd7ed558ccdULL, 10 * ms, l).evicted;
    EXPECT_GT(evictions, 90'000u);  // the table stayed at 64 slots
    EXPECT_EQ(t.slots(), 64u);
    // The held key is still held: a fresh key (one request in) is evicted first.
    EXPECT_FALSE(t.take(held, 20 * ms, l).allowed);
}

TEST(gcra_table, sweep_clears_keys_back_to_a_fresh_state_only) {
    gcra_table t{64};
    const gcra_limit l = gcra_limit::from(rule(1, 1s, 1), 1);
    for (std::uint64_t k = 1; k <= 8; ++k) ASSERT_TRUE(t.take(k << 50 | k, 0, l).allowed);
    EXPECT_EQ(t.sweep(500 * ms, 64), 0u);    // every TAT is still ahead
    EXPECT_EQ(t.sweep(1'000 * ms, 64), 8u);  // now they are all due: as if never seen
    EXPECT_EQ(t.sweep(1'000 * ms, 64), 0u);
    EXPECT_TRUE(t.take(1ull << 50 | 1, 1'000 * ms, l).allowed);
}

TEST(gcra_table, the_stored_clock_wraps_without_a_jump) {
    gcra_table t{64};
    const gcra_limit l = gcra_limit::from(rule(10, 1s, 1), 1);
    const std::uint64_t wrap = std::uint64_t{1} << 44;
    std::uint64_t now = wrap - 150 * ms;
    ASSERT_TRUE(t.take(99, now, l).allowed);
    EXPECT_FALSE(t.take(99, now + 50 * ms, l).allowed);
    EXPECT_TRUE(t.take(99, now + 100 * ms, l).allowed);   // its TAT is now past the wrap
    const gcra_answer a = t.take(99, now + 160 * ms, l);  // and so is now
    EXPECT_FALSE(a.allowed);
    EXPECT_EQ(a.retry_after_us, 40 * ms);
    now += 200 * ms;
    EXPECT_TRUE(t.take(99, now, l).allowed);
}

TEST(gcra_table, concurrent_takes_on_one_key_allow_exactly_the_burst) {
    gcra_table t{64};
    const gcra_limit l = gcra_limit::from(rule(1, 1s, 1000), 1);
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            int mine = 0;
            for (int n = 0; n < 20'000; ++n) mine += t.take(5, 0, l).allowed;
            allowed += mine;
        });
    for (auto& th : threads) th.join();
    // A lost compare-and-swap retries; a request that loses eight in a row goes through, so
    // at most a few more than the burst (none on this machine in practice).
    EXPECT_GE(allowed.load(), 1000);
    EXPECT_LE(allowed.load(), 1010);
}

}  // namespace
}  // namespace ringlb
