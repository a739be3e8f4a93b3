#include "ringlb/control/controller.hpp"

#include "ringlb/config/values.hpp"
#include "ringlb/control/bundle_builder.hpp"
#include "ringlb/lb/placement_diff.hpp"

#include <asio/post.hpp>

#include <algorithm>
#include <cstdio>

namespace ringlb {

namespace {

std::string_view describe(placement_change c) noexcept {
    switch (c) {
        case placement_change::first:
            return "placement built";
        case placement_change::none:
            return "placement unchanged";
        case placement_change::added_one:
            return "one backend added (ring merged, not rebuilt)";
        case placement_change::removed_one:
            return "one backend removed (ring trimmed, not rebuilt)";
        case placement_change::rebuilt:
            return "placement rebuilt";
    }
    return "?";
}

constexpr std::size_t kept_events = 100;
constexpr std::size_t kept_checks = 20;

std::string percent(double share) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.0f%%", share * 100.0);
    return buf;
}

}  // namespace

controller::controller(asio::io_context& io, hooks h)
    : io_{io}, hooks_{std::move(h)}, resolver_{io, timeouts_config{}.resolve}, ramp_timer_{io}, zone_timer_{io}, base_retry_{io} {}

void controller::arm_zone_timer() {
    // The data path's back-offs change a zone's healthy weight without telling anyone: look
    // again every second.
    zone_timer_.expires_after(std::chrono::seconds{1});
    zone_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || stopped_ || !current_ || current_->routing->zones().empty()) return;
        current_->routing->update_zone_split(steady_clock::now());
        arm_zone_timer();
    });
}

void controller::apply(std::shared_ptr<const config> cfg, done_fn done) {
    // TLS files are read once per config (start, reload), not per membership change, and
    // checked before anything changes: a bad one fails the reload and the running
    // certificates serve on.
    std::shared_ptr<const tls_server_context> tls;
    if (cfg->tls.enabled()) {
        std::string error;
        tls = tls_server_context::build(cfg->tls, error);
        if (!tls) {
            if (done) asio::post(io_, [done = std::move(done), error] { done(false, error); });
            return;
        }
    }
    next_tls_ = std::move(tls);
    next_cfg_ = std::move(cfg);
    resolver_.set_timeout(next_cfg_->timeouts.resolve);
    // A reload looks every name up again: those looked up before it are stale. Names looked
    // up by the passes already running for earlier changes count as fresh, so reloads that
    // come faster than DNS answers still end in a publication.
    fresh_chain_ = pass_running_ ? chain_ : chain_ + 1;
    if (next_cfg_->membership.source == membership_source_kind::etcd)
        store_.set_file(base_, next_cfg_->health.defaults, member_source::etcd);
    else
        store_.set_file(next_cfg_->backends, next_cfg_->health.defaults);
    request(std::move(done));
}

void controller::changed(done_fn done) {
    request(std::move(done));
}

void controller::set_base(std::vector<backend_config> backends, std::string tag) {
    base_ = std::move(backends);
    base_tag_ = std::move(tag);
    const config* c = next_cfg_ ? next_cfg_.get() : nullptr;
    store_.set_file(base_, c != nullptr ? c->health.defaults : health_check_config{}, member_source::etcd);
    base_retry_.cancel();
    if (c != nullptr) publish_base();  // before the first apply(), that apply publishes it
}

void controller::publish_base() {
    // A membership etcd gave that cannot be published (a name that does not resolve, no
    // positive weight) leaves the running one in place: said, and tried again, since a
    // name may resolve later. The registration shows this instance behind meanwhile.
    request([this](bool ok, const std::string& why) {
        if (ok || stopped_) return;
        hooks_.log("membership from etcd not published (the running one stays; again in 5 s): " + why);
        note("membership", "not published: " + why);
        base_retry_.expires_after(std::chrono::seconds{5});
        base_retry_.async_wait([this](const asio::error_code& ec) {
            if (!ec && !stopped_) publish_base();
        });
    });
}

void controller::request(done_fn done) {
    if (stopped_) {
        // Shutting down: nothing is published any more, and nobody may wait for it.
        if (done) asio::post(io_, [done = std::move(done)] { done(false, "shutting down"); });
        return;
    }
    if (done) waiting_.push_back(std::move(done));
    ++wanted_;
    if (!pass_running_) {
        pass_running_ = true;
        ++chain_;
        asio::post(io_, [this] { start_pass(); });
    }
}

