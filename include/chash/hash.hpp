// chash/hash.hpp: the key hash that decides placement.
//
//   std::uint64_t h = chash::hash64("user-42");   // XXH3-64, seed 0
//   std::size_t i = ring.pick_hashed(h);
//
// hash64 is XXH3-64 with seed 0 and is fixed forever: changing it would move every key.
// Never use std::hash or a per-process seeded hash for placement (it differs between runs
// and between processes, so two balancers would disagree).
#pragma once

#include <cstdint>
#include <string_view>

namespace chash {

/// XXH3-64 of `bytes` with seed 0. Thread-safe, allocation-free.
[[nodiscard]] std::uint64_t hash64(std::string_view bytes) noexcept;

/// XXH3-64 of `bytes` with the given seed (used to derive per-node points and probes).
[[nodiscard]] std::uint64_t hash64(std::string_view bytes, std::uint64_t seed) noexcept;

/// MurmurHash3's 64-bit finalizer: every input bit flips each output bit with probability
/// ~1/2. Combines a key hash with a node hash (rendezvous) or an attempt number (probes).
/// Fixed forever, like hash64.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/// The hash of a node id under a small salt (a ring point's index, a weight). XXH3 folds
/// the seed of a 1..3-byte input in linearly (combined ^ (constant + seed)), so ids such as
/// "db1" and "db2" would share most of their ring points under seeds 0, 1, 2 ...; for those
/// ids the salt goes through mix64 first. Longer ids hash with the salt as it is (placement
/// of existing ids never moves). Fixed forever, like hash64.
[[nodiscard]] inline std::uint64_t node_hash(std::string_view id, std::uint64_t salt) noexcept {
    return hash64(id, id.size() <= 3 ? mix64(salt + 0x9e3779b97f4a7c15ULL) : salt);
}

}  // namespace chash
