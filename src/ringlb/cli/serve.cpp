// serve_main: the wiring of `ringlb serve`. The main thread is the control thread: it loads
// the config and the state file, hands them to the controller (control/controller:
// membership, resolution, publication, health checks), starts the workers (proxy/worker) on
// the first bundle, runs the admin listener (admin/) when [admin] listen is set, and on
// SIGHUP applies the re-read config (and token file); bundles are posted to the workers,
// which never wait on the control thread. Under systemd (Type=notify) it says READY once
// it listens, RELOADING around a reload and STOPPING at SIGTERM.
#include "ringlb/cli/serve.hpp"

#include "ringlb/admin/api.hpp"
#include "ringlb/admin/server.hpp"
#include "ringlb/admin/views.hpp"
#include "ringlb/cli/sd_notify.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/control/controller.hpp"
#include "ringlb/control/etcd_source.hpp"
#include "ringlb/control/state_file.hpp"
#include "ringlb/proxy/access_log.hpp"
#include "ringlb/proxy/worker.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace ringlb {

namespace {

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

void log_line(const std::string& line) {
    std::fprintf(stderr, "ringlb: %s\n", line.c_str());
}

class control {
public:
    control(std::string path, std::shared_ptr<const config> cfg)
        : path_{std::move(path)}, first_cfg_{std::move(cfg)} {}

