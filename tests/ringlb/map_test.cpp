// map: one line per key, same answer as chash, failover order on request.
#include "ringlb/tools/map.hpp"
#include "ringlb/tools/node_list.hpp"

#include "golden_file.hpp"

#include <chash/chash.hpp>

#include <gtest/gtest.h>

#include <sstream>

namespace ringlb::tools {
namespace {

TEST(map, prints_key_tab_owner_per_line) {
    const std::vector<chash::node> nodes{{"a", 1}, {"b", 1}, {"c", 2}};
    const auto algo = chash::make(chash::kind::ring, nodes);
    std::istringstream in{"user-1\nuser-2\r\n\nuser-3"};
    std::ostringstream out;
    EXPECT_EQ(map_keys(*algo, nodes, in, out), 4u);
    std::ostringstream expected;
    for (const std::string key : {"user-1", "user-2", "", "user-3"}) {
        expected << key << '\t' << nodes[algo->pick(key)].id << '\n';
    }
    EXPECT_EQ(out.str(), expected.str());
}

TEST(map, candidates_are_distinct_and_start_with_the_owner) {
    const std::vector<chash::node> nodes{{"a", 1}, {"b", 1}, {"c", 1}};
    const auto algo = chash::make(chash::kind::maglev, nodes);
    std::istringstream in{"k1\nk2\n"};
    std::ostringstream out;
    map_keys(*algo, nodes, in, out, 5);
    std::istringstream lines{out.str()};
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields{line};
        std::string key, a, b, c, extra;
        std::getline(fields, key, '\t');
        fields >> a >> b >> c;
        EXPECT_FALSE(fields >> extra) << "only 3 nodes exist";
        EXPECT_EQ(a, nodes[algo->pick(key)].id);
        EXPECT_NE(a, b);
        EXPECT_NE(b, c);
        EXPECT_NE(a, c);
    }
}

TEST(map, golden_placements_of_each_algorithm) {
    const auto nodes = parse_nodes("5");
    std::string keys;
    for (int i = 0; i < 20; ++i) keys += "user-" + std::to_string(i) + "\n";
    for (const chash::kind k : {chash::kind::ring, chash::kind::ketama, chash::kind::maglev, chash::kind::rendezvous,
                                chash::kind::jump, chash::kind::modulo}) {
        const auto algo = chash::make(k, nodes);
        std::istringstream in{keys};
        std::ostringstream out;
        map_keys(*algo, nodes, in, out, 2);
        EXPECT_GOLDEN("map_" + std::string{chash::to_string(k)} + "_5.txt", out.str());
    }
}

}  // namespace
}  // namespace ringlb::tools
