#include <chash/hash.hpp>
#include <chash/jump.hpp>

#include "nodes.hpp"

namespace chash {

std::int32_t jump_consistent_hash(std::uint64_t key, std::int32_t buckets) noexcept {
    std::int64_t b = -1;
    std::int64_t j = 0;
    while (j < buckets) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = static_cast<std::int64_t>(
            static_cast<double>(b + 1) *
            (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
    }
    return static_cast<std::int32_t>(b);
}

jump jump::build(std::span<const node> nodes, const options&) {
    detail::validate(nodes, "jump");
    detail::require_unit_weights(nodes, "jump");
    jump j;
    j.by_id_ = detail::order_by_id(nodes);
    j.fingerprint_ = detail::fingerprint(chash::kind::jump, 0, nodes);
    return j;
}

std::size_t jump::pick_hashed(std::uint64_t key_hash) const noexcept {
    if (by_id_.empty()) return npos;
    return by_id_[static_cast<std::size_t>(
        jump_consistent_hash(key_hash, static_cast<std::int32_t>(by_id_.size())))];
}

std::size_t jump::candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept {
    const std::size_t n = by_id_.size();
    const std::size_t want = std::min(out.size(), n);
    if (want == 0) return 0;
    const auto buckets = static_cast<std::int32_t>(n);
    const auto first = static_cast<std::size_t>(jump_consistent_hash(key_hash, buckets));
    std::size_t count = detail::push_distinct(out, 0, by_id_[first]);
    // Rehash probes give an even spread of a bucket's keys over the others; a bounded
    // number of them, then the remaining buckets in order, so the walk always ends.
    for (std::uint64_t attempt = 1; count < want && attempt <= 4 * want; ++attempt) {
        const auto b = static_cast<std::size_t>(jump_consistent_hash(mix64(key_hash + attempt), buckets));
        count = detail::push_distinct(out, count, by_id_[b]);
    }
    for (std::size_t step = 1; count < want && step < n; ++step) {
        count = detail::push_distinct(out, count, by_id_[(first + step) % n]);
    }
    return count;
}

}  // namespace chash
