#include <chash/algorithm.hpp>
#include <chash/hash.hpp>
#include <chash/jump.hpp>
#include <chash/ketama.hpp>
#include <chash/maglev.hpp>
#include <chash/modulo.hpp>
#include <chash/rendezvous.hpp>
#include <chash/ring.hpp>

#include <array>
#include <utility>

namespace chash {

namespace {
constexpr std::array<std::pair<kind, std::string_view>, 6> names{{
    {kind::ring, "ring"},
    {kind::ketama, "ketama"},
    {kind::maglev, "maglev"},
    {kind::rendezvous, "rendezvous"},
    {kind::jump, "jump"},
    {kind::modulo, "modulo"},
}};
}  // namespace

std::string_view to_string(kind k) noexcept {
    for (const auto& [value, name] : names) {
        if (value == k) return name;
    }
    return "unknown";
}

std::optional<kind> parse_kind(std::string_view name) noexcept {
    for (const auto& [value, text] : names) {
        if (text == name) return value;
    }
    return std::nullopt;
}

std::uint64_t algorithm::hash_key(std::string_view key) const noexcept {
    return hash64(key);
}

std::unique_ptr<const algorithm> make(kind k, std::span<const node> nodes, const options& opts) {
    switch (k) {
        case kind::ring:
            return std::make_unique<ring>(ring::build(nodes, opts));
        case kind::ketama:
            return std::make_unique<ketama>(ketama::build(nodes, opts));
        case kind::maglev:
            return std::make_unique<maglev>(maglev::build(nodes, opts));
        case kind::rendezvous:
            return std::make_unique<rendezvous>(rendezvous::build(nodes, opts));
        case kind::jump:
            return std::make_unique<jump>(jump::build(nodes, opts));
        case kind::modulo:
            return std::make_unique<modulo>(modulo::build(nodes, opts));
    }
    throw error("make: unknown algorithm kind");
}

}  // namespace chash
