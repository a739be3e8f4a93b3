// chash/rendezvous.hpp: highest random weight (Thaler & Ravishankar 1998), weighted.
//
//   auto r = chash::rendezvous::build(nodes);
//   std::size_t i = r.pick("user-42");          // O(nodes) per pick
//
// Every node scores every key: u = mix64(key_hash ^ hash64(id)) mapped to (0, 1), and
// score = -weight / ln(u) (the logarithmic method, exact weight shares). The highest score
// wins; candidates are the following scores in order. When all weights are equal the score
// is u itself (the same order, no logarithm). Removing a node moves only its keys and adding
// one moves keys only to it, whatever the weights.
//
// Thread-safety: immutable after build; concurrent readers need no synchronisation.
#pragma once

#include <chash/algorithm.hpp>

#include <vector>

namespace chash {

class rendezvous final : public algorithm {
public:
    [[nodiscard]] static rendezvous build(std::span<const node> nodes, const options& opts = {});

    chash::kind kind() const noexcept override { return chash::kind::rendezvous; }
    std::size_t size() const noexcept override { return members_.size(); }
    std::size_t pick_hashed(std::uint64_t key_hash) const noexcept override;
    std::size_t candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept override;
    std::uint64_t fingerprint() const noexcept override { return fingerprint_; }
    std::size_t memory_bytes() const noexcept override { return members_.capacity() * sizeof(member); }

private:
    struct member {
        std::uint64_t id_hash;
        double weight;
    };
    rendezvous() = default;

    std::vector<member> members_;
    bool equal_weights_ = true;
    std::uint64_t fingerprint_ = 0;
};

}  // namespace chash
