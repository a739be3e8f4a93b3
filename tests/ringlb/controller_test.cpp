// The control loop over real loopback sockets: apply() publishes a bundle through the
// hook; a reload that only moves a backend keeps the routing snapshot; one backend added
// merges the ring and slow-starts it; requests in a row coalesce into fewer publications,
// the last one winning and every callback running once; active checks (http, tcp) take a
// backend down after `fall` results and back after `rise`, a burst of passive failures
// weighs one result, a backend's own health table (expect_body, expect_status, timeout)
// judges it; slow start ends in up after its window, drain runs the drain window;
// maintenance stops its checks; the panic policy of a pool with too few healthy backends;
// stop() lets the loop run out of work.
//
// Each test runs the controller on its own io_context with fake backends it opens on
// 127.0.0.1 (port 0): each answers every request with a status the test sets and counts
// what it saw. Waits poll the io_context with a deadline of seconds; checks run every
// tens of milliseconds, so no assertion depends on timing tighter than that.
#include "ringlb/control/controller.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;
using ringlb::backend_mode;
using ringlb::panic_state;
using ringlb::steady_clock;

// A backend that answers every request with `status` and closes, as a check asks
// (Connection: close). It counts the connections it accepted and the answers it gave.
class fake_backend {
public:
    explicit fake_backend(asio::io_context& io) : acceptor_{io, {asio::ip::make_address("127.0.0.1"), 0}} {
        accept();
    }
    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    void set_status(int status) { status_ = status; }
    [[nodiscard]] int accepted() const { return accepted_; }
    [[nodiscard]] int answered_with(int status) const {
        const auto it = answers_.find(status);
        return it != answers_.end() ? it->second : 0;
    }
    void close() {
        asio::error_code ignored;
        acceptor_.close(ignored);
    }

private:
    struct connection {
        explicit connection(tcp::socket s) : socket{std::move(s)} {}
        tcp::socket socket;
        std::string in;
        std::string out;
    };

    void accept() {
        acceptor_.async_accept([this](const asio::error_code& ec, tcp::socket s) {
            if (ec) return;
            ++accepted_;
            serve(std::make_shared<connection>(std::move(s)));
            accept();
        });
    }

    void serve(const std::shared_ptr<connection>& c) {
        // A tcp check closes at once: the read ends with an error and nothing is answered.
        asio::async_read_until(
            c->socket, asio::dynamic_buffer(c->in), "\r\n\r\n",
            [this, c](const asio::error_code& ec, std::size_t) {
                if (ec) return;
                const int status = status_;  // decided when answering
                ++answers_[status];
                c->out = "HTTP/1.1 " + std::to_string(status) +
                         " Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
                asio::async_write(c->socket, asio::buffer(c->out), [c](const asio::error_code&, std::size_t) {
                    asio::error_code ignored;
                    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
                    c->socket.close(ignored);
                });
            });
    }

    tcp::acceptor acceptor_;
    int status_ = 200;
    int accepted_ = 0;
    std::map<int, int> answers_;
};

// A backend of a test config: its id, its port and any more keys of its table.
struct backend_spec {
    backend_spec(std::string i, std::uint16_t p, std::string e = {})
        : id{std::move(i)}, port{p}, extra{std::move(e)} {}
    std::string id;
    std::uint16_t port = 0;
    std::string extra;
};

// Checks every 50 ms (20 ms while a verdict changes, 50 ms while down); the timeout is long
// so that a slow machine never turns a good answer into a failure.
const std::string http_checks =
    "check = \"http\"\ninterval = \"50ms\"\nfast_interval = \"20ms\"\ndown_interval = \"50ms\"\n"
    "timeout = \"1s\"\n";

std::string config_text(const std::vector<backend_spec>& backends, const std::string& health,
                        const std::string& routing = "") {
    std::string t = "[routing]\nbalance_factor = 0\n" + routing + "[health]\n" + health;
    for (const backend_spec& b : backends)
        t += "[[backends]]\nid = \"" + b.id + "\"\naddress = \"127.0.0.1:" + std::to_string(b.port) + "\"\n" +
             b.extra;
    return t;
}

// What one apply()/changed() callback heard.
struct outcome {
    int calls = 0;
    bool ok = false;
    std::string message;
    ringlb::controller::done_fn fn() {
        return [this](bool o, const std::string& m) {
            ++calls;
            ok = o;
            message = m;
        };
    }
};

