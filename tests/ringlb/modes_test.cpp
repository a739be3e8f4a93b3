// Backend modes as selection applies them (lb/backend_state.hpp, lb/routing.hpp): a backend
// that takes nothing (down, draining without a window, maintenance) loses exactly its own
// keys, each to its next candidate, and gets every one back when it is up again; slow start
// hands a backend a growing set of its own keys over the window and a drain window takes
// them away in reverse, never moving a key back and never moving anyone else's; the pool's
// panic state overrides `down` (fail-open) or refuses everything (fail-closed).
//
// Routing with the passive back-off alone is routing_test.cpp's; these tests set the mode
// the control thread sets, at explicit points in time.
#include "ringlb/lb/routing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ringlb::backend_mode;
using ramp_from = ringlb::backend_state::ramp_from;
using ringlb::panic_state;
using ringlb::steady_clock;
constexpr std::size_t npos = chash::npos;

constexpr int backends = 5;
constexpr std::size_t target = 1;  // app-2, the backend whose mode the tests change

std::shared_ptr<const ringlb::routing_snapshot> build(int n, double balance = 0) {
    std::vector<chash::node> nodes;
    for (int i = 1; i <= n; ++i) nodes.push_back({"app-" + std::to_string(i), 1});
    ringlb::routing_options opts;
    opts.balance_factor = balance;  // 0: bounded loads off, placement and modes alone decide
    std::string err;
    auto s = ringlb::routing_snapshot::build(nodes, opts, nullptr, err);
    EXPECT_TRUE(s) << err;
    return s;
}

class Modes : public ::testing::Test {
protected:
    void SetUp() override {
        snap = build(backends);
        ASSERT_TRUE(snap);
        for (int i = 0; i < 20000; ++i) hashes.push_back(snap->hash_key("user-" + std::to_string(i)));
        owner = route(t0);
        for (std::size_t k = 0; k < hashes.size(); ++k) own += owner[k] == target ? 1 : 0;
        ASSERT_GT(own, 2000u) << "the target owns about a fifth of the keys";
    }

    // Where every key goes at `now`.
    std::vector<std::size_t> route(steady_clock::time_point now) const {
        std::vector<std::size_t> out;
        out.reserve(hashes.size());
        for (auto h : hashes) out.push_back(snap->select(h, {}, now));
        return out;
    }

    // The key's first candidate, in the algorithm's preference order, that is not excluded.
    std::size_t next_candidate(std::uint64_t h, std::initializer_list<std::size_t> excluded) const {
        std::array<std::size_t, 16> walk;
        const std::size_t n = snap->algorithm().candidates(h, walk);
        for (std::size_t k = 0; k < n; ++k)
            if (std::find(excluded.begin(), excluded.end(), walk[k]) == excluded.end()) return walk[k];
        return npos;
    }

    ringlb::backend_state& state(std::size_t i) const { return *snap->backends()[i].state; }

    // How far a share measured over n keys may stray from `expected`: six standard
    // deviations of a binomial share, plus one key of rounding.
    static double tolerance(double expected, std::size_t n) {
        return 6.0 * std::sqrt(expected * (1.0 - expected) / static_cast<double>(n)) +
               1.0 / static_cast<double>(n);
    }

    const steady_clock::time_point t0 = steady_clock::now();
    std::shared_ptr<const ringlb::routing_snapshot> snap;
    std::vector<std::uint64_t> hashes;
    std::vector<std::size_t> owner;  // every key's backend with everyone up
    std::size_t own = 0;             // keys the target owns
};

class ModesThatTakeNothing : public Modes, public ::testing::WithParamInterface<backend_mode> {};

TEST_P(ModesThatTakeNothing, OnlyTheBackendsKeysMoveEachToItsNextCandidateAndAllReturn) {
    state(target).set_mode(GetParam(), t0, 0s);  // draining: no drain window
    const auto now = t0 + 1ms;
    const auto during = route(now);
    std::size_t moved = 0;
    for (std::size_t k = 0; k < hashes.size(); ++k) {
        if (owner[k] == target) {
            EXPECT_EQ(during[k], next_candidate(hashes[k], {target})) << "key " << k;
            ++moved;
        } else {
            EXPECT_EQ(during[k], owner[k]) << "key " << k << " is not the target's: it stays";
        }
    }
    EXPECT_EQ(moved, own);
    EXPECT_FALSE(state(target).serving());

    state(target).set_mode(backend_mode::up, now, 0s);
    EXPECT_EQ(route(now + 1ms), owner) << "up again: every key is back where it was";
}

