// ringlb/metrics/counter.hpp: a counter with one writer and any number of readers.
//
//   ringlb::metrics::counter served;       // in a worker's shard
//   served.add();                          // the worker's thread only
//   std::uint64_t n = served.get();        // any thread (the admin listener sums shards)
//
// Each worker writes its own shard of every counter, so an increment needs no atomic
// read-modify-write: a relaxed load and a relaxed store (two plain moves on x86-64) keep
// it free of a lock prefix and of cache-line traffic between workers, and still make the
// value safe to read from another thread, which sees some recent value.
//
// Thread-safety: add() and set() from one thread (the shard's owner); get() from any.
#pragma once

#include <atomic>
#include <cstdint>

namespace ringlb::metrics {

class counter {
public:
    void add(std::uint64_t n = 1) noexcept {
        value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    /// For gauges kept by one writer (connections open).
    void set(std::uint64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

}  // namespace ringlb::metrics
