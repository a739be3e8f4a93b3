#include <chash/modulo.hpp>

#include "nodes.hpp"

namespace chash {

modulo modulo::build(std::span<const node> nodes, const options&) {
    detail::validate(nodes, "modulo");
    detail::require_unit_weights(nodes, "modulo");
    modulo m;
    m.by_id_ = detail::order_by_id(nodes);
    m.fingerprint_ = detail::fingerprint(chash::kind::modulo, 0, nodes);
    return m;
}

std::size_t modulo::candidates(std::uint64_t key_hash, std::span<std::size_t> out) const noexcept {
    const std::size_t n = by_id_.size();
    const std::size_t want = std::min(out.size(), n);
    for (std::size_t a = 0; a < want; ++a) out[a] = by_id_[(key_hash + a) % n];
    return want;
}

}  // namespace chash