INSTANTIATE_TEST_SUITE_P(Modes, ModesThatTakeNothing,
                         ::testing::Values(backend_mode::down, backend_mode::draining,
                                           backend_mode::maintenance),
                         [](const auto& p) {
                             std::string name{ringlb::to_string(p.param)};
                             return name;
                         });

TEST_F(Modes, SlowStartHandsTheBackendAGrowingSetOfItsOwnKeys) {
    constexpr steady_clock::duration window = 10s;  // in ticks: window / steps must not round
    constexpr int steps = 20;
    state(target).set_mode(backend_mode::slow_start, t0, window, ramp_from::beginning);
    std::vector<bool> arrived(hashes.size(), false);
    for (int s = 0; s <= steps + 1; ++s) {
        const auto now = t0 + window / steps * s;
        const auto at = route(now);
        std::size_t here = 0, went_back = 0, others_moved = 0, elsewhere = 0;
        for (std::size_t k = 0; k < hashes.size(); ++k) {
            if (owner[k] != target) {
                others_moved += at[k] != owner[k] ? 1 : 0;
                continue;
            }
            if (at[k] == target) {
                ++here;
                arrived[k] = true;
            } else {
                went_back += arrived[k] ? 1 : 0;
                elsewhere += at[k] != next_candidate(hashes[k], {target}) ? 1 : 0;
            }
        }
        EXPECT_EQ(others_moved, 0u) << "step " << s << ": another backend's key moved";
        EXPECT_EQ(went_back, 0u) << "step " << s << ": a key that had arrived left again";
        EXPECT_EQ(elsewhere, 0u) << "step " << s << ": a waiting key is not with its next candidate";
        const double expected = std::min(1.0, static_cast<double>(s) / steps);
        EXPECT_NEAR(static_cast<double>(here) / static_cast<double>(own), expected, tolerance(expected, own))
            << "step " << s;
        if (s == 0) {
            EXPECT_EQ(here, 0u) << "nothing at the start";
        }
        if (s >= steps) {
            EXPECT_EQ(at, owner) << "every key at the end of the window";
        }
    }
    EXPECT_TRUE(state(target).serving());
}

TEST_F(Modes, SlowStartWithoutAWindowTakesEveryKeyAtOnce) {
    state(target).set_mode(backend_mode::slow_start, t0, 0s);
    EXPECT_EQ(route(t0), owner);
}

TEST_F(Modes, ADrainWindowIsTheSlowStartRampInReverse) {
    constexpr steady_clock::duration window = 10s;  // in ticks: window / steps must not round
    constexpr int steps = 20;
    std::vector<bool> left(hashes.size(), false);
    for (int s = 0; s <= steps + 1; ++s) {
        const auto now = t0 + window / steps * s;
        // What slow start would have handed over at the mirrored instant.
        state(target).set_mode(backend_mode::slow_start, t0, window, ramp_from::beginning);
        const auto arrived = route(t0 + window - window / steps * std::min(s, steps));
        state(target).set_mode(backend_mode::draining, t0, window, ramp_from::beginning);
        const auto at = route(now);
        std::size_t here = 0, came_back = 0, others_moved = 0, elsewhere = 0, not_mirrored = 0;
        for (std::size_t k = 0; k < hashes.size(); ++k) {
            if (owner[k] != target) {
                others_moved += at[k] != owner[k] ? 1 : 0;
                continue;
            }
            if (at[k] == target) {
                ++here;
                came_back += left[k] ? 1 : 0;
            } else {
                left[k] = true;
                elsewhere += at[k] != next_candidate(hashes[k], {target}) ? 1 : 0;
            }
            // Before the end, a draining backend keeps exactly the keys slow start would
            // have handed it by the mirrored instant: the last to arrive leave first.
            if (s < steps) not_mirrored += (at[k] == target) != (arrived[k] == target) ? 1 : 0;
        }
        EXPECT_EQ(others_moved, 0u) << "step " << s;
        EXPECT_EQ(came_back, 0u) << "step " << s << ": a key that had left came back";
        EXPECT_EQ(elsewhere, 0u) << "step " << s;
        EXPECT_EQ(not_mirrored, 0u) << "step " << s;
        const double expected = std::max(0.0, 1.0 - static_cast<double>(s) / steps);
        EXPECT_NEAR(static_cast<double>(here) / static_cast<double>(own), expected, tolerance(expected, own))
            << "step " << s;
        if (s == 0) {
            EXPECT_EQ(at, owner) << "every key stays at the start";
        }
        if (s >= steps) {
            EXPECT_EQ(here, 0u) << "none left at the end of the window";
        }
    }
}

