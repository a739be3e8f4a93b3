// ringlb/metrics/prometheus.hpp: the Prometheus text exposition format (version 0.0.4).
//
//   ringlb::metrics::exposition out;
//   out.family("ringlb_requests_total", "counter", "Requests answered.");
//   out.sample("ringlb_requests_total", {{"backend", "app-1"}}, 42);
//   out.histogram("ringlb_backend_response_seconds", {{"backend", "app-1"}}, totals);
//   std::string body = out.take();   // Content-Type: text/plain; version=0.0.4
//
// Label values are escaped (backslash, double quote, newline) so any backend id or
// fingerprint is safe to expose; every family gets its HELP and TYPE once, before its
// samples, as the format requires.
//
// Thread-safety: a value type; one thread at a time.
#pragma once

#include "ringlb/metrics/histogram.hpp"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ringlb::metrics {

using label = std::pair<std::string_view, std::string_view>;

class exposition {
public:
    /// Starts a family: its HELP and TYPE lines ("counter", "gauge", "histogram", "info"
    /// is written as a gauge).
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value);
    void sample(std::string_view name, std::initializer_list<label> labels, double value);
    /// name_bucket{le=...} (cumulative), name_sum (seconds) and name_count.
    void histogram(std::string_view name, std::initializer_list<label> labels, const latency_totals& t);
    [[nodiscard]] std::string take() { return std::move(out_); }

private:
    void labels(std::initializer_list<label> labels, std::string_view extra_name = {},
                std::string_view extra_value = {});
    std::string out_;
};

/// `value` escaped for a label value.
[[nodiscard]] std::string escape_label(std::string_view value);

}  // namespace ringlb::metrics
