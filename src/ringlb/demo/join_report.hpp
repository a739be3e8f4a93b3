// ringlb/demo/join_report.hpp: `ringlb demo --join`, a backend joining the pool, second by
// second.
//
//   std::vector<std::vector<app_counts>> snaps;         // apps.counts() once a second
//   ringlb::demo::join_run instant{0ms, ringlb::demo::per_second(snaps, 3, -3)};
//   ringlb::demo::join_run ramped{4s, ringlb::demo::per_second(snaps2, 3, -3)};
//   std::cout << ringlb::demo::format_join(instant, ramped, "app-4", 2);
//
// A run is the backends' own counters (app_servers::counts(), cumulative) read at one-second
// boundaries; second 0 starts at the reload that adds the new backend. The figures per second
// are differences of consecutive readings: requests and cache misses (database reads) over
// all backends, and the new backend's requests, hits and misses. Without slow start the new
// backend takes all its users at once with an empty cache, and each of them costs a database
// read within a second or two: the spike. With it, its users arrive over the window and
// their first reads are spread the same way.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/demo/app_servers.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb::demo {

/// What the backends did during one second of a run.
struct join_second {
    int second = 0;                  ///< relative to the join: -1 is the last second before it
    std::uint64_t requests = 0;      ///< over all backends
    std::uint64_t misses = 0;        ///< database reads over all backends
    std::uint64_t new_requests = 0;  ///< the new backend's
    std::uint64_t new_hits = 0;
    std::uint64_t new_misses = 0;

    /// The new backend's hit rate this second, or -1 when it served nothing.
    [[nodiscard]] double new_hit_rate() const noexcept {
        return new_requests == 0 ? -1.0 : static_cast<double>(new_hits) / static_cast<double>(new_requests);
    }
    /// The new backend's share of the requests this second.
    [[nodiscard]] double new_share() const noexcept {
        return requests == 0 ? 0.0 : static_cast<double>(new_requests) / static_cast<double>(requests);
    }
};

/// One run: the slow-start window it used (0 = an instant join) and its seconds in order.
struct join_run {
    duration slow_start{0};
    std::vector<join_second> seconds;
};

/// Seconds from cumulative readings taken one second apart: reading i ends second
/// first_second + i - 1. `new_backend` indexes each reading (app_servers::counts() order).
/// A counter that went down (a reset between readings) counts as 0 for that second.
[[nodiscard]] std::vector<join_second> per_second(const std::vector<std::vector<app_counts>>& readings,
                                                  std::size_t new_backend, int first_second);

/// The most database reads of any second at or after the join (0 if there is none).
[[nodiscard]] std::uint64_t peak_misses_after_join(const join_run& run) noexcept;

/// The two runs side by side, from second -`before` on: per second the new backend's share
/// of requests and hit rate, and database reads per second; then both peaks after the join.
[[nodiscard]] std::string format_join(const join_run& instant, const join_run& ramped,
                                      std::string_view new_backend, int before);

}  // namespace ringlb::demo
