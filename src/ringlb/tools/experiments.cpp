#include "ringlb/tools/experiments.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace ringlb::tools {

std::vector<std::uint64_t> sweep_spec::values() const {
    std::vector<std::uint64_t> v;
    if (steps <= 1 || from == to) return {from};
    const double ratio = std::log(static_cast<double>(to) / static_cast<double>(from));
    for (unsigned i = 0; i < steps; ++i) {
        const double x = static_cast<double>(from) * std::exp(ratio * i / (steps - 1));
        v.push_back(i + 1 == steps ? to : static_cast<std::uint64_t>(std::llround(x)));
    }
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

sweep_spec parse_sweep(std::string_view text) {
    const auto bad = [&](std::string_view why) {
        return usage_error("--sweep \"" + std::string{text} + "\": " + std::string{why} +
                           "; expected vnodes=FROM..TO[:STEPS], e.g. vnodes=10..2000");
    };
    sweep_spec spec;
    const std::size_t eq = text.find('=');
    if (eq == std::string_view::npos) throw bad("missing '='");
    spec.parameter = std::string{text.substr(0, eq)};
    if (spec.parameter != "vnodes") throw bad("only vnodes can be swept");
    std::string_view range = text.substr(eq + 1);
    if (const std::size_t colon = range.find(':'); colon != std::string_view::npos) {
        spec.steps = static_cast<unsigned>(parse_count("--sweep steps", range.substr(colon + 1), 2, 200));
        range = range.substr(0, colon);
    }
    const std::size_t dots = range.find("..");
    if (dots == std::string_view::npos) throw bad("missing '..'");
    spec.from = parse_count("--sweep", range.substr(0, dots), 1, std::uint64_t{1} << 20);
    spec.to = parse_count("--sweep", range.substr(dots + 2), 1, std::uint64_t{1} << 20);
    if (spec.to <= spec.from) throw bad("TO must be greater than FROM");
    return spec;
}

std::vector<sweep_point> run_sweep(const scenario& base, const sweep_spec& spec) {
    if (base.before.algorithm != chash::kind::ring) {
        throw usage_error("--sweep vnodes: vnodes only shape --algorithm ring");
    }
    std::vector<sweep_point> points;
    for (const std::uint64_t v : spec.values()) {
        scenario s = base;
        s.before.options.vnodes_per_weight = static_cast<std::uint32_t>(v);
        points.push_back(sweep_point{v, simulate(s)});
    }
    return points;
}

std::vector<compare_row> run_compare(const scenario& base) {
    static constexpr std::array<chash::kind, 6> kinds{chash::kind::ring,       chash::kind::ketama,
                                                      chash::kind::maglev,     chash::kind::rendezvous,
                                                      chash::kind::jump,       chash::kind::modulo};
    std::vector<compare_row> rows;
    for (const chash::kind k : kinds) {
        scenario s = base;
        s.before.algorithm = k;
        compare_row row{k, std::nullopt, {}};
        try {
            row.result = simulate(s);
        } catch (const usage_error& e) {
            row.error = e.what();
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

}  // namespace ringlb::tools