class Controller : public ::testing::Test {
protected:
    void TearDown() override {
        on_log = nullptr;  // it may refer to a test body's locals
        ctl.stop();
        for (auto& s : servers) s->close();
        io.restart();
        io.poll();  // cancelled waits run their handlers and let go
    }

    void open_servers(int n) {
        for (int i = 0; i < n; ++i) servers.push_back(std::make_unique<fake_backend>(io));
    }
    fake_backend& server(std::size_t i) { return *servers.at(i); }

    // Runs the io_context until `done` holds; false when it still does not after `limit`.
    bool run_until(const std::function<bool()>& done, steady_clock::duration limit = 5s) {
        const auto deadline = steady_clock::now() + limit;
        while (!done()) {
            if (steady_clock::now() >= deadline) return false;
            if (io.stopped()) io.restart();
            io.run_for(5ms);
        }
        return true;
    }
    // Runs the io_context for `d` (for "nothing more happens" assertions).
    void run_for(steady_clock::duration d) {
        const auto deadline = steady_clock::now() + d;
        run_until([&] { return steady_clock::now() >= deadline; }, d + 1s);
    }

    std::shared_ptr<const ringlb::config> config(const std::string& text) {
        auto r = ringlb::parse_config(text, "test.toml");
        EXPECT_TRUE(r.value) << (r.errors.empty() ? "" : r.errors[0].to_string()) << "\n" << text;
        return r.value ? std::make_shared<const ringlb::config>(*r.value) : nullptr;
    }

    // apply(), then runs until its callback has run.
    outcome apply(const std::string& text) {
        outcome o;
        auto cfg = config(text);
        if (!cfg) return o;
        ctl.apply(cfg, o.fn());
        EXPECT_TRUE(run_until([&] { return o.calls > 0; })) << "apply() never finished";
        return o;
    }

    // The index of backend `id` in the running routing snapshot (npos when absent).
    std::size_t index_of(const std::string& id) const {
        if (!ctl.current()) return chash::npos;
        const auto backends = ctl.current()->routing->backends();
        for (std::size_t i = 0; i < backends.size(); ++i)
            if (backends[i].id == id) return i;
        return chash::npos;
    }
    ringlb::backend_state& state(const std::string& id) const {
        const std::size_t i = index_of(id);
        EXPECT_NE(i, chash::npos) << id;
        return *ctl.current()->routing->backends()[i].state;
    }
    backend_mode mode(const std::string& id) const { return state(id).mode(); }
    bool wait_mode(const std::string& id, backend_mode m) {
        return run_until([&] { return index_of(id) != chash::npos && mode(id) == m; });
    }
    bool logged(const std::string& part) const {
        return std::any_of(logs.begin(), logs.end(),
                           [&](const std::string& l) { return l.find(part) != l.npos; });
    }
    std::string all_logs() const {
        std::string out;
        for (const auto& l : logs) out += l + "\n";
        return out;
    }

    asio::io_context io{1};
    std::vector<std::unique_ptr<fake_backend>> servers;
    std::vector<std::shared_ptr<const ringlb::bundle>> published;
    std::vector<std::string> logs;
    std::function<void(const std::string&)> on_log;  // a test's own look at each line, as it is logged
    ringlb::controller ctl{
        io,
        {.publish = [this](std::shared_ptr<const ringlb::bundle> b) { published.push_back(b); },
         .log =
             [this](const std::string& line) {
                 logs.push_back(line);
                 if (on_log) on_log(line);
             }}};
};

TEST_F(Controller, ApplyPublishesTheConfigsBundleThroughTheHook) {
    open_servers(3);
    const outcome o = apply(config_text(
        {{"app-1", server(0).port()}, {"app-2", server(1).port()}, {"app-3", server(2).port()}}, ""));
    EXPECT_EQ(o.calls, 1);
    EXPECT_TRUE(o.ok) << o.message;
    EXPECT_EQ(o.message, "placement built");
    ASSERT_EQ(published.size(), 1u);
    EXPECT_EQ(ctl.current(), published[0]);
    const auto& b = *published[0];
    ASSERT_EQ(b.routing->backends().size(), 3u);
    ASSERT_EQ(b.addresses.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        const std::string id = "app-" + std::to_string(i + 1);
        const std::size_t at = index_of(id);
        ASSERT_NE(at, chash::npos) << id;
        EXPECT_EQ(b.addresses[at], tcp::endpoint(asio::ip::make_address("127.0.0.1"), server(i).port()))
            << id;
        EXPECT_EQ(mode(id), backend_mode::up) << id;
    }
    EXPECT_EQ(b.routing->options().balance_factor, 0.0);
    EXPECT_EQ(b.routing->totals().panic.load(), panic_state::none);
}

