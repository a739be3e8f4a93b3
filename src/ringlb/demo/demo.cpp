// ringlb demo: orchestration. The balancer is the real serve_main on its own thread; it
// stops on SIGTERM/SIGINT like in production, so the demo stops it by raising SIGTERM.
#include "ringlb/demo/demo.hpp"

#include "ringlb/cli/serve.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/demo/join_report.hpp"
#include "ringlb/demo/movement.hpp"
#include "ringlb/demo/traffic.hpp"
#include "ringlb/demo/traffic_report.hpp"

#include <fmt/format.h>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace ringlb::demo {

namespace {

using namespace std::chrono_literals;

void say(const std::string& text) {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
}

// SIGINT/SIGTERM for the whole demo, on a thread of its own. asio delivers a signal to every
// signal_set registered for it, so serve_main's own set sees the same Ctrl-C.
// Thread-safety: every member may be called from any thread (state under mutex_).
class stop_signal {
public:
    stop_signal() {
        arm();
        thread_ = std::thread{[this] { io_.run(); }};
    }
    ~stop_signal() {
        io_.stop();
        thread_.join();
    }
    stop_signal(const stop_signal&) = delete;
    stop_signal& operator=(const stop_signal&) = delete;

    [[nodiscard]] bool requested() const {
        std::lock_guard lock{mutex_};
        return requested_;
    }
    /// Waits until a stop is requested, notify() is called, or `d` passes; returns requested().
    bool wait_for(std::chrono::milliseconds d) {
        std::unique_lock lock{mutex_};
        cv_.wait_for(lock, d, [this] { return requested_ || notified_; });
        notified_ = false;
        return requested_;
    }
    /// Wakes wait_for (e.g. the balancer thread ended).
    void notify() {
        {
            std::lock_guard lock{mutex_};
            notified_ = true;
        }
        cv_.notify_all();
    }
    /// Runs `f` on the signal thread when a stop is requested (replacing any previous one).
    void on_stop(std::function<void()> f) {
        std::lock_guard lock{mutex_};
        on_stop_ = std::move(f);
        if (requested_ && on_stop_) on_stop_();
    }
    /// Signals raised by the demo itself to stop the balancer are not a user's Ctrl-C.
    void expect_own_signal() {
        std::lock_guard lock{mutex_};
        own_signal_ = true;
    }

private:
    void arm() {
        signals_.async_wait([this](const asio::error_code& ec, int sig) {
            if (ec) return;
            std::function<void()> f;
            {
                std::lock_guard lock{mutex_};
                if (!own_signal_ && !requested_)
                    std::fprintf(stderr, "\nringlb demo: %s, stopping\n",
                                 sig == SIGINT ? "SIGINT" : "SIGTERM");
                requested_ = true;
                f = on_stop_;
            }
            cv_.notify_all();
            if (f) f();
            arm();
        });
    }

