// Uses the installed library as a user would; exits non-zero if placement looks wrong.
#include <chash/chash.hpp>

#include <cstdio>
#include <vector>

int main() {
    const std::vector<chash::node> nodes{{"app-1"}, {"app-2"}, {"app-3", 2}};
    const auto algo = chash::make(chash::kind::ring, nodes);
    const std::size_t owner = algo->pick("user-42");
    if (owner >= nodes.size() || owner != chash::ring::build(nodes).pick("user-42")) return 1;
    std::printf("user-42 -> %s\n", nodes[owner].id.c_str());
    return 0;
}
