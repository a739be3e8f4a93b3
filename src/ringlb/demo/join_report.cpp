#include "ringlb/demo/join_report.hpp"

#include "ringlb/config/values.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace ringlb::demo {

namespace {

std::uint64_t rise(std::uint64_t now, std::uint64_t before) {
    return now >= before ? now - before : 0;
}

const join_second* at(const join_run& run, int second) {
    for (const join_second& s : run.seconds)
        if (s.second == second) return &s;
    return nullptr;
}

std::string columns(const join_second* s) {
    if (s == nullptr) return fmt::format("{:>11} {:>9} {:>10}", "", "", "");
    const double rate = s->new_hit_rate();
    return fmt::format("{:>10.1f}% {:>9} {:>10}", 100.0 * s->new_share(),
                       rate < 0 ? std::string{"-"} : fmt::format("{:.1f}%", 100.0 * rate), s->misses);
}

std::string title(const join_run& run) {
    return run.slow_start.count() == 0
               ? std::string{"instant join (slow_start = 0)"}
               : fmt::format("slow start (slow_start = \"{}\")", format_duration(run.slow_start));
}

}  // namespace

std::vector<join_second> per_second(const std::vector<std::vector<app_counts>>& readings,
                                    std::size_t new_backend, int first_second) {
    std::vector<join_second> out;
    for (std::size_t i = 1; i < readings.size(); ++i) {
        const auto& was = readings[i - 1];
        const auto& now = readings[i];
        join_second s;
        s.second = first_second + static_cast<int>(i) - 1;
        for (std::size_t b = 0; b < now.size() && b < was.size(); ++b) {
            const std::uint64_t hits = rise(now[b].hits, was[b].hits);
            const std::uint64_t misses = rise(now[b].misses, was[b].misses);
            s.requests += hits + misses;
            s.misses += misses;
            if (b == new_backend) {
                s.new_hits = hits;
                s.new_misses = misses;
                s.new_requests = hits + misses;
            }
        }
        out.push_back(s);
    }
    return out;
}

std::uint64_t peak_misses_after_join(const join_run& run) noexcept {
    std::uint64_t peak = 0;
    for (const join_second& s : run.seconds)
        if (s.second >= 0) peak = std::max(peak, s.misses);
    return peak;
}

std::string format_join(const join_run& instant, const join_run& ramped, std::string_view new_backend,
                        int before) {
    const std::string gap = "   |";
    std::string out = fmt::format("  {:>6}   {:<32}{}   {}\n", "", title(instant), gap, title(ramped));
    const std::string head =
        fmt::format("{:>11} {:>9} {:>10}", fmt::format("{} share", new_backend), "hit rate", "db reads/s");
    out += fmt::format("  {:>6}   {}{}   {}\n", "second", head, gap, head);
    int last = 0;
    for (const join_run* r : {&instant, &ramped})
        if (!r->seconds.empty()) last = std::max(last, r->seconds.back().second);
    for (int sec = -before; sec <= last; ++sec) {
        const join_second* a = at(instant, sec);
        const join_second* b = at(ramped, sec);
        if (a == nullptr && b == nullptr) continue;
        const std::string label = sec == 0 ? std::string{"join 0"} : fmt::format("{:+d}", sec);
        out += fmt::format("  {:>6}   {}{}   {}\n", label, columns(a), gap, columns(b));
    }
    const std::uint64_t pa = peak_misses_after_join(instant);
    const std::uint64_t pb = peak_misses_after_join(ramped);
    out += fmt::format("peak database reads/s after the join: {} with an instant join, {} with slow start",
                       pa, pb);
    if (pb > 0 && pa > pb)
        out += fmt::format(" ({:.1f}x lower)", static_cast<double>(pa) / static_cast<double>(pb));
    return out + "\n";
}

}  // namespace ringlb::demo
