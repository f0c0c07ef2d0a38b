// A small SVG chart builder for `fastvlm report`: vertical (grouped) bars with error bars and a
// reference line, horizontal stacked bars, and a scatter plot. Every chart carries a title, axis
// labels with units, ticks at "nice" values (1, 2, 5 x 10^k), a legend and value labels, and uses
// only generic fonts, so the SVG is self-contained (no scripts, fonts or stylesheets to fetch).
// Text is measured with an estimate (0.6 em per character), which is enough to lay out labels.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fastvlm::report {

// Escapes &, <, >, " and ' for XML text and attribute values. Control characters other than tab
// and newline, which XML 1.0 forbids, become U+FFFD; invalid UTF-8 passes through unchanged.
std::string EscapeXml(std::string_view text);

// Ticks covering [lo, hi]: step is 1, 2 or 5 x 10^k, first <= lo, last >= hi, and about
// `target` intervals. Degenerate ranges (lo == hi, NaN, infinities) give a sensible [0, 1] or
// [v - 1, v + 1] style axis rather than failing.
struct Ticks {
  double first = 0, last = 1, step = 1;
  std::vector<double> values;  // first, first + step, ..., last
};
Ticks NiceTicks(double lo, double hi, int target = 5);

// A tick label: as many decimals as the step needs (step 0.25 -> never produced; 0.2 -> "0.4"),
// "-0" printed as "0", thousands not grouped.
std::string FormatTick(double value, double step);
// A value label with `digits` significant digits but no exponent and no trailing ".0"
// (1234.5 -> "1235", 0.01234 -> "0.0123", 2 -> "2").
std::string FormatSig(double value, int digits = 3);

// Colour i of the palette (Okabe-Ito, distinguishable with the common colour-vision deficiencies).
std::string PaletteColor(size_t i);

struct BarSeries {
  std::string name;                          // legend entry
  std::vector<std::optional<double>> values;  // one per category; nullopt: no bar
  std::vector<double> errors;                // +- per category (e.g. std); empty: none
  std::string color;                         // empty: palette colour of the series index
};

// Vertical bars: categories along x, one bar per series in each category.
struct BarChart {
  std::string title, subtitle;  // subtitle: one line under the title (what the numbers are)
  std::string x_label, y_label;  // with units, e.g. "decode rate (tokens/s)"
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  std::optional<double> reference;  // horizontal dashed line, e.g. 1 for "1x"
  std::string reference_label;
  std::string value_suffix;  // appended to value labels, e.g. "x"
  int value_digits = 3;      // significant digits of value labels
  bool legend = true;        // off for a single series whose name the axis already says
};
std::string RenderBarChart(const BarChart& chart);

// Horizontal stacked bars: one bar per row, segments stacked left to right, total at the end.
struct StackedBarChart {
  std::string title, subtitle;
  std::string x_label;                       // with units
  std::vector<std::string> rows;             // bar labels
  std::vector<std::string> segments;         // legend entries, in stacking order
  std::vector<std::vector<double>> values;   // [row][segment], >= 0
  std::vector<std::string> segment_colors;   // empty: palette
  std::string value_suffix;                  // after the total label, e.g. " ms"
};
std::string RenderStackedBarChart(const StackedBarChart& chart);

struct ScatterPoint {
  std::string label;  // written next to the point
  double x = 0, y = 0;
  size_t series = 0;  // index into ScatterChart::series (legend, colour, marker)
};
struct ScatterChart {
  std::string title, subtitle;
  std::string x_label, y_label;
  std::vector<std::string> series;
  std::vector<ScatterPoint> points;
  bool x_from_zero = true, y_from_zero = false;
  std::optional<double> y_max;  // clamp the axis, e.g. 100 for percentages
};
std::string RenderScatterChart(const ScatterChart& chart);

}  // namespace fastvlm::report
