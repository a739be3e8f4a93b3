#include "ringlb/routing.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace {

std::shared_ptr<const ringlb::config> make_config(int n, double balance = 0) {
    auto cfg = std::make_shared<ringlb::config>();
    cfg->routing.balance_factor = balance;
    for (int i = 1; i <= n; ++i)
        cfg->backends.push_back(
            {"app-" + std::to_string(i), {"127.0.0.1", static_cast<std::uint16_t>(9000 + i)}, 1});
    return cfg;
}

std::string pick(const ringlb::snapshot& s, const std::string& key, ringlb::steady_clock::time_point now) {
    const auto i = s.select(s.hash_key(key), {}, now);
    return i == chash::npos ? "" : s.backends()[i].id;
}

TEST(Routing, DownBackendMovesOnlyItsKeysAndTheyReturn) {
    std::string err;
    auto snap = ringlb::snapshot::build(make_config(4), nullptr, err);
    ASSERT_TRUE(snap) << err;
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
    ringlb::backend_state st{"x"};
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
    std::string err;
    auto a = ringlb::snapshot::build(make_config(3), nullptr, err);
    auto b = ringlb::snapshot::build(make_config(4), a.get(), err);
    ASSERT_TRUE(a && b);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(a->backends()[i].state, b->backends()[i].state);
    EXPECT_GT(b->generation(), a->generation());
}

TEST(Routing, TriedBackendsAreSkippedAndNposWhenNoneLeft) {
    std::string err;
    auto s = ringlb::snapshot::build(make_config(2), nullptr, err);
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
    std::string err;
    auto s = ringlb::snapshot::build(make_config(4, 1.25), nullptr, err);
    const auto now = ringlb::steady_clock::now();
    const auto h = s->hash_key("hot");
    const auto owner = s->select(h, {}, now);
    for (int i = 0; i < 10; ++i) s->backends()[owner].state->begin_request();
    EXPECT_NE(s->select(h, {}, now), owner);  // 10 in flight vs cap ceil(1.25*11/4) = 4
    for (int i = 0; i < 10; ++i) s->backends()[owner].state->end_request();
    EXPECT_EQ(s->select(h, {}, now), owner);
}

TEST(Routing, KeylessLeastLoadedAvoidsTheBusyBackend) {
    std::string err;
    auto cfg = std::const_pointer_cast<ringlb::config>(make_config(2));
    auto s = ringlb::snapshot::build(cfg, nullptr, err);
    s->backends()[0].state->begin_request();
    ringlb::keyless_state ks;
    std::map<std::size_t, int> seen;
    for (int i = 0; i < 200; ++i) ++seen[s->select_keyless(ks, {}, ringlb::steady_clock::now())];
    EXPECT_GT(seen[1], seen[0]);
    s->backends()[0].state->end_request();
}

}  // namespace
