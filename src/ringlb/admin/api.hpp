// ringlb/admin/api.hpp: the admin API's routes, on the control thread.
//
//   ringlb::admin::api a{control_io, {.control = &ctl, .proxy_shards = ..., .listen = at}};
//   ringlb::admin::server s{control_io, [&](ringlb::admin::request r) { return a.handle(std::move(r)); }};
//
// Routes (docs/ADMIN.md has them all, with curl examples that a test runs):
//   GET    /v1/status                      version, uptime, generations, panic
//   GET    /v1/backends, /v1/backends/ID   address, weight, mode and why, checks, load, share
//   PUT    /v1/backends/ID                 add or change a backend (JSON body)
//   DELETE /v1/backends/ID                 remove it
//   POST   /v1/backends/ID/drain | /maintenance | /ready      its operator state
//   DELETE /v1/backends/ID/override        forget the runtime changes of ID: the config speaks
//   GET    /v1/ring                        algorithm, fingerprint, share per backend, arcs
//   GET    /v1/lookup?key=K                owner, candidate chain, why each was skipped
//   GET    /v1/stats                       per-backend rate, p50, p99, in flight (live)
//   GET    /v1/events                      recent membership, state and health changes
//   GET    /metrics                        Prometheus text
//   GET    /                               the dashboard
//
// Mutations go through the membership store and are published by the controller like any
// change; the answer comes once every worker runs the new bundle (or the change was refused
// and that edit undone: 409). Membership changes (PUT, DELETE) answer what moves, computed by the same
// code as `ringlb plan`; `?dry_run=1` answers that and changes nothing. Every answer about
// the membership carries its generation as an ETag; a mutation with a stale `If-Match` gets
// 412. Mutations run one at a time (later ones wait their turn), and each published one is
// written to the state file (control/state_file.hpp) before it is answered.
//
// Who may do what: with a token file ([admin] tokens), reads need a read or write token and
// mutations a write token (`Authorization: Bearer`). Without one, the listener is loopback
// only (serve refuses anything else) and mutations must say `Content-Type:
// application/json`, which an HTML form on another site cannot send without the browser
// asking first; and since a page could still reach 127.0.0.1 under a hostile DNS name, the
// Host header must name the listener (DNS rebinding). Only POST, PUT and DELETE change
// anything: a GET never does (Envoy's admin did, envoy #2769).
//
// Thread-safety: none; the control thread.
#pragma once

#include "ringlb/admin/auth.hpp"
#include "ringlb/admin/live_stats.hpp"
#include "ringlb/admin/message.hpp"
#include "ringlb/admin/views.hpp"
#include "ringlb/control/controller.hpp"
#include "ringlb/control/etcd_source.hpp"
#include "ringlb/metrics/shards.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ringlb::admin {

struct api_context {
    controller* control = nullptr;
    /// The workers' proxy shards (one per worker), for /metrics and /v1/status.
    std::function<std::vector<const metrics::proxy_shard*>()> proxy_shards;
    /// The generation each worker applied.
    std::function<std::vector<std::uint64_t>()> applied_generations;
    asio::ip::tcp::endpoint listen;  ///< the admin listener's address, for the Host check
    std::string state_file;          ///< where mutations are persisted; empty = nowhere
    etcd_source* etcd = nullptr;     ///< the membership's source when it is etcd: writes go there
    std::string version;
    std::function<void(const std::string&)> log;
    /// Re-reads the config file as SIGHUP does; `done` says how it went (unset: no reload).
    std::function<void(std::function<void(bool ok, const std::string& message)> done)> reload;
};

class api {
public:
    api(asio::io_context& io, api_context ctx, std::optional<token_set> tokens);
    api(const api&) = delete;
    api& operator=(const api&) = delete;

    /// Answers one request. Never throws; a request the handler cannot make sense of gets
    /// a JSON error.
    [[nodiscard]] asio::awaitable<response> handle(request req);
    /// The listener's address once bound (its port may have been 0), for the Host check.
    void set_listen(const asio::ip::tcp::endpoint& at) { ctx_.listen = at; }
    /// A SIGHUP re-read the token file.
    void set_tokens(std::optional<token_set> tokens) { tokens_ = std::move(tokens); }
    /// Starts and stops the sampler behind /v1/stats.
    void start();
    void stop();
    /// Counters of the admin API itself (for /metrics).
    [[nodiscard]] std::uint64_t requests() const noexcept { return requests_; }

private:
    asio::awaitable<response> route(request& req);
    [[nodiscard]] std::optional<response> refuse(const request& req) const;

    response get_status() const;
    response get_backends() const;
    response get_backend(const std::string& id) const;
    response get_ring(const request& req) const;
    response get_lookup(const request& req) const;
    response get_stats() const;
    response get_events() const;
    response get_metrics() const;
    asio::awaitable<response> put_backend(const request& req, const std::string& id);
    asio::awaitable<response> delete_backend(const request& req, const std::string& id);
    asio::awaitable<response> set_state(const request& req, const std::string& id, admin_state state);
    asio::awaitable<response> post_reload();

    /// Publishes the store's current membership after an edit of `id` (whose runtime entry
    /// was `was`); on failure undoes that edit, and only it, and says why. On success it
    /// saves the state file and returns once every worker runs the new bundle.
    asio::awaitable<std::optional<std::string>> publish(const std::string& id,
                                                        std::optional<membership_store::overlay_entry> was);
    asio::awaitable<response> clear_override(const request& req, const std::string& id);
    response get_instances() const;
    /// With etcd: writes `b` (or deletes `id` when b is null) as an etcd transaction that
    /// compares the key's revision with If-Match's, waits until this instance applied it and
    /// its workers run it; the error answer, or nothing.
    // A backend's current definition: etcd's document with etcd, the store's otherwise.
    [[nodiscard]] const backend_config* definition_of(const std::string& id) const;
    asio::awaitable<std::optional<response>> write_etcd(const request& req, const std::string& id,
                                                        const backend_config* b);
    /// The revision an If-Match names (etcd mode); nullopt for none or "*".
    [[nodiscard]] std::optional<std::int64_t> if_match_revision(const request& req) const;
    asio::awaitable<void> wait_workers();
    /// Reads ?dry_run (1, true, 0, false); a 400 for anything else.
    std::optional<response> dry_run(const request& req, bool& yes) const;
    /// Waits for the mutations before this one to finish; the guard lets the next one go.
    struct turn;
    asio::awaitable<std::unique_ptr<turn>> wait_turn();
    void next_turn();

    [[nodiscard]] std::string etag() const;
    [[nodiscard]] response with_etag(response r) const;
    /// 412 when the request's If-Match names an older membership generation.
    [[nodiscard]] std::optional<response> precondition_failed(const request& req) const;

    asio::io_context& io_;
    api_context ctx_;
    std::optional<token_set> tokens_;
    live_stats stats_;
    share_cache shares_;
    bool busy_ = false;                                      // a mutation is running
    bool stopping_ = false;                                  // stop(): no more mutations
    std::deque<std::shared_ptr<asio::steady_timer>> queue_;  // mutations waiting their turn
    std::uint64_t requests_ = 0;
    std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
};

}  // namespace ringlb::admin
