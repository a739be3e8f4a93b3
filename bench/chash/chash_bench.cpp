// chash_bench: speed and quality of every algorithm, side by side with libmemcached.
//
//   build/bench/chash/chash_bench --benchmark_filter='BM_pick/'
//
// Rows: BM_pick/<algorithm>/<n> (16-byte keys, hashing included), BM_pick_hashed,
// BM_candidates3 (first 3 distinct), BM_build (bytes_per_node), BM_node_loss
// (moved_fraction next to ideal_fraction), BM_ring_add_node / BM_ring_remove_node
// (incremental), BM_ring_lower_bound (the plain binary search the ring index replaces), and
// BM_libmemcached_ketama measured in the same binary.
#include <chash/chash.hpp>

#include <benchmark/benchmark.h>
#include <libmemcached/memcached.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

using chash::kind;

constexpr std::array<std::size_t, 4> sizes{10, 100, 1000, 10000};
constexpr std::size_t key_pool = 1 << 14;  // random-looking keys, cycled

std::vector<chash::node> make_nodes(std::size_t n) {
    std::vector<chash::node> nodes;
    nodes.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        nodes.push_back({"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":8080", 1});
    return nodes;
}

const std::vector<std::string>& keys() {
    static const std::vector<std::string> pool = [] {
        std::vector<std::string> out;
        char buf[32];
        for (std::size_t i = 0; i < key_pool; ++i) {
            std::snprintf(buf, sizeof buf, "user-%011llu", static_cast<unsigned long long>(i * 7919));
            out.emplace_back(buf);  // 16 bytes
        }
        return out;
    }();
    return pool;
}

void bm_pick(benchmark::State& state, kind k, std::size_t n) {
    const auto algo = chash::make(k, make_nodes(n));
    const auto& pool = keys();
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(algo->pick(pool[i++ & (key_pool - 1)]));
    }
}

void bm_hash64(benchmark::State& state) {
    const auto& pool = keys();
    std::size_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(chash::hash64(pool[i++ & (key_pool - 1)]));
}

void bm_pick_hashed(benchmark::State& state, kind k, std::size_t n) {
    const auto algo = chash::make(k, make_nodes(n));
    std::vector<std::uint64_t> hashes;
    for (const auto& key : keys()) hashes.push_back(algo->hash_key(key));
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(algo->pick_hashed(hashes[i++ & (key_pool - 1)]));
    }
}

void bm_candidates3(benchmark::State& state, kind k, std::size_t n) {
    const auto algo = chash::make(k, make_nodes(n));
    std::vector<std::uint64_t> hashes;
    for (const auto& key : keys()) hashes.push_back(algo->hash_key(key));
    std::array<std::size_t, 3> out{};
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(algo->candidates(hashes[i++ & (key_pool - 1)], out));
        benchmark::DoNotOptimize(out.data());
    }
}

void bm_build(benchmark::State& state, kind k, std::size_t n) {
    const auto nodes = make_nodes(n);
    std::size_t bytes = 0;
    for (auto _ : state) {
        const auto algo = chash::make(k, nodes);
        bytes = algo->memory_bytes();
        benchmark::DoNotOptimize(algo.get());
    }
    state.counters["bytes_per_node"] = static_cast<double>(bytes) / static_cast<double>(n);
}

void bm_node_loss(benchmark::State& state, kind k, std::size_t n) {
    // Jump can only lose its last bucket (in id order) without renumbering: measure that.
    const auto nodes = make_nodes(n);
    std::vector<chash::node> fewer = nodes;
    if (k == kind::jump) {
        fewer.erase(std::max_element(fewer.begin(), fewer.end(),
                                     [](const auto& a, const auto& b) { return a.id < b.id; }));
    } else {
        fewer.erase(fewer.begin());
    }
    const auto before = chash::make(k, nodes);
    std::unique_ptr<const chash::algorithm> after;
    for (auto _ : state) {
        after = chash::make(k, fewer);  // the rebuild a removal costs
        benchmark::DoNotOptimize(after.get());
    }
    constexpr std::size_t probes = 100000;
    std::size_t moved = 0;
    for (std::size_t i = 0; i < probes; ++i) {
        const std::string key = "probe-" + std::to_string(i);
        if (nodes[before->pick(key)].id != fewer[after->pick(key)].id) ++moved;
    }
    state.counters["moved_fraction"] = static_cast<double>(moved) / probes;
    state.counters["ideal_fraction"] = 1.0 / static_cast<double>(n);
}

