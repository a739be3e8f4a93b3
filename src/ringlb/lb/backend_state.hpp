// ringlb/lb/backend_state.hpp: per-backend state shared by every worker and every snapshot.
//
//   auto totals = std::make_shared<ringlb::load_totals>();
//   auto st = std::make_shared<ringlb::backend_state>("app-1", totals);
//   if (st->eligible(now)) { st->begin_request(); ...; st->end_request(); }
//   st->record_failure(now);     // connect refused: down for 1s, 2s, 4s ... 30s
//   st->record_success();        // an answer: up again, back-off reset
//
// Health never rebuilds the ring: selection skips a backend that is down, so its keys go to
// their next candidates and come back unchanged when it answers again. The state outlives
// reloads for a backend whose id stays (the control thread hands the same object to the new
// snapshot), so a reload neither forgets a failure nor zeroes in-flight counts.
//
// Thread-safety: all members are relaxed atomics written by any worker; `id` is immutable.
// Each object sits on its own cache line pair so workers bumping counters of different
// backends do not false-share.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ringlb {

using steady_clock = std::chrono::steady_clock;

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

private:
    // in_flight_ changes on every request; health fields rarely. Separate lines so readers of
    // health (every selection) are not invalidated by counter traffic.
    alignas(64) std::atomic<std::uint64_t> in_flight_{0};
    alignas(64) std::atomic<std::int64_t> down_until_{0};  // steady_clock ticks
    std::atomic<std::uint32_t> failures_{0};
    std::shared_ptr<load_totals> totals_;  // shared with every state of the pool; immutable
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
