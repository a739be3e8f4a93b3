// serve_main: the wiring of `ringlb serve`. The main thread is the control thread: it loads
// the config (control/reload), starts the workers (proxy/worker), and on SIGHUP builds the
// next bundle off the hot path and posts it to them; workers never wait on it.
#include "ringlb/cli/serve.hpp"

#include "ringlb/config/config.hpp"
#include "ringlb/control/reload.hpp"
#include "ringlb/proxy/access_log.hpp"
#include "ringlb/proxy/worker.hpp"

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

void print(const std::vector<std::string>& lines) {
    for (const std::string& l : lines) std::fprintf(stderr, "%s\n", l.c_str());
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

// The listen address: a literal, or a name resolved once at start.
bool resolve_listen(const endpoint& at, asio::ip::tcp::endpoint& out, std::string& error) {
    asio::error_code ec;
    const auto addr = asio::ip::make_address(at.host, ec);
    if (!ec) {
        out = {addr, at.port};
        return true;
    }
    asio::io_context ctx;
    asio::ip::tcp::resolver resolver{ctx};
    const auto results = resolver.resolve(at.host, std::to_string(at.port), ec);
    if (ec || results.empty()) {
        error = ec ? ec.message() : "no address";
        return false;
    }
    out = results.begin()->endpoint();
    return true;
}

std::string fingerprint_of(const bundle& b) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(b.routing->algorithm().fingerprint()));
    return hex;
}

class control {
public:
    control(std::string path, std::shared_ptr<const config> cfg, std::shared_ptr<const bundle> b)
        : path_{std::move(path)}, cfg_{std::move(cfg)}, current_{std::move(b)} {}

    int run(std::unique_ptr<access_log> log) {
        const config& cfg = *cfg_;
        log_ = std::move(log);
        const unsigned n =
            cfg.server.workers != 0 ? cfg.server.workers : std::max(1u, std::thread::hardware_concurrency());
        asio::ip::tcp::endpoint at;
        std::string error;
        if (!resolve_listen(cfg.server.listen, at, error)) {
            std::fprintf(stderr, "ringlb: cannot resolve listen address %s: %s\n",
                         cfg.server.listen.host.c_str(), error.c_str());
            return 1;
        }
        try {
            for (unsigned i = 0; i < n; ++i) {
                workers_.push_back(std::make_unique<worker>(i, n, current_, log_.get()));
                workers_.back()->listen(at);
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
            stderr, "ringlb: serving on %s:%u with %u workers, %zu backends (%s, placement fingerprint %s)\n",
            cfg.server.listen.host.c_str(), cfg.server.listen.port, n, current_->routing->backends().size(),
            std::string(chash::to_string(cfg.routing.algorithm)).c_str(), fingerprint_of(*current_).c_str());
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
            const auto grace = cfg_->timeouts.shutdown_grace;
            std::fprintf(stderr, "ringlb: %s: draining (grace %lld ms)\n",
                         sig == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(grace.count()));
            for (auto& w : workers_) w->drain(grace);
            signals.cancel();  // the control loop ends; run() joins the workers
        });
    }

    void reload() {
        load_result r = load_bundle(path_, cfg_.get(), current_.get());
        if (!r.next) {
            std::fprintf(stderr, "ringlb: reload of %s failed; keeping the running config\n", path_.c_str());
            print(r.messages);
            return;
        }
        for (const std::string& note : r.messages) std::fprintf(stderr, "ringlb: reload: %s\n", note.c_str());
        cfg_ = std::move(r.cfg);
        current_ = std::move(r.next);
        for (auto& w : workers_) w->publish(current_);
        std::fprintf(stderr, "ringlb: reloaded %s: %zu backends, generation %llu, placement fingerprint %s\n",
                     path_.c_str(), current_->routing->backends().size(),
                     static_cast<unsigned long long>(current_->generation),
                     fingerprint_of(*current_).c_str());
    }

    std::string path_;
    std::shared_ptr<const config> cfg_;
    std::shared_ptr<const bundle> current_;
    std::unique_ptr<access_log> log_;
    asio::io_context io_{1};
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
};

}  // namespace

int serve_main(const std::string& config_path) {
    std::signal(SIGPIPE, SIG_IGN);
    load_result r = load_bundle(config_path, nullptr, nullptr);
    if (!r.next) {
        print(r.messages);
        return 1;
    }
    raise_fd_limit();
    std::string error;
    auto log = access_log::open(r.cfg->log.access, error);
    if (!log && r.cfg->log.access != "off") {
        std::fprintf(stderr, "ringlb: %s\n", error.c_str());
        return 1;
    }
    control c{config_path, std::move(r.cfg), std::move(r.next)};
    return c.run(std::move(log));
}

}  // namespace ringlb
