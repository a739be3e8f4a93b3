#include <chash/hash.hpp>
#include <chash/ring.hpp>

#include "nodes.hpp"

#include <algorithm>
#include <bit>
#include <string>

namespace chash {

namespace {

// Points of equal position (a 64-bit collision) are ordered by owner id, not by list
// position, so that any permutation of the nodes builds the same ring.
struct point_order {
    const std::vector<node>* nodes;
    bool operator()(const ring::point& a, const ring::point& b) const noexcept {
        if (a.position != b.position) return a.position < b.position;
        return (*nodes)[a.owner].id < (*nodes)[b.owner].id;
    }
};

std::uint64_t points_of(const node& n, std::uint32_t vnodes_per_weight) {
    return std::uint64_t{n.weight} * vnodes_per_weight;
}

void append_points(std::vector<ring::point>& out, const node& n, std::uint32_t owner,
                   std::uint32_t vnodes_per_weight) {
    const std::uint64_t count = points_of(n, vnodes_per_weight);
    for (std::uint64_t j = 0; j < count; ++j) out.push_back({node_hash(n.id, j), owner});
}

void check_total(std::uint64_t total, std::string_view who) {
    if (total > max_ring_points) {
        throw error(std::string{who} + ": weights x vnodes_per_weight give " + std::to_string(total) +
                    " ring points, over the limit of " + std::to_string(max_ring_points) +
                    " (lower the weights or vnodes)");
    }
}

}  // namespace

ring ring::build(std::span<const node> nodes, const options& opts) {
    detail::validate(nodes, "ring");
    if (opts.vnodes_per_weight == 0) throw error("ring: vnodes_per_weight must be at least 1");
    std::uint64_t total = 0;
    for (const node& n : nodes) {
        total += points_of(n, opts.vnodes_per_weight);
        check_total(total, "ring");
    }
    ring r;
    r.vnodes_per_weight_ = opts.vnodes_per_weight;
    r.nodes_.assign(nodes.begin(), nodes.end());
    std::vector<point> raw;
    raw.reserve(total);
    for (std::uint32_t i = 0; i < r.nodes_.size(); ++i)
        append_points(raw, r.nodes_[i], i, r.vnodes_per_weight_);

    // Positions are uniform, so a counting sort on the bucket bits does almost all the
    // sorting in two linear passes and yields the lookup index as its prefix sums; what is
    // left is ordering the ~1 point inside each bucket.
    r.size_index(raw.size());
    std::vector<std::uint32_t>& start = r.index_;
    for (const point& p : raw) ++start[(p.position >> r.shift_) + 1];
    for (std::size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
    std::vector<std::uint32_t> cursor(start.begin(), start.end() - 1);
    r.points_.resize(raw.size());
    for (const point& p : raw) r.points_[cursor[p.position >> r.shift_]++] = p;
    const point_order less{&r.nodes_};
    for (std::size_t b = 0; b + 1 < start.size(); ++b) {
        if (start[b + 1] - start[b] > 1) {
            std::sort(r.points_.begin() + start[b], r.points_.begin() + start[b + 1], less);
        }
    }
    r.finish();
    return r;
}

ring ring::with_node_added(const node& n) const {
    std::vector<node> list = nodes_;
    list.push_back(n);
    detail::validate(list, "ring");
    check_total(points_.size() + points_of(n, vnodes_per_weight_), "ring");

    ring r;
    r.vnodes_per_weight_ = vnodes_per_weight_;
    r.nodes_ = std::move(list);
    std::vector<point> added;
    added.reserve(points_of(n, vnodes_per_weight_));
    append_points(added, n, static_cast<std::uint32_t>(nodes_.size()), vnodes_per_weight_);
    std::sort(added.begin(), added.end(), point_order{&r.nodes_});
    r.points_.resize(points_.size() + added.size());
    std::merge(points_.begin(), points_.end(), added.begin(), added.end(), r.points_.begin(),
               point_order{&r.nodes_});
    r.index_sorted_points();
    r.finish();
    return r;
}

ring ring::with_node_removed(std::string_view id) const {
    const auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const node& n) { return n.id == id; });
    if (it == nodes_.end()) throw error("ring: cannot remove '" + std::string{id} + "': no such node");
    const auto gone = static_cast<std::uint32_t>(it - nodes_.begin());

    ring r;
    r.vnodes_per_weight_ = vnodes_per_weight_;
    r.nodes_ = nodes_;
    r.nodes_.erase(r.nodes_.begin() + gone);
    detail::validate(r.nodes_, "ring");
    r.points_.reserve(points_.size());
    for (const point& p : points_) {
        if (p.owner == gone) continue;
        r.points_.push_back({p.position, p.owner > gone ? p.owner - 1 : p.owner});
    }
    r.index_sorted_points();
    r.finish();
    return r;
}

void ring::size_index(std::size_t points) {
    // About one point per bucket: a pick reads index_[bucket] and scans ~1 point.
    const std::size_t buckets = std::max<std::size_t>(2, std::bit_ceil(points));
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(buckets));
    index_.assign(buckets + 1, 0);
}

void ring::index_sorted_points() {
    size_index(points_.size());
    for (const point& p : points_) ++index_[(p.position >> shift_) + 1];
    for (std::size_t b = 1; b < index_.size(); ++b) index_[b] += index_[b - 1];
}

void ring::finish() {
    distinct_owners_ = 0;
    for (const node& n : nodes_) distinct_owners_ += n.weight > 0 ? 1 : 0;
    fingerprint_ = detail::fingerprint(chash::kind::ring, vnodes_per_weight_, nodes_);
}

std::size_t ring::first_at_or_after(std::uint64_t h) const noexcept {
    const std::size_t b = h >> shift_;
    std::size_t i = index_[b];
    const std::size_t end = index_[b + 1];
    while (i < end && points_[i].position < h) ++i;
    return i == points_.size() ? 0 : i;
}

std::size_t ring::pick_hashed(std::uint64_t key_hash) const noexcept {
    if (points_.empty()) return npos;
    return points_[first_at_or_after(key_hash)].owner;
}

std::size_t ring::candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept {
    if (points_.empty() || out.empty()) return 0;
    const std::size_t want = std::min(out.size(), distinct_owners_);
    std::size_t count = 0;
    std::size_t i = first_at_or_after(key_hash);
    for (std::size_t walked = 0; walked < points_.size() && count < want; ++walked) {
        count = detail::push_distinct(out, count, points_[i].owner);
        if (++i == points_.size()) i = 0;
    }
    return count;
}

std::size_t ring::memory_bytes() const noexcept {
    return points_.capacity() * sizeof(point) + index_.capacity() * sizeof(std::uint32_t) +
           nodes_.capacity() * sizeof(node);
}

}  // namespace chash
