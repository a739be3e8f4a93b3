#include "ringlb/tools/node_list.hpp"

#include <algorithm>
#include <charconv>
#include <unordered_set>

namespace ringlb::tools {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = s.find(sep, start);
        parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return parts;
        start = end + 1;
    }
}

bool all_digits(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::unique_ptr<const chash::algorithm> pool::build() const {
    try {
        return chash::make(algorithm, nodes, options);
    } catch (const chash::error& e) {
        throw usage_error(std::string{chash::to_string(algorithm)} + ": " + e.what());
    }
}

chash::kind parse_algorithm(std::string_view name) {
    if (const auto k = chash::parse_kind(name)) return *k;
    throw usage_error("unknown algorithm \"" + std::string{name} +
                      "\"; expected ring, ketama, maglev, rendezvous, jump or modulo");
}

unsigned id_width(std::uint64_t count) noexcept {
    unsigned digits = 1;
    for (std::uint64_t n = count; n >= 10; n /= 10) ++digits;
    return std::max(digits, 3u);
}

std::string generated_id(std::uint64_t i, unsigned width) {
    std::string digits = std::to_string(i + 1);
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    return "node-" + digits;
}

std::uint64_t parse_count(std::string_view flag, std::string_view text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        throw usage_error(std::string{flag} + ": \"" + std::string{text} + "\" is not a non-negative integer");
    }
    if (v < min || v > max) {
        throw usage_error(std::string{flag} + ": " + std::to_string(v) + " is out of range " + std::to_string(min) +
                          ".." + std::to_string(max));
    }
    return v;
}

std::vector<chash::node> parse_nodes(std::string_view spec, unsigned width) {
    std::vector<chash::node> nodes;
    if (all_digits(spec)) {
        const std::uint64_t n = parse_count("--nodes", spec, 1, max_tool_nodes);
        const unsigned w = width == 0 ? id_width(n) : width;
        nodes.reserve(n);
        for (std::uint64_t i = 0; i < n; ++i) nodes.push_back(chash::node{generated_id(i, w), 1});
        return nodes;
    }
    if (spec.empty()) throw usage_error("--nodes: expected a count or a comma-separated list of ids");
    std::unordered_set<std::string_view> seen;
    for (const std::string_view id : split(spec, ',')) {
        if (id.empty()) throw usage_error("--nodes: empty id in \"" + std::string{spec} + "\"");
        if (!seen.insert(id).second) throw usage_error("--nodes: duplicate id \"" + std::string{id} + "\"");
        nodes.push_back(chash::node{std::string{id}, 1});
    }
    if (nodes.size() > max_tool_nodes) throw usage_error("--nodes: more than " + std::to_string(max_tool_nodes) + " ids");
    return nodes;
}

void apply_weights(std::vector<chash::node>& nodes, std::string_view spec) {
    const auto parts = split(spec, ',');
    if (parts.size() != 1 && parts.size() != nodes.size()) {
        throw usage_error("--weights: " + std::to_string(parts.size()) + " weights for " +
                          std::to_string(nodes.size()) + " nodes; give one weight, or one per node");
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const std::string_view w = parts.size() == 1 ? parts[0] : parts[i];
        nodes[i].weight = static_cast<std::uint32_t>(parse_count("--weights", w, 0, 1'000'000));
    }
}

pool pool_from_config(const config& cfg) {
    return pool{cfg.routing.algorithm, chash_nodes(cfg), chash_options(cfg.routing)};
}

config load_config_for_tool(const std::string& path) {
    config_result r = load_config(path);
    if (r.value) return std::move(*r.value);
    std::string message;
    for (const auto& e : r.errors) {
        if (!message.empty()) message += '\n';
        message += e.to_string();
    }
    throw usage_error(message);
}

}  // namespace ringlb::tools
