// serve_main: the control thread. It owns membership (config loads and reloads), builds
// snapshots off the hot path and posts them to the workers; workers never wait on it.
#include "ringlb/serve.hpp"

#include "ringlb/access_log.hpp"
#include "ringlb/config.hpp"
#include "ringlb/routing.hpp"
#include "ringlb/worker.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace ringlb {

namespace {

void print_errors(const config_result& r) {
    for (const config_error& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
}

// Each client and backend connection is a descriptor: take the hard limit, as nginx's
// worker_rlimit_nofile would, so max_connections is not silently capped by a default of 1024.
void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

class control {
public:
    control(std::string path, std::shared_ptr<const snapshot> snap)
        : path_{std::move(path)}, current_{std::move(snap)} {}

    int run(std::unique_ptr<access_log> log) {
        const config& cfg = current_->cfg();
        log_ = std::move(log);
        const unsigned n =
            cfg.server.workers != 0 ? cfg.server.workers : std::max(1u, std::thread::hardware_concurrency());
        try {
            for (unsigned i = 0; i < n; ++i) {
                workers_.push_back(std::make_unique<worker>(i, n, current_, log_.get()));
                workers_.back()->listen(cfg.server.listen);
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ringlb: cannot listen on %s:%u: %s\n", cfg.server.listen.host.c_str(),
                         cfg.server.listen.port, e.what());
            return 1;
        }
        asio::signal_set signals{io_, SIGTERM, SIGINT, SIGHUP};
        wait_signal(signals);
        for (auto& w : workers_) threads_.emplace_back([&w = *w] { w.run(); });
        std::fprintf(
            stderr,
            "ringlb: serving on %s:%u with %u workers, %zu backends (%s, placement fingerprint %016llx)\n",
            cfg.server.listen.host.c_str(), cfg.server.listen.port, n, current_->backends().size(),
            std::string(chash::to_string(cfg.routing.algorithm)).c_str(),
            static_cast<unsigned long long>(current_->algorithm().fingerprint()));
        io_.run();
        for (auto& t : threads_) t.join();
        workers_.clear();
        log_.reset();  // flushes the access log
        std::fprintf(stderr, "ringlb: stopped\n");
        return 0;
    }

private:
    void wait_signal(asio::signal_set& signals) {
        signals.async_wait([this, &signals](const asio::error_code& ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                reload();
                wait_signal(signals);
                return;
            }
            const auto grace = current_->cfg().timeouts.shutdown_grace;
            std::fprintf(stderr, "ringlb: %s: draining (grace %lld ms)\n",
                         sig == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(grace.count()));
            for (auto& w : workers_) w->drain(grace);
            signals.cancel();  // the control loop ends; run() joins the workers
        });
    }

    void reload() {
        config_result r = load_config(path_);
        if (!r.errors.empty()) {
            std::fprintf(stderr, "ringlb: reload of %s failed; keeping the running config\n", path_.c_str());
            print_errors(r);
            return;
        }
        auto cfg = std::make_shared<const config>(std::move(*r.value));
        const config& old = current_->cfg();
        if (!(cfg->server.listen == old.server.listen) || cfg->server.workers != old.server.workers ||
            cfg->log.access != old.log.access)
            std::fprintf(stderr, "ringlb: reload: [server] and [log] changes take effect on restart\n");
        std::string error;
        auto snap = snapshot::build(cfg, current_.get(), error);
        if (!snap) {
            std::fprintf(stderr, "ringlb: reload of %s failed: %s; keeping the running config\n",
                         path_.c_str(), error.c_str());
            return;
        }
        current_ = snap;
        for (auto& w : workers_) w->publish(snap);
        std::fprintf(
            stderr, "ringlb: reloaded %s: %zu backends, generation %llu, placement fingerprint %016llx\n",
            path_.c_str(), snap->backends().size(), static_cast<unsigned long long>(snap->generation()),
            static_cast<unsigned long long>(snap->algorithm().fingerprint()));
    }

    std::string path_;
    std::shared_ptr<const snapshot> current_;
    std::unique_ptr<access_log> log_;
    asio::io_context io_{1};
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
};

}  // namespace

int serve_main(const std::string& config_path) {
    std::signal(SIGPIPE, SIG_IGN);
    config_result r = load_config(config_path);
    if (!r.errors.empty()) {
        print_errors(r);
        return 1;
    }
    auto cfg = std::make_shared<const config>(std::move(*r.value));
    raise_fd_limit();
    std::string error;
    auto snap = snapshot::build(cfg, nullptr, error);
    if (!snap) {
        std::fprintf(stderr, "ringlb: %s: %s\n", config_path.c_str(), error.c_str());
        return 1;
    }
    auto log = access_log::open(cfg->log.access, error);
    if (!log && cfg->log.access != "off") {
        std::fprintf(stderr, "ringlb: %s\n", error.c_str());
        return 1;
    }
    control c{config_path, std::move(snap)};
    return c.run(std::move(log));
}

}  // namespace ringlb
