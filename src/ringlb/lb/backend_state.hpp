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
// and its ramp written by the control thread only, under a sequence lock (a writer never
// waits; a reader retries if a write overlapped its read), so a reader never pairs one
// mode with another's ramp. `id` is immutable.
// Each object sits on its own cache line pair so workers bumping counters of different
// backends do not false-share.
#pragma once

#include "ringlb/lb/ramp.hpp"
#include "ringlb/metrics/shards.hpp"

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
/// every backend. `down` counts backends with a failure not yet cleared by an answer whose
/// mode still gives them keys; `out` those whose mode gives them none (the control
/// thread's count); a backend is in one or the other, never both. The control thread
/// recounts `down` when it publishes a snapshot (a backend removed while down would
/// otherwise leave it off by one until the next reload); a worker's failure racing the
/// control thread's recount can leave it off by one until the next change of modes.
///
/// Thread-safety: relaxed atomics, written by every worker; each on its own cache line.
struct load_totals {
    alignas(64) std::atomic<std::uint64_t> in_flight{0};
    alignas(64) std::atomic<std::int32_t> down{0};  // signed: a stale decrement may dip below 0
    /// Weighted backends whose mode takes no new keys (down, draining, maintenance), and
    /// the pool's panic state; both set by the control thread, read by every selection.
    std::atomic<std::int32_t> out{0};
    std::atomic<panic_state> panic{panic_state::none};
    /// Metric shards per backend: one per worker (immutable; set when the pool's first
    /// snapshot is built).
    std::size_t shards = 1;
};

class alignas(128) backend_state {
public:
    /// First back-off after a failure; doubles per consecutive failure up to max_backoff.
    static constexpr std::chrono::milliseconds base_backoff{1000};
    static constexpr std::chrono::milliseconds max_backoff{30000};

