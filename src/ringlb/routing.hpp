// ringlb/routing.hpp: the routing snapshot (backends + algorithm + options) and selection.
//
//   std::string err;
//   auto snap = ringlb::snapshot::build(cfg, previous.get(), err);  // control thread
//   ...                                                              // posted to workers
//   std::uint64_t h = snap->hash_key(key);
//   ringlb::tried_set tried;
//   std::size_t b = snap->select(h, tried, steady_clock::now());     // index or chash::npos
//
// A snapshot is immutable. The control thread builds it off the hot path (resolving
// addresses, building the ring) and posts a shared_ptr<const snapshot> to every worker; a
// request holds the snapshot it started with until it ends, so a reload never changes a
// request mid-flight and nothing on the request path takes a lock. Per-backend health and
// load live in backend_state objects the snapshot points to; they are carried over to the
// next snapshot for every backend id that persists.
//
// Selection: keyed requests walk the algorithm's candidates in preference order and take
// the first backend that is eligible (not backing off) and not already tried; with
// balance_factor > 0, chash::bounded_load additionally skips candidates whose in-flight count
// is over the cap. Keyless requests follow [routing] keyless: power of two choices on
// in-flight counts, or round-robin (or the session answers 400 for `reject`).
//
// Thread-safety: a snapshot is immutable and shared read-only by all workers; selection
// reads backend_state atomics (relaxed) and the caller's per-worker keyless_state.
#pragma once

#include "ringlb/backend_state.hpp"
#include "ringlb/config.hpp"

#include <chash/algorithm.hpp>
#include <chash/bounded_load.hpp>

#include <asio/ip/tcp.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb {

/// A backend as a snapshot sees it.
struct backend {
    std::string id;
    asio::ip::tcp::endpoint address;  ///< resolved when the snapshot was built
    std::uint32_t weight = 1;
    std::shared_ptr<backend_state> state;
};

/// Backends a request has already tried (failover never returns to them). Fixed capacity:
/// retries are bounded, and the set lives on the session's stack.
class tried_set {
public:
    static constexpr std::size_t capacity = 16;
    void add(std::size_t i) noexcept {
        if (size_ < capacity) items_[size_++] = i;
    }
    [[nodiscard]] bool contains(std::size_t i) const noexcept {
        for (std::size_t k = 0; k < size_; ++k)
            if (items_[k] == i) return true;
        return false;
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    std::array<std::size_t, capacity> items_{};
    std::size_t size_ = 0;
};

/// Per-worker state of the keyless policies (a round-robin cursor and a PRNG), so keyless
/// selection never writes shared memory.
struct keyless_state {
    std::uint64_t cursor = 0;
    std::uint64_t rng = 0x9e3779b97f4a7c15ULL;
    std::uint64_t next_random() noexcept {  // xorshift64*: fast, good enough for P2C
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return rng * 0x2545f4914f6cdd1dULL;
    }
};

class snapshot {
public:
    /// Builds a snapshot of `cfg`, reusing backend_state of `previous` for ids that persist.
    /// Returns null and sets `error` when a backend address cannot be resolved or the
    /// algorithm rejects the backends.
    [[nodiscard]] static std::shared_ptr<const snapshot> build(std::shared_ptr<const config> cfg,
                                                               const snapshot* previous, std::string& error);

    [[nodiscard]] const config& cfg() const noexcept { return *cfg_; }
    [[nodiscard]] std::span<const backend> backends() const noexcept { return backends_; }
    [[nodiscard]] const chash::algorithm& algorithm() const noexcept { return *algo_; }
    /// Pool-wide in-flight and down counts (shared with every snapshot of the process).
    [[nodiscard]] const load_totals& totals() const noexcept { return *totals_; }
    /// Monotonic per process: the first snapshot is 1.
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }

    /// The key hash the algorithm consumes (XXH3-64, or MD5 for ketama).
    [[nodiscard]] std::uint64_t hash_key(std::string_view key) const noexcept { return algo_->hash_key(key); }

    /// The backend for a keyed request: the first eligible, untried candidate (bounded by
    /// load when balance_factor > 0), or chash::npos when none is left.
    [[nodiscard]] std::size_t select(std::uint64_t key_hash, const tried_set& tried,
                                     steady_clock::time_point now) const noexcept;

    /// The backend for a keyless request under the configured policy (least-loaded or
    /// round-robin; `reject` is the session's business), or chash::npos.
    [[nodiscard]] std::size_t select_keyless(keyless_state& ks, const tried_set& tried,
                                             steady_clock::time_point now) const noexcept;

private:
    snapshot() = default;
    bool usable(std::size_t i, const tried_set& tried, steady_clock::time_point now) const noexcept {
        return backends_[i].weight > 0 && !tried.contains(i) && backends_[i].state->eligible(now);
    }
    std::size_t first_usable(std::size_t start, const tried_set& tried,
                             steady_clock::time_point now) const noexcept;

    std::shared_ptr<const config> cfg_;
    std::vector<backend> backends_;
    std::unique_ptr<const chash::algorithm> algo_;
    std::optional<chash::bounded_load> bounded_;
    std::shared_ptr<load_totals> totals_;  // shared by every snapshot of this process
    std::size_t weighted_ = 0;             // backends with weight > 0
    std::uint64_t generation_ = 0;
};

}  // namespace ringlb
