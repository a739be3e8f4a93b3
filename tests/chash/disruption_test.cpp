// Minimal disruption: a change of membership moves only the keys it must.
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace chash::test {
namespace {

constexpr std::size_t key_count = 100000;

struct moves {
    std::size_t moved = 0;      // keys whose owner changed
    std::size_t exchanged = 0;  // moved between two nodes present before and after
};

moves compare(const std::vector<std::string>& before, const std::vector<std::string>& after,
              const std::string& changed_id) {
    moves m;
    for (std::size_t i = 0; i < before.size(); ++i) {
        if (before[i] == after[i]) continue;
        ++m.moved;
        if (before[i] != changed_id && after[i] != changed_id) ++m.exchanged;
    }
    return m;
}

class consistent : public ::testing::TestWithParam<kind> {};

TEST_P(consistent, removing_a_node_moves_only_its_keys) {
    std::vector<node> nodes = make_nodes(10);
    // ketama normalises weights by their total (as libketama does), so only equal weights
    // keep other servers' points fixed; see ketama_weighted_change_moves_few_other_keys.
    if (GetParam() != kind::ketama) nodes[3].weight = 2;
    const auto keys = make_keys(key_count);
    const auto before = owners(*make(GetParam(), nodes), nodes, keys);
    for (const std::size_t gone : {0u, 3u, 9u}) {
        std::vector<node> fewer = nodes;
        fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(gone));
        const auto after = owners(*make(GetParam(), fewer), fewer, keys);
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (before[i] != nodes[gone].id) {
                ASSERT_EQ(after[i], before[i]) << keys[i];
            }
        }
    }
}

TEST_P(consistent, adding_a_node_moves_keys_only_to_it) {
    const std::vector<node> nodes = make_nodes(10);
    const auto keys = make_keys(key_count);
    const auto before = owners(*make(GetParam(), nodes), nodes, keys);
    std::vector<node> more = nodes;
    more.push_back({"node-new", 1});
    const auto after = owners(*make(GetParam(), more), more, keys);
    const moves m = compare(before, after, "node-new");
    EXPECT_EQ(m.exchanged, 0u);
    // The new node takes about its share, 1/11 of the keys.
    EXPECT_NEAR(static_cast<double>(m.moved) / key_count, 1.0 / 11, 0.03);
}

class weight_stable : public ::testing::TestWithParam<kind> {};

TEST_P(weight_stable, reweighting_a_node_leaves_other_nodes_keys_alone) {
    // mcrouter's check: changing one node's weight moves only keys to or from it.
    const std::vector<node> nodes = make_nodes(8);
    const auto keys = make_keys(key_count);
    const auto before = owners(*make(GetParam(), nodes), nodes, keys);
    std::vector<node> heavier = nodes;
    heavier[5].weight = 3;
    const auto after = owners(*make(GetParam(), heavier), heavier, keys);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (after[i] != "node-5") {
            ASSERT_EQ(after[i], before[i]) << keys[i];
        }
    }
}

INSTANTIATE_TEST_SUITE_P(chash, weight_stable, ::testing::Values(kind::ring, kind::rendezvous),
                         [](const auto& p) { return std::string{to_string(p.param)}; });

TEST(ketama, weighted_change_rescales_every_server) {
    // libketama gives a server floor(weight / total * 40 * servers) digests, so a weight
    // change anywhere rescales every server: here 1 -> 3 on one of ten servers drops the
    // others from 40 to 33 digests, and some keys move between servers that did not
    // change (about 9%). This is the price of libmemcached compatibility, documented in
    // ketama.hpp; ring and rendezvous have no such coupling (weight_stable above).
    std::vector<node> nodes = make_nodes(10);
    const auto keys = make_keys(key_count);
    const auto before = owners(*make(kind::ketama, nodes), nodes, keys);
    std::vector<node> heavier = nodes;
    heavier[5].weight = 3;
    const auto after = owners(*make(kind::ketama, heavier), heavier, keys);
    const moves m = compare(before, after, "node-5");
    const double exchanged = static_cast<double>(m.exchanged) / key_count;
    EXPECT_GT(exchanged, 0.01);
    EXPECT_LT(exchanged, 0.15);
}

INSTANTIATE_TEST_SUITE_P(chash, consistent, ::testing::Values(kind::ring, kind::ketama, kind::rendezvous),
                         [](const auto& p) { return std::string{to_string(p.param)}; });

TEST(maglev, removal_moves_a_bounded_multiple_of_the_ideal_fraction) {
    for (const std::size_t n : {10u, 100u}) {
        const std::vector<node> nodes = make_nodes(n);
        const auto keys = make_keys(key_count);
        const auto before = owners(*make(kind::maglev, nodes), nodes, keys);
        std::vector<node> fewer(nodes.begin() + 1, nodes.end());
        const auto after = owners(*make(kind::maglev, fewer), fewer, keys);
        const moves m = compare(before, after, nodes[0].id);
        const double ideal = 1.0 / static_cast<double>(n);
        const double moved = static_cast<double>(m.moved) / key_count;
        // Maglev trades a little extra movement for O(1) lookups; Envoy and the paper report
        // 1.5-2x the ideal share at these sizes. Hold it under 3x.
        EXPECT_GE(moved, ideal * 0.9) << n;
        EXPECT_LE(moved, ideal * 3.0) << n << " nodes: moved " << moved << " ideal " << ideal;
    }
}

TEST(jump, removing_the_last_bucket_moves_only_its_keys) {
    const std::vector<node> nodes = make_nodes(9);  // node-8 sorts last
    const auto keys = make_keys(key_count);
    const auto before = owners(*make(kind::jump, nodes), nodes, keys);
    std::vector<node> fewer(nodes.begin(), nodes.end() - 1);
    const auto after = owners(*make(kind::jump, fewer), fewer, keys);
    const moves m = compare(before, after, "node-8");
    EXPECT_EQ(m.exchanged, 0u);
}

TEST(modulo, a_removal_moves_most_keys) {
    // The baseline consistent hashing fixes: n -> n-1 moves about (n-1)/n of the keys.
    const std::vector<node> nodes = make_nodes(10);
    const auto keys = make_keys(key_count);
    const auto before = owners(*make(kind::modulo, nodes), nodes, keys);
    std::vector<node> fewer(nodes.begin(), nodes.end() - 1);
    const auto after = owners(*make(kind::modulo, fewer), fewer, keys);
    const moves m = compare(before, after, "node-9");
    EXPECT_GT(static_cast<double>(m.moved) / key_count, 0.8);
    EXPECT_GT(m.exchanged, key_count / 2);
}

}  // namespace
}  // namespace chash::test