    backend_state(std::string backend_id, std::shared_ptr<load_totals> totals)
        : id{std::move(backend_id)},
          totals_{std::move(totals)},
          shard_count_{std::max<std::size_t>(1, totals_->shards)},
          shards_{std::make_unique<metrics::backend_shard[]>(shard_count_)} {}

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
        // Counted in load_totals::down unless the control thread already counts the backend
        // in `out` (its mode takes no keys): one backend, counted once.
        if (n == 0 && !counted_out_.load(std::memory_order_relaxed) &&
            !in_down_.exchange(true, std::memory_order_relaxed))
            totals_->down.fetch_add(1, std::memory_order_relaxed);
        const auto backoff = std::min(max_backoff, base_backoff * (std::int64_t{1} << std::min(n, 5u)));
        down_until_.store((now + backoff).time_since_epoch().count(), std::memory_order_relaxed);
    }
    /// An answer from the backend: clears the back-off. Reads first so the common case
    /// (already healthy) does not dirty a line every worker reads.
    void record_success() noexcept {
        if (failures_.load(std::memory_order_relaxed) != 0 &&
            failures_.exchange(0, std::memory_order_relaxed) != 0) {
            down_until_.store(0, std::memory_order_relaxed);
            if (in_down_.exchange(false, std::memory_order_relaxed))
                totals_->down.fetch_sub(1, std::memory_order_relaxed);
        }
    }
    /// Consecutive failures so far (0 when healthy).
    [[nodiscard]] std::uint32_t failures() const noexcept {
        return failures_.load(std::memory_order_relaxed);
    }
    /// Whether the backend counts in load_totals::down now.
    [[nodiscard]] bool counted_down() const noexcept { return in_down_.load(std::memory_order_relaxed); }
    /// A 5xx answer, when [health] passive_5xx counts it: no back-off, one event for the
    /// control thread's state machine.
    void record_error_status() noexcept { passive_events_.fetch_add(1, std::memory_order_relaxed); }
    /// Failures and counted 5xx seen by the data path so far (monotonic), for the control
    /// thread to feed its state machine.
    [[nodiscard]] std::uint64_t passive_events() const noexcept {
        return passive_events_.load(std::memory_order_relaxed);
    }

    // --- the mode: written by the control thread, read by selection ---

    /// The mode and its ramp, read together.
    struct mode_view {
        backend_mode mode = backend_mode::up;
        std::int64_t ramp_start = 0;   ///< steady_clock ticks; 0 before any ramp
        std::int64_t ramp_window = 0;  ///< steady_clock ticks
    };
    /// Where a new mode's ramp starts: from the keys the backend takes now (a switch
    /// mid-ramp continues, no key moves back and forth), or from the ramp's beginning (a
    /// backend that just joined).
    enum class ramp_from : std::uint8_t { current, beginning };

    /// Sets the mode at `now`, with a ramp of `window` for slow start and draining.
    /// Control thread only (one writer).
    void set_mode(backend_mode m, steady_clock::time_point now, steady_clock::duration window,
                  ramp_from from = ramp_from::current) noexcept {
        const std::int64_t t = now.time_since_epoch().count();
        const ramp_span span = from == ramp_from::beginning && m == backend_mode::slow_start ? 0
                               : from == ramp_from::beginning                                ? full_span
                                                              : admitted_span(now);
        std::int64_t offset = 0;
        if (m == backend_mode::slow_start) offset = slow_start_offset(span, window.count());
        if (m == backend_mode::draining) offset = drain_offset(span, window.count());
        if (m != backend_mode::up && m != backend_mode::slow_start)
            left_at_.store(t, std::memory_order_relaxed);
        // A sequence lock: readers retry while the count is odd or changed under them, so
        // they never pair one mode with another's ramp.
        const std::uint32_t seq = seq_.load(std::memory_order_relaxed);
        seq_.store(seq + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        mode_.store(m, std::memory_order_relaxed);
        ramp_start_.store(t - offset, std::memory_order_relaxed);
        ramp_window_.store(window.count(), std::memory_order_relaxed);
        seq_.store(seq + 2, std::memory_order_release);
    }
    /// The mode and its ramp, consistent with each other. Any thread.
    [[nodiscard]] mode_view view() const noexcept {
        for (;;) {
            const std::uint32_t seq = seq_.load(std::memory_order_acquire);
            const mode_view v{mode_.load(std::memory_order_relaxed),
                              ramp_start_.load(std::memory_order_relaxed),
                              ramp_window_.load(std::memory_order_relaxed)};
            std::atomic_thread_fence(std::memory_order_acquire);
            if ((seq & 1) == 0 && seq_.load(std::memory_order_relaxed) == seq) return v;
        }
    }
    [[nodiscard]] backend_mode mode() const noexcept { return view().mode; }
    /// When the current ramp started (back-dated when it continues another), and its length,
    /// in steady_clock ticks; it ends at ramp_start() + ramp_window().
    [[nodiscard]] std::int64_t ramp_start() const noexcept { return view().ramp_start; }
    [[nodiscard]] std::int64_t ramp_window() const noexcept { return view().ramp_window; }
    /// When the backend last stopped taking keys (down, draining, maintenance), 0 if never.
    [[nodiscard]] std::int64_t left_at() const noexcept { return left_at_.load(std::memory_order_relaxed); }

    /// How many hand-over hashes (the prefix [0, span)) the mode admits now, ignoring panic.
    [[nodiscard]] ramp_span admitted_span(steady_clock::time_point now) const noexcept {
        const mode_view v = view();
        const std::int64_t elapsed = now.time_since_epoch().count() - v.ramp_start;
        switch (v.mode) {
            case backend_mode::up:
                return full_span;
            case backend_mode::slow_start:
                return slow_start_span(elapsed, v.ramp_window);
            case backend_mode::draining:
                return drain_span(elapsed, v.ramp_window);
            case backend_mode::maintenance:
            case backend_mode::down:
                return 0;
        }
        return 0;
    }

    /// Whether the mode lets the backend take a key of hand-over hash `h2` now (the passive
    /// back-off is eligible()'s business).
    [[nodiscard]] bool admits(std::uint64_t h2, steady_clock::time_point now,
                              panic_state panic) const noexcept {
        const mode_view v = view();
        const std::int64_t elapsed = now.time_since_epoch().count() - v.ramp_start;
        switch (v.mode) {
            case backend_mode::up:
                return true;
            case backend_mode::slow_start:
                return ramp_passed(h2, elapsed, v.ramp_window);
            case backend_mode::draining:
                return drain_keeps(h2, elapsed, v.ramp_window);
            case backend_mode::maintenance:
                return false;
            case backend_mode::down:
                return panic == panic_state::fail_open;
        }
        return false;
    }
    /// Whether the mode may give the backend any key now or later without another change:
    /// up, slow start, draining inside its window, down while the pool panics open.
    [[nodiscard]] bool takes_keys(steady_clock::time_point now, panic_state panic) const noexcept {
        const mode_view v = view();
        switch (v.mode) {
            case backend_mode::up:
            case backend_mode::slow_start:
                return true;
            case backend_mode::draining:
                return now.time_since_epoch().count() - v.ramp_start < v.ramp_window;
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

    /// Whether the mode is a serving one (up or slow start): the backend is in service.
    [[nodiscard]] bool serving() const noexcept {
        const backend_mode m = mode();
        return m == backend_mode::up || m == backend_mode::slow_start;
    }

    /// Whether idle connections to the backend are worth keeping: its mode still gives it
    /// keys (a draining backend inside its window, a down one while the pool panics open).
    [[nodiscard]] bool keeps_connections(steady_clock::time_point now) const noexcept {
        return takes_keys(now, totals_->panic.load(std::memory_order_relaxed));
    }

    /// Worker `w`'s metric shard of this backend: only worker w writes it (metrics/counter.hpp);
    /// anyone may read every shard.
    [[nodiscard]] metrics::backend_shard& shard(std::size_t w) noexcept {
        return shards_[w < shard_count_ ? w : 0];
    }
    [[nodiscard]] const metrics::backend_shard& shard(std::size_t w) const noexcept {
        return shards_[w < shard_count_ ? w : 0];
    }
    [[nodiscard]] std::size_t shard_count() const noexcept { return shard_count_; }

    /// The control thread's count of the pool: whether this backend is in load_totals::out
    /// (its mode takes no keys). Keeps it out of load_totals::down at the same time, so the
    /// bounded-loads cap counts each unavailable backend once. Control thread only.
    void set_counted_out(bool out) noexcept {
        counted_out_.store(out, std::memory_order_relaxed);
        if (out) {
            if (in_down_.exchange(false, std::memory_order_relaxed))
                totals_->down.fetch_sub(1, std::memory_order_relaxed);
        } else if (failures_.load(std::memory_order_relaxed) != 0 &&
                   !in_down_.exchange(true, std::memory_order_relaxed)) {
            totals_->down.fetch_add(1, std::memory_order_relaxed);
        }
    }

private:
    // in_flight_ changes on every request; health fields rarely. Separate lines so readers of
    // health (every selection) are not invalidated by counter traffic.
    alignas(64) std::atomic<std::uint64_t> in_flight_{0};
    alignas(64) std::atomic<std::int64_t> down_until_{0};  // steady_clock ticks
    std::atomic<std::uint32_t> failures_{0};
    std::atomic<bool> in_down_{false};      // counted in totals_->down
    std::atomic<bool> counted_out_{false};  // counted in totals_->out (control thread's word)
    std::atomic<bool> count_5xx_{false};
    std::atomic<std::uint32_t> seq_{0};  // the sequence lock of the next three
    std::atomic<backend_mode> mode_{backend_mode::up};
    std::atomic<std::int64_t> ramp_start_{0};           // steady_clock ticks
    std::atomic<std::int64_t> ramp_window_{0};          // steady_clock ticks
    std::atomic<std::int64_t> left_at_{0};              // steady_clock ticks
    std::shared_ptr<load_totals> totals_;               // shared with every state of the pool; immutable
    std::size_t shard_count_;                           // immutable
    std::unique_ptr<metrics::backend_shard[]> shards_;  // one per worker, each on its own lines
    alignas(64) std::atomic<std::uint64_t> passive_events_{0};
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