void controller::start_pass() {
    pass_ = wanted_;
    resolve_error_.clear();
    resolving_ = 0;
    std::vector<std::pair<std::string, endpoint>> lookups;
    for (const member& m : store_.members()) {
        std::string key = to_string(m.backend.address);
        if (const auto it = resolved_.find(key); it != resolved_.end() && it->second.chain >= fresh_chain_)
            continue;
        if (std::any_of(lookups.begin(), lookups.end(), [&](const auto& l) { return l.first == key; }))
            continue;
        lookups.emplace_back(std::move(key), m.backend.address);
    }
    if (lookups.empty()) {
        resolved();
        return;
    }
    resolving_ = lookups.size();
    for (auto& [key, at] : lookups) {
        resolver_.resolve(at, [this, key = key](const resolve_result& r) {
            if (r.ok)
                resolved_[key] = resolved_address{r.address, chain_};
            else if (resolve_error_.empty())
                resolve_error_ = r.error;
            if (--resolving_ == 0) resolved();
        });
    }
}

void controller::resolved() {
    if (stopped_) return;
    if (wanted_ != pass_) {
        start_pass();  // the membership changed meanwhile: the newest one wins
        return;
    }
    if (!resolve_error_.empty()) {
        finish_pass(false, resolve_error_);
        return;
    }
    const auto& members = store_.members();
    std::vector<asio::ip::tcp::endpoint> addresses;
    addresses.reserve(members.size());
    for (const member& m : members) addresses.push_back(resolved_.at(to_string(m.backend.address)).address);
    std::erase_if(resolved_, [&](const auto& entry) {  // forget the names no member has any more
        return std::none_of(members.begin(), members.end(),
                            [&](const member& m) { return to_string(m.backend.address) == entry.first; });
    });
    std::string error;
    placement_change how{};
    auto b = build_bundle(*next_cfg_, members, addresses, current_.get(), error, &how);
    if (!b) {
        finish_pass(false, error);
        return;
    }
    b->tls = next_tls_;
    cfg_ = next_cfg_;
    tls_ = next_tls_;
    sync_tracked(*b);
    std::optional<double> moved;
    if (current_ && how != placement_change::none && how != placement_change::first)
        moved = moved_share(*current_->routing, *b->routing);
    current_ = b;
    published_base_tag_ = base_tag_;  // the store held exactly that base when b was built
    update_modes();  // new backends get their mode before any worker can pick them
    if (!current_->routing->zones().empty()) arm_zone_timer();
    published_once_ = true;
    hooks_.publish(b);
    if (moved) {
        last_moved_ = moved;
        note("membership",
             std::string{describe(how)} + ": " + std::to_string(b->routing->backends().size()) +
                 " backends, generation " + std::to_string(b->generation),
             moved);
    }
    finish_pass(true, std::string{describe(how)});
}

void controller::finish_pass(bool ok, const std::string& message) {
    pass_running_ = false;
    if (!ok && cfg_ && next_cfg_ != cfg_) {
        // A config that could not be published is not half applied: the running one's
        // backends are the file layer again.
        next_cfg_ = cfg_;
        next_tls_ = tls_;  // and its certificates, not the failed config's
        if (cfg_->membership.source == membership_source_kind::file)
            store_.set_file(cfg_->backends, cfg_->health.defaults);
    }
    auto callbacks = std::move(waiting_);
    waiting_.clear();
    for (auto& f : callbacks) f(ok, message);
}

void controller::sync_tracked(const bundle& b) {
    const auto backends = b.routing->backends();
    for (auto it = tracked_.begin(); it != tracked_.end();) {
        const bool kept = std::any_of(backends.begin(), backends.end(),
                                      [&](const backend& be) { return be.id == it->first; });
        if (kept) {
            ++it;
            continue;
        }
        if (it->second.checker) it->second.checker->stop();
        it = tracked_.erase(it);
    }
    for (std::size_t i = 0; i < backends.size(); ++i) {
        const backend& be = backends[i];
        const member* m = store_.find(be.id);
        tracked& t = tracked_[be.id];
        t.state = be.state;
        t.admin = m != nullptr ? m->backend.state : admin_state::ready;
        const bool settings_changed = t.check != (m != nullptr ? m->backend.health : health_check_config{}) ||
                                      t.address != b.addresses[i];
        if (m != nullptr) t.check = m->backend.health;
        t.address = b.addresses[i];
        t.state->set_count_5xx(t.check.passive_5xx);
        sync_checker(be.id, t, settings_changed);
    }
}

