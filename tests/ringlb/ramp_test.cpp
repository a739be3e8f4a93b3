// The hand-over ramp of slow start and drain windows: a fixed second hash of a key, a
// threshold that rises from 0 to the top over the window and never falls, and over many
// keys a set of handed-over keys that only grows, whose share follows elapsed / window and
// is everything once the window is over, wherever the keys sit on the ring.
#include "ringlb/lb/ramp.hpp"

#include <chash/hash.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

using ringlb::handover_hash;
using ringlb::ramp_passed;
using ringlb::ramp_threshold;

constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();

// The routing hashes of n keys, as the proxy computes them.
std::vector<std::uint64_t> key_hashes(int n) {
    std::vector<std::uint64_t> out;
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) out.push_back(chash::hash64("user-" + std::to_string(i)));
    return out;
}

// How far a share measured over n keys may stray from `expected`: six standard deviations
// of a binomial share, plus one key of rounding.
double tolerance(double expected, std::size_t n) {
    return 6.0 * std::sqrt(expected * (1.0 - expected) / static_cast<double>(n)) +
           1.0 / static_cast<double>(n);
}

TEST(Ramp, HandoverHashIsSplitmix64sFinaliserPinned) {
    // splitmix64's first output from seed 0 (the finaliser of the golden gamma): a published
    // reference value. A change here moves which keys a running ramp has handed over.
    static_assert(handover_hash(0) == 0xe220a8397b1dcdafULL);
    EXPECT_NE(handover_hash(1), handover_hash(0));
    // Bijective: no two of many inputs collide.
    std::unordered_set<std::uint64_t> seen;
    for (std::uint64_t k = 0; k < 100000; ++k) seen.insert(handover_hash(k));
    EXPECT_EQ(seen.size(), 100000u);
}

TEST(Ramp, HandoverHashIsIndependentOfWhereTheKeySits) {
    // 20000 keys packed into one tiny arc of the ring (routing hashes 0..19999): their
    // hand-over hashes still spread evenly, so a ramp reaches every arc at the same pace.
    constexpr std::size_t n = 20000;
    for (const double share : {0.1, 0.25, 0.5, 0.9}) {
        const auto threshold = static_cast<std::uint64_t>(share * 18446744073709551616.0);
        std::size_t below = 0;
        for (std::uint64_t k = 0; k < n; ++k) below += handover_hash(k) < threshold ? 1 : 0;
        const double got = static_cast<double>(below) / n;
        EXPECT_NEAR(got, share, tolerance(share, n)) << share;
    }
}

TEST(Ramp, ThresholdRunsFromZeroToTheTop) {
    constexpr std::int64_t window = 60'000'000'000;  // 60 s in nanoseconds
    EXPECT_EQ(ramp_threshold(0, window), 0u);
    EXPECT_EQ(ramp_threshold(-1, window), 0u) << "before the start";
    EXPECT_EQ(ramp_threshold(std::numeric_limits<std::int64_t>::min(), window), 0u);
    EXPECT_EQ(ramp_threshold(window, window), top);
    EXPECT_EQ(ramp_threshold(window + 1, window), top) << "after the end";
    EXPECT_EQ(ramp_threshold(std::numeric_limits<std::int64_t>::max(), window), top);
    EXPECT_EQ(ramp_threshold(window / 2, window), std::uint64_t{1} << 63) << "exact at half way";
    EXPECT_EQ(ramp_threshold(window / 4, window), std::uint64_t{1} << 62);
    EXPECT_GT(ramp_threshold(1, window), 0u) << "moving from the first tick";
    EXPECT_LT(ramp_threshold(window - 1, window), top);
    // A zero window is over at once.
    EXPECT_EQ(ramp_threshold(0, 0), 0u);
    EXPECT_TRUE(ramp_passed(top, 0, 0));
}

TEST(Ramp, ThresholdNeverFallsAsTimeGoesOn) {
    for (const std::int64_t window :
         {std::int64_t{7}, std::int64_t{1000}, std::int64_t{60'000'000'000}, std::int64_t{3'600'000'000'000},
          std::numeric_limits<std::int64_t>::max()}) {
        std::uint64_t last = 0;
        // Every tick of a short window; a few thousand points spread over a long one (each
        // with its neighbour, where rounding would show).
        const std::int64_t step = window <= 2000 ? 1 : window / 4096;
        for (std::int64_t e = -3; e <= window - step; e += step) {
            for (const std::int64_t at : {e, e + 1}) {
                const std::uint64_t t = ramp_threshold(at, window);
                EXPECT_GE(t, last) << "window " << window << " elapsed " << at;
                last = t;
            }
        }
        EXPECT_GE(ramp_threshold(window, window), last);
    }
}

TEST(Ramp, HandedOverKeysOnlyGrowAndTheirShareFollowsTime) {
    const auto keys = key_hashes(20000);
    std::vector<std::uint64_t> h2;
    for (auto h : keys) h2.push_back(handover_hash(h));
    constexpr std::int64_t window = 30'000'000'000;  // 30 s
    constexpr int steps = 60;
    std::vector<bool> passed(keys.size(), false);
    for (int s = 0; s <= steps + 2; ++s) {
        const std::int64_t elapsed = window / steps * s;
        std::size_t count = 0;
        std::size_t went_back = 0;
        for (std::size_t k = 0; k < keys.size(); ++k) {
            const bool now = ramp_passed(h2[k], elapsed, window);
            went_back += passed[k] && !now ? 1 : 0;
            passed[k] = now;
            count += now ? 1 : 0;
        }
        EXPECT_EQ(went_back, 0u) << "keys un-passed at step " << s;
        const double expected = std::min(1.0, static_cast<double>(elapsed) / static_cast<double>(window));
        const double share = static_cast<double>(count) / static_cast<double>(keys.size());
        EXPECT_NEAR(share, expected, tolerance(expected, keys.size())) << "step " << s;
        if (s == 0) {
            EXPECT_EQ(count, 0u) << "nothing at the start";
        }
        if (elapsed >= window) {
            EXPECT_EQ(count, keys.size()) << "everything at the end";
        }
    }
}

TEST(Ramp, TheLargestHandoverHashPassesOnlyAtTheEnd) {
    constexpr std::int64_t window = 1'000'000;
    EXPECT_FALSE(ramp_passed(top, window - 1, window));
    EXPECT_TRUE(ramp_passed(top, window, window));
    EXPECT_TRUE(ramp_passed(top, window + 5, window));
    EXPECT_FALSE(ramp_passed(0, 0, window)) << "nothing passes at elapsed 0";
    EXPECT_TRUE(ramp_passed(0, 1, window));
}

TEST(Ramp, ShareIsLinearAndClamped) {
    using std::chrono::seconds;
    EXPECT_EQ(ringlb::ramp_share(seconds{0}, seconds{60}), 0.0);
    EXPECT_EQ(ringlb::ramp_share(seconds{-5}, seconds{60}), 0.0);
    EXPECT_DOUBLE_EQ(ringlb::ramp_share(seconds{15}, seconds{60}), 0.25);
    EXPECT_DOUBLE_EQ(ringlb::ramp_share(seconds{30}, seconds{60}), 0.5);
    EXPECT_EQ(ringlb::ramp_share(seconds{60}, seconds{60}), 1.0);
    EXPECT_EQ(ringlb::ramp_share(seconds{90}, seconds{60}), 1.0);
    EXPECT_EQ(ringlb::ramp_share(seconds{0}, seconds{0}), 1.0) << "no window: all at once";
}

}  // namespace
