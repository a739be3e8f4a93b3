// ringlb/control/health_checker.hpp: the active checks of one backend, on the control thread.
//
//   auto c = ringlb::health_checker::start(io, "app-1", address, check, state,
//                                          [](const check_report& r) { ... });
//   c->update(new_address, new_check);   // a reload changed them
//   c->stop();                           // removed, or in maintenance; the loop ends
//
// Each checker is a coroutine on the control io_context: wait (interval, fast_interval while
// a verdict is changing, down_interval while down, each spread by +-10% so checks of many
// backends do not fire together, and the first one at a random point of the first
// interval), then probe: `tcp` connects; `http` connects, sends one request
// (method, path, Host, Connection: close), and reads the answer for up to 64 KiB, the
// status checked against expect_status and the body, when expect_body is set, searched for
// it (1xx interim answers are skipped; the answer ends at its end, or when the backend
// closes). The whole probe is bounded by `timeout`. Before each probe, whether the data path
// recorded failures on the backend_state since the last one is one passive observation for
// the health_machine (which counts them apart from check results). The callback hears
// every check result and every passive observation that changed the verdict. Checks never
// go through a worker or the client data path.
//
// Thread-safety: none; every call on the control thread. The coroutine keeps the checker
// alive until it has seen stop().
#pragma once

#include "ringlb/config/config.hpp"
#include "ringlb/control/health_machine.hpp"
#include "ringlb/lb/backend_state.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace ringlb {

struct check_report {
    std::string id;
    bool ok = false;
    bool changed = false;  ///< the result changed the verdict
    bool up = true;        ///< the verdict after it
    std::string detail;    ///< what failed ("connection refused", "status 503", ...)
    bool passive = false;  ///< the verdict came from client traffic, not from a check
};

class health_checker : public std::enable_shared_from_this<health_checker> {
public:
    using report_fn = std::function<void(const check_report&)>;

    [[nodiscard]] static std::shared_ptr<health_checker> start(asio::io_context& io, std::string id,
                                                               asio::ip::tcp::endpoint address,
                                                               health_check_config check,
                                                               std::shared_ptr<backend_state> state,
                                                               report_fn report);
    health_checker(asio::io_context& io, std::string id, asio::ip::tcp::endpoint address,
                   health_check_config check, std::shared_ptr<backend_state> state, report_fn report);

    /// New settings for the next probe (the verdict is kept; thresholds apply from now).
    void update(asio::ip::tcp::endpoint address, health_check_config check);
    /// Ends the loop; a probe in progress is cut.
    void stop();
    [[nodiscard]] bool up() const noexcept { return machine_.up(); }
    /// The verdict, as the controller reads it; a stopped checker's is kept.
    [[nodiscard]] const health_machine& machine() const noexcept { return machine_; }

private:
    void run();
    void wait(duration d);
    void probe();
    void probe_done(bool ok, std::string detail);
    void on_connected();
    void read_more();

    asio::io_context& io_;
    std::string id_;
    asio::ip::tcp::endpoint address_;
    health_check_config check_;
    std::shared_ptr<backend_state> state_;
    report_fn report_;
    health_machine machine_;
    asio::steady_timer timer_;     // the wait between probes
    asio::steady_timer deadline_;  // the probe's timeout
    std::optional<asio::ip::tcp::socket> socket_;
    std::string request_;
    std::string answer_;
    std::uint64_t passive_seen_ = 0;
    std::uint64_t probe_seq_ = 0;  // which probe completions belong to
    bool first_ = true;
    bool stopped_ = false;
    std::minstd_rand rng_;
};

}  // namespace ringlb
