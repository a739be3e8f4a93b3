// ringlb/lb/routing.hpp: the routing snapshot (backends + algorithm + options) and selection.
//
//   ringlb::routing_options opts{.algorithm = chash::kind::ring, .build = chash_options(routing)};
//   std::string err;
//   auto r = ringlb::routing_snapshot::build(nodes, opts, previous.get(), err);  // control thread
//   ...                                                                 // published to workers
//   std::uint64_t h = r->hash_key(key);
//   ringlb::tried_set tried;
//   std::size_t b = r->select(h, tried, steady_clock::now());  // index into backends(), or npos
//
// A snapshot is immutable. The control thread builds it off the hot path (building the
// ring) and publishes it to every worker inside a bundle (proxy/bundle.hpp); a request holds
// the bundle it started with until it ends, so a reload never changes a request mid-flight
// and nothing on the request path takes a lock. Per-backend health and load live in
// backend_state objects the snapshot points to; they are carried over to the next snapshot
// for every backend id that persists. This module knows chash and nothing else: not the
// config file, not sockets (backend i's address is the bundle's business).
//
// Selection: keyed requests walk the algorithm's candidates in preference order and take
// the first backend that is eligible (not backing off), whose mode admits the key (up; in
// slow start or a drain window, by the ramp of lb/ramp.hpp; down only when the pool panics
// open) and not already tried; with
// balance_factor > 0, chash::bounded_load additionally skips candidates whose in-flight count
// is over the cap. Keyless requests follow options().keyless: power of two choices on
// in-flight counts, or round-robin (the data path answers 400 for `reject`).
//
// Thread-safety: a snapshot is immutable and shared read-only by all workers; selection
// reads backend_state atomics (relaxed) and the caller's per-worker keyless_state.
#pragma once

#include "ringlb/common/key_rule.hpp"
#include "ringlb/lb/backend_state.hpp"

#include <chash/algorithm.hpp>
#include <chash/bounded_load.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb {

/// How a snapshot places and selects.
struct routing_options {
    chash::kind algorithm = chash::kind::ring;
    chash::options build;          ///< what chash::make gets (vnodes per weight, table size)
    double balance_factor = 1.25;  ///< 0 = bounded loads off; otherwise > 1
    keyless_policy keyless = keyless_policy::least_loaded;
    std::size_t metric_shards = 1;  ///< one per worker; fixed by the pool's first snapshot
    /// Zones: this instance's zone ("" = zones off: one placement over every backend), the
    /// order in which keys spill to other zones (the local zone first whatever it says;
    /// zones it does not name follow by name), and how much a zone's healthy capacity is
    /// over-provisioned (Envoy's 1.4: a zone keeps all its keys while 1/1.4 = 71% of its
    /// weight is healthy).
    std::string local_zone;
    std::vector<std::string> zone_order;
    double overprovision = 1.4;
    friend bool operator==(const routing_options&, const routing_options&) = default;
};

/// Why selection passed over a candidate (routing_snapshot::explain).
enum class skip_reason : std::uint8_t {
    none,          ///< usable
    weight_zero,   ///< weight 0: listed, takes no keys
    backing_off,   ///< the data path saw it fail and waits before trying again
    down,          ///< failed its health checks
    draining,      ///< draining: its ramp has handed this key away
    maintenance,   ///< in maintenance
    not_yet,       ///< slow start: its ramp has not reached this key yet
    over_cap,      ///< bounded loads: busier than the cap allows
    panic_closed,  ///< the pool panics closed: nothing is selected
};
[[nodiscard]] std::string_view describe(skip_reason r) noexcept;

/// One candidate of a key's chain and whether selection would take it now.
struct candidate_verdict {
    std::size_t index = 0;
    skip_reason why = skip_reason::none;
};

/// A backend as a snapshot sees it.
struct backend {
    std::string id;
    std::uint32_t weight = 1;
    std::shared_ptr<backend_state> state;
    std::string zone;  ///< "" = none
};

