// chash/jump.hpp: jump consistent hash (Lamping & Veach 2014) for numbered shards.
//
//   auto j = chash::jump::build(shards);        // buckets are the shards in id order
//   std::size_t bucket = j.pick("user-42");
//
// No stored state, O(log n) per pick, perfect balance. Limits, by design of the algorithm:
// weights are not supported (every weight must be 1), and only the node with the greatest id
// can be removed without moving other keys (bucket numbers are positions in id order, so
// name shards so that a new one sorts last: "shard-007", "shard-008"). Candidates after
// the first are found by rehashing (jump(mix64(hash + attempt))), then in index order.
//
// Thread-safety: immutable after build; concurrent readers need no synchronisation.
#pragma once

#include <chash/algorithm.hpp>

#include <vector>

namespace chash {

class jump final : public algorithm {
public:
    /// Throws chash::error for a weight other than 1, and for duplicate or empty ids.
    [[nodiscard]] static jump build(std::span<const node> nodes, const options& opts = {});

    chash::kind kind() const noexcept override { return chash::kind::jump; }
    std::size_t size() const noexcept override { return by_id_.size(); }
    std::size_t pick_hashed(std::uint64_t key_hash) const noexcept override;
    std::size_t candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept override;
    std::uint64_t fingerprint() const noexcept override { return fingerprint_; }
    std::size_t memory_bytes() const noexcept override { return by_id_.capacity() * sizeof(std::uint32_t); }

private:
    jump() = default;
    std::vector<std::uint32_t> by_id_;  // bucket -> node index, buckets in id order
    std::uint64_t fingerprint_ = 0;
};

/// The published algorithm: bucket in [0, buckets) for a 64-bit key; -1 for 0 buckets.
[[nodiscard]] std::int32_t jump_consistent_hash(std::uint64_t key, std::int32_t buckets) noexcept;

}  // namespace chash
