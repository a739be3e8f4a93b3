// The key hash is part of the placement contract: these values must never change.
#include <chash/hash.hpp>

#include <gtest/gtest.h>

namespace {

TEST(hash64, is_xxh3_64_with_seed_zero) {
    // XXH3-64 of the empty input with seed 0, as published by the xxHash project.
    EXPECT_EQ(chash::hash64(""), 0x2D06800538D394C2ULL);
}

TEST(hash64, pinned_values_never_change) {
    EXPECT_EQ(chash::hash64("user-42"), chash::hash64(std::string_view{"user-42xyz"}.substr(0, 7)));
    EXPECT_EQ(chash::hash64("user-42"), 0x50FE4B21CF7B09CDULL);
    EXPECT_EQ(chash::hash64("app-1", 0), 0x0304B9EC68D5F550ULL);
    EXPECT_EQ(chash::hash64("app-1", 7), 0xB1F4F0C0E0E85ADEULL);
}

TEST(hash64, seed_zero_overload_agrees) {
    EXPECT_EQ(chash::hash64("some key"), chash::hash64("some key", 0));
}

TEST(mix64, is_murmur3_finalizer) {
    EXPECT_EQ(chash::mix64(0), 0u);
    EXPECT_EQ(chash::mix64(1), 0xB456BCFC34C2CB2CULL);
    static_assert(chash::mix64(0) == 0);
}

}  // namespace

TEST(node_hash, is_hash64_for_ids_of_four_bytes_or_more) {
    EXPECT_EQ(chash::node_hash("app-1", 7), chash::hash64("app-1", 7));
    EXPECT_EQ(chash::node_hash("node", 0), chash::hash64("node", 0));
}

TEST(node_hash, mixes_the_salt_of_short_ids) {
    // hash64 itself: "db1" under salt j and "db2" under salt j ^ 3 meet for some j.
    bool hash64_meets = false;
    for (std::uint64_t j = 0; j < 160 && !hash64_meets; ++j)
        for (std::uint64_t k = 0; k < 160; ++k)
            if (chash::hash64("db1", j) == chash::hash64("db2", k)) hash64_meets = true;
    EXPECT_TRUE(hash64_meets) << "XXH3 changed its short path: node_hash's reason is gone";
    for (std::uint64_t j = 0; j < 160; ++j)
        for (std::uint64_t k = 0; k < 160; ++k) ASSERT_NE(chash::node_hash("db1", j), chash::node_hash("db2", k));
    EXPECT_EQ(chash::node_hash("db1", 0), 0xC1E5DF0E8D776A87ULL) << "pinned: a change moves keys";
}
