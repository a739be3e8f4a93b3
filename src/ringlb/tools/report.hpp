// ringlb/tools/report.hpp: simulate's results as text tables, JSON and SVG charts.
//
//   ringlb::tools::report_options opts{.timing = false};     // reproducible output
//   std::cout << ringlb::tools::format_table(result, opts);
//   std::cout << ringlb::tools::to_json(result, opts).dump(2);
//   std::string svg = ringlb::tools::svg::render(ringlb::tools::charts_for(result));
//
// Build time and lookup time vary from run to run; everything else is a pure function of
// the inputs. `timing = false` leaves the timings out so output can be golden-tested.
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/tools/experiments.hpp"
#include "ringlb/tools/simulation.hpp"
#include "ringlb/tools/svg.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ringlb::tools {

struct report_options {
    bool timing = true;      ///< include build ms and lookup ns
    bool per_node = false;   ///< table: one row per node (JSON always has them)
};

[[nodiscard]] std::string format_table(const simulation& r, const report_options& opts = {});
[[nodiscard]] std::string format_sweep_table(const std::vector<sweep_point>& points, const report_options& opts = {});
[[nodiscard]] std::string format_compare_table(const std::vector<compare_row>& rows, const report_options& opts = {});

[[nodiscard]] nlohmann::json to_json(const simulation& r, const report_options& opts = {});
[[nodiscard]] nlohmann::json sweep_to_json(const std::vector<sweep_point>& points, const report_options& opts = {});
[[nodiscard]] nlohmann::json compare_to_json(const std::vector<compare_row>& rows, const report_options& opts = {});

/// Keys per node with the mean line; with a change, also keys gained per node.
[[nodiscard]] std::vector<svg::chart> charts_for(const simulation& r);
/// Peak/mean (and min/mean) against the swept value.
[[nodiscard]] std::vector<svg::chart> charts_for_sweep(const std::vector<sweep_point>& points);
/// Peak/mean per algorithm; with a change, moved / ideal per algorithm.
[[nodiscard]] std::vector<svg::chart> charts_for_compare(const std::vector<compare_row>& rows);

/// "256.0 KiB", "1.5 MiB": bytes for people.
[[nodiscard]] std::string human_bytes(std::size_t bytes);

}  // namespace ringlb::tools
