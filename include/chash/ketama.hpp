// chash/ketama.hpp: a ring compatible with libketama / libmemcached's weighted ketama.
//
//   std::vector<chash::node> servers{{"10.0.0.1:11211", 1}, {"10.0.0.2:11211", 2}};
//   auto k = chash::ketama::build(servers);
//   std::size_t i = k.pick("user-42");   // same server libmemcached picks with
//                                        // MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED
//
// Node ids are libmemcached server names "host:port". As libmemcached does, a server on
// the default port 11211 is hashed as "host-N", any other as "host:port-N". Each server gets
// floor(weight / total * 40 * servers) MD5 digests of 4 points each; keys hash to the first
// 4 bytes of their MD5 (little-endian). Ties between two servers' 32-bit points, rare, are
// broken by id; libmemcached breaks them by list order (identical for lists sorted by id).
// Because weights are normalised by their total, changing one server's weight (or adding
// or removing a server when weights differ) also rescales every other server's points and
// moves some keys between unchanged servers; use ring when that matters.
//
// Thread-safety: immutable after build; concurrent readers need no synchronisation.
#pragma once

#include <chash/algorithm.hpp>

#include <vector>

namespace chash {

class ketama final : public algorithm {
public:
    struct point {
        std::uint32_t position;
        std::uint32_t owner;
    };

    [[nodiscard]] static ketama build(std::span<const node> nodes, const options& opts = {});

    chash::kind kind() const noexcept override { return chash::kind::ketama; }
    std::size_t size() const noexcept override { return size_; }
    std::uint64_t hash_key(std::string_view key) const noexcept override;
    std::size_t pick_hashed(std::uint64_t key_hash) const noexcept override;
    std::size_t candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept override;
    std::uint64_t fingerprint() const noexcept override { return fingerprint_; }
    std::size_t memory_bytes() const noexcept override { return points_.capacity() * sizeof(point); }

    [[nodiscard]] std::span<const point> points() const noexcept { return points_; }

private:
    ketama() = default;
    std::size_t first_at_or_after(std::uint32_t h) const noexcept;

    std::size_t size_ = 0;
    std::size_t distinct_owners_ = 0;
    std::vector<point> points_;
    std::uint64_t fingerprint_ = 0;
};

/// The 32-bit key hash libketama uses: the first 4 bytes of MD5(key), little-endian.
[[nodiscard]] std::uint32_t ketama_key_hash(std::string_view key) noexcept;

}  // namespace chash
