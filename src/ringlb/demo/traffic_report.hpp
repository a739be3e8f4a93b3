// ringlb/demo/traffic_report.hpp: `ringlb demo --traffic` results as text.
//
//   std::cout << ringlb::demo::format_traffic("consistent hashing", keyed)
//             << ringlb::demo::format_traffic("round-robin", keyless)
//             << ringlb::demo::format_comparison(keyed, keyless)
//             << ringlb::demo::format_removals("ring", ring_effects, modulo_effects, users);
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/demo/movement.hpp"
#include "ringlb/demo/traffic.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ringlb::demo {

/// One run: a summary line, then per backend its share of requests and its cache hit rate.
[[nodiscard]] std::string format_traffic(std::string_view title, const traffic_result& r);

/// The two runs side by side: hit rates and database reads per request.
[[nodiscard]] std::string format_comparison(const traffic_result& hashed, const traffic_result& keyless);

/// Users moved per removed backend under `algorithm`, the ideal, and hash-mod-N's figure.
[[nodiscard]] std::string format_removals(std::string_view algorithm,
                                          const std::vector<removal_effect>& effects,
                                          const std::vector<removal_effect>& modulo_effects,
                                          std::size_t users);

}  // namespace ringlb::demo