/// Peak-EWMA of response time (Finagle's, 10 s decay): a slower answer raises the
/// prediction at once, faster ones lower it gradually. One worker's view of one backend,
/// kept in its metric shard (single writer).
inline constexpr double ewma_decay_ns = 10e9;
/// What a failed attempt counts as (Finagle penalises failures the same way): a backend
/// that resets or times out must not look fast because it never answered.
inline constexpr std::uint64_t ewma_failure_penalty_ns = 1'000'000'000;
void observe_response_time(metrics::backend_shard& shard, std::int64_t now_ns, std::uint64_t rtt_ns) noexcept;

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
    std::size_t worker = 0;  ///< the worker's index: whose metric shards (and latency view) it reads
    std::uint64_t cursor = 0;
    std::uint64_t rng = 0x9e3779b97f4a7c15ULL;
    std::uint64_t next_random() noexcept {  // xorshift64*: fast, good enough for P2C
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        return rng * 0x2545f4914f6cdd1dULL;
    }
};

class routing_snapshot {
public:
    /// Builds a snapshot of `nodes` (backend i is nodes[i]), reusing the backend_state of
    /// `previous` for ids that persist. Returns null and sets `error` when the algorithm
    /// rejects the nodes (a cap exceeded, say).
    [[nodiscard]] static std::shared_ptr<const routing_snapshot> build(std::span<const chash::node> nodes,
                                                                       const routing_options& options,
                                                                       const routing_snapshot* previous,
                                                                       std::string& error,
                                                                       std::span<const std::string> zones = {});

    [[nodiscard]] const routing_options& options() const noexcept { return options_; }
    [[nodiscard]] std::span<const backend> backends() const noexcept { return backends_; }
    [[nodiscard]] const chash::algorithm& algorithm() const noexcept { return *algo_; }
    /// Pool-wide in-flight and down counts (shared with every snapshot of the process).
    [[nodiscard]] const load_totals& totals() const noexcept { return *totals_; }
    /// The control thread's word on the pool: backends out of service and the panic state
    /// (shared atomics every selection reads; written by the control thread only).
    void set_pool_health(std::int32_t out, panic_state panic) const noexcept {
        totals_->out.store(out, std::memory_order_relaxed);
        totals_->panic.store(panic, std::memory_order_relaxed);
    }

    /// The key hash the algorithm consumes (XXH3-64, or MD5 for ketama).
    [[nodiscard]] std::uint64_t hash_key(std::string_view key) const noexcept { return algo_->hash_key(key); }

    /// Builds a snapshot around an algorithm already built for `nodes` (node i of the
    /// algorithm is nodes[i]): the incremental path, where the control thread derived it
    /// from the previous ring with with_node_added/removed.
    [[nodiscard]] static std::shared_ptr<const routing_snapshot> build_with(
        std::unique_ptr<const chash::algorithm> algo, std::span<const chash::node> nodes,
        const routing_options& options, const routing_snapshot* previous, std::span<const std::string> zones = {});

    /// Zones (options().local_zone set): the zones in spill order, the local one first.
    struct zone_view {
        std::string name;
        std::unique_ptr<const chash::algorithm> algo;  ///< over this zone's backends only
        std::vector<std::size_t> index;                ///< zone node i is backends()[index[i]]
        std::uint64_t weight = 0;                      ///< total weight
    };
    [[nodiscard]] std::span<const zone_view> zones() const noexcept { return zones_; }
    /// The share of keys each zone takes now (sums to 1; empty without zones).
    [[nodiscard]] std::vector<double> zone_shares() const;
    /// Recomputes how keys split over the zones from each zone's healthy weight (a backend
    /// whose mode takes keys and that is not backing off): zone by zone in spill order,
    /// each takes min(what is left, overprovision x its healthy share of its weight); when
    /// every zone is short the shares are scaled up to sum to 1. Control thread (published
    /// through atomics every selection reads).
    void update_zone_split(steady_clock::time_point now) const;

    /// The key's owner (an index into backends()): on the ring, or with zones on its zone's
    /// ring; chash::npos without backends.
    [[nodiscard]] std::size_t owner(std::uint64_t key_hash) const noexcept;
    /// The key's candidates in order (indexes into backends()), as owner() places it.
    std::size_t candidates(std::uint64_t key_hash,
                           std::array<std::size_t, chash::bounded_load::walk_limit>& walk) const noexcept;
    /// The key's zone with zones on ("" without).
    [[nodiscard]] std::string_view zone_of(std::uint64_t key_hash) const noexcept {
        return zones_.empty() ? std::string_view{} : std::string_view{zones_[key_zone(key_hash)].name};
    }

