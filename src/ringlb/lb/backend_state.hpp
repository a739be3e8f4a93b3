// ringlb/lb/backend_state.hpp: per-backend state shared by every worker and every snapshot.
//
//   auto totals = std::make_shared<ringlb::load_totals>();
//   auto st = std::make_shared<ringlb::backend_state>("app-1", totals);
//   if (st->eligible(now)) { st->begin_request(); ...; st->end_request(); }
//   st->record_failure(now);     // connect refused: down for 1s, 2s, 4s ... 30s
//   st->record_success();        // an answer: up again, back-off reset
//   st->set_mode(backend_mode::slow_start, now, 60s);   // control thread only
//   if (st->admits(handover_hash(h), now, panic)) ...   // selection
//
// Health never rebuilds the ring: selection skips a backend that is down, so its keys go to
// their next candidates and come back unchanged when it answers again. The state outlives
// reloads for a backend whose id stays (the control thread hands the same object to the new
// snapshot), so a reload neither forgets a failure nor zeroes in-flight counts.
//
// Two kinds of health meet here. The passive back-off (record_failure) is written by any
// worker the moment real traffic fails, and skips the backend for a growing back-off. The
// mode (up, slow start, draining, maintenance, down) is the control thread's verdict: the
// active checks' state machine, the operator's state, and the ramps of slow start and drain
// windows (lb/ramp.hpp); workers only read it.
//
// Thread-safety: all members are atomics: counters relaxed, written by any worker; the mode
// and its ramp written by the control thread only, the mode last with release order and
// read first with acquire, so a reader that sees a mode sees its ramp. `id` is immutable.
// Each object sits on its own cache line pair so workers bumping counters of different
// backends do not false-share.
#pragma once

#include "ringlb/lb/ramp.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ringlb {

using steady_clock = std::chrono::steady_clock;

/// The control thread's verdict on a backend, as selection applies it.
enum class backend_mode : std::uint8_t {
    up,           ///< takes its keys
    slow_start,   ///< takes the keys its ramp has reached; the rest stay with their next candidate
    draining,     ///< takes no new keys (or, in a drain window, those its ramp has not reached)
    maintenance,  ///< takes nothing; not checked
    down,         ///< failed its checks; takes nothing unless the pool panics open
};

/// "up", "slow-start", ... for logs.
[[nodiscard]] constexpr std::string_view to_string(backend_mode m) noexcept {
    switch (m) {
        case backend_mode::up:
            return "up";
        case backend_mode::slow_start:
            return "slow-start";
        case backend_mode::draining:
            return "draining";
        case backend_mode::maintenance:
            return "maintenance";
        case backend_mode::down:
            return "down";
    }
    return "?";
}

/// What selection does about health when few backends are healthy (set by the control
/// thread on load_totals::panic).
enum class panic_state : std::uint8_t {
    none,         ///< health verdicts apply
    fail_open,    ///< verdicts of `down` are ignored: every key goes to its owner
    fail_closed,  ///< nothing is selected: requests get 503
};

/// Pool-wide sums that bounded loads needs on every keyed request, kept up to date by the
/// backend_states that share it, so a selection reads two counters instead of scanning
/// every backend. `down` counts backends with a failure not yet cleared by an answer; the
/// control thread recounts it exactly when it publishes a snapshot (a backend removed while
/// down would otherwise leave it off by one until the next reload).
///
/// Thread-safety: relaxed atomics, written by every worker; each on its own cache line.
struct load_totals {
    alignas(64) std::atomic<std::uint64_t> in_flight{0};
    alignas(64) std::atomic<std::int32_t> down{0};  // signed: a stale decrement may dip below 0
    /// Weighted backends whose mode takes no new keys (down, draining, maintenance), and
    /// the pool's panic state; both set by the control thread, read by every selection.
    std::atomic<std::int32_t> out{0};
    std::atomic<panic_state> panic{panic_state::none};
};

class alignas(128) backend_state {
public:
    /// First back-off after a failure; doubles per consecutive failure up to max_backoff.
    static constexpr std::chrono::milliseconds base_backoff{1000};
    static constexpr std::chrono::milliseconds max_backoff{30000};

    backend_state(std::string backend_id, std::shared_ptr<load_totals> totals)
        : id{std::move(backend_id)}, totals_{std::move(totals)} {}

    const std::string id;  ///< the backend's stable identity

    /// Whether selection may use the backend now (not inside a failure back-off).
    [[nodiscard]] bool eligible(steady_clock::time_point now) const noexcept {
        return down_until_.load(std::memory_order_relaxed) <= now.time_since_epoch().count();
    }
    /// Requests currently assigned to the backend, over all workers.
    [[nodiscard]] std::uint64_t in_flight() const noexcept {
        return in_flight_.load(std::memory_order_relaxed);
    }
    void begin_request() noexcept {
        in_flight_.fetch_add(1, std::memory_order_relaxed);
        totals_->in_flight.fetch_add(1, std::memory_order_relaxed);
    }
    void end_request() noexcept {
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        totals_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    }

