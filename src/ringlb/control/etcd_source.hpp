// ringlb/control/etcd_source.hpp: the membership from etcd, followed without missing an
// event, and this instance registered beside it.
//
//   ringlb::etcd_source src{io, client, cfg.membership, {.apply = ..., .log = ...}};
//   src.start([](bool ok, const std::string& why) { ... });   // a membership to serve, or not
//   co_await src.put_backend("app-9", doc, std::nullopt);       // the admin API writes here
//   src.stop();
//
// Layout under the prefix (e.g. "/ringlb/"):
//   backends/ID   {"address": "10.0.0.1:8080", "weight": 1, "zone": "a", "state": "ready"}
//   instances/NAME  {"name": ..., "zone": ..., "revision": R, "fingerprint": "...", ...}
//                   (with a lease: it disappears when the instance stops renewing it)
//
// Following the prefix (the rules of docs/DESIGN.md 3.6): a full read gives the backends
// and a revision R; a watch from R + 1 (with progress notifications) delivers every change
// after it, in order; the applied revision only moves forward, to each event's revision or
// to a progress notification's (everything up to it was delivered). A watch cancelled by a
// compaction, or a revision lower than the applied one (etcd restored from a backup), is
// answered by a full read again. A watch that fails, or an endpoint that a liveness probe
// every few seconds finds without a leader, is given up for the next endpoint, after a
// back-off that doubles from 100 ms to 5 s with +-20% jitter. Every applied membership is
// written to the snapshot file (atomically); at start, when etcd cannot be read, the
// snapshot is served and the source says it is stale until etcd answers; with neither,
// start fails rather than serve an empty pool.
//
// Thread-safety: none; the control thread.
#pragma once

#include "ringlb/config/config.hpp"
#include "ringlb/etcd/client.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace ringlb {

/// A backend as etcd holds it, parsed and checked.
struct etcd_backend {
    backend_config backend;
    std::int64_t mod_revision = 0;
};

/// An instance's registration, as the others see it.
struct instance_info {
    std::string name;
    nlohmann::json doc;  ///< what it wrote: zone, revision, fingerprint, version, admin, started
    std::int64_t mod_revision = 0;
};

/// Parses a backend document ("backends/ID" => JSON). Null with `error` when invalid.
[[nodiscard]] std::optional<backend_config> parse_backend_doc(const std::string& id, std::string_view doc,
                                                              const health_check_config& defaults,
                                                              std::string& error);
/// An instance's registration document reduced to its flat known fields of the expected
/// types (name, zone, fingerprint, membership, version, admin, listen, started: strings;
/// revision, backends: integers; stale: boolean); {} when it is not a JSON object.
[[nodiscard]] nlohmann::json parse_instance_doc(std::string_view doc);
/// The document a backend is written as.
[[nodiscard]] std::string backend_doc(const backend_config& b);

/// What the registrations say about agreement: the live instances, how many run the same
/// membership as this one (the same backend keys at the same mod_revisions), and whether
/// all of those have its placement fingerprint and take keys from the same place (the
/// hash_key rule). Zones are not compared: instances of different zones differ on purpose.
struct cluster_agreement {
    std::size_t instances = 0;
    std::size_t same_membership = 0;
    bool agree = true;
};

class etcd_source;
[[nodiscard]] cluster_agreement agreement(const etcd_source& source, std::string_view my_membership,
                                         std::string_view my_fingerprint, std::string_view my_key);

class etcd_source {
public:
    struct hooks {
        /// A full membership at a revision, with its digest (the controller publishes it).
        std::function<void(std::vector<backend_config>, std::int64_t revision, const std::string& digest)> apply;
        std::function<void(const std::string&)> log;
        /// This instance's registration document (re-written when it changes).
        std::function<nlohmann::json()> instance_doc;
        /// The number of registered (live) instances, this one included once registered:
        /// after each full read, and when a watch event changes it.
        std::function<void(std::size_t)> instances;
    };
    using ready_fn = std::function<void(bool ok, const std::string& message)>;

    etcd_source(asio::io_context& io, const membership_config& cfg, health_check_config health_defaults,
                hooks h);
    ~etcd_source();
    etcd_source(const etcd_source&) = delete;
    etcd_source& operator=(const etcd_source&) = delete;

    /// Starts following etcd; `ready` runs once there is a membership to serve (read from
    /// etcd, or from the snapshot when etcd cannot be reached) or none (ok = false).
    void start(ready_fn ready);
    void stop();

    /// Re-writes this instance's registration (its applied revision or fingerprint moved).
    void registration_changed();