    /// The backend a key's long-lived connections (tunnels) belong on now: its first
    /// candidate in service for that key (weight, health, state, slow-start and drain
    /// ramps), ignoring what changes by the second (passive back-off, bounded loads);
    /// chash::npos when there is none, or the pool panics closed.
    [[nodiscard]] std::size_t settled_owner(std::uint64_t key_hash, steady_clock::time_point now) const noexcept;

    /// The backend for a keyed request: the first eligible, untried candidate (bounded by
    /// load when balance_factor > 0), or chash::npos when none is left.
    [[nodiscard]] std::size_t select(std::uint64_t key_hash, const tried_set& tried,
                                     steady_clock::time_point now) const noexcept;

    /// The backend for a keyless request under the configured policy (least-loaded or
    /// round-robin; `reject` is the session's business), or chash::npos.
    [[nodiscard]] std::size_t select_keyless(keyless_state& ks, const tried_set& tried,
                                             steady_clock::time_point now) const noexcept;

    /// The key's candidates in preference order (up to 16) and, for each, why selection
    /// would pass over it now (or none): the admin API's lookup. The same tests select()
    /// makes, but it allocates; not for the request path.
    [[nodiscard]] std::vector<candidate_verdict> explain(std::uint64_t key_hash,
                                                         steady_clock::time_point now) const;

    /// The id of the backend that held the key before its most recent change of owner, when
    /// that change was less than `window` ago and `chosen` (what select() returned) is not
    /// it; empty otherwise. The changes: `chosen` returned to service and took its key back
    /// (the previous owner is the key's next candidate), the key's owner left service (it is
    /// the owner), or the membership changed (the owner under the previous placement).
    [[nodiscard]] std::string_view previous_owner(std::uint64_t key_hash, std::size_t chosen,
                                                  steady_clock::time_point now,
                                                  steady_clock::duration window) const noexcept;

private:
    routing_snapshot() = default;
    bool usable(std::size_t i, const tried_set& tried, steady_clock::time_point now, std::uint64_t h2,
                panic_state panic) const noexcept {
        const backend_state& s = *backends_[i].state;
        return backends_[i].weight > 0 && !tried.contains(i) && s.eligible(now) && s.admits(h2, now, panic);
    }
    std::size_t first_usable(std::size_t start, const tried_set& tried, steady_clock::time_point now,
                             std::uint64_t h2, panic_state panic) const noexcept;
    std::size_t select_in(const chash::algorithm& algo, std::span<const std::size_t> index, std::uint64_t key_hash,
                          const tried_set& tried, steady_clock::time_point now, std::uint64_t h2,
                          panic_state panic) const noexcept;
    std::size_t key_zone(std::uint64_t key_hash) const noexcept;
    // What bounded loads compare with: in-flight requests and backends that take keys, in
    // the pool (zone empty) or in one zone.
    struct load_view {
        std::uint64_t total;
        std::size_t eligible;
    };
    load_view load_over(std::span<const std::size_t> zone, steady_clock::time_point now,
                        panic_state panic) const noexcept;
    std::size_t select_zoned(std::uint64_t key_hash, const tried_set& tried, steady_clock::time_point now) const noexcept;
    std::size_t pick_two(std::size_t a, std::size_t b, const keyless_state& ks,
                         steady_clock::time_point now) const noexcept;
    void adopt_states(const routing_snapshot* previous);
    void build_zones(std::string& error);

    routing_options options_;
    std::vector<backend> backends_;
    std::shared_ptr<const chash::algorithm> algo_;
    // The placement this one replaced, for previous_owner(): its algorithm, its backend ids
    // (node i's id is previous_ids_[i]) and when this snapshot was built.
    std::shared_ptr<const chash::algorithm> previous_algo_;
    std::vector<std::string> previous_ids_;
    steady_clock::time_point built_at_{};
    std::optional<chash::bounded_load> bounded_;
    std::shared_ptr<load_totals> totals_;  // shared by every snapshot of this process
    std::size_t weighted_ = 0;             // backends with weight > 0
    std::vector<zone_view> zones_;         // empty: zones off
    // Cumulative zone split over the key's zone hash: zone z takes hashes below
    // zone_split_[z] (and above the one before). Written by the control thread.
    std::unique_ptr<std::atomic<std::uint64_t>[]> zone_split_;
};

}  // namespace ringlb
