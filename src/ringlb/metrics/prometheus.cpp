#include "ringlb/metrics/prometheus.hpp"

#include <fmt/format.h>

namespace ringlb::metrics {

std::string escape_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type == "info" ? std::string_view{"gauge"} : type);
}

void exposition::labels(std::initializer_list<label> list, std::string_view extra_name,
                        std::string_view extra_value) {
    if (list.size() == 0 && extra_name.empty()) return;
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : list) {
        if (!first) out_ += ',';
        first = false;
        fmt::format_to(std::back_inserter(out_), "{}=\"{}\"", k, escape_label(v));
    }
    if (!extra_name.empty())
        fmt::format_to(std::back_inserter(out_), "{}{}=\"{}\"", first ? "" : ",", extra_name, extra_value);
    out_ += '}';
}

void exposition::sample(std::string_view name, std::initializer_list<label> list, std::uint64_t value) {
    out_ += name;
    labels(list);
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void exposition::sample(std::string_view name, std::initializer_list<label> list, double value) {
    out_ += name;
    labels(list);
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void exposition::histogram(std::string_view name, std::initializer_list<label> list,
                           const latency_totals& t) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < latency_buckets; ++i) {
        cumulative += t.buckets[i];
        const std::string le = i < latency_bounds_us.size()
                                   ? fmt::format("{}", static_cast<double>(latency_bounds_us[i]) / 1e6)
                                   : std::string{"+Inf"};
        fmt::format_to(std::back_inserter(out_), "{}_bucket", name);
        labels(list, "le", le);
        fmt::format_to(std::back_inserter(out_), " {}\n", cumulative);
    }
    fmt::format_to(std::back_inserter(out_), "{}_sum", name);
    labels(list);
    fmt::format_to(std::back_inserter(out_), " {}\n", static_cast<double>(t.sum_us) / 1e6);
    fmt::format_to(std::back_inserter(out_), "{}_count", name);
    labels(list);
    fmt::format_to(std::back_inserter(out_), " {}\n", cumulative);
}

}  // namespace ringlb::metrics
