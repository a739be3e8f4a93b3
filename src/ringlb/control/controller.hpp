// ringlb/control/controller.hpp: the control thread's loop around membership: the store,
// name resolution, publication to the workers, active checks, and each backend's mode.
//
//   ringlb::controller c{io, {.publish = [&](auto b) { for (auto& w : workers) w->publish(b); },
//                             .log = [](const std::string& line) { ... }}};
//   c.apply(cfg, [](bool ok, const std::string& why) { ... });   // start, SIGHUP
//   c.store().set_state("app-2", admin_state::drain, member_source::admin); c.changed();
//   c.stop();                                                     // shutdown: checks end
//
// Publication. Every change (a config applied, a store edit) asks for one publication; the
// requests are coalesced, latest wins: a publication resolves the names it does not know
// or knows from before the last reload (control/resolver, asynchronous, bounded by
// timeouts.resolve), builds the bundle
// (incrementally where it can, control/bundle_builder), sets the modes of new backends and
// hands it to the publish hook. A change that lands while one is being prepared makes it
// start over with the newest membership. A name that does not resolve fails the whole
// publication: the running bundle stays and the callback says why.
//
// Modes. Each backend's mode is derived here, never by a worker, from three inputs: the
// operator's state (membership_store), the health verdict (control/health_checker), and the
// clock of its ramps:
//   maintenance > draining > down > slow start > up.
// A backend that returns to service (from down, draining or maintenance) or joins after the
// first publication enters slow start for routing.slow_start (up at once when 0); a
// backend that starts draining runs routing.drain_window. None of this rebuilds a ring. The
// panic state (health.panic_threshold, health.panic) is computed with every change of a
// mode, logged on entry and exit.
//
// Thread-safety: none; every call on the control thread (the io_context's).
#pragma once

#include "ringlb/config/config.hpp"
#include "ringlb/control/health_checker.hpp"
#include "ringlb/control/membership_store.hpp"
#include "ringlb/control/resolver.hpp"
#include "ringlb/proxy/bundle.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ringlb {

/// One health result, kept for the admin API (the last 20 per backend).
struct check_event {
    std::chrono::system_clock::time_point at;
    bool ok = false;
    bool passive = false;  ///< client traffic's verdict, not a check's
    std::string detail;
};

/// What the controller knows of a backend's health.
struct backend_health {
    check_kind check = check_kind::none;
    bool up = true;                   ///< the verdict (without checks: up)
    std::string detail;               ///< why the last verdict is what it is
    std::deque<check_event> history;  ///< newest last
    std::uint64_t passed = 0;         ///< check results so far
    std::uint64_t failed = 0;
};

/// A change the admin API lists (/v1/events, the dashboard): the last 100.
struct change_event {
    std::chrono::system_clock::time_point at;
    std::string kind;             ///< "membership", "mode", "health", "panic", "reload"
    std::string text;             ///< the log line
    std::optional<double> moved;  ///< membership: the share of the key space that moved
};

class controller {
public:
    struct hooks {
        std::function<void(std::shared_ptr<const bundle>)> publish;  ///< to every worker
        std::function<void(const std::string&)> log;                 ///< one line, no newline
    };
    /// Runs once per apply()/changed(): whether the result was published, and what to say.
    using done_fn = std::function<void(bool ok, const std::string& message)>;

    controller(asio::io_context& io, hooks h);
    controller(const controller&) = delete;
    controller& operator=(const controller&) = delete;

    /// Takes a validated config: its backends become the store's file layer, its settings
    /// the next bundle's. `done` runs once that is published or refused.
    void apply(std::shared_ptr<const config> cfg, done_fn done = {});
    /// The membership from etcd (control/etcd_source.hpp), replacing the store's file layer
    /// when [membership] source = "etcd"; published like any change.
    void set_base(std::vector<backend_config> backends, std::string tag = {});
    /// The tag given with the base membership the current bundle was built from (etcd: its
    /// membership digest), so what an instance says it runs is what its workers run.
    [[nodiscard]] const std::string& published_base_tag() const noexcept { return published_base_tag_; }
    /// The store, to edit; call changed() after an edit.
    [[nodiscard]] membership_store& store() noexcept { return store_; }
    void changed(done_fn done = {});
    /// Stops every check and timer, so the io_context can run out of work. Callbacks of
    /// changes not yet published, and of any asked for later, run with "shutting down".
    void stop();

