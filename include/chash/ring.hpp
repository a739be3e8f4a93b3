// chash/ring.hpp: the classic consistent-hash ring with virtual nodes (the default).
//
//   auto r = chash::ring::build(nodes, {.vnodes_per_weight = 160});
//   std::size_t i = r.pick("user-42");
//   auto bigger = r.with_node_added({"app-5", 1});     // merge, no full re-sort
//   auto smaller = r.with_node_removed("app-2");      // same mapping as a fresh build
//
// Node i owns weight_i * vnodes_per_weight points; point j of a node sits at
// node_hash(id, j) (hash64(id, seed = j), the seed mixed first for ids of 1..3 bytes). A key goes to the first point at or after hash64(key), wrapping.
// Points depend only on the node's own id and weight, so surviving nodes never exchange
// keys. Lookup goes through a radix index over the top bits of the hash (about one point
// per bucket), so a pick costs two dependent loads instead of a binary search.
//
// Thread-safety: immutable after build; concurrent readers need no synchronisation.
#pragma once

#include <chash/algorithm.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace chash {

class ring final : public algorithm {
public:
    struct point {
        std::uint64_t position;
        std::uint32_t owner;  ///< index into the node list
    };

    /// Throws chash::error on duplicate/empty ids, zero total weight (with nodes present),
    /// or more than max_ring_points points.
    [[nodiscard]] static ring build(std::span<const node> nodes, const options& opts = {});

    /// The ring of nodes() + {n} (n appended last), built by merging n's points into this
    /// ring: O(points) instead of a full sort. Equal to a fresh build of that list.
    [[nodiscard]] ring with_node_added(const node& n) const;
    /// The ring of nodes() without `id` (others keep their order). Throws if id is absent.
    [[nodiscard]] ring with_node_removed(std::string_view id) const;

    chash::kind kind() const noexcept override { return chash::kind::ring; }
    std::size_t size() const noexcept override { return nodes_.size(); }
    std::size_t pick_hashed(std::uint64_t key_hash) const noexcept override;
    std::size_t candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept override;
    std::uint64_t fingerprint() const noexcept override { return fingerprint_; }

    [[nodiscard]] const std::vector<node>& nodes() const noexcept { return nodes_; }
    [[nodiscard]] std::span<const point> points() const noexcept { return points_; }
    /// Bytes held by the points, the index and the node list.
    std::size_t memory_bytes() const noexcept override;

private:
    ring() = default;
    void size_index(std::size_t points);  // zeroed index_ and shift_ for that many points
    void index_sorted_points();           // index_ over an already sorted points_
    void finish();                        // owner count and fingerprint
    std::size_t first_at_or_after(std::uint64_t h) const noexcept;

    std::vector<node> nodes_;
    std::vector<point> points_;         // sorted by (position, owner id)
    std::vector<std::uint32_t> index_;  // index_[b] = first point with top bits >= b
    unsigned shift_ = 63;               // bucket of h = h >> shift_
    std::size_t distinct_owners_ = 0;   // nodes with at least one point
    std::uint32_t vnodes_per_weight_ = 160;
    std::uint64_t fingerprint_ = 0;
};

}  // namespace chash
