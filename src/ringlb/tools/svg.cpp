#include "ringlb/tools/svg.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace ringlb::tools::svg {
namespace {

constexpr double chart_width = 960;
constexpr double chart_height = 440;
constexpr double margin_left = 90;
constexpr double margin_right = 30;
constexpr double margin_top = 56;
constexpr double margin_bottom = 110;  // rotated node labels and the x axis label
constexpr const char* axis_colour = "#333333";
constexpr const char* grid_colour = "#e5e5e5";
constexpr const char* bar_colour = "#4e79a7";
constexpr const char* accent_colour = "#e15759";
constexpr const char* reference_colour = "#f28e2b";
constexpr std::array<const char*, 6> palette{"#4e79a7", "#e15759", "#59a14f",
                                             "#b07aa1", "#f28e2b", "#76b7b2"};

// Fixed, locale-independent number formatting: the output is golden-tested.
std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    std::string s{buf};
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? "0" : s;
}

// Tick labels: thousands as "12k" on axes that reach 10000 (every label of the axis alike),
// small fractions with the digits they need.
std::string tick_label(double v, double step, bool thousands) {
    char buf[32];
    if (thousands) {
        std::snprintf(buf, sizeof buf, "%gk", v / 1000);
    } else if (step >= 1) {
        std::snprintf(buf, sizeof buf, "%.0f", v);
    } else {
        const int digits = std::clamp(static_cast<int>(std::ceil(-std::log10(step))), 0, 6);
        std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    }
    return buf;
}

class canvas {
public:
    void line(double x1, double y1, double x2, double y2, std::string_view colour, double width = 1,
              std::string_view dash = {}) {
        out_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
                "\" stroke=\"" + std::string{colour} + "\" stroke-width=\"" + num(width) + "\"";
        if (!dash.empty()) out_ += " stroke-dasharray=\"" + std::string{dash} + "\"";
        out_ += "/>\n";
    }
    void rect(double x, double y, double w, double h, std::string_view fill, std::string_view tooltip = {}) {
        out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
                num(h) + "\" fill=\"" + std::string{fill} + "\"";
        if (tooltip.empty()) {
            out_ += "/>\n";
        } else {
            out_ += "><title>" + xml_escape(tooltip) + "</title></rect>\n";
        }
    }
    void circle(double x, double y, double r, std::string_view fill, std::string_view tooltip) {
        out_ += "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"" + num(r) + "\" fill=\"" +
                std::string{fill} + "\"><title>" + xml_escape(tooltip) + "</title></circle>\n";
    }
    void polyline(const std::vector<std::pair<double, double>>& points, std::string_view colour) {
        out_ += "<polyline fill=\"none\" stroke=\"" + std::string{colour} + "\" stroke-width=\"2\" points=\"";
        for (std::size_t i = 0; i < points.size(); ++i) {
            if (i) out_ += ' ';
            out_ += num(points[i].first) + "," + num(points[i].second);
        }
        out_ += "\"/>\n";
    }
    // anchor: start | middle | end; rotate in degrees around (x, y).
    void text(double x, double y, std::string_view s, double size, std::string_view anchor = "start",
              double rotate = 0, std::string_view weight = "normal", bool halo = false) {
        out_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) +
                "\" text-anchor=\"" + std::string{anchor} + "\"";
        if (weight != "normal") out_ += " font-weight=\"" + std::string{weight} + "\"";
        // A white outline under the glyphs keeps a label readable where it crosses a line.
        if (halo) out_ += " stroke=\"#ffffff\" stroke-width=\"4\" paint-order=\"stroke\"";
        if (rotate != 0) out_ += " transform=\"rotate(" + num(rotate) + " " + num(x) + " " + num(y) + ")\"";
        out_ += ">" + xml_escape(s) + "</text>\n";
    }
    void raw(std::string_view s) { out_ += s; }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

// The plotting area of one chart, offset vertically by its position in the stack.
struct frame {
    double top;  // of the chart, in document coordinates
    double left() const { return margin_left; }
    double right() const { return chart_width - margin_right; }
    double plot_top() const { return top + margin_top; }
    double plot_bottom() const { return top + chart_height - margin_bottom; }
    double width() const { return right() - left(); }
    double height() const { return plot_bottom() - plot_top(); }
};

