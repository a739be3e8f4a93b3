// chash/maglev.hpp: Maglev hashing (Eisenbud et al., NSDI 2016, section 3.4).
//
//   auto m = chash::maglev::build(nodes, {.table_size = 65537});
//   std::size_t i = m.pick("user-42");         // one table load
//
// Each node walks its own permutation of a prime-sized table (offset and skip from hash64
// of its id with seeds 1 and 2), taking turns in id order, weighted: a node of weight w
// takes w turns for every max-weight turn. A key's slot is ((hash >> 32) * table_size) >> 32
// (multiply-shift, no division). Lookups are O(1) with near-perfect balance; a removal
// moves somewhat more than the removed node's share (measured in tests and benchmarks).
// Candidates after the first are the distinct owners met walking the table forward from
// the key's slot, so a down node's keys spread over all the others.
//
// Thread-safety: immutable after build; concurrent readers need no synchronisation.
#pragma once

#include <chash/algorithm.hpp>

#include <vector>

namespace chash {

class maglev final : public algorithm {
public:
    /// Throws chash::error unless table_size is a prime greater than the node count and at
    /// most max_table_size.
    [[nodiscard]] static maglev build(std::span<const node> nodes, const options& opts = {});

    chash::kind kind() const noexcept override { return chash::kind::maglev; }
    std::size_t size() const noexcept override { return size_; }
    std::size_t pick_hashed(std::uint64_t key_hash) const noexcept override {
        if (table_.empty()) return npos;
        return table_[slot(key_hash)];
    }
    std::size_t candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept override;
    std::uint64_t fingerprint() const noexcept override { return fingerprint_; }
    std::size_t memory_bytes() const noexcept override { return table_.capacity() * sizeof(std::uint32_t); }

    [[nodiscard]] std::span<const std::uint32_t> table() const noexcept { return table_; }

private:
    maglev() = default;
    std::size_t slot(std::uint64_t key_hash) const noexcept {
        // Multiply-shift over the top 32 bits: uniform, no division (table_size < 2^24).
        return static_cast<std::size_t>(((key_hash >> 32) * table_.size()) >> 32);
    }

    std::size_t size_ = 0;
    std::size_t distinct_owners_ = 0;
    std::vector<std::uint32_t> table_;
    std::uint64_t fingerprint_ = 0;
};

}  // namespace chash
