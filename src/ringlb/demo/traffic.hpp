// ringlb/demo/traffic.hpp: the load `ringlb demo --traffic` sends through the balancer.
//
//   ringlb::demo::traffic_options opts;
//   opts.target = {"127.0.0.1", 8080};
//   opts.length = std::chrono::seconds{10};
//   opts.keyed = false;                              // no X-User-Id: the keyless policy routes
//   ringlb::demo::traffic_generator gen{opts};
//   ringlb::demo::traffic_result r = gen.run();      // blocks for opts.length
//   std::cout << r.requests << " requests, " << r.hit_rate() << " hit rate\n";
//
// `connections` keep-alive connections each send one request at a time for a user drawn
// from a Zipf popularity over `users` ids (user-1 is the most popular), and tally, per
// backend named in the X-Backend-Id response header, requests and X-Cache hits. Keyed, the
// user goes in X-User-Id (the demo's hash key); keyless, in the `user` query parameter, which
// the backends read but the balancer does not hash, so the keyless policy decides.
//
// Thread-safety: run() on one thread; stop() from any thread.
#pragma once

#include "ringlb/config/config.hpp"

#include <asio/io_context.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ringlb::demo {

/// The id of the user of popularity rank `rank` (0 = most popular): "user-1", "user-2", ...
[[nodiscard]] std::string user_id(std::size_t rank);

struct traffic_options {
    endpoint target{"127.0.0.1", 8080};
    duration length{10000};
    unsigned connections = 64;
    std::size_t users = 10000;
    double zipf_exponent = 0.9;
    bool keyed = true;       ///< user in X-User-Id (true) or in ?user= (false)
    std::uint64_t seed = 1;  ///< the same seed draws the same users on each connection
};

struct backend_tally {
    std::string id;
    std::uint64_t requests = 0;
    std::uint64_t hits = 0;
};

struct traffic_result {
    std::vector<backend_tally> backends;  ///< sorted by id
    std::uint64_t requests = 0;           ///< answered with 200
    std::uint64_t hits = 0;
    std::uint64_t errors = 0;  ///< failed connections and non-200 answers
    double seconds = 0;
    std::uint64_t p50_us = 0;  ///< request latency percentiles (successful requests)
    std::uint64_t p99_us = 0;

    [[nodiscard]] double hit_rate() const noexcept {
        return requests == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(requests);
    }
    [[nodiscard]] double requests_per_second() const noexcept {
        return seconds <= 0 ? 0.0 : static_cast<double>(requests) / seconds;
    }
};

class traffic_generator {
public:
    explicit traffic_generator(traffic_options opts);
    /// Sends load for opts.length (or until stop()) and returns the tally.
    [[nodiscard]] traffic_result run();
    /// Ends run() early; the result covers what was answered until then. Any thread.
    void stop();

private:
    traffic_options opts_;
    asio::io_context io_{1};
};

}  // namespace ringlb::demo