void draw_frame(canvas& c, const frame& f, std::string_view title, std::string_view x_label,
                std::string_view y_label, const std::vector<double>& y_ticks, double y_lo, double y_hi) {
    c.text(chart_width / 2, f.top + 28, title, 17, "middle", 0, "bold");
    const auto y_of = [&](double v) { return f.plot_bottom() - (v - y_lo) / (y_hi - y_lo) * f.height(); };
    const double step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1;
    const bool thousands = y_ticks.back() >= 10000 && std::fmod(step, 1000) == 0;
    for (const double t : y_ticks) {
        const double y = y_of(t);
        c.line(f.left(), y, f.right(), y, grid_colour);
        c.text(f.left() - 8, y + 4, tick_label(t, step, thousands), 12, "end");
    }
    c.line(f.left(), f.plot_top(), f.left(), f.plot_bottom(), axis_colour, 1.5);
    c.line(f.left(), f.plot_bottom(), f.right(), f.plot_bottom(), axis_colour, 1.5);
    c.text(22, (f.plot_top() + f.plot_bottom()) / 2, y_label, 13, "middle", -90);
    c.text((f.left() + f.right()) / 2, f.top + chart_height - 12, x_label, 13, "middle");
}

void draw_reference(canvas& c, const frame& f, double y, std::string_view label) {
    c.line(f.left(), y, f.right(), y, reference_colour, 2, "6 4");
    c.text(f.right() - 4, y - 6, label, 12, "end", 0, "normal", true);
}

void draw(canvas& c, const frame& f, const bar_chart& chart) {
    double hi = 0;
    for (const auto& b : chart.bars) hi = std::max(hi, b.value);
    if (chart.reference) hi = std::max(hi, *chart.reference);
    auto ticks = nice_ticks(0, hi > 0 ? hi : 1);
    const double top = ticks.back();
    draw_frame(c, f, chart.title, chart.x_label, chart.y_label, ticks, 0, top);
    const auto y_of = [&](double v) { return f.plot_bottom() - v / top * f.height(); };
    const std::size_t n = chart.bars.size();
    if (n == 0) return;
    const double slot = f.width() / static_cast<double>(n);
    const double gap = slot > 6 ? slot * 0.15 : 0;
    // Label at most ~48 bars so the names stay legible; every bar keeps a tooltip.
    const std::size_t label_every = std::max<std::size_t>(1, (n + 47) / 48);
    for (std::size_t i = 0; i < n; ++i) {
        const auto& b = chart.bars[i];
        const double x = f.left() + slot * static_cast<double>(i);
        const double y = y_of(b.value);
        c.rect(x + gap / 2, y, slot - gap, f.plot_bottom() - y, b.highlight ? accent_colour : bar_colour,
               b.label + ": " + num(b.value));
        if (i % label_every == 0) {
            const double cx = x + slot / 2;
            c.text(cx, f.plot_bottom() + 14, b.label, 11, "end", -45);
        }
    }
    if (chart.reference) draw_reference(c, f, y_of(*chart.reference), chart.reference_label);
    if (!chart.highlight_label.empty()) {
        c.rect(f.left() + 8, f.plot_top() - 22, 12, 12, accent_colour);
        c.text(f.left() + 26, f.plot_top() - 12, chart.highlight_label, 12);
    }
}

