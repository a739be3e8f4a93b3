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

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ringlb {

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
    /// The store, to edit; call changed() after an edit.
    [[nodiscard]] membership_store& store() noexcept { return store_; }
    void changed(done_fn done = {});
    /// Stops every check and timer, so the io_context can run out of work.
    void stop();

    [[nodiscard]] const std::shared_ptr<const bundle>& current() const noexcept { return current_; }
    [[nodiscard]] const std::shared_ptr<const config>& cfg() const noexcept { return cfg_; }
    [[nodiscard]] bool panicking() const noexcept { return panic_ != panic_state::none; }

private:
    struct tracked {
        std::shared_ptr<backend_state> state;
        admin_state admin = admin_state::ready;
        health_check_config check;
        asio::ip::tcp::endpoint address;
        std::shared_ptr<health_checker> checker;  // null: checks off, or in maintenance
        bool health_up = true;
        std::string detail;                // why the last verdict is what it is
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

    asio::io_context& io_;
    hooks hooks_;
    membership_store store_;
    resolver resolver_;
    std::shared_ptr<const config> cfg_;       // the config of the running bundle
    std::shared_ptr<const config> next_cfg_;  // the config being published
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
    bool stopped_ = false;
    bool published_once_ = false;
};

}  // namespace ringlb
