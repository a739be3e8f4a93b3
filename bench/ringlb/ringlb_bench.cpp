// Per-request and per-second costs of ringlb's data-path parts that no proxy comparison
// isolates: the rate-limit table's take (one key, many keys past the table, two threads on
// one key) and the once-a-second tunnel check (routing_snapshot::settled_owner).
//
//   build/release/bench/ringlb/ringlb_bench --benchmark_min_time=0.2
#include "ringlb/lb/ramp.hpp"
#include "ringlb/lb/routing.hpp"
#include "ringlb/limit/gcra_table.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

ringlb::rate_rule rule() {
    ringlb::rate_rule r;
    r.count = 100;
    r.period = 1s;
    r.burst = 100;
    return r;
}

// One key, mostly allowed: the clock moves 10 ms per request, the rate's pace.
void BM_GcraTakeOneKey(benchmark::State& state) {
    ringlb::gcra_table t{65536};
    const auto limit = ringlb::gcra_limit::from(rule(), 1);
    std::uint64_t now = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(t.take(0x1234567890abcdefULL, now, limit));
        now += 10'000;
    }
}
BENCHMARK(BM_GcraTakeOneKey);

// A million distinct keys through a 64 Ki table: the table is out of cache and nearly
// every take evicts (the worst case: a flood of new keys).
void BM_GcraTakeManyKeys(benchmark::State& state) {
    ringlb::gcra_table t{65536};
    const auto limit = ringlb::gcra_limit::from(rule(), 1);
    std::uint64_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(t.take(ringlb::handover_hash(i % 1'000'000), i, limit));
        ++i;
    }
}
BENCHMARK(BM_GcraTakeManyKeys);

// Two threads on one key: the slot's cache line moves between cores on every take.
void BM_GcraTakeContended(benchmark::State& state) {
    static ringlb::gcra_table t{65536};
    const auto limit = ringlb::gcra_limit::from(rule(), 1);
    std::uint64_t now = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(t.take(42, now, limit));
        now += 10'000;
    }
}
BENCHMARK(BM_GcraTakeContended)->Threads(2);

// What each open tunnel costs the worker's once-a-second sweep: one walk to the first
// candidate in service, over 16 backends at 160 virtual nodes each.
void BM_SettledOwner(benchmark::State& state) {
    std::vector<chash::node> nodes;
    for (int i = 0; i < 16; ++i) nodes.push_back(chash::node{"app-" + std::to_string(i), 1});
    ringlb::routing_options opts;
    std::string error;
    const auto snap = ringlb::routing_snapshot::build(nodes, opts, nullptr, error);
    if (!snap) {
        state.SkipWithError(error.c_str());
        return;
    }
    const auto now = ringlb::steady_clock::now();
    std::uint64_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(snap->settled_owner(ringlb::handover_hash(++i), now));
}
BENCHMARK(BM_SettledOwner);

}  // namespace

BENCHMARK_MAIN();