void draw(canvas& c, const frame& f, const line_chart& chart) {
    double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
    bool any = false;
    for (const auto& s : chart.lines) {
        for (const auto& [x, y] : s.points) {
            if (!any) {
                x_lo = x_hi = x;
                y_lo = y_hi = y;
                any = true;
            }
            x_lo = std::min(x_lo, x);
            x_hi = std::max(x_hi, x);
            y_lo = std::min(y_lo, y);
            y_hi = std::max(y_hi, y);
        }
    }
    if (chart.reference) {
        y_lo = std::min(y_lo, *chart.reference);
        y_hi = std::max(y_hi, *chart.reference);
    }
    if (y_hi <= y_lo) y_hi = y_lo + 1;
    const auto ticks = nice_ticks(y_lo, y_hi);
    const double lo = ticks.front();
    const double hi = ticks.back();
    draw_frame(c, f, chart.title, chart.x_label, chart.y_label, ticks, lo, hi);
    if (!any) return;
    const bool log_x = chart.log_x && x_lo > 0;
    const auto tx = [&](double x) { return log_x ? std::log10(x) : x; };
    const double span = tx(x_hi) - tx(x_lo);
    const auto x_of = [&](double x) {
        return span <= 0 ? (f.left() + f.right()) / 2 : f.left() + (tx(x) - tx(x_lo)) / span * f.width();
    };
    const auto y_of = [&](double y) { return f.plot_bottom() - (y - lo) / (hi - lo) * f.height(); };
    // X ticks at the data points of the first series: sweeps are sparse and their x values
    // are what the reader asked for.
    const auto& first = chart.lines.front().points;
    const std::size_t label_every = std::max<std::size_t>(1, (first.size() + 23) / 24);
    for (std::size_t i = 0; i < first.size(); i += label_every) {
        const double x = x_of(first[i].first);
        c.line(x, f.plot_bottom(), x, f.plot_bottom() + 5, axis_colour);
        c.text(x, f.plot_bottom() + 18, num(first[i].first), 11, "end", -45);
    }
    if (chart.reference) draw_reference(c, f, y_of(*chart.reference), chart.reference_label);
    double legend_x = f.left() + 12;
    for (std::size_t k = 0; k < chart.lines.size(); ++k) {
        const auto& s = chart.lines[k];
        const char* colour = palette[k % palette.size()];
        std::vector<std::pair<double, double>> pts;
        for (const auto& [x, y] : s.points) pts.emplace_back(x_of(x), y_of(y));
        c.polyline(pts, colour);
        for (std::size_t i = 0; i < pts.size(); ++i) {
            c.circle(pts[i].first, pts[i].second, 3.5, colour,
                     s.name + ": " + num(s.points[i].first) + " -> " + num(s.points[i].second));
        }
        if (chart.lines.size() > 1 || !s.name.empty()) {
            // The legend sits in the margin above the plot, one row, so it never hides data.
            const double ly = f.plot_top() - 16;
            c.line(legend_x, ly, legend_x + 24, ly, colour, 2);
            c.text(legend_x + 30, ly + 4, s.name, 12);
            legend_x += 30 + 7 * static_cast<double>(s.name.size()) + 24;
        }
    }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
    if (!(hi > lo)) hi = lo + 1;
    const double raw = (hi - lo) / std::max(target, 1);
    const double magnitude = std::pow(10, std::floor(std::log10(raw)));
    double step = magnitude;
    for (const double m : {1.0, 2.0, 5.0, 10.0}) {
        step = m * magnitude;
        if (step >= raw) break;
    }
    std::vector<double> ticks;
    const double first = std::floor(lo / step + 1e-9) * step;
    // Index-based so 0.1-sized steps do not accumulate rounding error.
    for (int k = 0; k <= 100; ++k) {
        const double t = first + step * k;
        ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
        if (t >= hi - 1e-9 * step) break;
    }
    if (ticks.size() < 2) ticks.push_back(first + step);
    return ticks;
}

std::string xml_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char ch : s) {
        switch (ch) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += ch;
        }
    }
    return out;
}

std::string render(std::span<const chart> charts) {
    canvas c;
    const double height = chart_height * static_cast<double>(std::max<std::size_t>(charts.size(), 1));
    c.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    c.raw("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(chart_width) + "\" height=\"" +
          num(height) + "\" viewBox=\"0 0 " + num(chart_width) + " " + num(height) +
          "\" font-family=\"Helvetica, Arial, sans-serif\">\n");
    c.rect(0, 0, chart_width, height, "#ffffff");
    for (std::size_t i = 0; i < charts.size(); ++i) {
        const frame f{chart_height * static_cast<double>(i)};
        std::visit([&](const auto& ch) { draw(c, f, ch); }, charts[i]);
    }
    c.raw("</svg>\n");
    return c.take();
}

}  // namespace ringlb::tools::svg