void controller::sync_checker(const std::string& id, tracked& t, bool settings_changed) {
    const bool wanted = t.check.check != check_kind::none && t.admin != admin_state::maintenance && !stopped_;
    if (!wanted) {
        if (t.checker) t.checker->stop();
        t.checker.reset();
        t.health.up = true;  // no verdict without checks: the passive back-off alone
        t.health.check = t.check.check;
        return;
    }
    if (!t.checker) {
        t.checker = health_checker::start(io_, id, t.address, t.check, t.state,
                                          [this](const check_report& r) { on_report(r); });
        t.health.up = true;
        t.health.check = t.check.check;
    } else if (settings_changed) {
        t.checker->update(t.address, t.check);
        t.health.check = t.check.check;
    }
}

void controller::on_report(const check_report& r) {
    const auto it = tracked_.find(r.id);
    if (it == tracked_.end()) return;
    backend_health& h = it->second.health;
    if (!r.passive) ++(r.ok ? h.passed : h.failed);
    h.history.push_back({std::chrono::system_clock::now(), r.ok, r.passive, r.detail});
    while (h.history.size() > kept_checks) h.history.pop_front();
    if (!r.changed) return;
    h.up = r.up;
    h.detail = r.detail;
    std::string line;
    if (r.up)
        line = "backend " + r.id + " is healthy again (" + std::to_string(it->second.check.rise) +
               " checks passed)";
    else if (r.passive)
        line = "backend " + r.id + " is down: " + r.detail;
    else
        line = "backend " + r.id + " is down: " + r.detail + " (" + std::to_string(it->second.check.fall) +
               " checks failed)";
    hooks_.log(line);
    note("health", line);
    update_modes();
}

void controller::update_modes() {
    if (!current_ || !cfg_) return;
    const auto now = steady_clock::now();
    const auto slow_start = std::chrono::duration_cast<steady_clock::duration>(cfg_->routing.slow_start);
    const auto drain_window = std::chrono::duration_cast<steady_clock::duration>(cfg_->routing.drain_window);
    std::size_t counted = 0;
    std::size_t healthy = 0;
    for (const backend& be : current_->routing->backends()) {
        tracked& t = tracked_.at(be.id);
        const bool was_serving =
            t.mode ? (*t.mode == backend_mode::up || *t.mode == backend_mode::slow_start) : !published_once_;
        backend_mode want = backend_mode::up;
        if (t.admin == admin_state::maintenance) {
            want = backend_mode::maintenance;
        } else if (t.admin == admin_state::drain) {
            want = backend_mode::draining;
        } else if (!t.health.up) {
            want = backend_mode::down;
        } else if (!was_serving) {
            if (slow_start.count() > 0) want = backend_mode::slow_start;
        } else if (t.mode == backend_mode::slow_start) {
            // The ramp set when it began (a reload that changes routing.slow_start applies to
            // the next one).
            const backend_state::mode_view v = t.state->view();
            if (now.time_since_epoch().count() < v.ramp_start + v.ramp_window)
                want = backend_mode::slow_start;
        }
        if (!t.mode || want != *t.mode) {
            const auto window = want == backend_mode::slow_start ? slow_start
                                : want == backend_mode::draining ? drain_window
                                                                 : steady_clock::duration{0};
            // A backend that just joined starts its ramp from nothing; one that switches
            // mid-ramp continues from the keys it has.
            t.state->set_mode(
                want, now, window,
                t.mode ? backend_state::ramp_from::current : backend_state::ramp_from::beginning);
            if (t.mode || want != backend_mode::up) log_mode_change(be.id, t.mode, want, *t.state, now);
            t.mode = want;
        }
        if (be.weight == 0 || t.admin != admin_state::ready) continue;  // an operator's choice is no failure
        ++counted;
        if (want == backend_mode::up || want == backend_mode::slow_start) ++healthy;
    }
    // Panic: too few of the backends the operator wants in service pass their checks.
    const double threshold = cfg_->health.panic_threshold;
    const bool panic = counted > 0 && threshold > 0 &&
                       static_cast<double>(healthy) < threshold * static_cast<double>(counted);
    const panic_state next = !panic                                        ? panic_state::none
                             : cfg_->health.panic == panic_mode::fail_open ? panic_state::fail_open
                                                                           : panic_state::fail_closed;
    if (next != panic_) {
        std::string line;
        if (next == panic_state::none)
            line = "panic over: " + std::to_string(healthy) + " of " + std::to_string(counted) +
                   " backends healthy";
        else
            line = "panic: " + std::to_string(healthy) + " of " + std::to_string(counted) +
                   " backends healthy, below health.panic_threshold " + percent(threshold) + "; " +
                   (next == panic_state::fail_open ? "fail-open: every key goes to its owner, down or not"
                                                   : "fail-closed: requests are answered 503");
        if (panic_ == panic_state::none) ++panic_entries_;
        hooks_.log(line);
        note("panic", line);
        panic_ = next;
    }
    // Bounded loads divide the load among the backends that take keys: count the others
    // once (backend_state::set_counted_out), and look again when a ramp ends.
    std::int32_t out = 0;
    std::optional<steady_clock::time_point> next_ramp_end;
    for (const backend& be : current_->routing->backends()) {
        const bool takes = be.state->takes_keys(now, panic_);
        be.state->set_counted_out(be.weight > 0 && !takes);
        if (be.weight > 0 && !takes) ++out;
        const backend_state::mode_view v = be.state->view();
        if (v.mode != backend_mode::slow_start && v.mode != backend_mode::draining) continue;
        const steady_clock::time_point end{steady_clock::duration{v.ramp_start + v.ramp_window}};
        if (end > now) next_ramp_end = std::min(next_ramp_end.value_or(end), end);
    }
    current_->routing->set_pool_health(out, panic_);
    current_->routing->update_zone_split(now);
    if (next_ramp_end) arm_ramp_timer(*next_ramp_end);
}