TEST_F(Controller, AReloadThatOnlyMovesABackendKeepsTheRoutingSnapshot) {
    open_servers(4);  // server 3: where app-2 moves
    const std::string health = http_checks + "panic_threshold = 0\n";
    ASSERT_TRUE(
        apply(config_text(
                  {{"app-1", server(0).port()}, {"app-2", server(1).port()}, {"app-3", server(2).port()}},
                  health))
            .ok);
    ASSERT_TRUE(run_until([&] { return server(1).answered_with(200) >= 2; })) << "app-2 is checked";

    const outcome o = apply(config_text(
        {{"app-1", server(0).port()}, {"app-2", server(3).port()}, {"app-3", server(2).port()}}, health));
    EXPECT_TRUE(o.ok) << o.message;
    EXPECT_EQ(o.message, "placement unchanged");
    ASSERT_EQ(published.size(), 2u);
    EXPECT_EQ(published[1]->routing, published[0]->routing) << "the same snapshot: no ring rebuilt";
    EXPECT_GT(published[1]->generation, published[0]->generation);
    EXPECT_EQ(published[1]->addresses[index_of("app-2")].port(), server(3).port());
    EXPECT_EQ(published[1]->addresses[index_of("app-1")].port(), server(0).port());

    // The checks follow the backend to its new address and leave the old one alone.
    ASSERT_TRUE(run_until([&] { return server(3).answered_with(200) >= 2; }))
        << "app-2 checked at its new address";
    run_for(200ms);  // a check already under way at the old address may still land
    const int old_count = server(1).accepted();
    run_for(500ms);
    EXPECT_EQ(server(1).accepted(), old_count) << "the old address is no longer checked";
    EXPECT_EQ(mode("app-2"), backend_mode::up);
}

TEST_F(Controller, AddingOneBackendMergesTheRingAndSlowStartsIt) {
    open_servers(4);
    std::vector<backend_spec> three{
        {"app-1", server(0).port()}, {"app-2", server(1).port()}, {"app-3", server(2).port()}};
    ASSERT_TRUE(apply(config_text(three, "", "slow_start = \"30s\"\n")).ok);
    for (const char* id : {"app-1", "app-2", "app-3"}) EXPECT_EQ(mode(id), backend_mode::up) << "at start";
    const auto first = published.at(0);

    auto four = three;
    four.push_back({"app-4", server(3).port()});
    const outcome o = apply(config_text(four, "", "slow_start = \"30s\"\n"));
    EXPECT_TRUE(o.ok) << o.message;
    EXPECT_EQ(o.message.rfind("one backend added", 0), 0u) << o.message;
    ASSERT_EQ(published.size(), 2u);
    const auto& b = *published[1];
    EXPECT_NE(b.routing, first->routing);
    ASSERT_EQ(b.routing->backends().size(), 4u);
    for (const backend_spec& s : three) {
        const auto old = std::find_if(first->routing->backends().begin(), first->routing->backends().end(),
                                      [&](const ringlb::backend& be) { return be.id == s.id; });
        EXPECT_EQ(&state(s.id), old->state.get()) << s.id << " keeps its state object";
        EXPECT_EQ(mode(s.id), backend_mode::up) << s.id;
    }
    EXPECT_EQ(mode("app-4"), backend_mode::slow_start) << "a backend that joins later warms up";
    EXPECT_TRUE(logged("app-4: new -> slow-start")) << all_logs();
}

