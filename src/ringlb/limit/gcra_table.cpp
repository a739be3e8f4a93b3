#include "ringlb/limit/gcra_table.hpp"

#include <algorithm>
#include <bit>

namespace ringlb {

namespace {

// The largest interval or tolerance the table keeps apart from now: far below the 2^43 us
// a stored TAT can be read back across (config validation keeps rules well under it).
constexpr std::uint64_t max_span_us = std::uint64_t{1} << 40;

std::uint32_t fingerprint(std::uint64_t key_hash) noexcept {
    const auto fp = static_cast<std::uint32_t>(key_hash >> 44);  // the bucket took the low bits
    return fp == 0 ? 1 : fp;                                     // 0 marks an empty slot
}

}  // namespace

gcra_limit gcra_limit::from(const rate_rule& rule, std::uint32_t share) noexcept {
    gcra_limit l;
    if (rule.count == 0) return l;
    share = std::max<std::uint32_t>(share, 1);
    const auto period_us = static_cast<std::uint64_t>(rule.period.count()) * 1000;
    // Rounded up: a key is never let through faster than its rate (at 600,000/s the
    // interval is 2 us, 500,000/s; rounding down would allow 1,000,000/s).
    l.interval_us =
        std::clamp<std::uint64_t>((period_us * share + rule.count - 1) / rule.count, 1, max_span_us);
    const std::uint64_t burst = std::max<std::uint64_t>(1, (rule.burst + share - 1) / share);
    l.tolerance_us = std::min(max_span_us, (burst - 1) * l.interval_us);
    return l;
}

gcra_table::gcra_table(std::uint32_t slots) {
    const std::uint32_t n = std::bit_ceil(std::max<std::uint32_t>(slots, 64));
    buckets_ = std::make_unique<bucket[]>(n / ways);  // value-initialised: every slot 0 (empty)
    mask_ = n - 1;
}

std::uint64_t gcra_table::tat_of(std::uint64_t word, std::uint64_t now_us) noexcept {
    // Sign-extend the 44-bit difference: a TAT up to 2^43 us either side of now.
    const std::uint64_t diff = (word - now_us) & tat_mask;
    const auto signed_diff = static_cast<std::int64_t>(diff << (64 - tat_bits)) >> (64 - tat_bits);
    return now_us + static_cast<std::uint64_t>(signed_diff);
}

gcra_answer gcra_table::take(std::uint64_t key_hash, std::uint64_t now_us, const gcra_limit& limit) noexcept {
    bucket& b = buckets_[(key_hash & mask_) / ways];
    const std::uint64_t fp = fingerprint(key_hash);
    const std::uint64_t t = limit.interval_us;
    const std::uint64_t window = limit.tolerance_us + t;
    const auto pack = [fp](std::uint64_t tat) { return fp << tat_bits | (tat & tat_mask); };

    gcra_answer a;
    // A lost race re-reads the bucket; after a few, the request goes through rather than
    // spin (a limit is a policy, not a lock).
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::uint64_t words[ways];
        unsigned match = ways;
        for (unsigned i = 0; i < ways; ++i) {
            words[i] = b.slot[i].load(std::memory_order_relaxed);
            if (match == ways && words[i] >> tat_bits == fp) match = i;
        }
        if (match != ways) {
            const std::uint64_t tat = std::max(tat_of(words[match], now_us), now_us);
            if (tat - now_us > limit.tolerance_us) {
                a.allowed = false;
                a.retry_after_us = tat - now_us - limit.tolerance_us;
                return a;
            }
            const std::uint64_t next = tat + t;
            if (!b.slot[match].compare_exchange_weak(words[match], pack(next), std::memory_order_relaxed))
                continue;
            a.remaining =
                static_cast<std::uint32_t>(std::min<std::uint64_t>((window - (next - now_us)) / t, ~0u));
            return a;
        }
        // A key not tracked: it starts fresh, in an empty slot, a slot whose key is fresh
        // again, or the one nearest to that.
        unsigned victim = 0;
        std::uint64_t earliest = ~std::uint64_t{0};
        bool free = false;
        for (unsigned i = 0; i < ways && !free; ++i) {
            const std::uint64_t tat = words[i] == 0 ? 0 : tat_of(words[i], now_us);
            if (words[i] == 0 || tat <= now_us) {
                victim = i;
                free = true;
            } else if (tat < earliest) {
                earliest = tat;
                victim = i;
            }
        }
        if (!b.slot[victim].compare_exchange_weak(words[victim], pack(now_us + t), std::memory_order_relaxed))
            continue;
        a.evicted = !free;
        a.remaining = static_cast<std::uint32_t>(std::min<std::uint64_t>(limit.tolerance_us / t, ~0u));
        return a;
    }
    return a;
}

std::size_t gcra_table::sweep(std::uint64_t now_us, std::size_t n) noexcept {
    const std::uint32_t slots = mask_ + 1;
    n = std::min<std::size_t>(n, slots);
    const std::uint32_t start =
        sweep_cursor_.fetch_add(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
    std::size_t cleared = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const std::uint32_t i = (start + static_cast<std::uint32_t>(k)) & mask_;
        std::atomic<std::uint64_t>& s = buckets_[i / ways].slot[i % ways];
        std::uint64_t w = s.load(std::memory_order_relaxed);
        if (w != 0 && tat_of(w, now_us) <= now_us &&
            s.compare_exchange_strong(w, 0, std::memory_order_relaxed))
            ++cleared;
    }
    return cleared;
}

}  // namespace ringlb