void controller::log_mode_change(const std::string& id, std::optional<backend_mode> was,
                                 backend_mode now_mode, const backend_state& state,
                                 steady_clock::time_point now) {
    std::string line = "backend " + id + ": " + std::string{was ? to_string(*was) : "new"} + " -> " +
                       std::string{to_string(now_mode)};
    const double share = static_cast<double>(state.admitted_span(now) >> 32) / 4294967296.0;
    if (now_mode == backend_mode::slow_start) {
        line += " (its keys arrive over " + format_duration(cfg_->routing.slow_start);
        if (share > 0) line += ", " + percent(share) + " there already";
        line += ")";
    } else if (now_mode == backend_mode::draining && cfg_->routing.drain_window.count() > 0) {
        line += " (its keys leave over " + format_duration(cfg_->routing.drain_window);
        if (share < 1) line += ", " + percent(share) + " still there";
        line += ")";
    }
    hooks_.log(line);
    note("mode", line);
}

void controller::note(std::string kind, std::string text, std::optional<double> moved) {
    events_.push_back({std::chrono::system_clock::now(), std::move(kind), std::move(text), moved});
    while (events_.size() > kept_events) events_.pop_front();
}

void controller::note_reload(bool ok, const std::string& text) {
    ++(ok ? reloads_ok_ : reloads_failed_);
    note("reload", text);
}

const backend_health* controller::health(std::string_view id) const noexcept {
    const auto it = tracked_.find(id);
    return it != tracked_.end() ? &it->second.health : nullptr;
}

void controller::arm_ramp_timer(steady_clock::time_point at) {
    ramp_timer_.expires_at(at);
    ramp_timer_.async_wait([this](const asio::error_code& ec) {
        if (!ec && !stopped_) update_modes();
    });
}

void controller::stop() {
    stopped_ = true;
    base_retry_.cancel();
    resolver_.cancel_all();
    // A pass in progress ends here: whoever waits for it hears so (an admin request
    // awaiting its publication must not keep the loop alive).
    pass_running_ = false;
    auto callbacks = std::move(waiting_);
    waiting_.clear();
    for (auto& f : callbacks) asio::post(io_, [f = std::move(f)] { f(false, "shutting down"); });
    for (auto& [id, t] : tracked_) {
        if (t.checker) t.checker->stop();
        t.checker.reset();
    }
    ramp_timer_.cancel();
    zone_timer_.cancel();
}

}  // namespace ringlb
