// ringlb/lb/ramp.hpp: the hand-over ramp of slow start and drain windows.
//
//   const std::uint64_t h2 = ringlb::handover_hash(key_hash);
//   const std::uint64_t t = ringlb::ramp_threshold(now - started, window);
//   bool moved = h2 < t;        // slow start: the key has reached its new owner
//
// A key whose owner is a backend in slow start moves to it once the ramp passes the key's
// hand-over hash, a second hash of the key independent of its ring position; before that
// it stays with its next candidate (the owner it had while the backend was away). The
// threshold rises from 0 to 2^64 over the window, so each key moves exactly once and never
// back, the share of moved keys rises linearly with time, and which keys move first is
// spread evenly over the backend's arcs. A drain window runs the same ramp backwards: a
// draining backend keeps a key while the key's hand-over hash is at most 2^64 - 1 minus the
// threshold, so the largest hashes leave first and the receiving backends warm gradually.
//
// Both ramps admit a prefix of the hand-over hashes ([0, span)), so a backend that switches
// mid-ramp (drained while it slow-starts, ready again while it drains) continues from the
// span it had instead of starting over: slow_start_offset and drain_offset give how far into
// the new ramp to start. No key moves back and forth at the switch.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>

namespace ringlb {

/// The second hash of a key: a bijective mix (splitmix64's finaliser) of its routing hash,
/// so it costs no second pass over the key and is uncorrelated with where the key sits.
[[nodiscard]] constexpr std::uint64_t handover_hash(std::uint64_t key_hash) noexcept {
    std::uint64_t z = key_hash ^ 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// How far a ramp of `window` is after `elapsed`, as a threshold on hand-over hashes: 0
/// before it starts, 2^64 - 1 once it is over (every hash is below it but the largest,
/// which ramp_passed handles), linear in between.
[[nodiscard]] constexpr std::uint64_t ramp_threshold(std::int64_t elapsed, std::int64_t window) noexcept {
    if (elapsed <= 0) return 0;
    if (elapsed >= window) return ~std::uint64_t{0};
    __extension__ using u128 = unsigned __int128;  // GCC and clang; exact, no float rounding
    return static_cast<std::uint64_t>((static_cast<u128>(elapsed) << 64) / static_cast<u128>(window));
}

/// Whether a ramp of `window` started `elapsed` ago has reached hand-over hash `h2`.
[[nodiscard]] constexpr bool ramp_passed(std::uint64_t h2, std::int64_t elapsed,
                                         std::int64_t window) noexcept {
    return elapsed >= window || h2 < ramp_threshold(elapsed, window);
}

/// Whether a draining backend whose drain window of `window` started `elapsed` ago still
/// keeps the key of hand-over hash `h2`: the slow-start ramp backwards.
[[nodiscard]] constexpr bool drain_keeps(std::uint64_t h2, std::int64_t elapsed,
                                         std::int64_t window) noexcept {
    return elapsed < window && h2 <= ~ramp_threshold(elapsed, window);
}

__extension__ using ramp_span = unsigned __int128;  ///< a count of hand-over hashes, 0..2^64
inline constexpr ramp_span full_span = ramp_span{1} << 64;

/// How many hand-over hashes a slow start (the prefix [0, span)) admits after `elapsed`.
[[nodiscard]] constexpr ramp_span slow_start_span(std::int64_t elapsed, std::int64_t window) noexcept {
    return elapsed >= window ? full_span : ramp_span{ramp_threshold(elapsed, window)};
}
/// How many a drain window admits after `elapsed` (also a prefix).
[[nodiscard]] constexpr ramp_span drain_span(std::int64_t elapsed, std::int64_t window) noexcept {
    return elapsed >= window ? 0 : full_span - ramp_threshold(elapsed, window);
}
/// How far into a slow start of `window` a backend that admits `span` hashes now starts, so
/// that it keeps every one of them (rounded up: a few more may arrive, none leaves).
[[nodiscard]] constexpr std::int64_t slow_start_offset(ramp_span span, std::int64_t window) noexcept {
    if (window <= 0) return 0;
    const ramp_span e = (span * static_cast<ramp_span>(window) + (full_span - 1)) >> 64;
    return e >= static_cast<ramp_span>(window) ? window : static_cast<std::int64_t>(e);
}
/// How far into a drain window a backend that admits `span` hashes now starts, so that it
/// takes none it does not have (rounded up: a few may leave early, none arrives).
[[nodiscard]] constexpr std::int64_t drain_offset(ramp_span span, std::int64_t window) noexcept {
    if (window <= 0) return 0;
    const ramp_span e = ((full_span - span) * static_cast<ramp_span>(window) + (full_span - 1)) >> 64;
    return e >= static_cast<ramp_span>(window) ? window : static_cast<std::int64_t>(e);
}

/// The share of keys a ramp has handed over after `elapsed` (0..1), for plans and logs.
[[nodiscard]] inline double ramp_share(std::chrono::nanoseconds elapsed,
                                       std::chrono::nanoseconds window) noexcept {
    if (elapsed.count() <= 0) return window.count() <= 0 ? 1.0 : 0.0;
    if (elapsed >= window) return 1.0;
    return static_cast<double>(elapsed.count()) / static_cast<double>(window.count());
}

}  // namespace ringlb