    asio::io_context io_{1};
    asio::signal_set signals_{io_, SIGINT, SIGTERM};
    std::thread thread_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool requested_ = false;
    bool notified_ = false;
    bool own_signal_ = false;
    std::function<void()> on_stop_;
};

// The config serve_main reads: an anonymous in-memory file (memfd) it opens as
// /proc/self/fd/N. Nothing is created in /tmp, so nothing is left behind however the
// process ends (a temporary file outlived every SIGKILL).
class memory_config {
public:
    explicit memory_config(const std::string& text) : fd_{::memfd_create("ringlb-demo.toml", MFD_CLOEXEC)} {
        if (fd_ < 0) throw std::runtime_error("cannot create the demo's in-memory config (memfd_create)");
        if (::write(fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
            ::close(fd_);
            throw std::runtime_error("cannot write the demo's in-memory config");
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~memory_config() { ::close(fd_); }
    /// Replaces the text, for the balancer's next SIGHUP.
    void rewrite(const std::string& text) {
        if (::ftruncate(fd_, 0) != 0 ||
            ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
            throw std::runtime_error("cannot rewrite the demo's in-memory config");
    }
    memory_config(const memory_config&) = delete;
    memory_config& operator=(const memory_config&) = delete;
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    int fd_;
    std::string path_;
};

bool accepts_connections(const endpoint& at) {
    asio::io_context io{1};
    asio::ip::tcp::socket s{io};
    asio::error_code ec;
    s.connect({asio::ip::make_address(at.host, ec), at.port}, ec);
    return !ec;
}

// The balancer: serve_main on its own thread.
class balancer {
public:
    balancer(const std::string& config_path, stop_signal& stop) : stop_{stop} {
        finished_ = ended_.get_future();
        thread_ = std::thread{[this, config_path] {
            status_ = serve_main(config_path);
            done_ = true;
            ended_.set_value();
            stop_.notify();
        }};
    }
    ~balancer() { this->stop(); }
    balancer(const balancer&) = delete;
    balancer& operator=(const balancer&) = delete;

    /// Polls until the listener accepts; false when serve_main ended or a stop came first.
    bool wait_ready(const endpoint& at) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (done_ || stop_.requested()) return false;
            if (accepts_connections(at)) return !done_;
            stop_.wait_for(20ms);
        }
        return false;
    }
    /// Whether serve_main has returned (on its own: a failure; or after stop()).
    [[nodiscard]] bool done() const noexcept { return done_; }
    /// Stops serve_main and joins it; returns its exit status. A Ctrl-C already reached
    /// serve_main's own signal_set, so give it its grace period before raising SIGTERM.
    int stop() {
        if (!thread_.joinable()) return status_;
        if (!stop_.requested()) {
            stop_.expect_own_signal();
            std::raise(SIGTERM);
        }
        // If serve_main had not yet installed its handler when the signal came (startup),
        // it missed it: raise again until it ends.
        while (finished_.wait_for(3s) != std::future_status::ready) {
            {
                stop_.expect_own_signal();
                std::raise(SIGTERM);
            }
        }
        thread_.join();
        return status_;
    }

private:
    stop_signal& stop_;
    std::promise<void> ended_;
    std::future<void> finished_;
    std::thread thread_;
    std::atomic<bool> done_{false};
    int status_ = 0;
};

std::vector<app_spec> app_specs(const config& cfg) {
    std::vector<app_spec> specs;
    for (const backend_config& b : cfg.backends) specs.push_back({b.id, b.address});
    return specs;
}

traffic_result run_phase(const demo_options& opts, const config& cfg, bool keyed, app_servers& apps,
                         stop_signal& stop) {
    apps.reset();  // both policies start with cold caches
    traffic_options t;
    t.target = cfg.server.listen;
    t.length = *opts.traffic;
    t.connections = opts.connections;
    t.users = opts.users;
    t.zipf_exponent = opts.zipf_exponent;
    t.keyed = keyed;
    traffic_generator gen{t};
    stop.on_stop([&gen] { gen.stop(); });
    traffic_result r = gen.run();
    stop.on_stop({});
    return r;
}

int run_traffic(const demo_options& opts, const config& cfg, app_servers& apps, stop_signal& stop) {
    const std::string length = fmt::format("{:.1f} s", static_cast<double>(opts.traffic->count()) / 1000.0);
    say(fmt::format(
        "\nTraffic: {} connections, {} users with Zipf({}) popularity, each backend caching {} users, "
        "a miss costing {} ms.\n{} with consistent hashing (X-User-Id), then {} with round-robin (no "
        "key)...\n\n",
        opts.connections, opts.users, opts.zipf_exponent, opts.app.cache_users, opts.app.miss_cost.count(),
        length, length));
    const traffic_result hashed = run_phase(opts, cfg, true, apps, stop);
    say(format_traffic(
            fmt::format("consistent hashing ({}, X-User-Id)", chash::to_string(cfg.routing.algorithm)),
            hashed) +
        "\n");
    if (stop.requested()) return 0;
    const traffic_result keyless = run_phase(opts, cfg, false, apps, stop);
    say(format_traffic("round-robin (no key)", keyless) + "\n");
    if (stop.requested()) return 0;
    say(format_comparison(hashed, keyless) + "\n");

    const auto nodes = chash_nodes(cfg);
    const auto effects =
        removal_effects(cfg.routing.algorithm, nodes, chash_options(cfg.routing), opts.users);
    const auto modulo = removal_effects(chash::kind::modulo, nodes, {}, opts.users);
    say(format_removals(chash::to_string(cfg.routing.algorithm), effects, modulo, opts.users));
    return hashed.requests > 0 && keyless.requests > 0 ? 0 : 1;
}

// One run of --join: the balancer in front of app-1..app-3 with caches reset, the load for
// `warm` seconds unrecorded and `before` recorded, then a reload that adds app-4 (through
// slow start when `slow_start` is set) and `after` more seconds; the backends' counters are
// read once a second.
join_run run_join_phase(const demo_options& opts, const config& cfg, memory_config& file, app_servers& apps,
                        stop_signal& stop, duration slow_start, int warm, int before, int after) {
    file.rewrite(demo_config_text(opts.ports, backend_count - 1, slow_start));
    std::raise(SIGHUP);  // serve_main re-reads it: app-4 leaves, if a run before added it
    std::this_thread::sleep_for(200ms);
    apps.reset();
    traffic_options t;
    t.target = cfg.server.listen;
    t.length = std::chrono::seconds{warm + before + after + 1};
    t.connections = opts.connections;
    t.users = opts.users;
    t.zipf_exponent = opts.zipf_exponent;
    traffic_generator gen{t};
    stop.on_stop([&gen] { gen.stop(); });
    std::thread load{[&gen] { (void)gen.run(); }};
    const auto start = std::chrono::steady_clock::now() + std::chrono::seconds{warm};
    stop.wait_for(
        std::chrono::duration_cast<std::chrono::milliseconds>(start - std::chrono::steady_clock::now()));
    std::vector<std::vector<app_counts>> readings{apps.counts()};
    for (int i = 1; i <= before + after && !stop.requested(); ++i) {
        std::this_thread::sleep_until(start + std::chrono::seconds{i});
        readings.push_back(apps.counts());
        if (i == before) {
            file.rewrite(demo_config_text(opts.ports, backend_count, slow_start));
            std::raise(SIGHUP);  // app-4 joins
        }
    }
    gen.stop();
    load.join();
    stop.on_stop({});
    return join_run{slow_start, per_second(readings, backend_count - 1, -before)};
}

int run_join(const demo_options& opts, const config& cfg, memory_config& file, app_servers& apps,
             stop_signal& stop) {
    constexpr int warm = 5;
    constexpr int before = 3;
    const int after = static_cast<int>(std::chrono::ceil<std::chrono::seconds>(*opts.join).count()) + 4;
    say(fmt::format(
        "\nJoin: app-4 joins app-1..app-3 under load ({} connections, {} users, Zipf({}), {} cached users "
        "per "
        "backend, a miss costing {} ms): once at once, once with slow_start = \"{}\". Each run warms the "
        "caches for {} s, then records {} s before the join and {} s after it...\n\n",
        opts.connections, opts.users, opts.zipf_exponent, opts.app.cache_users, opts.app.miss_cost.count(),
        format_duration(*opts.join), warm, before, after));
    const join_run instant = run_join_phase(opts, cfg, file, apps, stop, duration{0}, warm, before, after);
    if (stop.requested()) return 0;
    const join_run ramped = run_join_phase(opts, cfg, file, apps, stop, *opts.join, warm, before, after);
    if (stop.requested()) return 0;
    say("\n" + format_join(instant, ramped, "app-4", before));
    return 0;
}

std::string port_range(const config& cfg) {
    return fmt::format("{}:{}-{}", cfg.backends.front().address.host, cfg.backends.front().address.port,
                       cfg.backends.back().address.port);
}

}  // namespace

int demo_main(const demo_options& opts) {
    if (opts.print_config) {
        say(demo_config_text(opts.ports));
        return 0;
    }
    const config cfg = demo_config(opts.ports);
    // Installed first, so a Ctrl-C at any point from here stops the demo in order instead
    // of killing it half-started.
    stop_signal stop;

    std::optional<app_servers> apps;
    try {
        apps.emplace(app_specs(cfg), opts.app);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ringlb demo: cannot listen on %s: %s (choose others with --backend-port)\n",
                     port_range(cfg).c_str(), e.what());
        return 1;
    }
    apps->start();
    say(fmt::format(
        "ringlb demo: backends app-1..app-{} on {}, each caching up to {} users; a miss costs {} ms\n",
        cfg.backends.size(), port_range(cfg), opts.app.cache_users, opts.app.miss_cost.count()));
    if (opts.backends_only) {
        say("ringlb demo: backends only; Ctrl-C stops\n");
        while (!stop.wait_for(1h)) {
        }
        return 0;
    }

