// The SVG writer: ticks, escaping, and charts that carry what they claim.
#include "ringlb/tools/svg.hpp"

#include "golden_file.hpp"

#include <gtest/gtest.h>

namespace ringlb::tools::svg {
namespace {

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

TEST(svg, nice_ticks_cover_the_range_with_round_steps) {
    EXPECT_EQ(nice_ticks(0, 10234), (std::vector<double>{0, 5000, 10000, 15000}));
    EXPECT_EQ(nice_ticks(0, 10000), (std::vector<double>{0, 2000, 4000, 6000, 8000, 10000}));
    const auto t = nice_ticks(0.97, 1.21);
    EXPECT_LE(t.front(), 0.97);
    EXPECT_GE(t.back(), 1.21);
    EXPECT_NEAR(t[1] - t[0], 0.05, 1e-12);
    EXPECT_GE(nice_ticks(5, 5).size(), 2u);   // an empty range still gets an axis
}

TEST(svg, text_is_escaped) {
    EXPECT_EQ(xml_escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
    bar_chart c;
    c.title = "<script>";
    c.bars = {{"x&y", 1, false}};
    const std::string doc = render({c});
    EXPECT_EQ(doc.find("<script>"), std::string::npos);
    EXPECT_NE(doc.find("&lt;script&gt;"), std::string::npos);
}

TEST(svg, bar_chart_has_a_bar_per_value_axes_and_the_mean_line) {
    bar_chart c;
    c.title = "Keys per node";
    c.x_label = "node";
    c.y_label = "keys";
    c.bars = {{"a", 90, false}, {"b", 110, false}, {"c", 100, true}};
    c.reference = 100;
    c.reference_label = "mean";
    c.highlight_label = "new";
    const std::string doc = render({c});
    EXPECT_EQ(doc.rfind("<?xml", 0), 0u);
    EXPECT_EQ(doc.substr(doc.size() - 7), "</svg>\n");
    EXPECT_EQ(count(doc, "<title>"), 3u);              // one tooltip per bar
    EXPECT_EQ(count(doc, "stroke-dasharray"), 1u);     // the mean line
    EXPECT_NE(doc.find(">mean</text>"), std::string::npos);
    EXPECT_NE(doc.find(">keys</text>"), std::string::npos);
    EXPECT_GOLDEN("bar_chart.svg", doc);
}

TEST(svg, line_chart_golden) {
    line_chart c;
    c.title = "peak/mean against vnodes";
    c.x_label = "vnodes";
    c.y_label = "ratio";
    c.log_x = true;
    c.lines = {{"peak", {{10, 1.9}, {100, 1.3}, {1000, 1.1}}}, {"min", {{10, 0.5}, {100, 0.8}, {1000, 0.93}}}};
    c.reference = 1.0;
    c.reference_label = "perfect";
    const std::string doc = render({c});
    EXPECT_EQ(count(doc, "<polyline"), 2u);
    EXPECT_EQ(count(doc, "<circle"), 6u);
    EXPECT_GOLDEN("line_chart.svg", doc);
}

}  // namespace
}  // namespace ringlb::tools::svg
