// Private helpers shared by the algorithms: validation and fingerprints of node lists.
#pragma once

#include <chash/algorithm.hpp>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace chash::detail {

/// Throws chash::error for: more than max_nodes nodes, an empty id, duplicate ids, or a
/// list whose weights add up to zero. `who` prefixes the message ("ring: ...").
void validate(std::span<const node> nodes, std::string_view who);

/// Throws chash::error unless every weight is 1 (jump and modulo have no weights).
void require_unit_weights(std::span<const node> nodes, std::string_view who);

/// Indices of `nodes` ordered by id.
[[nodiscard]] std::vector<std::uint32_t> order_by_id(std::span<const node> nodes);

/// Order-free digest of what decides placement: the kind, the parameters the algorithm
/// reads, and every (id, weight) pair.
[[nodiscard]] std::uint64_t fingerprint(kind k, std::uint64_t parameter, std::span<const node> nodes);

/// Appends `value` to out[0..count) if not already there; returns the new count.
inline std::size_t push_distinct(std::span<std::size_t> out, std::size_t count, std::size_t value) noexcept {
    for (std::size_t i = 0; i < count; ++i) {
        if (out[i] == value) return count;
    }
    out[count] = value;
    return count + 1;
}

}  // namespace chash::detail
