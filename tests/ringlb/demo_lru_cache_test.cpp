#include "ringlb/demo/lru_cache.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ringlb::demo {
namespace {

TEST(DemoLruCache, MissThenHit) {
    lru_cache<int> c{2};
    EXPECT_EQ(c.find("alice"), nullptr);
    c.insert("alice", 1);
    ASSERT_NE(c.find("alice"), nullptr);
    EXPECT_EQ(*c.find("alice"), 1);
}

TEST(DemoLruCache, NeverHoldsMoreThanCapacity) {
    lru_cache<int> c{3};
    for (int i = 0; i < 100; ++i) c.insert("user-" + std::to_string(i), i);
    EXPECT_EQ(c.size(), 3u);
    EXPECT_TRUE(c.contains("user-99"));
    EXPECT_TRUE(c.contains("user-97"));
    EXPECT_FALSE(c.contains("user-96"));
}

TEST(DemoLruCache, EvictsTheLeastRecentlyUsedNotTheOldestInserted) {
    lru_cache<int> c{2};
    c.insert("a", 1);
    c.insert("b", 2);
    ASSERT_NE(c.find("a"), nullptr);  // a is now more recent than b
    c.insert("c", 3);
    EXPECT_TRUE(c.contains("a"));
    EXPECT_FALSE(c.contains("b"));
    EXPECT_TRUE(c.contains("c"));
}

TEST(DemoLruCache, ContainsDoesNotRefresh) {
    lru_cache<int> c{2};
    c.insert("a", 1);
    c.insert("b", 2);
    EXPECT_TRUE(c.contains("a"));
    c.insert("c", 3);
    EXPECT_FALSE(c.contains("a"));
}

TEST(DemoLruCache, InsertOfAPresentKeyReplacesWithoutGrowing) {
    lru_cache<int> c{2};
    c.insert("a", 1);
    c.insert("a", 5);
    EXPECT_EQ(c.size(), 1u);
    EXPECT_EQ(*c.find("a"), 5);
}

TEST(DemoLruCache, RecycledEntriesKeepTheirNewKeys) {
    // Eviction reuses the evicted node's key buffer: a longer new key must not be cut short
    // and the index must find it by its new name.
    lru_cache<int> c{1};
    c.insert("x", 1);
    c.insert("a-much-longer-key-than-before", 2);
    EXPECT_FALSE(c.contains("x"));
    ASSERT_NE(c.find("a-much-longer-key-than-before"), nullptr);
    EXPECT_EQ(*c.find("a-much-longer-key-than-before"), 2);
}

TEST(DemoLruCache, ClearEmptiesAndKeepsCapacity) {
    lru_cache<int> c{4};
    c.insert("a", 1);
    c.clear();
    EXPECT_EQ(c.size(), 0u);
    EXPECT_EQ(c.capacity(), 4u);
    EXPECT_EQ(c.find("a"), nullptr);
}

TEST(DemoLruCache, ZeroCapacityHoldsOne) {
    lru_cache<int> c{0};
    c.insert("a", 1);
    EXPECT_EQ(c.size(), 1u);
}

}  // namespace
}  // namespace ringlb::demo
