// ringlb/limit/gcra_table.hpp: per-key rate limits, shared by every worker without a lock.
//
//   auto table = std::make_shared<ringlb::gcra_table>(65536);      // tracked keys
//   const auto limit = ringlb::gcra_limit::from(rule, table->share());
//   const auto a = table->take(key_hash, table->now_us(steady_clock::now()), limit);
//   if (!a.allowed) reply 429, Retry-After a.retry_after_us;
//
// GCRA (the generic cell rate algorithm): each key keeps one number, its theoretical
// arrival time (TAT): when its next request would be on schedule. A request at `now` is
// allowed when TAT - now <= tolerance, i.e. the key runs at most `burst - 1` requests
// ahead of its rate, and moves TAT one interval on. A quiet key's TAT falls behind now, and
// then it is the same as a key never seen, so forgetting it loses nothing.
//
// The table: slots of one 64-bit word each, a 20-bit fingerprint of the key over the low
// 44 bits of its TAT in microseconds, in buckets of 4 slots (half a cache line) chosen by the
// key's hash. A request is one compare-and-swap on its slot. A new key takes an empty
// slot, or one whose key is back to a fresh state, or else evicts the slot closest to it
// (the one with the earliest TAT: with a burst of 2 or more, keys flooding the table with
// new names go before a client held at its limit, which runs further ahead). So memory is fixed at 8 bytes per tracked key; what overflow
// costs is leniency for the evicted key, counted by `evicted`.
//
// Two keys in one bucket with the same fingerprint share a limit: with 4 slots a bucket,
// one new key in about 260,000 (4 / 2^20). TATs are kept modulo 2^44 us (203 days) and read
// relative to now, so a slot must not sit stale for half that: `sweep` clears the slots back
// to a fresh state, a slice at a time (each worker's periodic timer).
//
// Thread-safety: every member is safe to call from any thread at once; `take` and `sweep`
// are lock-free (relaxed atomics: each slot is its own state, publishing nothing else).
#pragma once

#include "ringlb/common/rate_rule.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace ringlb {

/// The limit a key is held to, in microseconds, for one instance's share of a rule.
struct gcra_limit {
    std::uint64_t interval_us = 0;   ///< one request's worth of time: period / count
    std::uint64_t tolerance_us = 0;  ///< (burst - 1) intervals: how far ahead a key may run

    /// `rule` split between `share` instances: each allows count / share per period and a
    /// burst of ceil(burst / share), at least 1.
    [[nodiscard]] static gcra_limit from(const rate_rule& rule, std::uint32_t share) noexcept;
};

/// What a request gets.
struct gcra_answer {
    bool allowed = true;
    bool evicted = false;              ///< another key's state was dropped to make room
    std::uint32_t remaining = 0;       ///< requests the key may still send at once
    std::uint64_t retry_after_us = 0;  ///< refused: how long until one would be allowed
};

class gcra_table {
public:
    /// `slots` tracked keys, rounded up to a power of two (at least 64).
    explicit gcra_table(std::uint32_t slots);
    gcra_table(const gcra_table&) = delete;
    gcra_table& operator=(const gcra_table&) = delete;

    /// Counts one request of `key_hash` at `now_us` against `limit`.
    [[nodiscard]] gcra_answer take(std::uint64_t key_hash, std::uint64_t now_us,
                                   const gcra_limit& limit) noexcept;

    /// Clears the next `n` slots (round robin over the table) whose key is back to a fresh
    /// state; answers how many it cleared.
    std::size_t sweep(std::uint64_t now_us, std::size_t n) noexcept;

    /// Microseconds since the table was made: the clock `take` and `sweep` want.
    [[nodiscard]] std::uint64_t now_us(std::chrono::steady_clock::time_point t) const noexcept {
        if (t <= epoch_) return 0;
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(t - epoch_).count());
    }

    /// The instances a cluster-wide rule is split between (the control thread sets it from
    /// the live registrations; 1 without etcd).
    void set_share(std::uint32_t instances) noexcept {
        share_.store(instances == 0 ? 1 : instances, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint32_t share() const noexcept { return share_.load(std::memory_order_relaxed); }

    [[nodiscard]] std::uint32_t slots() const noexcept { return mask_ + 1; }

private:
    static constexpr unsigned tat_bits = 44;
    static constexpr std::uint64_t tat_mask = (std::uint64_t{1} << tat_bits) - 1;
    static constexpr unsigned ways = 4;
    struct alignas(32) bucket {
        std::atomic<std::uint64_t> slot[ways];
    };

    // The full TAT a stored word means, read as the value within 2^43 us of now.
    [[nodiscard]] static std::uint64_t tat_of(std::uint64_t word, std::uint64_t now_us) noexcept;

    std::unique_ptr<bucket[]> buckets_;
    std::uint32_t mask_;  // slots - 1
    std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
    std::atomic<std::uint32_t> share_{1};
    std::atomic<std::uint32_t> sweep_cursor_{0};
};

}  // namespace ringlb