// A backend switched mid-ramp continues from the keys it has: drained while it slow-starts,
// it takes no key it did not already have and gives its keys away from there; ready again
// while it drains, it gives no key away and takes the rest over what is left of the ramp.
TEST_F(Modes, ASwitchMidRampContinuesWithoutMovingKeysBack) {
    constexpr steady_clock::duration window = 10s;
    const auto served = [&](const std::vector<std::size_t>& at) {
        std::vector<bool> v(at.size());
        for (std::size_t k = 0; k < at.size(); ++k) v[k] = at[k] == target;
        return v;
    };
    const auto subset = [](const std::vector<bool>& a, const std::vector<bool>& b) {
        for (std::size_t k = 0; k < a.size(); ++k)
            if (a[k] && !b[k]) return false;
        return true;
    };
    const auto count = [](const std::vector<bool>& v) { return std::count(v.begin(), v.end(), true); };

    state(target).set_mode(backend_mode::slow_start, t0, window, ramp_from::beginning);
    const auto switch_at = t0 + 4s;
    const auto before = served(route(switch_at));
    ASSERT_NEAR(static_cast<double>(count(before)) / static_cast<double>(own), 0.4, tolerance(0.4, own));
    state(target).set_mode(backend_mode::draining, switch_at, window);
    auto held = served(route(switch_at));
    EXPECT_TRUE(subset(held, before)) << "draining took a key it did not have";
    EXPECT_NEAR(static_cast<double>(count(held)), static_cast<double>(count(before)), 2.0);
    for (int s = 1; s <= 6; ++s) {
        const auto now = switch_at + 1s * s;
        const auto next = served(route(now));
        EXPECT_TRUE(subset(next, held)) << "a key came back while draining, second " << s;
        held = next;
    }
    // It drains from 40% at the drain window's pace: 4 s to empty.
    EXPECT_EQ(count(served(route(switch_at + 4s))), 0);

    // Now ready again two seconds into a fresh drain (80% still there): slow start from 80%.
    state(target).set_mode(backend_mode::up, t0, 0s, ramp_from::beginning);
    state(target).set_mode(backend_mode::draining, t0, window);
    const auto back_at = t0 + 2s;
    const auto kept = served(route(back_at));
    ASSERT_NEAR(static_cast<double>(count(kept)) / static_cast<double>(own), 0.8, tolerance(0.8, own));
    state(target).set_mode(backend_mode::slow_start, back_at, window);
    auto has = served(route(back_at));
    EXPECT_TRUE(subset(kept, has)) << "slow start gave away a key the draining backend still had";
    EXPECT_NEAR(static_cast<double>(count(has)), static_cast<double>(count(kept)), 2.0);
    for (int s = 1; s <= 3; ++s) {
        const auto next = served(route(back_at + 1s * s));
        EXPECT_TRUE(subset(has, next)) << "a key left during slow start, second " << s;
        has = next;
    }
    EXPECT_EQ(count(served(route(back_at + 2s))), static_cast<long>(own)) << "the last 20% take 2 s";
}

TEST_F(Modes, PanicFailOpenSendsADownBackendItsKeysAnyway) {
    constexpr std::size_t maintained = 3;  // app-4: maintenance is the operator's, not a verdict
    state(target).set_mode(backend_mode::down, t0, 0s);
    state(maintained).set_mode(backend_mode::maintenance, t0, 0s);
    const auto now = t0 + 1ms;

    snap->set_pool_health(2, panic_state::fail_open);
    EXPECT_EQ(snap->totals().panic.load(), panic_state::fail_open);
    auto at = route(now);
    for (std::size_t k = 0; k < hashes.size(); ++k) {
        if (owner[k] == maintained) {
            EXPECT_EQ(at[k], next_candidate(hashes[k], {maintained})) << "key " << k;
        } else {
            EXPECT_EQ(at[k], owner[k]) << "key " << k << ": down is ignored in fail-open";
        }
    }

    // The passive back-off still applies in fail-open.
    state(target).record_failure(now);
    at = route(now);
    for (std::size_t k = 0; k < hashes.size(); ++k) {
        if (owner[k] == target) {
            EXPECT_EQ(at[k], next_candidate(hashes[k], {target, maintained})) << "key " << k;
        }
    }
    state(target).record_success();

    snap->set_pool_health(2, panic_state::none);
    at = route(now);
    for (std::size_t k = 0; k < hashes.size(); ++k) {
        if (owner[k] == target || owner[k] == maintained) {
            EXPECT_EQ(at[k], next_candidate(hashes[k], {target, maintained})) << "key " << k;
        } else {
            EXPECT_EQ(at[k], owner[k]) << "key " << k;
        }
    }
}

