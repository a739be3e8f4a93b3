// Golden placements: a few thousand keys per algorithm, pinned in tests/chash/golden/.
// Any change of placement fails here. A deliberate change regenerates the files with
//   CHASH_UPDATE_GOLDEN=1 build/tests/chash/chash_tests --gtest_filter='golden*'
// and says so in the commit message.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace chash::test {
namespace {

constexpr std::size_t golden_keys = 3000;

std::vector<node> golden_nodes(kind k) {
    std::vector<node> nodes;
    const char* names[] = {"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:8080", "cache-a", "cache-b",
                           "cache-c",        "app-1",          "app-2",         "app-3"};
    std::uint32_t w = 1;
    for (const char* name : names) {
        nodes.push_back({name, has_weights(k) ? w : 1});
        w = w % 3 + 1;
    }
    return nodes;
}

std::string render(kind k) {
    const auto nodes = golden_nodes(k);
    const auto algo = make(k, nodes);
    std::ostringstream out;
    out << "# " << to_string(k) << " fingerprint " << std::hex << algo->fingerprint() << std::dec << '\n';
    std::array<std::size_t, 3> top{};
    for (const std::string& key : make_keys(golden_keys, "golden-key-")) {
        const std::size_t n = algo->candidates(algo->hash_key(key), top);
        out << key;
        for (std::size_t i = 0; i < n; ++i) out << '\t' << nodes[top[i]].id;
        out << '\n';
    }
    return out.str();
}

class golden : public ::testing::TestWithParam<kind> {};

TEST_P(golden, placements_match_the_pinned_file) {
    const std::string path =
        std::string{CHASH_GOLDEN_DIR} + "/" + std::string{to_string(GetParam())} + ".tsv";
    const std::string actual = render(GetParam());
    if (std::getenv("CHASH_UPDATE_GOLDEN") != nullptr) {
        std::ofstream(path) << actual;
        GTEST_SKIP() << "rewrote " << path;
    }
    std::ifstream in(path);
    ASSERT_TRUE(in) << "missing golden file " << path;
    std::stringstream expected;
    expected << in.rdbuf();
    // Compare line by line so a failure names the first key that moved.
    std::istringstream a(actual), e(expected.str());
    std::string la, le;
    std::size_t line = 0;
    while (std::getline(e, le)) {
        ++line;
        ASSERT_TRUE(std::getline(a, la)) << "output ends early at line " << line;
        ASSERT_EQ(la, le) << "placement changed at " << path << ":" << line;
    }
    EXPECT_FALSE(std::getline(a, la)) << "output has more lines than " << path;
    EXPECT_GT(line, golden_keys);
}

INSTANTIATE_TEST_SUITE_P(chash, golden, ::testing::ValuesIn(all_kinds()),
                         [](const auto& p) { return std::string{to_string(p.param)}; });

}  // namespace
}  // namespace chash::test
