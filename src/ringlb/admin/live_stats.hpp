// ringlb/admin/live_stats.hpp: request rate, p50, p99 and in-flight per backend, right now.
//
//   ringlb::admin::live_stats stats{control_io, controller};
//   stats.start();                       // samples once a second
//   nlohmann::json j = stats.to_json();  // GET /v1/stats, the dashboard's feed
//
// Once a second it sums every backend's shards (admin/totals.hpp) and keeps the last six
// readings; rates and quantiles are over the window they span (up to five seconds), so the
// dashboard shows what is happening now, not averages since start, and Prometheus keeps the
// long view from /metrics.
//
// Thread-safety: none; the control thread.
#pragma once

#include "ringlb/admin/totals.hpp"
#include "ringlb/control/controller.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <string>

namespace ringlb::admin {

class live_stats {
public:
    live_stats(asio::io_context& io, const controller& c);
    void start();
    void stop();
    /// Takes a reading now (tests; the timer does it once a second).
    void sample();
    [[nodiscard]] nlohmann::json to_json() const;

private:
    struct reading {
        std::chrono::steady_clock::time_point at;
        std::map<std::string, backend_totals, std::less<>> backends;
    };
    void arm();

    const controller& control_;
    asio::steady_timer timer_;
    std::deque<reading> readings_;
    bool running_ = false;
};

}  // namespace ringlb::admin
