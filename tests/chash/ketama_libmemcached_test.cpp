// chash::ketama against libmemcached itself (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED): the same
// server for every key, for several server lists, with and without weights.
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <libmemcached/memcached.h>

#include <memory>

namespace chash::test {
namespace {

struct server {
    std::string host;
    in_port_t port;
    std::uint32_t weight;
};

std::string id_of(const server& s) {
    return s.host + ":" + std::to_string(s.port);
}

// libmemcached's answer for each key, as a server id.
std::vector<std::string> libmemcached_owners(const std::vector<server>& servers,
                                             const std::vector<std::string>& keys) {
    std::unique_ptr<memcached_st, decltype(&memcached_free)> memc{memcached_create(nullptr), &memcached_free};
    EXPECT_EQ(memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1), MEMCACHED_SUCCESS);
    for (const server& s : servers) {
        EXPECT_EQ(memcached_server_add_with_weight(memc.get(), s.host.c_str(), s.port, s.weight),
                  MEMCACHED_SUCCESS);
    }
    std::vector<std::string> out;
    out.reserve(keys.size());
    for (const std::string& key : keys) {
        const std::uint32_t index = memcached_generate_hash(memc.get(), key.data(), key.size());
        const memcached_instance_st* instance = memcached_server_instance_by_position(memc.get(), index);
        out.push_back(std::string{memcached_server_name(instance)} + ":" +
                      std::to_string(memcached_server_port(instance)));
    }
    return out;
}

std::vector<std::string> chash_owners(const std::vector<server>& servers,
                                      const std::vector<std::string>& keys) {
    std::vector<node> nodes;
    for (const server& s : servers) nodes.push_back({id_of(s), s.weight});
    return owners(ketama::build(nodes), nodes, keys);
}

void expect_identical(const std::vector<server>& servers) {
    const auto keys = make_keys(50000, "ketama-key-");
    const auto expected = libmemcached_owners(servers, keys);
    const auto actual = chash_owners(servers, keys);
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) mismatches += expected[i] != actual[i] ? 1 : 0;
    EXPECT_EQ(mismatches, 0u) << "first: " << [&] {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (expected[i] != actual[i])
                return keys[i] + " libmemcached=" + expected[i] + " chash=" + actual[i];
        }
        return std::string{};
    }();
}

TEST(ketama_vs_libmemcached, three_servers_default_port) {
    expect_identical({{"10.0.1.1", 11211, 1}, {"10.0.1.2", 11211, 1}, {"10.0.1.3", 11211, 1}});
}

TEST(ketama_vs_libmemcached, other_ports_are_part_of_the_name) {
    expect_identical({{"127.0.0.1", 11211, 1}, {"127.0.0.1", 11212, 1}, {"127.0.0.1", 22122, 1}});
}

TEST(ketama_vs_libmemcached, weighted_servers) {
    expect_identical(
        {{"10.0.2.1", 11211, 1}, {"10.0.2.2", 11211, 2}, {"10.0.2.3", 11211, 5}, {"10.0.2.4", 11212, 3}});
}

TEST(ketama_vs_libmemcached, hundred_servers_mixed_weights) {
    std::vector<server> servers;
    for (std::uint32_t i = 0; i < 100; ++i) {
        servers.push_back({"10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1),
                           static_cast<in_port_t>(i % 3 == 0 ? 11211 : 11300 + i), 1 + i % 4});
    }
    expect_identical(servers);
}

TEST(ketama_vs_libmemcached, key_hash_is_md5_little_endian) {
    // MD5("") = d41d8cd98f00b204e9800998ecf8427e; first four bytes little-endian.
    EXPECT_EQ(ketama_key_hash(""), 0xd98c1dd4u);
}

}  // namespace
}  // namespace chash::test
