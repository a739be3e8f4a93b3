// ringlb/tools/svg.hpp: small, dependency-free SVG charts for `ringlb simulate --svg`.
//
//   ringlb::tools::svg::bar_chart share;
//   share.title = "Keys per node (ring, 100 nodes)";
//   share.x_label = "node";
//   share.y_label = "keys";
//   share.bars = {{"node-001", 10234}, {"node-002", 9876}};
//   share.reference = 10000;                 // dashed line across the bars
//   share.reference_label = "mean";
//   std::string doc = ringlb::tools::svg::render({share});   // a standalone .svg file
//
// Charts are stacked vertically in one document, each with axes, tick labels, a title
// and axis labels. Text is XML-escaped. Output depends only on the input (no timestamps),
// so it can be golden-tested and committed.
//
// Thread-safety: pure functions.
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ringlb::tools::svg {

struct bar {
    std::string label;
    double value = 0;
    bool highlight = false;   ///< drawn in the accent colour (e.g. a node that joined)
};

/// Vertical bars from zero, one per label.
struct bar_chart {
    std::string title;
    std::string x_label;
    std::string y_label;
    std::vector<bar> bars;
    std::optional<double> reference;   ///< horizontal dashed line (a mean, an ideal)
    std::string reference_label;
    std::string highlight_label;       ///< legend entry for highlighted bars, if any
};

struct series {
    std::string name;
    std::vector<std::pair<double, double>> points;   ///< (x, y), x ascending
};

/// One polyline with markers per series; the y axis spans the data, not from zero.
struct line_chart {
    std::string title;
    std::string x_label;
    std::string y_label;
    std::vector<series> lines;
    bool log_x = false;                  ///< x positions by log10 (for sweeps over decades)
    std::optional<double> reference;     ///< horizontal dashed line (e.g. 1.0 = perfect)
    std::string reference_label;
};

using chart = std::variant<bar_chart, line_chart>;

/// A complete SVG document with the charts stacked top to bottom.
[[nodiscard]] std::string render(std::span<const chart> charts);
[[nodiscard]] inline std::string render(std::initializer_list<chart> charts) {
    return render(std::span<const chart>{charts.begin(), charts.size()});
}

/// Round tick values covering [lo, hi]: steps of 1, 2 or 5 x 10^k, about `target` of them.
[[nodiscard]] std::vector<double> nice_ticks(double lo, double hi, int target = 5);

/// `s` with &, <, >, " and ' escaped for XML text and attributes.
[[nodiscard]] std::string xml_escape(std::string_view s);

}  // namespace ringlb::tools::svg