TEST_F(Controller, RequestsInARowCoalesceAndTheLastOneWins) {
    open_servers(7);
    const auto cfg = config(config_text(
        {{"app-1", server(0).port()}, {"app-2", server(1).port()}, {"app-3", server(2).port()}}, ""));
    ASSERT_TRUE(cfg);
    const auto extra = [&](const std::string& id, std::size_t s) {
        ringlb::backend_config b;
        b.id = id;
        b.address = {"127.0.0.1", server(s).port()};
        b.health = cfg->health.defaults;
        return b;
    };

    // Four requests before the loop runs at all.
    std::vector<outcome> done(4);
    ctl.apply(cfg, done[0].fn());
    ctl.store().put(extra("app-4", 3), ringlb::member_source::admin);
    ctl.changed(done[1].fn());
    ctl.store().put(extra("app-5", 4), ringlb::member_source::admin);
    ctl.changed(done[2].fn());
    ctl.store().set_state("app-1", ringlb::admin_state::drain, ringlb::member_source::admin);
    ctl.changed(done[3].fn());
    ASSERT_TRUE(run_until(
        [&] { return std::all_of(done.begin(), done.end(), [](const outcome& o) { return o.calls > 0; }); }));
    run_for(100ms);  // anything still queued
    EXPECT_EQ(published.size(), 1u) << "four requests, one publication";
    for (std::size_t i = 0; i < done.size(); ++i) {
        EXPECT_EQ(done[i].calls, 1) << "callback " << i;
        EXPECT_TRUE(done[i].ok) << "callback " << i << ": " << done[i].message;
    }
    ASSERT_EQ(ctl.current()->routing->backends().size(), 5u) << "the newest membership";
    EXPECT_EQ(mode("app-1"), backend_mode::draining);

    // A change that lands while a publication is being prepared (app-6's address being
    // resolved) makes it start over with the newest membership.
    outcome while_resolving, landed;
    ctl.store().put(extra("app-6", 5), ringlb::member_source::admin);
    ctl.changed(while_resolving.fn());
    if (io.stopped()) io.restart();
    io.run_one();  // the pass starts
    ctl.store().put(extra("app-7", 6), ringlb::member_source::admin);
    ctl.store().set_state("app-6", ringlb::admin_state::maintenance, ringlb::member_source::admin);
    ctl.changed(landed.fn());
    ASSERT_TRUE(run_until([&] { return while_resolving.calls > 0 && landed.calls > 0; }));
    run_for(100ms);
    EXPECT_EQ(published.size(), 2u) << "two more requests, one more publication";
    EXPECT_EQ(while_resolving.calls, 1);
    EXPECT_EQ(landed.calls, 1);
    EXPECT_TRUE(while_resolving.ok && landed.ok) << while_resolving.message << " / " << landed.message;
    EXPECT_EQ(ctl.current()->routing->backends().size(), 7u);
    EXPECT_EQ(mode("app-6"), backend_mode::maintenance);
    EXPECT_EQ(mode("app-7"), backend_mode::up) << "no slow start configured";
}

// slow_start of the config, and the mode a backend returns to from down.
class ControllerRecovery : public Controller,
                           public ::testing::WithParamInterface<std::pair<const char*, backend_mode>> {};

