// Promises every algorithm keeps: order independence, candidates, fingerprints, no
// allocation on pick.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <set>

// Counts heap allocations made by this thread while `counting` is set. The replacement
// pair allocates with malloc and frees with free, which GCC cannot see as a matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
    if (counting) ++allocations;
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc{};
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace chash::test {
namespace {

class every_algorithm : public ::testing::TestWithParam<kind> {};

std::vector<node> mixed_nodes(kind k) {
    std::vector<node> nodes = make_nodes(13, "backend-");
    if (has_weights(k)) {
        for (std::size_t i = 0; i < nodes.size(); ++i)
            nodes[i].weight = 1 + static_cast<std::uint32_t>(i % 4);
    }
    return nodes;
}

TEST_P(every_algorithm, same_mapping_for_any_permutation_of_nodes) {
    const std::vector<node> nodes = mixed_nodes(GetParam());
    const std::vector<std::string> keys = make_keys(20000);
    const auto reference = owners(*make(GetParam(), nodes), nodes, keys);
    for (unsigned seed = 1; seed <= 5; ++seed) {
        const std::vector<node> permuted = shuffled(nodes, seed);
        const auto algo = make(GetParam(), permuted);
        EXPECT_EQ(owners(*algo, permuted, keys), reference) << "permutation seed " << seed;
        EXPECT_EQ(algo->fingerprint(), make(GetParam(), nodes)->fingerprint());
    }
}

TEST_P(every_algorithm, candidates_start_with_pick_and_are_distinct) {
    const std::vector<node> nodes = mixed_nodes(GetParam());
    const auto algo = make(GetParam(), nodes);
    std::array<std::size_t, 20> out{};
    for (const std::string& key : make_keys(2000)) {
        const std::uint64_t h = algo->hash_key(key);
        const std::size_t n = algo->candidates(h, out);
        ASSERT_EQ(n, nodes.size()) << "every node has weight, so all are reachable";
        EXPECT_EQ(out[0], algo->pick_hashed(h));
        const std::set<std::size_t> distinct(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_EQ(distinct.size(), n);
        EXPECT_LT(*distinct.rbegin(), nodes.size());
    }
}

TEST_P(every_algorithm, candidates_fill_only_what_is_asked) {
    const std::vector<node> nodes = mixed_nodes(GetParam());
    const auto algo = make(GetParam(), nodes);
    std::array<std::size_t, 3> three{};
    std::array<std::size_t, 20> all{};
    for (const std::string& key : make_keys(500)) {
        const std::uint64_t h = algo->hash_key(key);
        ASSERT_EQ(algo->candidates(h, three), 3u);
        algo->candidates(h, all);
        EXPECT_TRUE(std::equal(three.begin(), three.end(), all.begin())) << "a prefix of the longer walk";
    }
}

TEST_P(every_algorithm, pick_and_candidates_do_not_allocate) {
    const std::vector<node> nodes = mixed_nodes(GetParam());
    const auto algo = make(GetParam(), nodes);
    const std::vector<std::string> keys = make_keys(1000);
    std::array<std::size_t, 4> out{};
    std::size_t sink = 0;
    allocations = 0;
    counting = true;
    for (const std::string& key : keys) {
        sink += algo->pick(key);
        sink += algo->candidates(algo->hash_key(key), out);
    }
    counting = false;
    EXPECT_EQ(allocations, 0u);
    EXPECT_GT(sink, 0u);
}

TEST_P(every_algorithm, fingerprint_covers_ids_weights_and_algorithm) {
    std::vector<node> nodes = make_nodes(5);
    const std::uint64_t base = make(GetParam(), nodes)->fingerprint();
    std::vector<node> renamed = nodes;
    renamed[2].id = "node-x";
    EXPECT_NE(make(GetParam(), renamed)->fingerprint(), base);
    std::vector<node> fewer(nodes.begin(), nodes.end() - 1);
    EXPECT_NE(make(GetParam(), fewer)->fingerprint(), base);
    if (has_weights(GetParam())) {
        std::vector<node> heavier = nodes;
        heavier[1].weight = 2;
        EXPECT_NE(make(GetParam(), heavier)->fingerprint(), base);
    }
    for (kind other : all_kinds()) {
        if (other != GetParam()) {
            EXPECT_NE(make(other, nodes)->fingerprint(), base) << to_string(other);
        }
    }
}

TEST_P(every_algorithm, kind_name_round_trips) {
    EXPECT_EQ(make(GetParam(), make_nodes(3))->kind(), GetParam());
    EXPECT_EQ(parse_kind(to_string(GetParam())), GetParam());
}

INSTANTIATE_TEST_SUITE_P(chash, every_algorithm, ::testing::ValuesIn(all_kinds()),
                         [](const auto& p) { return std::string{to_string(p.param)}; });

TEST(parse_kind, rejects_unknown_names) {
    EXPECT_FALSE(parse_kind("consistent").has_value());
    EXPECT_FALSE(parse_kind("").has_value());
    EXPECT_FALSE(parse_kind("Ring").has_value());
}

TEST(ring, vnodes_option_is_part_of_the_fingerprint) {
    const auto nodes = make_nodes(4);
    EXPECT_NE(ring::build(nodes, {.vnodes_per_weight = 100}).fingerprint(),
              ring::build(nodes, {.vnodes_per_weight = 160}).fingerprint());
}

TEST(maglev, equal_weights_differ_by_at_most_one_slot) {
    // Katran's promise: with equal weights, the fullest and emptiest node differ by 1.
    for (std::size_t n : {3u, 10u, 97u}) {
        const auto nodes = make_nodes(n);
        const maglev m = maglev::build(nodes, {.table_size = 65537});
        std::vector<std::size_t> slots(n, 0);
        for (std::uint32_t owner : m.table()) ++slots[owner];
        const auto [lo, hi] = std::minmax_element(slots.begin(), slots.end());
        EXPECT_LE(*hi - *lo, 1u) << n << " nodes";
    }
}

}  // namespace
}  // namespace chash::test

namespace chash::test {
namespace {

TEST(memory_bytes, reports_what_the_structure_holds) {
    const auto nodes = make_nodes(50);
    EXPECT_GE(ring::build(nodes).memory_bytes(), 50u * 160 * sizeof(ring::point));
    EXPECT_GT(ring::build(nodes, {.vnodes_per_weight = 320}).memory_bytes(),
              ring::build(nodes).memory_bytes());
    EXPECT_EQ(maglev::build(nodes, {.table_size = 65537}).memory_bytes(), 65537u * sizeof(std::uint32_t));
    for (kind k : all_kinds()) EXPECT_GT(make(k, nodes)->memory_bytes(), 0u) << to_string(k);
}

}  // namespace
}  // namespace chash::test
