#include "ringlb/demo/command.hpp"

#include "ringlb/config/values.hpp"

#include <cstdio>

namespace ringlb::demo {

command::command(CLI::App& app)
    : cmd_{app.add_subcommand(
          "demo", "Start 4 demo backends and the balancer on 127.0.0.1:8080 (try it with curl)")} {
    cmd_->add_option("--port", opts_.ports.listen, "Balancer port (default 8080)")->type_name("PORT");
    cmd_->add_option("--backend-port", opts_.ports.first_backend,
                     "Port of app-1; app-2..app-4 take the next three (default 9101)")
        ->type_name("PORT");
    cmd_->add_option("--admin-port", opts_.ports.admin,
                     "Admin API and dashboard port on 127.0.0.1 (default 9901; 0 = off)")
        ->type_name("PORT");
    cmd_->add_flag("--print-config", opts_.print_config, "Print the embedded config and exit");
    cmd_->add_flag("--backends-only", opts_.backends_only,
                   "Run only the 4 demo backends, for `ringlb serve -c` on the --print-config output");
    cmd_->add_option("--traffic", traffic_,
                     "Send a built-in load for DURATION with consistent hashing, then DURATION with "
                     "round-robin; print per-backend share and cache hit rate, and users moved by a removal")
        ->type_name("DURATION");
    cmd_->add_option("--join", join_,
                     "app-4 joins app-1..app-3 under load, once at once and once with slow start over "
                     "WINDOW; print its share, its hit rate and the database reads second by second")
        ->type_name("WINDOW")
        ->excludes("--traffic");
    cmd_->add_option("--connections", opts_.connections, "Traffic: concurrent connections (default 64)")
        ->type_name("N")
        ->check(CLI::Range(1u, 1000u));
    cmd_->add_option("--users", opts_.users, "Traffic: distinct users (default 10000)")
        ->type_name("N")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
    cmd_->add_option("--zipf", opts_.zipf_exponent, "Traffic: popularity skew, 0 = uniform (default 0.9)")
        ->type_name("S")
        ->check(CLI::Range(0.0, 4.0));
    cmd_->add_option("--cache-users", opts_.app.cache_users,
                     "Users each backend caches (default 1000; --join: --users)")
        ->type_name("N")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
    cmd_->add_option("--miss-cost", miss_cost_, "Simulated database read on a cache miss (default 3ms)")
        ->type_name("DURATION");
}

int command::run() {
    auto duration_flag = [](const char* flag, const std::string& text, duration& out) {
        const auto d = parse_duration(text);
        if (!d) {
            std::fprintf(stderr, "ringlb: %s: %s (see ringlb demo --help)\n", flag, d.error.c_str());
            return false;
        }
        out = *d.value;
        return true;
    };
    if (!traffic_.empty()) {
        duration d{};
        if (!duration_flag("--traffic", traffic_, d)) return 2;
        if (d.count() <= 0) {
            std::fprintf(stderr, "ringlb: --traffic: must be longer than 0 (e.g. 10s)\n");
            return 2;
        }
        opts_.traffic = d;
    }
    if (!join_.empty()) {
        duration d{};
        if (!duration_flag("--join", join_, d)) return 2;
        if (d.count() <= 0 || d > std::chrono::minutes{10}) {
            std::fprintf(stderr, "ringlb: --join: the window must be in 1ms..10m (e.g. 8s)\n");
            return 2;
        }
        opts_.join = d;
        // Unless told otherwise, every backend has room for every user: once warm, the pool
        // reads the database only for users whose owner changed, which is what a join costs.
        if (cmd_->count("--cache-users") == 0) opts_.app.cache_users = opts_.users;
    }
    if (!miss_cost_.empty() && !duration_flag("--miss-cost", miss_cost_, opts_.app.miss_cost)) return 2;
    if (opts_.ports.listen == 0 || opts_.ports.first_backend == 0 ||
        opts_.ports.first_backend > 65535 - (backend_count - 1)) {
        std::fprintf(stderr, "ringlb: --port and --backend-port must be in 1..65532\n");
        return 2;
    }
    const unsigned first = opts_.ports.first_backend, last = first + backend_count - 1;
    if (opts_.ports.listen >= first && opts_.ports.listen <= last) {
        std::fprintf(stderr, "ringlb: --port %u collides with the backends' ports %u-%u\n",
                     opts_.ports.listen, first, last);
        return 2;
    }
    return demo_main(opts_);
}

}  // namespace ringlb::demo