TEST_P(ControllerRecovery, AFailingHttpCheckTakesTheBackendDownAtFallAndBackAtRise) {
    const auto [slow_start, back_to] = GetParam();
    open_servers(2);
    const std::string health = http_checks + "rise = 2\nfall = 3\npanic_threshold = 0\n";
    const std::string routing = std::string{"slow_start = \""} + slow_start + "\"\n";
    ASSERT_TRUE(
        apply(config_text({{"app-1", server(0).port()}, {"app-2", server(1).port()}}, health, routing)).ok);
    ASSERT_TRUE(run_until([&] { return server(0).answered_with(200) >= 2; })) << "app-1 is checked";
    EXPECT_EQ(mode("app-1"), backend_mode::up);

    // Each check result is an answer of the fake backend, and the controller logs the
    // verdict change as it hears it: the answers given by then are the results it took.
    int failures_at_down = -1, successes_at_up = -1, successes_before = 0;
    on_log = [&](const std::string& line) {
        if (line.find("backend app-1 is down") != line.npos) failures_at_down = server(0).answered_with(503);
        if (line.find("backend app-1 is healthy again") != line.npos)
            successes_at_up = server(0).answered_with(200) - successes_before;
    };
    server(0).set_status(503);
    ASSERT_TRUE(wait_mode("app-1", backend_mode::down)) << all_logs();
    EXPECT_EQ(failures_at_down, 3) << "down at the fall-th failed check, not before";
    EXPECT_TRUE(logged("backend app-1 is down: status 503")) << all_logs();
    EXPECT_EQ(mode("app-2"), backend_mode::up) << "its neighbour is untouched";
    EXPECT_EQ(ctl.current()->routing->totals().out.load(), 1);

    successes_before = server(0).answered_with(200);
    server(0).set_status(200);
    ASSERT_TRUE(run_until([&] { return mode("app-1") != backend_mode::down; })) << all_logs();
    EXPECT_EQ(successes_at_up, 2) << "up at the rise-th passed check, not before";
    EXPECT_EQ(mode("app-1"), back_to);
    EXPECT_EQ(ctl.current()->routing->totals().out.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Controller, ControllerRecovery,
                         ::testing::Values(std::pair{"0s", backend_mode::up},
                                           std::pair{"30s", backend_mode::slow_start}),
                         [](const auto& p) {
                             return p.param.second == backend_mode::up ? std::string{"NoSlowStart"}
                                                                       : std::string{"SlowStart"};
                         });

TEST_F(Controller, ATcpCheckOfAClosedPortGoesDown) {
    open_servers(1);
    std::uint16_t closed = 0;
    {
        tcp::acceptor a{io, {asio::ip::make_address("127.0.0.1"), 0}};
        closed = a.local_endpoint().port();
    }  // closed again: connecting to it is refused
    const std::string health =
        "check = \"tcp\"\ninterval = \"50ms\"\nfast_interval = \"20ms\"\ndown_interval = \"50ms\"\n"
        "timeout = \"1s\"\nfall = 2\npanic_threshold = 0\n";
    ASSERT_TRUE(apply(config_text({{"app-1", closed}, {"app-2", server(0).port()}}, health)).ok);
    ASSERT_TRUE(wait_mode("app-1", backend_mode::down)) << all_logs();
    EXPECT_TRUE(logged("backend app-1 is down: connect")) << all_logs();
    ASSERT_TRUE(run_until([&] { return server(0).accepted() >= 3; })) << "app-2 is checked too";
    EXPECT_EQ(mode("app-2"), backend_mode::up) << "a listening port passes";
    EXPECT_EQ(server(0).answered_with(200), 0) << "a tcp check sends no request";
}

TEST_F(Controller, MaintenanceStopsTheChecks) {
    open_servers(3);
    const std::string health = http_checks + "panic_threshold = 0\n";
    const auto text = [&](const std::string& app1_state) {
        return config_text({{"app-1", server(0).port(), "state = \"" + app1_state + "\"\n"},
                            {"app-2", server(1).port()},
                            {"app-3", server(2).port(), "state = \"maintenance\"\n"}},
                           health);
    };
    ASSERT_TRUE(apply(text("ready")).ok);
    ASSERT_TRUE(run_until([&] { return server(0).answered_with(200) >= 3; })) << "app-1 is checked";
    EXPECT_EQ(mode("app-3"), backend_mode::maintenance);

    const outcome o = apply(text("maintenance"));
    EXPECT_TRUE(o.ok) << o.message;
    EXPECT_EQ(o.message, "placement unchanged") << "a state is no membership change";
    EXPECT_EQ(published.back()->routing, published.front()->routing);
    EXPECT_EQ(mode("app-1"), backend_mode::maintenance);
    run_for(200ms);  // a check already under way may still land
    const int app1 = server(0).accepted();
    const int app2 = server(1).accepted();
    run_for(600ms);
    EXPECT_EQ(server(0).accepted(), app1) << "no check of a backend in maintenance";
    EXPECT_GT(server(1).accepted(), app2 + 3) << "the others are still checked";
    EXPECT_EQ(server(2).accepted(), 0) << "in maintenance from the start: never checked";

    ASSERT_TRUE(apply(text("ready")).ok);
    ASSERT_TRUE(run_until([&] { return server(0).accepted() > app1 + 2; })) << "checks resume";
    EXPECT_EQ(mode("app-1"), backend_mode::up);
}

TEST_F(Controller, ABurstOfPassiveFailuresIsOneFailedResult) {
    open_servers(2);
    // app-1 goes down at one failed result, app-2 only at two in a row; both answer 200.
    const std::string health = http_checks + "rise = 2\npanic_threshold = 0\n";
    ASSERT_TRUE(apply(config_text({{"app-1", server(0).port(), "health = { fall = 1 }\n"},
                                   {"app-2", server(1).port(), "health = { fall = 2 }\n"}},
                                  health))
                    .ok);
    ASSERT_TRUE(
        run_until([&] { return server(0).answered_with(200) >= 1 && server(1).answered_with(200) >= 1; }));

    // What the data path records when client traffic fails: ten connect failures each.
    const auto now = steady_clock::now();
    for (int i = 0; i < 10; ++i) {
        state("app-1").record_failure(now);
        state("app-2").record_failure(now);
    }
    ASSERT_TRUE(wait_mode("app-1", backend_mode::down)) << all_logs();
    EXPECT_TRUE(logged("backend app-1 is down: client traffic failed in 1 check interval")) << all_logs();
    // app-2's next probes pass: the burst weighed one failure, and the streak is reset.
    const int seen = server(1).answered_with(200);
    ASSERT_TRUE(run_until([&] { return server(1).answered_with(200) >= seen + 3; }));
    EXPECT_EQ(mode("app-2"), backend_mode::up) << all_logs();
    EXPECT_FALSE(logged("backend app-2 is down")) << all_logs();
    // app-1's checks pass: it is back after `rise` of them.
    ASSERT_TRUE(wait_mode("app-1", backend_mode::up)) << all_logs();
}

// A backend whose checks pass while its clients keep failing (a /health that is fine, every
// real request a 500): `fall` intervals in a row with client failures take it down, and
// the passing checks in between do not wipe them out.
TEST_F(Controller, ClientFailuresInFallIntervalsInARowEjectABackendWhoseChecksPass) {
    open_servers(2);
    const std::string health = http_checks + "fall = 3\nrise = 2\npanic_threshold = 0\n";
    ASSERT_TRUE(apply(config_text({{"app-1", server(0).port()}, {"app-2", server(1).port()}}, health)).ok);
    ASSERT_TRUE(run_until([&] { return server(0).answered_with(200) >= 1; }));
    // The data path records a counted 5xx between every two checks.
    bool down = false;
    for (int interval = 0; interval < 20 && !down; ++interval) {
        state("app-1").record_error_status();
        const int seen = server(0).answered_with(200);
        ASSERT_TRUE(run_until(
            [&] { return server(0).answered_with(200) > seen || mode("app-1") == backend_mode::down; }));
        down = mode("app-1") == backend_mode::down;
    }
    EXPECT_TRUE(down) << all_logs();
    EXPECT_TRUE(logged("backend app-1 is down: client traffic failed in 3 check intervals in a row"))
        << all_logs();
    EXPECT_EQ(mode("app-2"), backend_mode::up);
    // Without traffic (it gets none while down) its passing checks bring it back.
    ASSERT_TRUE(wait_mode("app-1", backend_mode::up)) << all_logs();
}

TEST_F(Controller, ABackendsOwnHealthTableJudgesItsAnswers) {
    open_servers(4);  // every one answers 200 with the body "ok"
    const std::string health = http_checks + "fall = 1\npanic_threshold = 0\n";
    ASSERT_TRUE(apply(config_text({{"app-1", server(0).port(), "health = { expect_body = \"ok\" }\n"},
                                   {"app-2", server(1).port(), "health = { expect_body = \"ready\" }\n"},
                                   {"app-3", server(2).port(), "health = { expect_status = \"204\" }\n"},
                                   {"app-4", server(3).port(), "health = { expect_status = \"200,204\" }\n"}},
                                  health))
                    .ok);
    ASSERT_TRUE(wait_mode("app-2", backend_mode::down)) << all_logs();
    ASSERT_TRUE(wait_mode("app-3", backend_mode::down)) << all_logs();
    EXPECT_TRUE(logged("backend app-2 is down: body lacks \"ready\"")) << all_logs();
    EXPECT_TRUE(logged("backend app-3 is down: status 200")) << all_logs();
    ASSERT_TRUE(
        run_until([&] { return server(0).answered_with(200) >= 3 && server(3).answered_with(200) >= 3; }));
    EXPECT_EQ(mode("app-1"), backend_mode::up) << all_logs();
    EXPECT_EQ(mode("app-4"), backend_mode::up) << all_logs();
}

TEST_F(Controller, ACheckWithoutAnAnswerTimesOut) {
    open_servers(1);
    // Listens but never accepts: the connect completes in the kernel's backlog, the request
    // is sent, and no answer ever comes.
    tcp::acceptor silent{io, {asio::ip::make_address("127.0.0.1"), 0}};
    const std::string health = http_checks + "fall = 1\npanic_threshold = 0\n";
    ASSERT_TRUE(
        apply(config_text({{"app-1", silent.local_endpoint().port(), "health = { timeout = \"100ms\" }\n"},
                           {"app-2", server(0).port()}},
                          health))
            .ok);
    ASSERT_TRUE(wait_mode("app-1", backend_mode::down)) << all_logs();
    EXPECT_TRUE(logged("backend app-1 is down: timed out after 100ms")) << all_logs();
    ASSERT_TRUE(run_until([&] { return server(0).answered_with(200) >= 3; }));
    EXPECT_EQ(mode("app-2"), backend_mode::up);
}

TEST_F(Controller, SlowStartEndsInUpAfterItsWindow) {
    open_servers(4);
    const auto cfg = config(
        config_text({{"app-1", server(0).port()}, {"app-2", server(1).port()}, {"app-3", server(2).port()}},
                    "", "slow_start = \"300ms\"\n"));
    ASSERT_TRUE(cfg);
    outcome first;
    ctl.apply(cfg, first.fn());
    ASSERT_TRUE(run_until([&] { return first.calls > 0; }));

    ringlb::backend_config joining;
    joining.id = "app-4";
    joining.address = {"127.0.0.1", server(3).port()};
    joining.health = cfg->health.defaults;
    const auto asked = steady_clock::now();
    ctl.store().put(joining, ringlb::member_source::admin);
    outcome added;
    ctl.changed(added.fn());
    ASSERT_TRUE(run_until([&] { return added.calls > 0; }));
    EXPECT_TRUE(added.ok) << added.message;
    EXPECT_EQ(mode("app-4"), backend_mode::slow_start);
    EXPECT_EQ(state("app-4").ramp_window(), steady_clock::duration{300ms}.count());
    ASSERT_TRUE(wait_mode("app-4", backend_mode::up)) << all_logs();
    EXPECT_GE(steady_clock::now() - asked, 300ms) << "not before the window is over";
    EXPECT_TRUE(logged("backend app-4: slow-start -> up")) << all_logs();
}

TEST_F(Controller, DrainRunsTheDrainWindowAndReadyRunsSlowStart) {
    open_servers(3);
    const std::string routing = "slow_start = \"20s\"\ndrain_window = \"10s\"\n";
    const auto text = [&](const std::string& app2_state) {
        return config_text({{"app-1", server(0).port()},
                            {"app-2", server(1).port(), "state = \"" + app2_state + "\"\n"},
                            {"app-3", server(2).port()}},
                           "", routing);
    };
    ASSERT_TRUE(apply(text("ready")).ok);
    EXPECT_EQ(mode("app-2"), backend_mode::up) << "at start, no slow start";

    const outcome drained = apply(text("drain"));
    EXPECT_TRUE(drained.ok) << drained.message;
    EXPECT_EQ(published.back()->routing, published.front()->routing) << "a state is no membership change";
    EXPECT_EQ(mode("app-2"), backend_mode::draining);
    EXPECT_EQ(state("app-2").ramp_window(), steady_clock::duration{10s}.count());
    EXPECT_TRUE(logged("backend app-2: up -> draining (its keys leave over 10s)")) << all_logs();
    EXPECT_EQ(ctl.current()->routing->totals().out.load(), 0) << "inside its window it still takes keys";
    EXPECT_FALSE(ctl.panicking()) << "draining is the operator's choice, not a failure";

    ASSERT_TRUE(apply(text("ready")).ok);
    EXPECT_EQ(mode("app-2"), backend_mode::slow_start) << "back in service through slow start";
    EXPECT_EQ(state("app-2").ramp_window(), steady_clock::duration{20s}.count());
    // Ready at once: it still had every key, so its slow start continues from there.
    EXPECT_TRUE(
        logged("backend app-2: draining -> slow-start (its keys arrive over 20s, 100% there already)"))
        << all_logs();
    EXPECT_EQ(ctl.current()->routing->totals().out.load(), 0);
}

TEST_F(Controller, ABackendCountsOutOfTheCapOnceItsDrainWindowIsOver) {
    open_servers(3);
    const auto text = [&](const std::string& app2_state) {
        return config_text({{"app-1", server(0).port()},
                            {"app-2", server(1).port(), "state = \"" + app2_state + "\"\n"},
                            {"app-3", server(2).port()}},
                           "", "drain_window = \"300ms\"\n");
    };
    ASSERT_TRUE(apply(text("ready")).ok);
    const auto asked = steady_clock::now();
    ASSERT_TRUE(apply(text("drain")).ok);
    EXPECT_EQ(ctl.current()->routing->totals().out.load(), 0);
    // A passive failure while it drains counts it down (it still takes keys)...
    state("app-2").record_failure(steady_clock::now());
    EXPECT_EQ(ctl.current()->routing->totals().down.load(), 1);
    // ...until the window ends: then it is out, and counted once.
    ASSERT_TRUE(run_until([&] { return ctl.current()->routing->totals().out.load() == 1; })) << all_logs();
    EXPECT_GE(steady_clock::now() - asked, 300ms);
    EXPECT_EQ(ctl.current()->routing->totals().down.load(), 0) << "out and down at once";
    EXPECT_FALSE(state("app-2").keeps_connections(steady_clock::now()));
}

TEST_F(Controller, StopEndsTheChecksAndLetsTheLoopRunOutOfWork) {
    open_servers(2);
    ASSERT_TRUE(apply(config_text({{"app-1", server(0).port()}, {"app-2", server(1).port()}},
                                  http_checks + "panic_threshold = 0\n", "slow_start = \"30s\"\n"))
                    .ok);
    ASSERT_TRUE(
        run_until([&] { return server(0).answered_with(200) >= 2 && server(1).answered_with(200) >= 2; }));
    ctl.stop();
    for (auto& s : servers) s->close();
    io.restart();
    const auto t = steady_clock::now();
    io.run_for(3s);  // returns early once nothing is left to wait for
    EXPECT_TRUE(io.stopped()) << "something still waits after stop()";
    EXPECT_LT(steady_clock::now() - t, 3s);
}

class ControllerPanic : public Controller, public ::testing::WithParamInterface<panic_state> {};

TEST_P(ControllerPanic, TooFewHealthyBackendsSetThePoolsPanicState) {
    const panic_state expected = GetParam();
    open_servers(4);
    const std::string health = http_checks + "rise = 1\nfall = 1\npanic_threshold = 0.5\npanic = \"" +
                               (expected == panic_state::fail_open ? "fail-open" : "fail-closed") + "\"\n";
    std::vector<backend_spec> specs;
    for (std::size_t i = 0; i < 4; ++i) specs.push_back({"app-" + std::to_string(i + 1), server(i).port()});
    ASSERT_TRUE(apply(config_text(specs, health)).ok);
    const auto routing = [&]() -> const ringlb::routing_snapshot& { return *ctl.current()->routing; };

    // Two of four down: half pass their checks, which is not fewer than half.
    server(0).set_status(503);
    server(1).set_status(503);
    ASSERT_TRUE(wait_mode("app-1", backend_mode::down) && wait_mode("app-2", backend_mode::down))
        << all_logs();
    EXPECT_EQ(routing().totals().panic.load(), panic_state::none);
    EXPECT_FALSE(ctl.panicking());
    EXPECT_FALSE(logged("panic")) << all_logs();
    EXPECT_EQ(routing().totals().out.load(), 2);

    // Three of four down: panic.
    server(2).set_status(503);
    ASSERT_TRUE(wait_mode("app-3", backend_mode::down)) << all_logs();
    EXPECT_EQ(routing().totals().panic.load(), expected);
    EXPECT_TRUE(ctl.panicking());
    EXPECT_TRUE(logged("panic: 1 of 4 backends healthy")) << all_logs();
    // A key app-1 owns: fail-open sends it there anyway, fail-closed selects nothing.
    const std::size_t app1 = index_of("app-1");
    std::uint64_t h = 0;
    for (int k = 0; k < 100000; ++k) {
        h = routing().hash_key("key-" + std::to_string(k));
        if (routing().algorithm().pick_hashed(h) == app1) break;
    }
    ASSERT_EQ(routing().algorithm().pick_hashed(h), app1);
    const auto chosen = routing().select(h, {}, steady_clock::now());
    if (expected == panic_state::fail_open) {
        EXPECT_EQ(chosen, app1) << "fail-open: every key goes to its owner, down or not";
    } else {
        EXPECT_EQ(chosen, chash::npos) << "fail-closed: nothing is selected";
    }

    // One back: two of four healthy again, the panic is over.
    server(0).set_status(200);
    ASSERT_TRUE(wait_mode("app-1", backend_mode::up)) << all_logs();
    EXPECT_EQ(routing().totals().panic.load(), panic_state::none);
    EXPECT_FALSE(ctl.panicking());
    EXPECT_TRUE(logged("panic over: 2 of 4 backends healthy")) << all_logs();
    EXPECT_EQ(routing().select(h, {}, steady_clock::now()), app1) << "app-1 is up: its key is back";
}

INSTANTIATE_TEST_SUITE_P(Controller, ControllerPanic,
                         ::testing::Values(panic_state::fail_open, panic_state::fail_closed),
                         [](const auto& p) {
                             return p.param == panic_state::fail_open ? std::string{"FailOpen"}
                                                                      : std::string{"FailClosed"};
                         });

}  // namespace
