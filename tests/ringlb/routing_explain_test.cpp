// routing_snapshot::explain, the admin API's lookup: a key's candidates in preference order
// and why selection would pass over each one now (down, draining, maintenance, slow start
// not yet at the key, weight 0, backing off, the pool panicking closed, over the bounded-load
// cap), and that its first usable candidate is the backend select() returns.
#include "ringlb/lb/routing.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ringlb::backend_mode;
using ringlb::candidate_verdict;
using ringlb::panic_state;
using ringlb::skip_reason;
using ringlb::steady_clock;

std::shared_ptr<const ringlb::routing_snapshot> build(int n, double balance = 0,
                                                      chash::kind k = chash::kind::ring,
                                                      std::uint32_t weight = 1) {
    std::vector<chash::node> nodes;
    for (int i = 1; i <= n; ++i) nodes.push_back({"app-" + std::to_string(i), weight});
    ringlb::routing_options opts;
    opts.algorithm = k;
    opts.balance_factor = balance;
    std::string err;
    auto s = ringlb::routing_snapshot::build(nodes, opts, nullptr, err);
    EXPECT_TRUE(s) << err;
    return s;
}

// The first usable candidate of explain() (npos when none).
std::size_t first_usable(const std::vector<candidate_verdict>& chain) {
    for (const auto& v : chain)
        if (v.why == skip_reason::none) return v.index;
    return chash::npos;
}

class RoutingExplain : public ::testing::Test {
protected:
    void SetUp() override {
        snap = build(4);
        h = snap->hash_key("alice");
        chain = snap->explain(h, now);
        ASSERT_EQ(chain.size(), 4u) << "every backend is a candidate of a four-backend ring";
        owner = chain[0].index;
        ASSERT_EQ(owner, snap->algorithm().pick_hashed(h));
    }
    ringlb::backend_state& state(std::size_t i) const { return *snap->backends()[i].state; }
    std::vector<candidate_verdict> explain() const { return snap->explain(h, now); }
    std::size_t select() const { return snap->select(h, {}, now); }

    std::shared_ptr<const ringlb::routing_snapshot> snap;
    steady_clock::time_point now = steady_clock::now();
    std::uint64_t h = 0;
    std::vector<candidate_verdict> chain;
    std::size_t owner = 0;
};

TEST_F(RoutingExplain, AllUpEveryCandidateIsUsableAndTheOwnerIsChosen) {
    std::vector<std::size_t> seen;
    for (const auto& v : chain) {
        EXPECT_EQ(v.why, skip_reason::none);
        seen.push_back(v.index);
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2, 3})) << "distinct candidates";
    EXPECT_EQ(select(), owner);
}

TEST_F(RoutingExplain, ADownOwnerIsSkippedAsDown) {
    state(owner).set_mode(backend_mode::down, now, 0s);
    const auto c = explain();
    EXPECT_EQ(c[0].why, skip_reason::down);
    EXPECT_EQ(ringlb::describe(c[0].why), "down: failed its health checks");
    EXPECT_EQ(c[1].why, skip_reason::none);
    EXPECT_EQ(select(), c[1].index);
}

TEST_F(RoutingExplain, ADownOwnerIsUsableWhileThePoolPanicsOpen) {
    state(owner).set_mode(backend_mode::down, now, 0s);
    snap->set_pool_health(1, panic_state::fail_open);
    EXPECT_EQ(explain()[0].why, skip_reason::none);
    EXPECT_EQ(select(), owner);
    snap->set_pool_health(0, panic_state::none);
}

TEST_F(RoutingExplain, DrainingAndMaintenanceSaySo) {
    state(owner).set_mode(backend_mode::draining, now, 0s);
    EXPECT_EQ(explain()[0].why, skip_reason::draining);
    EXPECT_NE(select(), owner);
    state(owner).set_mode(backend_mode::maintenance, now, 0s);
    EXPECT_EQ(explain()[0].why, skip_reason::maintenance);
    EXPECT_EQ(select(), explain()[1].index);
}

TEST_F(RoutingExplain, ADrainingBackendInsideItsWindowMayStillKeepTheKey) {
    state(owner).set_mode(backend_mode::draining, now, 60s, ringlb::backend_state::ramp_from::beginning);
    EXPECT_EQ(explain()[0].why, skip_reason::none) << "at the window's start it keeps every key";
    EXPECT_EQ(select(), owner);
    EXPECT_EQ(snap->explain(h, now + 61s)[0].why, skip_reason::draining) << "after the window, none";
}

TEST_F(RoutingExplain, SlowStartNotYetAtTheKey) {
    state(owner).set_mode(backend_mode::slow_start, now, 60s, ringlb::backend_state::ramp_from::beginning);
    EXPECT_EQ(explain()[0].why, skip_reason::not_yet) << "the ramp starts at nothing";
    EXPECT_EQ(select(), explain()[1].index);
    EXPECT_EQ(snap->explain(h, now + 61s)[0].why, skip_reason::none) << "the ramp is over";
    EXPECT_EQ(snap->select(h, {}, now + 61s), owner);
}

TEST_F(RoutingExplain, BackingOffAfterFailuresOfClientTraffic) {
    state(owner).record_failure(now);
    EXPECT_EQ(explain()[0].why, skip_reason::backing_off);
    EXPECT_EQ(select(), explain()[1].index);
    EXPECT_EQ(snap->explain(h, now + 2s)[0].why, skip_reason::none) << "the back-off is over";
    state(owner).record_success();
}

TEST_F(RoutingExplain, TheModeIsReportedBeforeTheBackOff) {
    state(owner).record_failure(now);
    state(owner).set_mode(backend_mode::maintenance, now, 0s);
    EXPECT_EQ(explain()[0].why, skip_reason::maintenance);
    state(owner).record_success();
}

