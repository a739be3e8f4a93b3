#include "ringlb/lb/routing.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace {

// n backends app-1..app-n of weight 1.
std::shared_ptr<const ringlb::routing_snapshot> build(int n, double balance = 0,
                                                      const ringlb::routing_snapshot* previous = nullptr) {
    std::vector<chash::node> nodes;
    for (int i = 1; i <= n; ++i) nodes.push_back({"app-" + std::to_string(i), 1});
    ringlb::routing_options opts;
    opts.balance_factor = balance;
    std::string err;
    auto s = ringlb::routing_snapshot::build(nodes, opts, previous, err);
    EXPECT_TRUE(s) << err;
    return s;
}

std::string pick(const ringlb::routing_snapshot& s, const std::string& key,
                 ringlb::steady_clock::time_point now) {
    const auto i = s.select(s.hash_key(key), {}, now);
    return i == chash::npos ? "" : s.backends()[i].id;
}

TEST(Routing, DownBackendMovesOnlyItsKeysAndTheyReturn) {
    auto snap = build(4);
    ASSERT_TRUE(snap);
    const auto now = ringlb::steady_clock::now();
    std::map<std::string, std::string> before;
    for (int k = 0; k < 2000; ++k)
        before["k" + std::to_string(k)] = pick(*snap, "k" + std::to_string(k), now);

    snap->backends()[1].state->record_failure(now);  // app-2 down for 1s
    for (const auto& [k, b] : before) {
        const std::string during = pick(*snap, k, now);
        if (b == "app-2")
            EXPECT_NE(during, "app-2");
        else
            EXPECT_EQ(during, b) << k;
    }
    const auto later = now + std::chrono::seconds{2};  // back-off over
    for (const auto& [k, b] : before) EXPECT_EQ(pick(*snap, k, later), b);
}

TEST(Routing, BackoffDoublesAndCapsThenResetsOnSuccess) {
    ringlb::backend_state st{"x", std::make_shared<ringlb::load_totals>()};
    const auto t0 = ringlb::steady_clock::now();
    st.record_failure(t0);
    EXPECT_FALSE(st.eligible(t0 + std::chrono::milliseconds{900}));
    EXPECT_TRUE(st.eligible(t0 + std::chrono::milliseconds{1001}));
    st.record_failure(t0);
    EXPECT_FALSE(st.eligible(t0 + std::chrono::milliseconds{1900}));
    for (int i = 0; i < 10; ++i) st.record_failure(t0);
    EXPECT_FALSE(st.eligible(t0 + std::chrono::seconds{29}));
    EXPECT_TRUE(st.eligible(t0 + std::chrono::milliseconds{30001}));
    st.record_success();
    EXPECT_TRUE(st.eligible(t0));
}

TEST(Routing, ReloadKeepsStateOfPersistingIds) {
    auto a = build(3);
    auto b = build(4, 0, a.get());
    ASSERT_TRUE(a && b);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(a->backends()[i].state, b->backends()[i].state);
}

TEST(Routing, TriedBackendsAreSkippedAndNposWhenNoneLeft) {
    auto s = build(2);
    const auto now = ringlb::steady_clock::now();
    const auto h = s->hash_key("k");
    ringlb::tried_set tried;
    const auto first = s->select(h, tried, now);
    tried.add(first);
    const auto second = s->select(h, tried, now);
    EXPECT_NE(second, first);
    tried.add(second);
    EXPECT_EQ(s->select(h, tried, now), chash::npos);
}

TEST(Routing, BoundedLoadsSpillFromABusyBackend) {
    auto s = build(4, 1.25);
    const auto now = ringlb::steady_clock::now();
    const auto h = s->hash_key("hot");
    const auto owner = s->select(h, {}, now);
    for (int i = 0; i < 10; ++i) s->backends()[owner].state->begin_request();
    EXPECT_NE(s->select(h, {}, now), owner);  // 10 in flight vs cap ceil(1.25*11/4) = 4
    for (int i = 0; i < 10; ++i) s->backends()[owner].state->end_request();
    EXPECT_EQ(s->select(h, {}, now), owner);
}

TEST(Routing, PoolTotalsFollowRequestsAndHealthTransitions) {
    auto totals = std::make_shared<ringlb::load_totals>();
    ringlb::backend_state a{"a", totals}, b{"b", totals};
    a.begin_request();
    b.begin_request();
    b.begin_request();
    EXPECT_EQ(totals->in_flight.load(), 3u);
    b.end_request();
    EXPECT_EQ(totals->in_flight.load(), 2u);
    const auto now = ringlb::steady_clock::now();
    a.record_failure(now);
    a.record_failure(now);  // still one backend down, not two
    EXPECT_EQ(totals->down.load(), 1);
    a.record_success();
    a.record_success();  // an answer from a healthy backend changes nothing
    EXPECT_EQ(totals->down.load(), 0);
}

