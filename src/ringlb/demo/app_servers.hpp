// ringlb/demo/app_servers.hpp: the demo's backends, application servers with a per-user cache.
//
//   ringlb::demo::app_servers apps{{{"app-1", {"127.0.0.1", 9101}}, {"app-2", {"127.0.0.1", 9102}}},
//                                  {.cache_users = 1000, .miss_cost = std::chrono::milliseconds{3}}};
//   apps.start();                                  // one event-loop thread for all of them
//   // curl -H 'X-User-Id: alice' 127.0.0.1:9101/  ->  "app-1 served alice: cache miss (...)"
//   apps.stop();
//
// Each backend answers any GET for a user (the X-User-Id header, or else the `user` query
// parameter) the way an application server with an in-memory cache would: a user it holds is
// answered at once; any other pays a simulated database read (a timer of `miss_cost`, so a
// miss costs latency, not CPU) and enters a bounded LRU cache, evicting the least recently
// used user when full. Responses name the backend (X-Backend-Id), say hit or miss (X-Cache)
// and carry the backend's hit rate, so a client sees routing and its effect in one line.
//
// Thread-safety: start(), stop(), reset() and counts() may be called from any thread; the
// caches belong to the event-loop thread and counters are relaxed atomics.
#pragma once

#include "ringlb/config/config.hpp"

#include <asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ringlb::demo {

struct app_options {
    std::size_t cache_users = 1000;  ///< users each backend keeps in RAM
    duration miss_cost{3};           ///< the simulated database read on a miss
};

/// One backend to run: its id (named in every response) and where it listens.
struct app_spec {
    std::string id;
    endpoint address;
};

/// What a backend has served since start or the last reset().
struct app_counts {
    std::string id;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t cached_users = 0;
    [[nodiscard]] double hit_rate() const noexcept {
        const auto n = hits + misses;
        return n == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(n);
    }
};

class app_servers {
public:
    /// Binds every listener now, so a port in use is reported before anything starts.
    /// Throws asio::system_error naming nothing: the caller knows which ports it asked for.
    app_servers(const std::vector<app_spec>& specs, const app_options& opts);
    ~app_servers();
    app_servers(const app_servers&) = delete;
    app_servers& operator=(const app_servers&) = delete;

    /// Starts the event-loop thread. Call once.
    void start();
    /// Stops serving and joins the thread; open connections are dropped. Idempotent.
    void stop();
    /// Empties every cache and zeroes the counters (between two measurements); returns once
    /// done. Any thread.
    void reset();
    /// Counters per backend, in the order given to the constructor. Any thread.
    [[nodiscard]] std::vector<app_counts> counts() const;

    struct backend;  ///< one backend's cache and counters (defined in the .cpp)

private:
    app_options opts_;
    std::vector<std::unique_ptr<backend>> backends_;
    // Declared after backends_ so it is destroyed first: the destruction of pending
    // coroutine frames (sessions, accept loops) must not outlive the state they reference.
    asio::io_context io_{1};
    std::thread thread_;
    std::atomic<bool> running_{false};
};

}  // namespace ringlb::demo