void bm_ring_add_node(benchmark::State& state, std::size_t n) {
    const auto base = chash::ring::build(make_nodes(n));
    const chash::node extra{"10.9.9.9:8080", 1};
    for (auto _ : state) {
        auto grown = base.with_node_added(extra);
        benchmark::DoNotOptimize(&grown);
    }
}

void bm_ring_remove_node(benchmark::State& state, std::size_t n) {
    const auto nodes = make_nodes(n);
    const auto base = chash::ring::build(nodes);
    for (auto _ : state) {
        auto shrunk = base.with_node_removed(nodes[n / 2].id);
        benchmark::DoNotOptimize(&shrunk);
    }
}

void bm_ring_lower_bound(benchmark::State& state, std::size_t n) {
    const auto r = chash::ring::build(make_nodes(n));
    const auto points = r.points();
    std::vector<std::uint64_t> hashes;
    for (const auto& key : keys()) hashes.push_back(chash::hash64(key));
    std::size_t i = 0;
    for (auto _ : state) {
        const std::uint64_t h = hashes[i++ & (key_pool - 1)];
        auto it =
            std::lower_bound(points.begin(), points.end(), h,
                             [](const chash::ring::point& p, std::uint64_t v) { return p.position < v; });
        if (it == points.end()) it = points.begin();
        benchmark::DoNotOptimize(it->owner);
    }
}

void bm_libmemcached_ketama(benchmark::State& state, std::size_t n) {
    std::unique_ptr<memcached_st, decltype(&memcached_free)> memc{memcached_create(nullptr), &memcached_free};
    memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string host = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
        memcached_server_add_with_weight(memc.get(), host.c_str(), 8080, 1);
    }
    const auto& pool = keys();
    std::size_t i = 0;
    for (auto _ : state) {
        const std::string_view key = pool[i++ & (key_pool - 1)];
        benchmark::DoNotOptimize(memcached_generate_hash(memc.get(), key.data(), key.size()));
    }
}

void register_all() {
    benchmark::RegisterBenchmark("BM_hash64/16B", bm_hash64);
    const std::array<kind, 6> kinds{kind::ring,       kind::ketama, kind::maglev,
                                    kind::rendezvous, kind::jump,   kind::modulo};
    auto name = [](const char* row, kind k, std::size_t n) {
        return std::string{row} + "/" + std::string{chash::to_string(k)} + "/" + std::to_string(n);
    };
    for (kind k : kinds) {
        for (std::size_t n : sizes)
            benchmark::RegisterBenchmark(name("BM_pick", k, n).c_str(), bm_pick, k, n);
    }
    for (kind k : kinds) {
        for (std::size_t n : sizes)
            benchmark::RegisterBenchmark(name("BM_pick_hashed", k, n).c_str(), bm_pick_hashed, k, n);
    }
    for (kind k : kinds) {
        for (std::size_t n : sizes)
            benchmark::RegisterBenchmark(name("BM_candidates3", k, n).c_str(), bm_candidates3, k, n);
    }
    for (kind k : kinds) {
        for (std::size_t n : sizes) {
            benchmark::RegisterBenchmark(name("BM_build", k, n).c_str(), bm_build, k, n)
                ->Unit(benchmark::kMillisecond);
        }
    }
    for (kind k : kinds) {
        for (std::size_t n : sizes) {
            benchmark::RegisterBenchmark(name("BM_node_loss", k, n).c_str(), bm_node_loss, k, n)
                ->Unit(benchmark::kMillisecond)
                ->Iterations(3);
        }
    }
    for (std::size_t n : sizes) {
        benchmark::RegisterBenchmark(("BM_ring_add_node/" + std::to_string(n)).c_str(), bm_ring_add_node, n)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("BM_ring_remove_node/" + std::to_string(n)).c_str(),
                                     bm_ring_remove_node, n)
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("BM_ring_lower_bound/" + std::to_string(n)).c_str(),
                                     bm_ring_lower_bound, n);
    }
    // libmemcached asserts on larger lists (its continuum has a fixed size).
    for (std::size_t n : {std::size_t{10}, std::size_t{100}}) {
        benchmark::RegisterBenchmark(("BM_libmemcached_ketama/" + std::to_string(n)).c_str(),
                                     bm_libmemcached_ketama, n);
    }
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