    /// A connect failure or a reset before any response byte: down for the back-off.
    void record_failure(steady_clock::time_point now) noexcept {
        passive_events_.fetch_add(1, std::memory_order_relaxed);
        const std::uint32_t n = failures_.fetch_add(1, std::memory_order_relaxed);
        if (n == 0) totals_->down.fetch_add(1, std::memory_order_relaxed);
        const auto backoff = std::min(max_backoff, base_backoff * (std::int64_t{1} << std::min(n, 5u)));
        down_until_.store((now + backoff).time_since_epoch().count(), std::memory_order_relaxed);
    }
    /// An answer from the backend: clears the back-off. Reads first so the common case
    /// (already healthy) does not dirty a line every worker reads.
    void record_success() noexcept {
        if (failures_.load(std::memory_order_relaxed) != 0 &&
            failures_.exchange(0, std::memory_order_relaxed) != 0) {
            down_until_.store(0, std::memory_order_relaxed);
            totals_->down.fetch_sub(1, std::memory_order_relaxed);
        }
    }
    /// Consecutive failures so far (0 when healthy).
    [[nodiscard]] std::uint32_t failures() const noexcept {
        return failures_.load(std::memory_order_relaxed);
    }
    /// A 5xx answer, when [health] passive_5xx counts it: no back-off, one event for the
    /// control thread's state machine.
    void record_error_status() noexcept { passive_events_.fetch_add(1, std::memory_order_relaxed); }
    /// Failures and counted 5xx seen by the data path so far (monotonic), for the control
    /// thread to feed its state machine.
    [[nodiscard]] std::uint64_t passive_events() const noexcept {
        return passive_events_.load(std::memory_order_relaxed);
    }

    // --- the mode: written by the control thread, read by selection ---

    /// Sets the mode; `since` starts its ramp (slow start, drain window) of `window`.
    void set_mode(backend_mode m, steady_clock::time_point since, steady_clock::duration window) noexcept {
        ramp_start_.store(since.time_since_epoch().count(), std::memory_order_relaxed);
        ramp_window_.store(window.count(), std::memory_order_relaxed);
        if (m != backend_mode::up && m != backend_mode::slow_start)
            left_at_.store(since.time_since_epoch().count(), std::memory_order_relaxed);
        mode_.store(m, std::memory_order_release);
    }
    [[nodiscard]] backend_mode mode() const noexcept { return mode_.load(std::memory_order_acquire); }
    /// When the last ramp started (0 before any), and its length, in steady_clock ticks.
    [[nodiscard]] std::int64_t ramp_start() const noexcept {
        return ramp_start_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::int64_t ramp_window() const noexcept {
        return ramp_window_.load(std::memory_order_relaxed);
    }
    /// When the backend last stopped taking keys (down, draining, maintenance), 0 if never.
    [[nodiscard]] std::int64_t left_at() const noexcept { return left_at_.load(std::memory_order_relaxed); }

    /// Whether the mode lets the backend take a key of hand-over hash `h2` now (the passive
    /// back-off is eligible()'s business).
    [[nodiscard]] bool admits(std::uint64_t h2, steady_clock::time_point now,
                              panic_state panic) const noexcept {
        switch (mode()) {
            case backend_mode::up:
                return true;
            case backend_mode::slow_start:
                return ramp_passed(h2, elapsed(now), ramp_window());
            case backend_mode::draining:
                return !ramp_passed(h2, elapsed(now), ramp_window());
            case backend_mode::maintenance:
                return false;
            case backend_mode::down:
                return panic == panic_state::fail_open;
        }
        return false;
    }
    /// Whether a 5xx answer counts as a passive failure ([health] passive_5xx).
    void set_count_5xx(bool on) noexcept { count_5xx_.store(on, std::memory_order_relaxed); }
    [[nodiscard]] bool count_5xx() const noexcept { return count_5xx_.load(std::memory_order_relaxed); }

    /// Whether the mode lets the backend take new requests at all (without a key).
    [[nodiscard]] bool serving() const noexcept {
        const backend_mode m = mode();
        return m == backend_mode::up || m == backend_mode::slow_start;
    }

    /// Whether idle connections to the backend are worth keeping: it serves, or it is down
    /// while the pool panics open and so still takes its keys.
    [[nodiscard]] bool keeps_connections() const noexcept {
        return serving() || (mode() == backend_mode::down &&
                             totals_->panic.load(std::memory_order_relaxed) == panic_state::fail_open);
    }

private:
    // in_flight_ changes on every request; health fields rarely. Separate lines so readers of
    // health (every selection) are not invalidated by counter traffic.
    alignas(64) std::atomic<std::uint64_t> in_flight_{0};
    alignas(64) std::atomic<std::int64_t> down_until_{0};  // steady_clock ticks
    std::atomic<std::uint32_t> failures_{0};
    std::atomic<backend_mode> mode_{backend_mode::up};
    std::atomic<bool> count_5xx_{false};
    std::atomic<std::int64_t> ramp_start_{0};   // steady_clock ticks
    std::atomic<std::int64_t> ramp_window_{0};  // steady_clock ticks
    std::atomic<std::int64_t> left_at_{0};      // steady_clock ticks
    std::shared_ptr<load_totals> totals_;       // shared with every state of the pool; immutable
    alignas(64) std::atomic<std::uint64_t> passive_events_{0};

    [[nodiscard]] std::int64_t elapsed(steady_clock::time_point now) const noexcept {
        return now.time_since_epoch().count() - ramp_start();
    }
};

/// Holds one backend's in-flight count for as long as it lives (or until reset()).
/// Thread-safety: the guard is one request's; the count it holds is the shared atomic.
class in_flight_guard {
public:
    in_flight_guard() noexcept = default;
    in_flight_guard(const in_flight_guard&) = delete;
    in_flight_guard& operator=(const in_flight_guard&) = delete;
    ~in_flight_guard() { reset(); }
    void hold(backend_state* s) noexcept {
        reset();
        state_ = s;
        state_->begin_request();
    }
    void reset() noexcept {
        if (state_ != nullptr) state_->end_request();
        state_ = nullptr;
    }

private:
    backend_state* state_ = nullptr;
};

}  // namespace ringlb
