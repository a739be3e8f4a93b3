// Zones: a key stays in the instance's zone, on that zone's own ring; it spills to other
// zones in order only as the zone's healthy capacity falls under 1/overprovision; and the
// keyless peak-EWMA policy prefers the backend predicted to answer sooner.
#include "ringlb/lb/routing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace ringlb {
namespace {

using namespace std::chrono_literals;

constexpr int keys = 4000;

struct member {
    std::string id;
    std::string zone;
};

// Three backends in zone a, three in zone b, in the order given.
std::vector<member> two_zones() {
    return {{"a-1", "a"}, {"a-2", "a"}, {"a-3", "a"}, {"b-1", "b"}, {"b-2", "b"}, {"b-3", "b"}};
}

std::shared_ptr<const routing_snapshot> build(const std::vector<member>& members, const std::string& local,
                                              std::vector<std::string> order = {}, double balance = 0) {
    std::vector<chash::node> nodes;
    std::vector<std::string> zones;
    for (const member& m : members) {
        nodes.push_back({m.id, 1});
        zones.push_back(m.zone);
    }
    routing_options o;
    o.local_zone = local;
    o.zone_order = std::move(order);
    o.balance_factor = balance;
    std::string error;
    auto s = routing_snapshot::build(nodes, o, nullptr, error, zones);
    EXPECT_TRUE(s) << error;
    return s;
}

std::string pick(const routing_snapshot& s, int k, steady_clock::time_point now) {
    const std::size_t i = s.select(s.hash_key("user-" + std::to_string(k)), {}, now);
    return i == chash::npos ? std::string{} : s.backends()[i].id;
}

std::map<int, std::string> placement(const routing_snapshot& s, steady_clock::time_point now) {
    std::map<int, std::string> out;
    for (int k = 0; k < keys; ++k) out[k] = pick(s, k, now);
    return out;
}

const backend_state& state_of(const routing_snapshot& s, const std::string& id) {
    for (const backend& b : s.backends())
        if (b.id == id) return *b.state;
    throw std::runtime_error("no backend " + id);
}

TEST(Zones, KeysStayInTheLocalZoneOnItsOwnRing) {
    const auto now = steady_clock::now();
    const auto in_a = build(two_zones(), "a");
    const auto in_b = build(two_zones(), "b");
    ASSERT_EQ(in_a->zones().size(), 2u);
    EXPECT_EQ(in_a->zones()[0].name, "a");
    EXPECT_EQ(in_b->zones()[0].name, "b");
    std::map<std::string, int> count;
    for (const auto& [k, id] : placement(*in_a, now)) {
        EXPECT_EQ(id.substr(0, 2), "a-") << k;
        ++count[id];
    }
    for (const auto& [k, id] : placement(*in_b, now)) EXPECT_EQ(id.substr(0, 2), "b-") << k;
    for (const auto& [id, n] : count) EXPECT_GT(n, keys / 3 / 2) << id << " takes a fair part of zone a";
    const auto shares = in_a->zone_shares();
    ASSERT_EQ(shares.size(), 2u);
    EXPECT_DOUBLE_EQ(shares[0], 1.0);
    EXPECT_DOUBLE_EQ(shares[1], 0.0);
}

TEST(Zones, InstancesOfAZoneAgreeWhateverTheListOrder) {
    const auto now = steady_clock::now();
    auto shuffled = two_zones();
    std::mt19937 rng{7};
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const auto one = build(two_zones(), "a");
    const auto other = build(shuffled, "a");
    EXPECT_EQ(placement(*one, now), placement(*other, now));
}

TEST(Zones, AZoneThatLosesCapacityMovesOnlyItsOwnKeys) {
    const auto now = steady_clock::now();
    const auto in_a = build(two_zones(), "a");
    const auto in_b = build(two_zones(), "b");
    const auto before_a = placement(*in_a, now);
    const auto before_b = placement(*in_b, now);

    // a-1 down: zone a has 2/3 of its weight healthy; x1.4 = 93% of its keys stay.
    const_cast<backend_state&>(state_of(*in_a, "a-1")).record_failure(now);
    const_cast<backend_state&>(state_of(*in_b, "a-1")).record_failure(now);
    in_a->update_zone_split(now);
    in_b->update_zone_split(now);
    const auto shares = in_a->zone_shares();
    EXPECT_NEAR(shares[0], 2.0 / 3.0 * 1.4, 1e-9);
    EXPECT_NEAR(shares[1], 1 - 2.0 / 3.0 * 1.4, 1e-9);

    int to_b = 0;
    for (const auto& [k, id] : placement(*in_a, now)) {
        const std::string& was = before_a.at(k);
        if (id.starts_with("b-")) {
            ++to_b;
            continue;
        }
        if (was == "a-1")
            EXPECT_NE(id, "a-1") << k;
        else
            EXPECT_EQ(id, was) << k << ": a key of a healthy backend stays where it was, or leaves the zone";
    }
    EXPECT_NEAR(static_cast<double>(to_b) / keys, shares[1], 0.02);
    EXPECT_EQ(placement(*in_b, now), before_b) << "zone b's instance routes as before";

    // The back-off ends: every key comes back exactly.
    const auto later = now + 2s;
    in_a->update_zone_split(later);
    EXPECT_EQ(placement(*in_a, later), before_a);
}

TEST(Zones, AZoneThatIsGoneRoutesExactlyAsTheNextZoneDoes) {
    const auto now = steady_clock::now();
    const auto in_a = build(two_zones(), "a", {"b"});
    const auto in_b = build(two_zones(), "b");
    for (const char* id : {"a-1", "a-2", "a-3"}) const_cast<backend_state&>(state_of(*in_a, id)).record_failure(now);
    in_a->update_zone_split(now);
    EXPECT_EQ(placement(*in_a, now), placement(*in_b, now));
}

TEST(Zones, SpillFollowsTheConfiguredOrder) {
    const auto now = steady_clock::now();
    std::vector<member> three = two_zones();
    three.push_back({"c-1", "c"});
    three.push_back({"c-2", "c"});
    const auto in_a = build(three, "a", {"c", "b"});
    ASSERT_EQ(in_a->zones().size(), 3u);
    EXPECT_EQ(in_a->zones()[1].name, "c");
    EXPECT_EQ(in_a->zones()[2].name, "b");
    for (const char* id : {"a-1", "a-2", "a-3"}) const_cast<backend_state&>(state_of(*in_a, id)).record_failure(now);
    in_a->update_zone_split(now);
    for (const auto& [k, id] : placement(*in_a, now)) EXPECT_TRUE(id.starts_with("c-")) << k << " went to " << id;
}

TEST(Zones, LookupExplainsTheKeyInItsZone) {
    const auto now = steady_clock::now();
    const auto in_b = build(two_zones(), "b");
    for (int k = 0; k < 100; ++k) {
        const std::uint64_t h = in_b->hash_key("user-" + std::to_string(k));
        EXPECT_EQ(in_b->zone_of(h), "b");
        const std::size_t owner = in_b->owner(h);
        ASSERT_LT(owner, in_b->backends().size());
        EXPECT_EQ(in_b->backends()[owner].zone, "b");
        const auto chain = in_b->explain(h, now);
        ASSERT_FALSE(chain.empty());
        EXPECT_EQ(chain.front().index, owner);
        for (const candidate_verdict& v : chain) EXPECT_EQ(in_b->backends()[v.index].zone, "b");
    }
}

TEST(Zones, BoundedLoadsCompareWithTheZonesOwnMean) {
    // Zone a carries all of its instance's load, evenly: 5 in flight each. Against the
    // pool's mean (15 over 6 backends) every one of them would be over the cap and keys
    // would leave their owners; against the zone's mean (5) every key stays.
    const auto now = steady_clock::now();
    const auto bounded = build(two_zones(), "a", {}, 1.25);
    const auto plain = build(two_zones(), "a");
    for (const char* id : {"a-1", "a-2", "a-3"})
        for (int i = 0; i < 5; ++i) const_cast<backend_state&>(state_of(*bounded, id)).begin_request();
    EXPECT_EQ(placement(*bounded, now), placement(*plain, now));
    // One of them much busier: its keys go to the others in the zone, never out of it.
    for (int i = 0; i < 20; ++i) const_cast<backend_state&>(state_of(*bounded, "a-1")).begin_request();
    int moved = 0;
    const auto before = placement(*plain, now);
    for (const auto& [k, id] : placement(*bounded, now)) {
        EXPECT_TRUE(id.starts_with("a-")) << k;
        if (before.at(k) == "a-1") {
            EXPECT_NE(id, "a-1") << k;
            ++moved;
        } else {
            EXPECT_EQ(id, before.at(k)) << k;
        }
    }
    EXPECT_GT(moved, 0);
    for (const char* id : {"a-1", "a-2", "a-3"})
        while (state_of(*bounded, id).in_flight() > 0) const_cast<backend_state&>(state_of(*bounded, id)).end_request();
}

TEST(Zones, BackendsWithoutAZoneFormTheLastZone) {
    const auto s = build({{"a-1", "a"}, {"x-1", ""}, {"x-2", ""}}, "a");
    ASSERT_EQ(s->zones().size(), 2u);
    EXPECT_EQ(s->zones()[1].name, "");
    EXPECT_EQ(s->zones()[1].index.size(), 2u);
}

TEST(PeakEwma, ASlowAnswerRaisesThePredictionAtOnceAndFastOnesLowerItGradually) {
    metrics::backend_shard shard;
    const std::int64_t t0 = 1'000'000'000;
    observe_response_time(shard, t0, 1'000'000);  // 1 ms: the first answer is the prediction
    EXPECT_EQ(shard.predicted_ns.get(), 1'000'000u);
    observe_response_time(shard, t0 + 1, 100'000'000);  // 100 ms: the peak is taken at once
    EXPECT_EQ(shard.predicted_ns.get(), 100'000'000u);
    // 10 s later (one decay constant) a 1 ms answer leaves e^-1 of the peak.
    observe_response_time(shard, t0 + 1 + 10'000'000'000, 1'000'000);
    const double expected = 100e6 * std::exp(-1.0) + 1e6 * (1 - std::exp(-1.0));
    EXPECT_NEAR(static_cast<double>(shard.predicted_ns.get()), expected, expected * 1e-6);
}

TEST(PeakEwma, KeylessRequestsPreferTheBackendPredictedFaster) {
    std::vector<chash::node> nodes{{"fast", 1}, {"slow", 1}};
    routing_options o;
    o.keyless = keyless_policy::peak_ewma;
    std::string error;
    const auto s = routing_snapshot::build(nodes, o, nullptr, error);
    ASSERT_TRUE(s) << error;
    const auto now = steady_clock::now();
    const std::int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    observe_response_time(s->backends()[0].state->shard(0), t, 2'000'000);
    observe_response_time(s->backends()[1].state->shard(0), t, 50'000'000);
    keyless_state ks;
    std::map<std::string, int> seen;
    for (int i = 0; i < 1000; ++i) ++seen[s->backends()[s->select_keyless(ks, {}, now)].id];
    // Two random choices: the slow one wins only when both draws are it (about a quarter).
    EXPECT_GT(seen["fast"], 650);
    EXPECT_GT(seen["slow"], 100) << "still sampled, so a recovery is seen";
    // A failure counts as a 1 s answer: the fast one is now the one to avoid.
    observe_response_time(s->backends()[0].state->shard(0), t + 1, ewma_failure_penalty_ns);
    seen.clear();
    for (int i = 0; i < 1000; ++i) ++seen[s->backends()[s->select_keyless(ks, {}, now)].id];
    EXPECT_GT(seen["slow"], 650) << "a failure costs more than a slow answer";
}

TEST(PeakEwma, APredictionDecaysWhenRead) {
    // A backend that was slow once and has not been picked since is tried again: the
    // prediction is decayed to the time of reading, not only when a new answer comes.
    std::vector<chash::node> nodes{{"once-slow", 1}, {"steady", 1}};
    routing_options o;
    o.keyless = keyless_policy::peak_ewma;
    std::string error;
    const auto s = routing_snapshot::build(nodes, o, nullptr, error);
    ASSERT_TRUE(s) << error;
    const auto now = steady_clock::now();
    const std::int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    observe_response_time(s->backends()[0].state->shard(0), t - 60'000'000'000, 500'000'000);  // 500 ms, a minute ago
    observe_response_time(s->backends()[1].state->shard(0), t, 5'000'000);                     // 5 ms, now
    keyless_state ks;
    std::map<std::string, int> seen;
    for (int i = 0; i < 1000; ++i) ++seen[s->backends()[s->select_keyless(ks, {}, now)].id];
    EXPECT_GT(seen["once-slow"], 650) << "500 ms x e^-6 = 1.2 ms now";
}

}  // namespace
}  // namespace ringlb