    // --- what the admin API and /metrics read ---
    [[nodiscard]] std::int64_t applied_revision() const noexcept { return applied_; }
    /// The membership this instance runs: the newest mod_revision among its backend keys
    /// (for people), and a digest of every backend key with its mod_revision (for
    /// machines: instances with equal digests hold the same documents, however and when
    /// they read them, so their fingerprints must be equal). Registrations and other keys
    /// move the applied revision, not these.
    [[nodiscard]] std::int64_t membership_revision() const noexcept { return membership_revision_; }
    [[nodiscard]] const std::string& membership_digest() const noexcept { return membership_digest_; }
    /// Serving a membership etcd has not confirmed since start (the snapshot), or following
    /// no live watch right now.
    [[nodiscard]] bool stale() const noexcept { return from_snapshot_ || !watching_; }
    [[nodiscard]] const std::string& last_error() const noexcept { return last_error_; }
    /// The etcd member calls go to now.
    [[nodiscard]] const endpoint& current_endpoint() const noexcept { return client_.current(); }
    [[nodiscard]] const std::map<std::string, instance_info, std::less<>>& instances() const noexcept {
        return instances_;
    }
    [[nodiscard]] const std::map<std::string, etcd_backend, std::less<>>& backends() const noexcept {
        return backends_;
    }
    [[nodiscard]] std::uint64_t reconnects() const noexcept { return reconnects_; }
    [[nodiscard]] std::uint64_t full_reads() const noexcept { return full_reads_; }
    [[nodiscard]] const membership_config& config() const noexcept { return cfg_; }

    // --- writes (the admin API) ---
    struct write_result {
        bool ok = false;
        bool conflict = false;      ///< the compare failed: changed since `if_unchanged_since`
        std::int64_t revision = 0;  ///< the write's revision
        std::string error;
    };
    /// Puts backend `id`'s document; with `if_unchanged_since`, only when the key was not
    /// modified after that revision (If-Match).
    [[nodiscard]] asio::awaitable<write_result> put_backend(const backend_config& b,
                                                            std::optional<std::int64_t> if_unchanged_since);
    [[nodiscard]] asio::awaitable<write_result> delete_backend(
        const std::string& id, std::optional<std::int64_t> if_unchanged_since);
    /// Waits (bounded) until the watch has applied `revision`; false on timeout.
    [[nodiscard]] asio::awaitable<bool> wait_applied(std::int64_t revision, std::chrono::milliseconds limit);

private:
    // One key written (put or delete) as a transaction, compared on its mod_revision when
    // if_unchanged_since is set. `key` by value: the caller's frame may be gone.
    asio::awaitable<write_result> write_key(std::string key, nlohmann::json op,
                                            std::optional<std::int64_t> if_unchanged_since);
    asio::awaitable<void> follow();
    asio::awaitable<bool> read_all();
    asio::awaitable<void> probe_loop();
    asio::awaitable<void> register_loop();
    asio::awaitable<void> pause(std::chrono::milliseconds d);
    bool on_message(const etcd::watch_message& m);
    void apply_backends(std::int64_t revision);
    void save_snapshot();
    bool load_snapshot(std::string& error);
    // The next pause of a back-off (100 ms doubling to 5 s, +-20%), advancing it.
    std::chrono::milliseconds backoff(std::chrono::milliseconds& next);
    void note_error(const std::string& e);

    asio::io_context& io_;
    membership_config cfg_;
    health_check_config health_defaults_;
    hooks hooks_;
    etcd::client client_;
    std::unique_ptr<etcd::watcher> watcher_;
    std::map<std::string, etcd_backend, std::less<>> backends_;
    std::map<std::string, instance_info, std::less<>> instances_;
    std::int64_t applied_ = 0;
    std::int64_t membership_revision_ = 0;
    std::string membership_digest_;
    bool backends_dirty_ = false;
    bool need_read_ = true;
    bool from_snapshot_ = false;
    bool watching_ = false;
    bool stopped_ = false;
    ready_fn ready_;
    std::string last_error_;
    std::chrono::milliseconds next_backoff_{100};           // the follower's
    std::chrono::milliseconds next_register_backoff_{100};  // the registration's
    std::chrono::steady_clock::time_point last_quick_read_{};  // a full read right after a cancel
    std::uint64_t reconnects_ = 0;
    std::uint64_t full_reads_ = 0;
    std::int64_t lease_ = 0;
    bool registration_dirty_ = true;
    bool registered_stale_ = false;  // what the registration last said of stale()
    std::uint64_t watch_generation_ = 0;
    endpoint watched_;               // the member the current watch is on
    std::vector<std::shared_ptr<asio::steady_timer>> waits_;  // wait_applied and pause timers
    std::minstd_rand rng_;
};

}  // namespace ringlb
