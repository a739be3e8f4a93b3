// ringlb/metrics/histogram.hpp: a latency histogram with fixed buckets, one writer.
//
//   ringlb::metrics::latency_histogram h;           // in a worker's shard
//   h.observe(830);                                 // microseconds; the shard's thread
//   ringlb::metrics::latency_totals t;              // the admin thread: sum the shards
//   t.add(h);
//   double p99 = t.quantile(0.99);                  // seconds, interpolated in its bucket
//
// The bucket bounds are Prometheus's usual ones for request durations, 0.5 ms to 10 s,
// fixed so that every shard, every instance and every scrape agree and can be summed.
// HAProxy exports a decaying average only (haproxy #699 asks for this); Envoy's
// upstream_rq_time is a histogram too.
//
// Thread-safety: observe() from the shard's thread; reading (latency_totals::add) from any.
#pragma once

#include "ringlb/metrics/counter.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace ringlb::metrics {

/// Upper bounds of the finite buckets, in microseconds; a last bucket takes the rest (+Inf).
inline constexpr std::array<std::uint64_t, 14> latency_bounds_us{
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
inline constexpr std::size_t latency_buckets = latency_bounds_us.size() + 1;

class latency_histogram {
public:
    void observe(std::uint64_t us) noexcept {
        std::size_t i = 0;
        while (i < latency_bounds_us.size() && us > latency_bounds_us[i]) ++i;  // most land in the first few
        buckets_[i].add();
        sum_us_.add(us);
    }
    [[nodiscard]] std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i].get(); }
    [[nodiscard]] std::uint64_t sum_us() const noexcept { return sum_us_.get(); }

private:
    std::array<counter, latency_buckets> buckets_;  // not cumulative
    counter sum_us_;
};

/// Plain sums of histograms, for exposition and quantiles.
struct latency_totals {
    std::array<std::uint64_t, latency_buckets> buckets{};  ///< not cumulative
    std::uint64_t sum_us = 0;

    void add(const latency_histogram& h) noexcept {
        for (std::size_t i = 0; i < latency_buckets; ++i) buckets[i] += h.bucket(i);
        sum_us += h.sum_us();
    }
    [[nodiscard]] std::uint64_t count() const noexcept {
        std::uint64_t n = 0;
        for (auto b : buckets) n += b;
        return n;
    }
    /// What was observed since `earlier` (a previous reading of the same sums).
    [[nodiscard]] latency_totals since(const latency_totals& earlier) const noexcept {
        latency_totals d;
        for (std::size_t i = 0; i < latency_buckets; ++i)
            d.buckets[i] = buckets[i] >= earlier.buckets[i] ? buckets[i] - earlier.buckets[i] : 0;
        d.sum_us = sum_us >= earlier.sum_us ? sum_us - earlier.sum_us : 0;
        return d;
    }
    /// The q-quantile in seconds, interpolated linearly inside its bucket (as Prometheus's
    /// histogram_quantile does); the last bucket answers its lower bound. -1 when empty.
    [[nodiscard]] double quantile(double q) const noexcept {
        const std::uint64_t n = count();
        if (n == 0) return -1;
        const double rank = q * static_cast<double>(n);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < latency_buckets; ++i) {
            if (buckets[i] == 0 || static_cast<double>(seen + buckets[i]) < rank) {
                seen += buckets[i];
                continue;
            }
            const double lo = i == 0 ? 0.0 : static_cast<double>(latency_bounds_us[i - 1]);
            if (i == latency_bounds_us.size()) return lo / 1e6;
            const double hi = static_cast<double>(latency_bounds_us[i]);
            const double within = (rank - static_cast<double>(seen)) / static_cast<double>(buckets[i]);
            return (lo + (hi - lo) * within) / 1e6;
        }
        return static_cast<double>(latency_bounds_us.back()) / 1e6;
    }
};

}  // namespace ringlb::metrics