TEST_F(RoutingExplain, APoolPanickingClosedSkipsEveryone) {
    snap->set_pool_health(0, panic_state::fail_closed);
    for (const auto& v : explain()) EXPECT_EQ(v.why, skip_reason::panic_closed);
    EXPECT_EQ(select(), chash::npos);
    snap->set_pool_health(0, panic_state::none);
}

TEST(RoutingExplainCap, OverTheBoundedLoadCap) {
    const auto s = build(4, 1.25);
    const auto now = steady_clock::now();
    const std::uint64_t h = s->hash_key("alice");
    const std::size_t owner = s->algorithm().pick_hashed(h);
    EXPECT_EQ(s->explain(h, now)[0].why, skip_reason::none);
    // Ten requests in flight on the owner: the cap is ceil(1.25 * 11 / 4) = 4.
    std::vector<ringlb::in_flight_guard> held(10);
    for (auto& g : held) g.hold(s->backends()[owner].state.get());
    const auto chain = s->explain(h, now);
    EXPECT_EQ(chain[0].index, owner);
    EXPECT_EQ(chain[0].why, skip_reason::over_cap);
    EXPECT_EQ(ringlb::describe(chain[0].why), "over the bounded-load cap");
    for (std::size_t k = 1; k < chain.size(); ++k) EXPECT_EQ(chain[k].why, skip_reason::none) << k;
    EXPECT_EQ(s->select(h, {}, now), chain[1].index);
}

// A weight-0 backend has no place in any algorithm's candidate order: it takes no keys and
// never shows up in a key's chain.
TEST(RoutingExplainWeight, AWeightZeroBackendIsNeverACandidate) {
    for (const chash::kind k :
         {chash::kind::ring, chash::kind::ketama, chash::kind::maglev, chash::kind::rendezvous}) {
        SCOPED_TRACE(std::string{chash::to_string(k)});
        std::vector<chash::node> nodes{{"app-1", 1}, {"app-2", 1}, {"app-3", 0}, {"app-4", 2}};
        ringlb::routing_options opts;
        opts.algorithm = k;
        opts.balance_factor = 0;
        std::string err;
        const auto s = ringlb::routing_snapshot::build(nodes, opts, nullptr, err);
        ASSERT_TRUE(s) << err;
        const auto now = steady_clock::now();
        for (int key = 0; key < 500; ++key) {
            const auto h = s->hash_key("k" + std::to_string(key));
            for (const auto& v : s->explain(h, now)) EXPECT_NE(v.index, 2u);
            EXPECT_NE(s->select(h, {}, now), 2u);
        }
    }
}

// Since no algorithm lists a weight-0 backend, skip_reason::weight_zero only shows when a
// snapshot's weights differ from its algorithm's (build_with around an algorithm built for
// other weights; the control thread never does that: a reweight rebuilds). The reason is
// still mapped: explain says "weight 0" and select() passes over it.
TEST(RoutingExplainWeight, AWeightZeroCandidateIsExplained) {
    const std::vector<chash::node> built{{"app-1", 1}, {"app-2", 1}, {"app-3", 1}};
    std::vector<chash::node> listed = built;
    listed[1].weight = 0;
    ringlb::routing_options opts;
    opts.algorithm = chash::kind::ring;
    opts.balance_factor = 0;
    const auto s = ringlb::routing_snapshot::build_with(chash::make(opts.algorithm, built, opts.build),
                                                        listed, opts, nullptr);
    const auto now = steady_clock::now();
    std::size_t seen = 0;
    for (int key = 0; key < 200; ++key) {
        const auto h = s->hash_key("k" + std::to_string(key));
        const auto chain = s->explain(h, now);
        for (const auto& v : chain) {
            if (v.index != 1) continue;
            ++seen;
            EXPECT_EQ(v.why, skip_reason::weight_zero);
        }
        EXPECT_NE(s->select(h, {}, now), 1u);
        EXPECT_EQ(s->select(h, {}, now), first_usable(chain));
    }
    EXPECT_GT(seen, 0u);
    EXPECT_EQ(ringlb::describe(skip_reason::weight_zero), "weight 0");
}

// The promise the lookup rests on: explain()'s first usable candidate is select()'s pick,
// whatever mix of modes, back-offs and loads the pool is in.
TEST(RoutingExplainAgrees, FirstUsableCandidateIsWhatSelectReturns) {
    for (const double balance : {0.0, 1.25}) {
        for (const chash::kind k : {chash::kind::ring, chash::kind::maglev, chash::kind::rendezvous}) {
            SCOPED_TRACE(std::string{chash::to_string(k)} + " balance " + std::to_string(balance));
            const auto s = build(6, balance, k);
            const auto now = steady_clock::now();
            const auto backends = s->backends();
            backends[0].state->set_mode(backend_mode::down, now, 0s);
            backends[1].state->set_mode(backend_mode::slow_start, now - 30s, 60s,
                                        ringlb::backend_state::ramp_from::beginning);
            backends[2].state->set_mode(backend_mode::draining, now - 30s, 60s,
                                        ringlb::backend_state::ramp_from::beginning);
            backends[3].state->record_failure(now);
            std::vector<ringlb::in_flight_guard> held(12);
            for (auto& g : held) g.hold(backends[4].state.get());
            std::size_t checked = 0;
            for (int key = 0; key < 2000; ++key) {
                const auto h = s->hash_key("user-" + std::to_string(key));
                const auto chain = s->explain(h, now);
                const std::size_t expected = first_usable(chain);
                if (expected == chash::npos) continue;  // select() then scans the whole pool
                ++checked;
                ASSERT_EQ(s->select(h, {}, now), expected) << "key user-" << key;
            }
            EXPECT_GT(checked, 1900u);
        }
    }
}

}  // namespace
