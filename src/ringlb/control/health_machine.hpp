// ringlb/control/health_machine.hpp: one backend's health verdict from a stream of results.
//
//   ringlb::health_machine m{.rise = 2, .fall = 3};
//   if (m.observe(false)) log("down");      // true when the verdict changed
//   auto next = m.next_delay(cfg);          // interval, fast_interval or down_interval
//
// Up until `fall` consecutive failures, then down until `rise` consecutive successes; a
// result that agrees with the verdict resets the count toward the other one. Active check
// results and passive observations from client traffic feed the same verdict, so a backend
// has one health state, but they are counted apart: a backend that answers its checks and
// fails its clients (a /health that is fine, every real request a 500) must not have each
// passing check wipe out the failures its traffic shows. So passive observations count per
// check interval: `fall` intervals in a row in which client traffic saw failures take an
// up backend down (outlier ejection), whatever the checks said meanwhile; an interval
// without failures resets that count. Coming back takes `rise` passing checks, as always;
// traffic then tests it again. A backend starts up (as HAProxy's do): traffic is not held
// back from a pool nobody has checked yet, and the data path's passive back-off covers the
// first seconds of a backend that is in fact dead.
//
// Thread-safety: none; the control thread owns it.
#pragma once

#include "ringlb/config/config.hpp"

namespace ringlb {

class health_machine {
public:
    health_machine() = default;
    health_machine(unsigned rise, unsigned fall) noexcept : rise_{rise}, fall_{fall} {}

    [[nodiscard]] bool up() const noexcept { return up_; }
    /// Whether results are counting toward a change of verdict.
    [[nodiscard]] bool changing() const noexcept { return streak_ > 0 || passive_streak_ > 0; }
    void set_thresholds(unsigned rise, unsigned fall) noexcept {
        rise_ = rise;
        fall_ = fall;
    }

    /// Feeds one result; true when it changed the verdict.
    bool observe(bool ok) noexcept {
        if (ok == up_) {
            streak_ = 0;
            return false;
        }
        if (++streak_ < (up_ ? fall_ : rise_)) return false;
        up_ = !up_;
        streak_ = 0;
        return true;
    }

    /// Feeds one check interval of client traffic: whether it saw failures. True when it
    /// changed the verdict (only ever to down: traffic cannot vouch for a down backend,
    /// which gets none).
    bool observe_passive(bool failed) noexcept {
        if (!failed || !up_) {
            passive_streak_ = 0;
            return false;
        }
        if (++passive_streak_ < fall_) return false;
        up_ = false;
        streak_ = 0;
        passive_streak_ = 0;
        return true;
    }

    /// How long to wait before the next check: faster while a change is under way,
    /// slower while down.
    [[nodiscard]] duration next_delay(const health_check_config& c) const noexcept {
        if (changing()) return c.fast_interval;
        return up_ ? c.interval : c.down_interval;
    }

private:
    unsigned rise_ = 2;
    unsigned fall_ = 3;
    unsigned streak_ = 0;          // active results against the verdict, in a row
    unsigned passive_streak_ = 0;  // intervals with client failures, in a row, while up
    bool up_ = true;
};

}  // namespace ringlb
