// ringlb/demo/demo.hpp: `ringlb demo`, the balancer and four demo backends in one process.
//
//   ringlb::demo::demo_options opts;             // 127.0.0.1:8080 in front of :9101-9104
//   opts.traffic = std::chrono::seconds{10};     // omit to serve until Ctrl-C
//   return ringlb::demo::demo_main(opts);
//
// It starts the demo application servers (app_servers.hpp), runs the real `ringlb serve`
// on the embedded config (demo_config.hpp) on its own thread, and prints where to point
// curl. With `traffic`, it then sends the built-in load twice, keyed (consistent hashing)
// and keyless (round-robin), prints per-backend shares and cache hit rates for both and the
// share of users a removal would move, and exits. With `join`, it runs app-1..app-3 under
// the same load and adds app-4 by a reload, once at once and once with that slow-start
// window, and prints second by second app-4's share and hit rate and the database reads of
// the pool (demo/join_report.hpp). SIGINT/SIGTERM stop everything cleanly.
//
// Thread-safety: call once per process, from the main thread (it handles SIGINT and SIGTERM
// and raises SIGTERM to stop the balancer it started).
#pragma once

#include "ringlb/demo/app_servers.hpp"
#include "ringlb/demo/demo_config.hpp"

#include <optional>

namespace ringlb::demo {

struct demo_options {
    demo_ports ports;
    bool print_config = false;        ///< print the embedded config and exit
    bool backends_only = false;       ///< run the backends alone (for `ringlb serve -c`)
    std::optional<duration> traffic;  ///< run the load this long per policy, report, exit
    std::optional<duration> join;     ///< app-4 joins under load, at once and over this window
    unsigned connections = 64;        ///< traffic: concurrent keep-alive connections
    std::size_t users = 10000;        ///< traffic: distinct users
    double zipf_exponent = 0.9;       ///< traffic: popularity skew (0 = uniform)
    app_options app;                  ///< backends: cache size and miss cost
};

/// Runs the demo; returns the exit status (0, or 1 when a port is taken or the balancer
/// fails to start).
int demo_main(const demo_options& opts);

}  // namespace ringlb::demo
