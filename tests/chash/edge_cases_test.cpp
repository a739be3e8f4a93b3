// Bad input is an error with a message, never a crash or a giant allocation; degenerate
// input has defined answers.
#include "test_support.hpp"

#include <gtest/gtest.h>

namespace chash::test {
namespace {

class each : public ::testing::TestWithParam<kind> {};

TEST_P(each, empty_node_list_picks_the_sentinel) {
    const auto algo = make(GetParam(), {});
    EXPECT_EQ(algo->size(), 0u);
    EXPECT_EQ(algo->pick("user-1"), npos);
    std::array<std::size_t, 3> out{};
    EXPECT_EQ(algo->candidates(42, out), 0u);
}

TEST_P(each, single_node_owns_every_key) {
    const std::vector<node> nodes{{"only", 1}};
    const auto algo = make(GetParam(), nodes);
    for (const std::string& key : make_keys(1000)) ASSERT_EQ(algo->pick(key), 0u);
    std::array<std::size_t, 3> out{};
    EXPECT_EQ(algo->candidates(algo->hash_key("k"), out), 1u);
}

TEST_P(each, duplicate_ids_are_rejected_by_name) {
    const std::vector<node> nodes{{"a", 1}, {"b", 1}, {"a", 1}};
    try {
        (void)make(GetParam(), nodes);
        FAIL() << "expected chash::error";
    } catch (const error& e) {
        EXPECT_NE(std::string{e.what()}.find("duplicate node id 'a'"), std::string::npos) << e.what();
    }
}

TEST_P(each, empty_id_is_rejected) {
    const std::vector<node> nodes{{"a", 1}, {"", 1}};
    EXPECT_THROW((void)make(GetParam(), nodes), error);
}

TEST_P(each, zero_total_weight_is_rejected) {
    const std::vector<node> nodes{{"a", 0}, {"b", 0}};
    EXPECT_THROW((void)make(GetParam(), nodes), error);
}

TEST_P(each, empty_key_is_a_key_like_any_other) {
    const auto nodes = make_nodes(5);
    const auto algo = make(GetParam(), nodes);
    EXPECT_LT(algo->pick(""), nodes.size());
    EXPECT_EQ(algo->pick(""), algo->pick(""));
}

// Ids of three bytes that differ only in the last one ("db1", "db2", "100", "s-1" ...): on
// XXH3's short path their points would coincide and the first id in order would own nearly
// every key. Each algorithm spreads them like any other ids.
TEST_P(each, short_ids_that_differ_in_one_byte_share_the_keys) {
    for (const std::vector<std::string>& ids : std::vector<std::vector<std::string>>{
             {"db1", "db2", "db3", "db4"}, {"100", "101", "102", "103"}, {"a", "b", "c", "d"}, {"s1", "s2", "s3", "s4"}}) {
        std::vector<node> nodes;
        for (const std::string& id : ids) nodes.push_back({id, 1});
        const auto algo = make(GetParam(), nodes);
        std::vector<int> count(nodes.size());
        for (const std::string& key : make_keys(40000)) ++count[algo->pick(key)];
        for (std::size_t i = 0; i < nodes.size(); ++i)
            EXPECT_GT(count[i], 40000 / 4 * 0.7) << ids[i] << " of " << ids.front() << "..." << ids.back();
    }
}

INSTANTIATE_TEST_SUITE_P(chash, each, ::testing::ValuesIn(all_kinds()),
                         [](const auto& p) { return std::string{to_string(p.param)}; });

TEST(ring, weight_times_vnodes_over_the_cap_is_an_error_not_an_allocation) {
    // nginx#191: large weights took gigabytes. Here: an error naming the limit.
    const std::vector<node> nodes{{"a", 4'000'000'000u}, {"b", 1}};
    try {
        (void)ring::build(nodes);
        FAIL() << "expected chash::error";
    } catch (const error& e) {
        EXPECT_NE(std::string{e.what()}.find("over the limit"), std::string::npos) << e.what();
    }
    const std::vector<node> many{{"a", 1}};
    EXPECT_THROW((void)ring::build(many, {.vnodes_per_weight = 4'000'000'000u}), error);
    EXPECT_THROW((void)ring::build(many, {.vnodes_per_weight = 0}), error);
}

TEST(ketama, huge_weights_are_capped_too) {
    std::vector<node> nodes = make_nodes(60000);
    EXPECT_THROW((void)ketama::build(nodes), error);  // 60000 x 160 points > 8 Mi
}

TEST(maglev, table_size_must_be_a_prime_above_the_node_count) {
    const auto nodes = make_nodes(10);
    EXPECT_THROW((void)maglev::build(nodes, {.table_size = 65536}), error);
    EXPECT_THROW((void)maglev::build(nodes, {.table_size = 7}), error);
    EXPECT_THROW((void)maglev::build(nodes, {.table_size = 4'294'967'291u}), error);
    EXPECT_NO_THROW((void)maglev::build(nodes, {.table_size = 11}));
}

TEST(jump_and_modulo, weights_are_rejected_with_a_reason) {
    const std::vector<node> nodes{{"a", 1}, {"b", 2}};
    for (kind k : {kind::jump, kind::modulo}) {
        try {
            (void)make(k, nodes);
            FAIL() << "expected chash::error for " << to_string(k);
        } catch (const error& e) {
            EXPECT_NE(std::string{e.what()}.find("no weights"), std::string::npos) << e.what();
        }
    }
}

TEST(jump, published_reference_values) {
    // Lamping & Veach's function: bucket 0 for one bucket, stable as buckets grow.
    EXPECT_EQ(jump_consistent_hash(12345, 1), 0);
    EXPECT_EQ(jump_consistent_hash(12345, 0), -1);
    for (std::uint64_t key = 0; key < 1000; ++key) {
        const std::int32_t b10 = jump_consistent_hash(key, 10);
        const std::int32_t b11 = jump_consistent_hash(key, 11);
        ASSERT_TRUE(b11 == b10 || b11 == 10) << key;
    }
}

}  // namespace
}  // namespace chash::test