TEST(Routing, BoundedLoadsCapCountsOnlyBackendsThatAreUp) {
    auto s = build(4, 1.25);
    ASSERT_TRUE(s);
    const auto now = ringlb::steady_clock::now();
    const auto h = s->hash_key("hot");
    const auto owner = s->select(h, {}, now);
    // Two other backends fail long ago: their back-off is over, so selection may probe them,
    // but until one answers they do not count as up. The cap divides the load among the 2
    // backends that are up: 1 in flight gives ceil(1.25 * 2 / 2) = 2 and the key stays (with
    // 4 counted it would be ceil(1.25 * 2 / 4) = 1, and the key would spill).
    std::size_t failed = 0;
    for (std::size_t i = 0; i < 4 && failed < 2; ++i) {
        if (i == owner) continue;
        s->backends()[i].state->record_failure(now - std::chrono::hours{1});
        ++failed;
    }
    EXPECT_EQ(s->totals().down.load(), 2);
    s->backends()[owner].state->begin_request();
    EXPECT_EQ(s->select(h, {}, now), owner);
    s->backends()[owner].state->begin_request();
    EXPECT_NE(s->select(h, {}, now), owner) << "2 in flight: cap ceil(1.25 * 3 / 2) = 2 is reached";
    for (int i = 0; i < 2; ++i) s->backends()[owner].state->end_request();
    EXPECT_EQ(s->totals().in_flight.load(), 0u);
}

TEST(Routing, ReloadRecountsBackendsThatAreDown) {
    auto a = build(4);
    ASSERT_TRUE(a);
    a->backends()[3].state->record_failure(ringlb::steady_clock::now());
    // The next config drops the failed backend: the pool no longer has anyone down.
    EXPECT_EQ(a->totals().down.load(), 1);
    auto b = build(3, 0, a.get());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->totals().down.load(), 0);
    auto c = build(4, 0, b.get());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->backends()[3].state->failures(), 0u) << "a re-added backend starts fresh";
    a->backends()[1].state->record_failure(ringlb::steady_clock::now());
    auto d = build(4, 0, c.get());
    ASSERT_TRUE(d);
    EXPECT_EQ(d->backends()[1].state->failures(), 1u);
    EXPECT_EQ(d->totals().down.load(), 1);
}

TEST(Routing, KeylessLeastLoadedAvoidsTheBusyBackend) {
    auto s = build(2);
    s->backends()[0].state->begin_request();
    ringlb::keyless_state ks;
    std::map<std::size_t, int> seen;
    for (int i = 0; i < 200; ++i) ++seen[s->select_keyless(ks, {}, ringlb::steady_clock::now())];
    EXPECT_GT(seen[1], seen[0]);
    s->backends()[0].state->end_request();
}

}  // namespace

namespace {

// Where a key's tunnels belong: its owner while in service; the next candidate once the
// owner drains or fails its checks; never moved by passive back-off or by load.
TEST(Routing, SettledOwnerFollowsStatesNotLoadOrBackOff) {
    auto snap = build(3, 1.25);
    ASSERT_TRUE(snap);
    const auto now = ringlb::steady_clock::now();
    const std::uint64_t h = snap->hash_key("alice");
    const std::size_t owner = snap->owner(h);
    EXPECT_EQ(snap->settled_owner(h, now), owner);

    ringlb::backend_state& st = *snap->backends()[owner].state;
    st.record_failure(now);                                // a passive back-off
    for (int i = 0; i < 50; ++i) st.begin_request();       // far over the bounded-load cap
    EXPECT_NE(snap->select(h, {}, now), owner);            // requests go elsewhere meanwhile...
    EXPECT_EQ(snap->settled_owner(h, now), owner);         // ...its tunnels stay
    for (int i = 0; i < 50; ++i) st.end_request();

    st.set_mode(ringlb::backend_mode::draining, now, {});
    const std::size_t next = snap->settled_owner(h, now);
    EXPECT_NE(next, owner);
    EXPECT_NE(next, chash::npos);
    st.set_mode(ringlb::backend_mode::up, now, {});
    EXPECT_EQ(snap->settled_owner(h, now), owner);
}

}  // namespace