    [[nodiscard]] const std::shared_ptr<const bundle>& current() const noexcept { return current_; }
    [[nodiscard]] const std::shared_ptr<const config>& cfg() const noexcept { return cfg_; }
    [[nodiscard]] bool panicking() const noexcept { return panic_ != panic_state::none; }
    [[nodiscard]] panic_state panic() const noexcept { return panic_; }

    // --- for the admin API ---
    [[nodiscard]] const membership_store& store() const noexcept { return store_; }
    /// A backend's health as the controller sees it; null for an id it does not track.
    [[nodiscard]] const backend_health* health(std::string_view id) const noexcept;
    /// Recent changes, oldest first.
    [[nodiscard]] const std::deque<change_event>& events() const noexcept { return events_; }
    [[nodiscard]] std::uint64_t panic_entries() const noexcept { return panic_entries_; }
    /// The share of the key space the last placement change moved (none before any change).
    [[nodiscard]] std::optional<double> last_moved() const noexcept { return last_moved_; }
    /// The result of a reload, counted for /metrics (serve's SIGHUP handler knows about the
    /// reloads that fail before they reach apply()).
    void note_reload(bool ok, const std::string& text);
    [[nodiscard]] std::uint64_t reloads_ok() const noexcept { return reloads_ok_; }
    [[nodiscard]] std::uint64_t reloads_failed() const noexcept { return reloads_failed_; }

private:
    struct tracked {
        std::shared_ptr<backend_state> state;
        admin_state admin = admin_state::ready;
        health_check_config check;
        asio::ip::tcp::endpoint address;
        std::shared_ptr<health_checker> checker;  // null: checks off, or in maintenance
        backend_health health;
        std::optional<backend_mode> mode;  // the mode last set; none before the first
    };

    void request(done_fn done);
    void start_pass();
    void resolved();
    void finish_pass(bool ok, const std::string& message);
    void sync_tracked(const bundle& b);
    void sync_checker(const std::string& id, tracked& t, bool settings_changed);
    void on_report(const check_report& r);
    void update_modes();
    void log_mode_change(const std::string& id, std::optional<backend_mode> was, backend_mode now_mode,
                         const backend_state& state, steady_clock::time_point now);
    void arm_ramp_timer(steady_clock::time_point at);
    void arm_zone_timer();
    void note(std::string kind, std::string text, std::optional<double> moved = {});

    asio::io_context& io_;
    hooks hooks_;
    membership_store store_;
    resolver resolver_;
    std::shared_ptr<const config> cfg_;       // the config of the running bundle
    std::shared_ptr<const config> next_cfg_;  // the config being published
    std::shared_ptr<const tls_server_context> next_tls_;  // its TLS context (null: plain HTTP)
    std::shared_ptr<const tls_server_context> tls_;       // the published config's
    std::shared_ptr<const bundle> current_;
    std::map<std::string, tracked, std::less<>> tracked_;
    struct resolved_address {
        asio::ip::tcp::endpoint address;
        std::uint64_t chain = 0;  // the chain of passes that looked it up
    };
    std::map<std::string, resolved_address> resolved_;  // "host:port" -> address
    std::uint64_t chain_ = 0;        // chains of passes so far (one per run of coalesced changes)
    std::uint64_t fresh_chain_ = 0;  // addresses looked up by an older chain are stale
    std::vector<done_fn> waiting_;   // callbacks of the requests the running pass serves
    std::uint64_t wanted_ = 0;       // requests so far
    std::uint64_t pass_ = 0;         // the request the running pass started for
    bool pass_running_ = false;
    std::size_t resolving_ = 0;
    std::string resolve_error_;
    panic_state panic_ = panic_state::none;
    asio::steady_timer ramp_timer_;
    asio::steady_timer zone_timer_;  // re-splits the zones once a second while zones are on
    asio::steady_timer base_retry_;  // a base membership that could not be published, again
    void publish_base();
    bool stopped_ = false;
    bool published_once_ = false;
    std::deque<change_event> events_;
    std::uint64_t panic_entries_ = 0;
    std::uint64_t reloads_ok_ = 0;
    std::uint64_t reloads_failed_ = 0;
    std::optional<double> last_moved_;
    std::vector<backend_config> base_;  // the membership etcd gave, when it is the source
    std::string base_tag_;              // ...its tag
    std::string published_base_tag_;    // the tag of the base the current bundle holds
};

}  // namespace ringlb
