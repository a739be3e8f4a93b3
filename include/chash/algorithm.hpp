// chash/algorithm.hpp: the one concept every placement algorithm implements.
//
//   auto algo = chash::make(chash::kind::maglev, nodes, {});   // unique_ptr<const algorithm>
//   std::uint64_t h = algo->hash_key("user-42");
//   std::size_t first = algo->pick_hashed(h);
//   std::array<std::size_t, 3> replicas;
//   std::size_t n = algo->candidates(h, replicas);             // distinct, preference order
//
// Thread-safety: a built algorithm is immutable; any number of threads may call its const
// members concurrently without synchronisation.
#pragma once

#include <chash/node.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace chash {

enum class kind : std::uint8_t { ring, ketama, maglev, rendezvous, jump, modulo };

/// "ring", "ketama", ... for a kind.
[[nodiscard]] std::string_view to_string(kind k) noexcept;
/// The kind named `name`, or nullopt for an unknown name.
[[nodiscard]] std::optional<kind> parse_kind(std::string_view name) noexcept;

/// Build parameters; each algorithm reads the ones that concern it.
struct options {
    std::uint32_t vnodes_per_weight = 160;  ///< ring: points per unit of weight
    std::uint32_t table_size = 65537;       ///< maglev: a prime, > number of nodes
    friend bool operator==(const options&, const options&) = default;
};

/// The most ring points (all nodes together) a ring may hold: 8 Mi points use 128 MiB.
/// A weight or vnode count past it is an error, not a multi-gigabyte allocation.
inline constexpr std::size_t max_ring_points = std::size_t{1} << 23;
/// The largest maglev table (a prime at most this) and the most nodes any algorithm takes.
inline constexpr std::uint32_t max_table_size = 16'777'213;
inline constexpr std::size_t max_nodes = 1'000'000;

class algorithm {
public:
    virtual ~algorithm() = default;

    [[nodiscard]] virtual chash::kind kind() const noexcept = 0;
    /// Number of nodes given to build (including those of weight 0).
    [[nodiscard]] virtual std::size_t size() const noexcept = 0;

    /// Hash of a key as this algorithm consumes it: hash64 for all but ketama, which hashes
    /// keys with MD5 as libketama does. Hash once, then pick_hashed / candidates.
    [[nodiscard]] virtual std::uint64_t hash_key(std::string_view key) const noexcept;

    /// Index of the node owning `key_hash`, or npos when no node can own anything.
    /// Allocation-free.
    [[nodiscard]] virtual std::size_t pick_hashed(std::uint64_t key_hash) const noexcept = 0;

    /// Writes up to out.size() distinct node indices in preference order, the first being
    /// pick_hashed(key_hash); returns how many were written (fewer when the nodes run out).
    /// Allocation-free; costs O(out.size()^2) for deduplication, so ask for what you use.
    virtual std::size_t candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept = 0;

    /// A digest of everything that decides placement (algorithm, parameters, node ids and
    /// weights, independent of node order): equal fingerprints route every key alike.
    [[nodiscard]] virtual std::uint64_t fingerprint() const noexcept = 0;

    /// Bytes of lookup state held (points, tables, per-node records), for capacity planning.
    [[nodiscard]] virtual std::size_t memory_bytes() const noexcept = 0;

    [[nodiscard]] std::size_t pick(std::string_view key) const noexcept { return pick_hashed(hash_key(key)); }
};

/// Builds the algorithm of the given kind. Throws chash::error on bad input.
[[nodiscard]] std::unique_ptr<const algorithm> make(kind k, std::span<const node> nodes,
                                                    const options& opts = {});

}  // namespace chash