    memory_config file{demo_config_text(opts.ports)};
    balancer lb{file.path(), stop};
    if (!lb.wait_ready(cfg.server.listen)) {
        const bool interrupted = stop.requested();
        const int status = lb.stop();
        if (interrupted) return 0;
        std::fprintf(stderr,
                     "ringlb demo: the balancer did not start on %s:%u (choose another with --port; or the "
                     "admin port is taken: --admin-port)\n",
                     cfg.server.listen.host.c_str(), cfg.server.listen.port);
        return status != 0 ? status : 1;
    }
    const unsigned port = cfg.server.listen.port;
    say(
        fmt::format("ringlb demo: balancer on http://{}:{} ({}, key = X-User-Id header); config: ringlb demo "
                    "--print-config\n",
                    cfg.server.listen.host, port, chash::to_string(cfg.routing.algorithm)));
    if (opts.ports.admin != 0)
        say(
            fmt::format("ringlb demo: dashboard and admin API on http://127.0.0.1:{}/ (ringlb ctl --admin "
                        "http://127.0.0.1:{} backends)\n",
                        opts.ports.admin, opts.ports.admin));

    int status = 0;
    if (opts.traffic) {
        status = run_traffic(opts, cfg, *apps, stop);
    } else if (opts.join) {
        status = run_join(opts, cfg, file, *apps, stop);
    } else {
        say(fmt::format(R"(
Try:
  curl -H 'X-User-Id: alice' localhost:{0}/    # twice: the same backend, and a cache hit
  curl -H 'X-User-Id: bob' localhost:{0}/      # another user, maybe another backend
  curl 'localhost:{0}/?user=alice'             # no key: round-robin, a miss on each backend
  ringlb demo --traffic 10s                     # the numbers: consistent hashing vs round-robin

Ctrl-C stops.
)",
                        port));
        while (!stop.wait_for(1h) && !lb.done()) {
        }
    }
    const int lb_status = lb.stop();
    apps->stop();
    say("ringlb demo: stopped\n");
    return status != 0 ? status : lb_status;
}

}  // namespace ringlb::demo
