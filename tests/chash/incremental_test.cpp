// Incremental add/remove on the ring equals a fresh build.
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace chash::test {
namespace {

void expect_same_ring(const ring& a, const ring& b) {
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a.nodes()[i].id, b.nodes()[i].id);
        EXPECT_EQ(a.nodes()[i].weight, b.nodes()[i].weight);
    }
    ASSERT_EQ(a.points().size(), b.points().size());
    for (std::size_t i = 0; i < a.points().size(); ++i) {
        ASSERT_EQ(a.points()[i].position, b.points()[i].position) << i;
        ASSERT_EQ(a.points()[i].owner, b.points()[i].owner) << i;
    }
    EXPECT_EQ(a.fingerprint(), b.fingerprint());
    for (const std::string& key : make_keys(20000)) ASSERT_EQ(a.pick(key), b.pick(key)) << key;
}

TEST(ring_incremental, adding_a_node_equals_a_fresh_build) {
    std::vector<node> nodes = make_nodes(50);
    nodes[7].weight = 3;
    const ring base = ring::build(nodes);
    const node extra{"node-extra", 2};
    std::vector<node> grown = nodes;
    grown.push_back(extra);
    expect_same_ring(base.with_node_added(extra), ring::build(grown));
}

TEST(ring_incremental, removing_a_node_equals_a_fresh_build) {
    std::vector<node> nodes = make_nodes(50);
    nodes[20].weight = 4;
    const ring base = ring::build(nodes);
    for (const std::size_t gone : {0u, 20u, 49u}) {
        std::vector<node> shrunk = nodes;
        shrunk.erase(shrunk.begin() + static_cast<std::ptrdiff_t>(gone));
        expect_same_ring(base.with_node_removed(nodes[gone].id), ring::build(shrunk));
    }
}

TEST(ring_incremental, add_then_remove_round_trips) {
    const auto nodes = make_nodes(20);
    const ring base = ring::build(nodes);
    expect_same_ring(base.with_node_added({"transient", 1}).with_node_removed("transient"), base);
}

TEST(ring_incremental, from_and_to_empty) {
    const ring empty = ring::build({});
    const ring one = empty.with_node_added({"only", 1});
    EXPECT_EQ(one.pick("anything"), 0u);
    const ring none = one.with_node_removed("only");
    EXPECT_EQ(none.pick("anything"), npos);
}

TEST(ring_incremental, bad_changes_are_errors) {
    const ring base = ring::build(make_nodes(3));
    EXPECT_THROW((void)base.with_node_added({"node-1", 1}), error);
    EXPECT_THROW((void)base.with_node_added({"", 1}), error);
    EXPECT_THROW((void)base.with_node_removed("absent"), error);
    EXPECT_THROW((void)base.with_node_added({"huge", 1u << 20}), error);
}

}  // namespace
}  // namespace chash::test