    int run(std::unique_ptr<access_log> log) {
        const config& cfg = *first_cfg_;
        log_ = std::move(log);
        // With etcd as the membership, it (or its last-good snapshot) gives the backends
        // before the first publication.
        if (cfg.membership.source == membership_source_kind::etcd && !start_etcd(cfg)) return 1;
        // What was changed at runtime before a restart comes back first, so the first
        // publication already has it.
        if (!cfg.admin.state_file.empty() && !etcd_) {
            const state_load loaded =
                load_state(cfg.admin.state_file, cfg.health.defaults, controller_.store());
            if (!loaded.ok) {
                std::fprintf(stderr, "ringlb: %s\n", loaded.error.c_str());
                return 1;
            }
            if (loaded.found)
                std::fprintf(stderr, "ringlb: %s: %zu runtime changes restored\n",
                             cfg.admin.state_file.c_str(), loaded.entries);
        }
        // The first bundle: names resolve on the control loop, bounded by timeouts.resolve.
        std::optional<std::pair<bool, std::string>> first;
        controller_.apply(first_cfg_, [&](bool ok, const std::string& why) { first.emplace(ok, why); });
        while (!first) io_.run_one();
        io_.restart();  // running out of work on the way stopped the loop; run() needs it live
        if (!first->first) {
            std::fprintf(stderr, "%s: %s\n", path_.c_str(), first->second.c_str());
            controller_.stop();
            return 1;
        }
        // The count the first bundle sized each backend's metric shards by: one per worker.
        const auto n = static_cast<unsigned>(controller_.current()->routing->totals().shards);
        asio::ip::tcp::endpoint at;
        std::string error;
        if (!resolve_listen(cfg.server.listen, at, error)) {
            std::fprintf(stderr, "ringlb: cannot resolve listen address %s: %s\n",
                         cfg.server.listen.host.c_str(), error.c_str());
            controller_.stop();
            return 1;
        }
        try {
            for (unsigned i = 0; i < n; ++i) {
                workers_.push_back(std::make_unique<worker>(i, n, controller_.current(), log_.get()));
                workers_.back()->listen(at);
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ringlb: cannot listen on %s:%u: %s\n", cfg.server.listen.host.c_str(),
                         cfg.server.listen.port, e.what());
            controller_.stop();
            return 1;
        }
        if (cfg.admin.listen && !start_admin(cfg)) {
            controller_.stop();
            return 1;
        }
        asio::signal_set signals{io_, SIGTERM, SIGINT, SIGHUP};
        wait_signal(signals);
        for (auto& w : workers_) threads_.emplace_back([&w = *w] { w.run(); });
        const bundle& b = *controller_.current();
        std::fprintf(
            stderr, "ringlb: serving on %s:%u with %u workers, %zu backends (%s, placement fingerprint %s)\n",
            cfg.server.listen.host.c_str(), cfg.server.listen.port, n, b.routing->backends().size(),
            std::string(chash::to_string(cfg.routing.algorithm)).c_str(), fingerprint_of(b).c_str());
        sd_notify("READY=1\nSTATUS=serving on " + to_string(cfg.server.listen));
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
            const auto grace = controller_.cfg()->timeouts.shutdown_grace;
            std::fprintf(stderr, "ringlb: %s: draining (grace %lld ms)\n",
                         sig == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(grace.count()));
            sd_notify("STOPPING=1");
            for (auto& w : workers_) w->drain(grace);
            if (admin_server_) admin_server_->stop();
            if (admin_api_) admin_api_->stop();
            if (etcd_) etcd_->stop();
            controller_.stop();
            signals.cancel();  // the control loop ends; run() joins the workers
        });
    }

    // Re-reads the config file (SIGHUP, or POST /v1/reload with `done`).
    void reload(std::function<void(bool, const std::string&)> done = nullptr) {
        const auto answer = [&done](bool ok, const std::string& why) {
            if (done) done(ok, why);
        };
        sd_notify_reloading();
        config_result r = load_config(path_);
        if (!r.errors.empty()) {
            std::fprintf(stderr, "ringlb: reload of %s failed; keeping the running config\n", path_.c_str());
            for (const config_error& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
            controller_.note_reload(false, "reload of " + path_ + " failed: " + r.errors.front().to_string());
            sd_notify("READY=1");
            answer(false, r.errors.front().to_string());
            return;
        }
        config next = std::move(*r.value);
        const config& running = *controller_.cfg();
        if (next.membership.source != running.membership.source) {
            // Where the backends come from cannot change under a running pool: the new
            // file's backends (or its lack of them) would be published for a moment.
            std::fprintf(stderr, "ringlb: reload of %s refused: membership.source changes need a restart; "
                                 "keeping the running config\n", path_.c_str());
            controller_.note_reload(false, "reload of " + path_ + " refused: membership.source changes need a restart");
            sd_notify("READY=1");
            answer(false, "membership.source changes need a restart");
            return;
        }
        const auto& m = next.membership;
        const auto& was = running.membership;
        if (!(next.server.listen == running.server.listen) || next.server.workers != running.server.workers ||
            next.server.zone != running.server.zone || next.log.access != running.log.access ||
            !(next.admin.listen == running.admin.listen) || next.admin.state_file != running.admin.state_file ||
            !(m.endpoints == was.endpoints) || m.prefix != was.prefix || m.instance != was.instance ||
            m.snapshot != was.snapshot || m.username != was.username || m.password != was.password)
            std::fprintf(stderr,
                         "ringlb: reload: [server], [log], [membership], admin.listen and admin.state_file "
                         "changes take effect on restart\n");
        // What is read at start only stays as it started (the zone routes; the etcd source
        // runs with the membership it started with).
        next.server = running.server;
        next.log = running.log;
        next.membership = running.membership;
        auto cfg = std::make_shared<const config>(std::move(next));
        if (admin_api_ && !cfg->admin.tokens.empty()) {
            // Tokens rotate with a reload; a bad file keeps the ones in use.
            std::string error, warning;
            if (auto tokens = admin::token_set::load(cfg->admin.tokens, error, &warning)) {
                admin_api_->set_tokens(std::move(tokens));
                if (!warning.empty()) std::fprintf(stderr, "ringlb: warning: %s\n", warning.c_str());
            } else {
                std::fprintf(stderr, "ringlb: reload: %s; keeping the admin tokens in use\n", error.c_str());
            }
        }
        controller_.apply(std::move(cfg), [this, done = std::move(done)](bool ok, const std::string& why) {
            sd_notify("READY=1");
            if (!ok) {
                std::fprintf(stderr, "ringlb: reload of %s failed; keeping the running config\n%s: %s\n",
                             path_.c_str(), path_.c_str(), why.c_str());
                controller_.note_reload(false, "reload of " + path_ + " failed: " + why);
                if (done) done(false, why);
                return;
            }
            const bundle& b = *controller_.current();
            std::fprintf(
                stderr, "ringlb: reloaded %s: %zu backends, generation %llu, placement fingerprint %s (%s)\n",
                path_.c_str(), b.routing->backends().size(), static_cast<unsigned long long>(b.generation),
                fingerprint_of(b).c_str(), why.c_str());
            controller_.note_reload(true, "reloaded " + path_ + ": " + why);
            if (done) done(true, "reloaded " + path_ + ": " + why);
        });
    }

    // Follows the membership in etcd; returns once there is one to serve (false: none).
    bool start_etcd(const config& cfg) {
        membership_config m = cfg.membership;
        if (m.instance.empty()) m.instance = host_name();
        started_at_ = admin::iso_time(std::chrono::system_clock::now());
        etcd_ = std::make_unique<etcd_source>(
            io_, m, cfg.health.defaults,
            etcd_source::hooks{.apply = [this](std::vector<backend_config> b, std::int64_t,
                                               const std::string& digest) { controller_.set_base(std::move(b), digest); },
                               .log = log_line,
                               .instance_doc = [this] { return instance_doc(); },
                               .instances = [this](std::size_t n) {
                                   live_instances_ = n;
                                   if (const auto& b = controller_.current()) set_rate_share(*b);
                               }});
        std::optional<std::pair<bool, std::string>> ready;
        etcd_->start([&](bool ok, const std::string& why) { ready.emplace(ok, why); });
        while (!ready) io_.run_one();
        io_.restart();
        if (!ready->first) {
            std::fprintf(stderr, "ringlb: %s\n", ready->second.c_str());
            etcd_->stop();
            etcd_.reset();
            return false;
        }
        std::fprintf(stderr, "ringlb: membership: %s (instance %s, prefix %s)\n", ready->second.c_str(),
                     m.instance.c_str(), m.prefix.c_str());
        return true;
    }

    // What this instance tells the others through etcd.
    nlohmann::json instance_doc() const {
        const auto& b = controller_.current();
        const config& cfg = *first_cfg_;
        nlohmann::json j{{"name", etcd_->config().instance},
                         {"zone", cfg.server.zone},
                         {"revision", etcd_->membership_revision()},
                         {"membership", controller_.published_base_tag()},
                         {"behind", controller_.published_base_tag() != etcd_->membership_digest()},
                         {"stale", etcd_->stale()},
                         {"version", RINGLB_VERSION_STRING},
                         {"listen", to_string(cfg.server.listen)},
                         {"started", started_at_}};
        if (b) {
            j["fingerprint"] = fingerprint_of(*b);
            j["key"] = to_string(controller_.cfg()->routing.hash_key);  // where keys come from: part of agreeing
            j["backends"] = b->routing->backends().size();
        }
        if (admin_server_) j["admin"] = admin_address_;
        return j;
    }

    static std::string host_name() {
        char name[256] = {};
        if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "ringlb";
        std::string out;
        for (const char c : std::string_view{name})
            out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '-';
        return out;
    }

    // The admin listener, on this (the control) thread. False when it cannot start.
    bool start_admin(const config& cfg) {
        std::optional<admin::token_set> tokens;
        if (!cfg.admin.tokens.empty()) {
            std::string error, warning;
            tokens = admin::token_set::load(cfg.admin.tokens, error, &warning);
            if (!tokens) {
                std::fprintf(stderr, "ringlb: admin.tokens: %s\n", error.c_str());
                return false;
            }
            if (!warning.empty()) std::fprintf(stderr, "ringlb: warning: %s\n", warning.c_str());
        }
        asio::ip::tcp::endpoint at;
        std::string error;
        if (!resolve_listen(*cfg.admin.listen, at, error)) {
            std::fprintf(stderr, "ringlb: cannot resolve admin.listen %s: %s\n",
                         cfg.admin.listen->host.c_str(), error.c_str());
            return false;
        }
        if (!tokens && !at.address().is_loopback()) {
            std::fprintf(stderr, "ringlb: admin.listen %s is not loopback: set admin.tokens\n",
                         to_string(*cfg.admin.listen).c_str());
            return false;
        }
        admin::api_context ctx;
        ctx.control = &controller_;
        ctx.proxy_shards = [this] {
            std::vector<const metrics::proxy_shard*> out;
            for (const auto& w : workers_) out.push_back(&w->metrics());
            return out;
        };
        ctx.applied_generations = [this] {
            std::vector<std::uint64_t> out;
            for (const auto& w : workers_) out.push_back(w->applied_generation());
            return out;
        };
        ctx.state_file = etcd_ ? std::string{} : cfg.admin.state_file;
        ctx.etcd = etcd_.get();
        ctx.version = RINGLB_VERSION_STRING;
        ctx.log = log_line;
        ctx.reload = [this](std::function<void(bool, const std::string&)> done) { reload(std::move(done)); };
        admin_api_ = std::make_unique<admin::api>(io_, std::move(ctx), std::move(tokens));
        admin_server_ = std::make_unique<admin::server>(
            io_, [api = admin_api_.get()](admin::request r) { return api->handle(std::move(r)); });
        try {
            admin_server_->listen(at);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ringlb: cannot listen on admin address %s: %s\n",
                         to_string(*cfg.admin.listen).c_str(), e.what());
            return false;
        }
        admin_api_->set_listen(admin_server_->local_endpoint());
        admin_address_ = admin_server_->local_endpoint().address().to_string() + ":" +
                         std::to_string(admin_server_->local_endpoint().port());
        admin_api_->start();
        admin_server_->start();
        std::fprintf(stderr, "ringlb: admin API and dashboard on http://%s:%u/%s\n",
                     to_string(*cfg.admin.listen).substr(0, to_string(*cfg.admin.listen).rfind(':')).c_str(),
                     admin_server_->local_endpoint().port(),
                     cfg.admin.tokens.empty() ? " (loopback, no tokens)" : "");
        if (cfg.admin.state_file.empty() && !etcd_)  // with etcd, etcd keeps them
            std::fprintf(stderr,
                         "ringlb: warning: admin.state_file is not set: changes made through the admin "
                         "API do not survive a restart\n");
        return true;
    }

    // A cluster-wide rate limit is split between the live instances (each enforces its
    // share: docs/DESIGN.md, rate limiting); without etcd an instance holds the whole rate.
    void set_rate_share(const bundle& b) {
        if (!b.limiter) return;
        const bool split = etcd_ && b.settings.rate_limit.scope == rate_scope::cluster;
        b.limiter->set_share(split ? static_cast<std::uint32_t>(std::clamp<std::size_t>(live_instances_, 1, 1u << 16)) : 1);
    }

    void publish(std::shared_ptr<const bundle> b) {
        set_rate_share(*b);
        for (auto& w : workers_) w->publish(b);
        if (etcd_) etcd_->registration_changed();  // its fingerprint is part of the registration
    }

    std::string path_;
    std::shared_ptr<const config> first_cfg_;
    std::unique_ptr<access_log> log_;
    asio::io_context io_{1};
    controller controller_{
        io_,
        {.publish = [this](std::shared_ptr<const bundle> b) { publish(std::move(b)); }, .log = log_line}};
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
    std::unique_ptr<etcd_source> etcd_;  // the membership, when it comes from etcd
    std::size_t live_instances_ = 1;     // registered instances (etcd), for the rate-limit share
    std::string started_at_;
    std::string admin_address_;
    std::unique_ptr<admin::api> admin_api_;  // before the server: it outlives its handler calls
    std::unique_ptr<admin::server> admin_server_;
};

}  // namespace

int serve_main(const std::string& config_path) {
    std::signal(SIGPIPE, SIG_IGN);
    config_result r = load_config(config_path);
    if (!r.errors.empty()) {
        for (const config_error& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
        return 1;
    }
    auto cfg = std::make_shared<const config>(std::move(*r.value));
    raise_fd_limit();
    std::string error;
    auto log = access_log::open(cfg->log.access, error);
    if (!log && cfg->log.access != "off") {
        std::fprintf(stderr, "ringlb: %s\n", error.c_str());
        return 1;
    }
    control c{config_path, std::move(cfg)};
    return c.run(std::move(log));
}

}  // namespace ringlb
