// chash/modulo.hpp: hash % n, the baseline that consistent hashing exists to replace.
//
//   auto m = chash::modulo::build(nodes);
//   std::size_t i = m.pick("user-42");          // hash64(key) % nodes
//
// Buckets are the nodes sorted by id (so any permutation of the list maps alike), but
// placement depends on n: adding or removing one node moves about (n-1)/n of all keys. Kept for comparison
// (ringlb simulate shows it). Weights: not supported (every weight must be 1). Candidates: (hash + attempt) %
// n.
//
// Thread-safety: immutable after build; concurrent readers need no synchronisation.
#pragma once

#include <chash/algorithm.hpp>

#include <vector>

namespace chash {

class modulo final : public algorithm {
public:
    [[nodiscard]] static modulo build(std::span<const node> nodes, const options& opts = {});

    chash::kind kind() const noexcept override { return chash::kind::modulo; }
    std::size_t size() const noexcept override { return by_id_.size(); }
    std::size_t pick_hashed(std::uint64_t key_hash) const noexcept override {
        return by_id_.empty() ? npos : by_id_[key_hash % by_id_.size()];
    }
    std::size_t candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept override;
    std::uint64_t fingerprint() const noexcept override { return fingerprint_; }
    std::size_t memory_bytes() const noexcept override { return by_id_.capacity() * sizeof(std::uint32_t); }

private:
    modulo() = default;
    std::vector<std::uint32_t> by_id_;  // bucket -> node index, buckets in id order
    std::uint64_t fingerprint_ = 0;
};

}  // namespace chash
