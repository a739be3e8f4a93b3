#include "ringlb/demo/zipf.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ringlb::demo {
namespace {

TEST(DemoZipf, ProbabilitiesFollowThePowerLawAndSumToOne) {
    const zipf_distribution z{1000, 1.0};
    double sum = 0;
    for (std::size_t k = 0; k < z.size(); ++k) sum += z.probability(k);
    EXPECT_NEAR(sum, 1.0, 1e-9);
    // P(k) ~ 1/(k+1): rank 0 is twice rank 1 and ten times rank 9.
    EXPECT_NEAR(z.probability(0) / z.probability(1), 2.0, 1e-9);
    EXPECT_NEAR(z.probability(0) / z.probability(9), 10.0, 1e-9);
    EXPECT_EQ(z.probability(1000), 0.0);
}

TEST(DemoZipf, ExponentZeroIsUniform) {
    const zipf_distribution z{4, 0.0};
    for (std::size_t k = 0; k < 4; ++k) EXPECT_NEAR(z.probability(k), 0.25, 1e-12);
}

TEST(DemoZipf, SamplesMatchTheProbabilities) {
    const zipf_distribution z{100, 0.9};
    std::mt19937_64 rng{7};
    std::vector<int> counts(100);
    constexpr int n = 200'000;
    for (int i = 0; i < n; ++i) {
        const std::size_t r = z(rng);
        ASSERT_LT(r, 100u);
        ++counts[r];
    }
    for (std::size_t k : {0u, 1u, 10u, 99u}) {
        const double expected = z.probability(k) * n;
        EXPECT_NEAR(counts[k], expected, 5 * std::sqrt(expected)) << "rank " << k;
    }
}

TEST(DemoZipf, OneRankAlwaysDrawsIt) {
    const zipf_distribution z{1, 2.0};
    std::mt19937_64 rng{1};
    for (int i = 0; i < 100; ++i) EXPECT_EQ(z(rng), 0u);
}

}  // namespace
}  // namespace ringlb::demo