TEST_F(Modes, PanicFailClosedSelectsNothing) {
    state(target).set_mode(backend_mode::down, t0, 0s);
    snap->set_pool_health(1, panic_state::fail_closed);
    const auto at = route(t0 + 1ms);
    EXPECT_EQ(std::count(at.begin(), at.end(), npos), static_cast<std::ptrdiff_t>(at.size()));
    ringlb::keyless_state ks;
    EXPECT_EQ(snap->select_keyless(ks, {}, t0 + 1ms), npos);

    snap->set_pool_health(0, panic_state::none);
    state(target).set_mode(backend_mode::up, t0 + 1ms, 0s);
    EXPECT_EQ(route(t0 + 2ms), owner) << "out of panic, everything routes as before";
}

TEST_F(Modes, KeylessRequestsNeverReachABackendThatTakesNothing) {
    state(target).set_mode(backend_mode::maintenance, t0, 0s);
    state(3).set_mode(backend_mode::down, t0, 0s);
    ringlb::keyless_state ks;
    std::array<int, backends> seen{};
    for (int i = 0; i < 2000; ++i) {
        const std::size_t b = snap->select_keyless(ks, {}, t0 + 1ms);
        ASSERT_LT(b, seen.size());
        ++seen[b];
    }
    EXPECT_EQ(seen[target], 0);
    EXPECT_EQ(seen[3], 0);
    EXPECT_GT(seen[0], 0);
    EXPECT_GT(seen[2], 0);
    EXPECT_GT(seen[4], 0);
}

TEST_F(Modes, IdleConnectionsAreKeptWhileTheBackendTakesKeys) {
    auto& st = state(target);
    const auto keeps = [&](backend_mode m, panic_state p) {
        st.set_mode(m, t0, 0s, ramp_from::beginning);
        snap->set_pool_health(0, p);
        return st.keeps_connections(t0);
    };
    EXPECT_TRUE(keeps(backend_mode::up, panic_state::none));
    EXPECT_TRUE(keeps(backend_mode::slow_start, panic_state::none));
    EXPECT_FALSE(keeps(backend_mode::draining, panic_state::none));
    EXPECT_FALSE(keeps(backend_mode::maintenance, panic_state::none));
    EXPECT_FALSE(keeps(backend_mode::down, panic_state::none));
    EXPECT_TRUE(keeps(backend_mode::down, panic_state::fail_open)) << "it still takes its keys";
    EXPECT_FALSE(keeps(backend_mode::down, panic_state::fail_closed));
    EXPECT_FALSE(keeps(backend_mode::maintenance, panic_state::fail_open));
    // Draining inside its window still serves some keys: its connections stay until the end.
    snap->set_pool_health(0, panic_state::none);
    st.set_mode(backend_mode::draining, t0, 10s, ramp_from::beginning);
    EXPECT_TRUE(st.keeps_connections(t0 + 9s));
    EXPECT_FALSE(st.keeps_connections(t0 + 10s));
}

TEST(ModesBoundedLoads, BackendsOutOfServiceDoNotCountTowardTheCap) {
    auto s = build(4, 1.25);
    ASSERT_TRUE(s);
    const auto now = steady_clock::now();
    const auto h = s->hash_key("hot");
    const std::size_t owner = s->select(h, {}, now);
    ASSERT_NE(owner, npos);
    // Two other backends in maintenance: the control thread counts them out.
    std::vector<std::size_t> maintained;
    for (std::size_t i = 0; i < 4 && maintained.size() < 2; ++i) {
        if (i == owner) continue;
        s->backends()[i].state->set_mode(backend_mode::maintenance, now, 0s);
        maintained.push_back(i);
    }
    ringlb::backend_state& st = *s->backends()[owner].state;
    st.begin_request();
    // Counting all four as eligible, 1 in flight would reach the cap ceil(1.25 * 2 / 4) = 1.
    s->set_pool_health(0, panic_state::none);
    const std::size_t spilled = s->select(h, {}, now);
    EXPECT_NE(spilled, owner);
    // Two in service: ceil(1.25 * 2 / 2) = 2, and the key stays.
    s->set_pool_health(2, panic_state::none);
    EXPECT_EQ(s->select(h, {}, now), owner);
    st.begin_request();
    const std::size_t spill = s->select(h, {}, now);
    EXPECT_NE(spill, owner) << "2 in flight: cap ceil(1.25 * 3 / 2) = 2 is reached";
    EXPECT_NE(spill, npos);
    for (std::size_t m : maintained) {
        EXPECT_NE(spilled, m) << "a spill never lands on a backend in maintenance";
        EXPECT_NE(spill, m);
    }
    st.end_request();
    st.end_request();
}

}  // namespace
