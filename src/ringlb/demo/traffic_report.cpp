#include "ringlb/demo/traffic_report.hpp"

#include <fmt/format.h>

namespace ringlb::demo {

namespace {

double percent(double share) {
    return 100.0 * share;
}

double ratio(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

std::string format_traffic(std::string_view title, const traffic_result& r) {
    std::string out =
        fmt::format("{}: {:.1f} s, {} requests ({:.0f}/s), p50 {:.2f} ms, p99 {:.2f} ms, {} errors\n", title,
                    r.seconds, r.requests, r.requests_per_second(), static_cast<double>(r.p50_us) / 1000.0,
                    static_cast<double>(r.p99_us) / 1000.0, r.errors);
    out += fmt::format("  {:<10} {:>8} {:>10}\n", "backend", "share", "hit rate");
    for (const backend_tally& b : r.backends) {
        out += fmt::format("  {:<10} {:>7.1f}% {:>9.1f}%\n", b.id, percent(ratio(b.requests, r.requests)),
                           percent(ratio(b.hits, b.requests)));
    }
    out += fmt::format("  {:<10} {:>7.1f}% {:>9.1f}%\n", "all", r.requests == 0 ? 0.0 : 100.0,
                       percent(r.hit_rate()));
    return out;
}

std::string format_comparison(const traffic_result& hashed, const traffic_result& keyless) {
    const double hashed_miss = 1.0 - hashed.hit_rate();
    const double keyless_miss = 1.0 - keyless.hit_rate();
    std::string out = fmt::format(
        "cache hit rate: {:.1f}% with consistent hashing, {:.1f}% with round-robin; database reads per "
        "request: {:.3f} vs {:.3f}",
        percent(hashed.hit_rate()), percent(keyless.hit_rate()), hashed_miss, keyless_miss);
    if (hashed_miss > 0 && keyless_miss > hashed_miss) {
        out += fmt::format(" ({:.1f}x fewer with consistent hashing)", keyless_miss / hashed_miss);
    }
    return out + "\n";
}

std::string format_removals(std::string_view algorithm, const std::vector<removal_effect>& effects,
                            const std::vector<removal_effect>& modulo_effects, std::size_t users) {
    if (effects.empty()) return {};
    std::string out = fmt::format(
        "users that move when one backend is removed ({} over {} users; ideal: only the removed backend's "
        "own, 1/{} = {:.1f}%):\n",
        algorithm, users, effects.size(), 100.0 / static_cast<double>(effects.size()));
    out += fmt::format("  {:<10} {:>8} {:>12} {:>24}\n", "removed", "moved", "it owned",
                       "moved between stayers");
    double sum = 0;
    for (const removal_effect& e : effects) {
        out += fmt::format("  {:<10} {:>7.1f}% {:>11.1f}% {:>24}\n", e.removed, percent(e.moved_share),
                           percent(e.owned_share), e.moved_between_stayers);
        sum += e.moved_share;
    }
    out += fmt::format("  mean {:.1f}% moved with {}", percent(sum / static_cast<double>(effects.size())),
                       algorithm);
    if (!modulo_effects.empty()) {
        double msum = 0;
        for (const removal_effect& e : modulo_effects) msum += e.moved_share;
        out += fmt::format("; hash mod N would move {:.1f}%",
                           percent(msum / static_cast<double>(modulo_effects.size())));
    }
    return out + "\n";
}

}  // namespace ringlb::demo
