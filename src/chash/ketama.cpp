#include <chash/ketama.hpp>

#include "nodes.hpp"

// MD5() is deprecated in OpenSSL 3 in favour of EVP_Digest, but EVP allocates a context on
// every call, and pick must not allocate. The one-shot MD5() does not.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace chash {

namespace {

constexpr std::uint32_t points_per_server = 160;  // libmemcached MEMCACHED_POINTS_PER_SERVER_KETAMA
constexpr std::uint32_t points_per_digest = 4;
constexpr std::string_view default_port_suffix = ":11211";

using digest = std::array<unsigned char, MD5_DIGEST_LENGTH>;

digest md5(std::string_view bytes) noexcept {
    digest d;
    MD5(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), d.data());
    return d;
}

std::uint32_t word_le(const digest& d, std::size_t word) noexcept {
    const std::size_t at = word * 4;
    return std::uint32_t{d[at]} | std::uint32_t{d[at + 1]} << 8 | std::uint32_t{d[at + 2]} << 16 |
           std::uint32_t{d[at + 3]} << 24;
}

// How many digests libmemcached gives a server. The arithmetic is single-precision float on
// purpose, in libmemcached's order of operations, so rounding matches it exactly.
std::uint32_t digests_for(std::uint32_t weight, std::uint64_t total_weight, std::size_t servers) noexcept {
    const float pct = static_cast<float>(weight) / static_cast<float>(total_weight);
    float share = pct * static_cast<float>(points_per_server);
    share = share / static_cast<float>(points_per_digest);
    share = share * static_cast<float>(servers);
    const auto rounded = static_cast<float>(static_cast<double>(share) + 0.0000000001);
    return static_cast<std::uint32_t>(std::floor(rounded));
}

// libmemcached names a server "host-N" on the default port and "host:port-N" otherwise.
std::string_view point_name_base(std::string_view id) noexcept {
    if (id.size() > default_port_suffix.size() && id.ends_with(default_port_suffix)) {
        id.remove_suffix(default_port_suffix.size());
    }
    return id;
}

}  // namespace

std::uint32_t ketama_key_hash(std::string_view key) noexcept {
    return word_le(md5(key), 0);
}

ketama ketama::build(std::span<const node> nodes, const options&) {
    detail::validate(nodes, "ketama");
    std::uint64_t total_weight = 0;
    for (const node& n : nodes) total_weight += n.weight;

    ketama k;
    k.size_ = nodes.size();
    std::uint64_t total_points = 0;
    for (const node& n : nodes) {
        if (n.weight > 0)
            total_points += std::uint64_t{digests_for(n.weight, total_weight, nodes.size())} * 4;
    }
    if (total_points > max_ring_points) {
        throw error("ketama: " + std::to_string(total_points) + " points is over the limit of " +
                    std::to_string(max_ring_points));
    }
    k.points_.reserve(total_points);
    std::string name;
    for (std::uint32_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].weight == 0) continue;
        const std::uint32_t digests = digests_for(nodes[i].weight, total_weight, nodes.size());
        const std::string_view base = point_name_base(nodes[i].id);
        for (std::uint32_t d = 0; d < digests; ++d) {
            name.assign(base);
            name += '-';
            name += std::to_string(d);
            const digest md = md5(name);
            for (std::size_t w = 0; w < points_per_digest; ++w) k.points_.push_back({word_le(md, w), i});
        }
    }
    std::sort(k.points_.begin(), k.points_.end(), [&](const point& a, const point& b) {
        if (a.position != b.position) return a.position < b.position;
        return nodes[a.owner].id < nodes[b.owner].id;
    });
    std::vector<bool> owns(nodes.size(), false);
    for (const point& p : k.points_) owns[p.owner] = true;
    k.distinct_owners_ = static_cast<std::size_t>(std::count(owns.begin(), owns.end(), true));
    k.fingerprint_ = detail::fingerprint(chash::kind::ketama, points_per_server, nodes);
    return k;
}

std::uint64_t ketama::hash_key(std::string_view key) const noexcept {
    return ketama_key_hash(key);
}

std::size_t ketama::first_at_or_after(std::uint32_t h) const noexcept {
    const auto it = std::lower_bound(points_.begin(), points_.end(), h,
                                     [](const point& p, std::uint32_t v) { return p.position < v; });
    return it == points_.end() ? 0 : static_cast<std::size_t>(it - points_.begin());
}

std::size_t ketama::pick_hashed(std::uint64_t key_hash) const noexcept {
    if (points_.empty()) return npos;
    return points_[first_at_or_after(static_cast<std::uint32_t>(key_hash))].owner;
}

std::size_t ketama::candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept {
    if (points_.empty() || out.empty()) return 0;
    const std::size_t want = std::min(out.size(), distinct_owners_);
    std::size_t count = 0;
    std::size_t i = first_at_or_after(static_cast<std::uint32_t>(key_hash));
    for (std::size_t walked = 0; walked < points_.size() && count < want; ++walked) {
        count = detail::push_distinct(out, count, points_[i].owner);
        if (++i == points_.size()) i = 0;
    }
    return count;
}

}  // namespace chash
