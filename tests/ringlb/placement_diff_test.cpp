// placement_diff: the share of the key space a change moved (nothing between equal
// placements, about the new backend's share when one joins four, close to `ringlb plan`'s
// exact figure for ring and maglev), and the owner arcs (contiguous over [0, points), one
// owner per run, shares adding up to 1), ketama's 32-bit hash space included.
#include "ringlb/lb/placement_diff.hpp"

#include "ringlb/tools/plan.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using ringlb::moved_share;
using ringlb::owner_arcs;

std::vector<chash::node> nodes(int n, int first = 1) {
    std::vector<chash::node> out;
    for (int i = first; i < first + n; ++i) out.push_back({"app-" + std::to_string(i), 1});
    return out;
}

std::shared_ptr<const ringlb::routing_snapshot> snapshot(chash::kind k, const std::vector<chash::node>& ns) {
    ringlb::routing_options opts;
    opts.algorithm = k;
    opts.balance_factor = 0;
    std::string err;
    auto s = ringlb::routing_snapshot::build(ns, opts, nullptr, err);
    EXPECT_TRUE(s) << err;
    return s;
}

std::string name(chash::kind k) {
    return std::string{chash::to_string(k)};
}

constexpr chash::kind all_kinds[] = {chash::kind::ring, chash::kind::ketama, chash::kind::maglev,
                                     chash::kind::rendezvous, chash::kind::modulo};

TEST(PlacementDiff, NothingMovesBetweenEqualPlacements) {
    for (const chash::kind k : all_kinds) {
        SCOPED_TRACE(name(k));
        const auto a = snapshot(k, nodes(4));
        const auto b = snapshot(k, nodes(4));
        EXPECT_EQ(moved_share(*a, *a), 0.0);
        EXPECT_EQ(moved_share(*a, *b), 0.0) << "two builds of one placement";
    }
}

TEST(PlacementDiff, BackendsAreComparedByIdNotByIndex) {
    // Ring placement depends on ids and weights only: the same set in another order moved
    // nothing, although every index changed.
    auto reversed = nodes(4);
    std::reverse(reversed.begin(), reversed.end());
    EXPECT_EQ(moved_share(*snapshot(chash::kind::ring, nodes(4)), *snapshot(chash::kind::ring, reversed)),
              0.0);
}

TEST(PlacementDiff, OneOfFiveJoiningMovesAboutAFifth) {
    for (const chash::kind k :
         {chash::kind::ring, chash::kind::ketama, chash::kind::maglev, chash::kind::rendezvous}) {
        SCOPED_TRACE(name(k));
        const auto four = snapshot(k, nodes(4));
        const auto five = snapshot(k, nodes(5));
        const double moved = moved_share(*four, *five);
        EXPECT_GT(moved, 0.14);
        EXPECT_LT(moved, 0.28);
        EXPECT_DOUBLE_EQ(moved_share(*five, *four), moved) << "the same keys move back";
    }
    // modulo moves most keys: the estimate says so.
    EXPECT_GT(moved_share(*snapshot(chash::kind::modulo, nodes(4)), *snapshot(chash::kind::modulo, nodes(5))),
              0.7);
}

TEST(PlacementDiff, NoPointsNothingMoved) {
    const auto a = snapshot(chash::kind::ring, nodes(4));
    const auto b = snapshot(chash::kind::ring, nodes(5));
    EXPECT_EQ(moved_share(*a, *b, 0), 0.0);
    EXPECT_TRUE(owner_arcs(*a, 0).empty());
}

// The probes' error against an exact figure: a change moves a set of arcs (ring: one per
// point of the new backend), each measured to within one probe at either end. So the share
// is within (arcs moved) / points, and with errors that cancel much closer than that.
TEST(PlacementDiff, RingAndMaglevAgreeWithPlansExactFigure) {
    for (const chash::kind k : {chash::kind::ring, chash::kind::maglev, chash::kind::ketama}) {
        SCOPED_TRACE(name(k));
        ringlb::tools::pool p{k, nodes(4), {}};
        ringlb::tools::plan_change add;
        add.what = ringlb::tools::plan_change::action::add;
        add.id = "app-5";
        add.address = "127.0.0.1:5";
        const auto plan = ringlb::tools::make_plan(p, add);
        ASSERT_TRUE(plan.exact) << plan.method;
        const double moved = moved_share(*snapshot(k, nodes(4)), *snapshot(k, nodes(5)));
        EXPECT_NEAR(moved, plan.moved_fraction, 0.002);
    }
}

TEST(PlacementDiff, MaglevMovedShareIsExactOverItsTable) {
    // A maglev table of exactly 65536 slots would be probed once per slot; with the default
    // prime (65537) each probe is one slot, so the share is within a slot or two of exact.
    ringlb::tools::pool p{chash::kind::maglev, nodes(4), {}};
    ringlb::tools::plan_change add;
    add.what = ringlb::tools::plan_change::action::add;
    add.id = "app-5";
    add.address = "127.0.0.1:5";
    const auto plan = ringlb::tools::make_plan(p, add);
    const double moved =
        moved_share(*snapshot(chash::kind::maglev, nodes(4)), *snapshot(chash::kind::maglev, nodes(5)));
    EXPECT_NEAR(moved, plan.moved_fraction, 2.0 / 65536);
}

// Arcs: [0, points) covered in order, no gap, no overlap, adjacent runs of different owners.
void expect_well_formed(const std::vector<ringlb::owner_arc>& arcs, std::uint32_t points,
                        std::size_t backends) {
    ASSERT_FALSE(arcs.empty());
    EXPECT_EQ(arcs.front().begin, 0u);
    EXPECT_EQ(arcs.back().end, points);
    for (std::size_t i = 0; i < arcs.size(); ++i) {
        EXPECT_LT(arcs[i].begin, arcs[i].end) << i;
        EXPECT_LT(arcs[i].owner, backends) << i;
        if (i > 0) {
            EXPECT_EQ(arcs[i].begin, arcs[i - 1].end) << i;
            EXPECT_NE(arcs[i].owner, arcs[i - 1].owner) << "adjacent runs of one owner are merged";
        }
    }
}

TEST(PlacementDiff, OwnerArcsCoverTheSpaceAndSharesAddUpToOne) {
    for (const chash::kind k : all_kinds) {
        SCOPED_TRACE(name(k));
        const auto s = snapshot(k, nodes(4));
        for (const std::uint32_t points : {1u, 7u, 360u, 4096u, 65536u}) {
            SCOPED_TRACE(points);
            const auto arcs = owner_arcs(*s, points);
            expect_well_formed(arcs, points, 4);
            std::map<std::size_t, std::uint64_t> per_owner;
            for (const auto& a : arcs) per_owner[a.owner] += a.end - a.begin;
            double total = 0;
            for (const auto& [owner, n] : per_owner) total += static_cast<double>(n) / points;
            EXPECT_NEAR(total, 1.0, 1e-12);
            if (points >= 4096) {
                EXPECT_EQ(per_owner.size(), 4u) << "every backend owns some of the space";
                for (const auto& [owner, n] : per_owner) {
                    EXPECT_GT(static_cast<double>(n) / points, 0.12) << owner;
                    EXPECT_LT(static_cast<double>(n) / points, 0.40) << owner;
                }
            }
        }
    }
}

TEST(PlacementDiff, OwnerArcsAgreeWithPickHashed) {
    const auto s = snapshot(chash::kind::ring, nodes(4));
    constexpr std::uint32_t points = 1024;
    const auto arcs = owner_arcs(*s, points);
    for (const auto& a : arcs)
        for (std::uint32_t i = a.begin; i < a.end; ++i) {
            __extension__ using u128 = unsigned __int128;
            const auto h = static_cast<std::uint64_t>((static_cast<u128>(i) << 64) / points);
            EXPECT_EQ(s->algorithm().pick_hashed(h), a.owner) << i;
        }
}

// Ketama reads only the low 32 bits of a key hash: probes spread over 2^64 would all land
// on one point of its circle. They must be spread over what it reads.
TEST(PlacementDiff, KetamaProbesAreSpreadOverTheBitsItReads) {
    const auto s = snapshot(chash::kind::ketama, nodes(4));
    const auto arcs = owner_arcs(*s, 65536);
    EXPECT_GT(arcs.size(), 100u) << "ketama's 160 points per server make many runs";
    std::set<std::size_t> owners;
    for (const auto& a : arcs) owners.insert(a.owner);
    EXPECT_EQ(owners.size(), 4u);
    // Each owner's probed share is close to its share of the 32-bit circle.
    std::vector<double> probed(4, 0.0);
    for (const auto& a : arcs) probed[a.owner] += static_cast<double>(a.end - a.begin) / 65536;
    ringlb::tools::pool p{chash::kind::ketama, nodes(4), {}};
    ringlb::tools::plan_change drain;
    drain.what = ringlb::tools::plan_change::action::drain;
    drain.id = "app-4";
    const auto plan = ringlb::tools::make_plan(p, drain);
    ASSERT_EQ(plan.share_before.size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(probed[i], plan.share_before[i], 0.002) << i;
}

}  // namespace
