#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace fastvlm::report {
namespace {

constexpr double kCharWidth = 0.6;  // average sans-serif glyph width, in em
constexpr double kTitleSize = 16, kTextSize = 12, kSmallSize = 10;
constexpr const char* kAxisColor = "#333";
constexpr const char* kGridColor = "#e3e3e3";
constexpr const char* kMutedColor = "#555";

// Width of `text` at `size` px, counting UTF-8 code points (not bytes).
double TextWidth(std::string_view text, double size) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n * size * kCharWidth;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

// Accumulates the elements of one <svg>.
class Svg {
 public:
  void Text(double x, double y, std::string_view text, double size, const char* anchor = "start",
            const std::string& extra = "") {
    out_ += "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" font-size=\"" + Num(size) +
            "\" text-anchor=\"" + anchor + "\"" + (extra.empty() ? "" : " " + extra) + ">" +
            EscapeXml(text) + "</text>\n";
  }
  void Line(double x1, double y1, double x2, double y2, const char* color, double width = 1,
            const std::string& extra = "") {
    out_ += "<line x1=\"" + Num(x1) + "\" y1=\"" + Num(y1) + "\" x2=\"" + Num(x2) + "\" y2=\"" +
            Num(y2) + "\" stroke=\"" + color + "\" stroke-width=\"" + Num(width) + "\"" +
            (extra.empty() ? "" : " " + extra) + "/>\n";
  }
  // A filled rectangle; `tooltip` becomes a <title> child (shown on hover).
  void Rect(double x, double y, double w, double h, const std::string& fill,
            const std::string& tooltip = "") {
    out_ += "<rect x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + Num(std::max(w, 0.0)) +
            "\" height=\"" + Num(std::max(h, 0.0)) + "\" fill=\"" + fill + "\"";
    if (tooltip.empty()) {
      out_ += "/>\n";
    } else {
      out_ += "><title>" + EscapeXml(tooltip) + "</title></rect>\n";
    }
  }
  // Scatter markers: circle, square, diamond, triangle (by series index).
  void Marker(double x, double y, size_t kind, const std::string& fill,
              const std::string& tooltip) {
    const double r = 5.5;
    std::string shape;
    switch (kind % 4) {
      case 0:
        shape = "<circle cx=\"" + Num(x) + "\" cy=\"" + Num(y) + "\" r=\"" + Num(r) + "\"";
        break;
      case 1:
        shape = "<rect x=\"" + Num(x - r) + "\" y=\"" + Num(y - r) + "\" width=\"" + Num(2 * r) +
                "\" height=\"" + Num(2 * r) + "\"";
        break;
      case 2:
        shape = "<polygon points=\"" + Num(x) + "," + Num(y - r * 1.3) + " " + Num(x + r * 1.3) +
                "," + Num(y) + " " + Num(x) + "," + Num(y + r * 1.3) + " " + Num(x - r * 1.3) +
                "," + Num(y) + "\"";
        break;
      default:
        shape = "<polygon points=\"" + Num(x) + "," + Num(y - r * 1.3) + " " + Num(x + r * 1.2) +
                "," + Num(y + r * 0.9) + " " + Num(x - r * 1.2) + "," + Num(y + r * 0.9) + "\"";
    }
    out_ += shape + " fill=\"" + fill + "\" stroke=\"#222\" stroke-width=\"0.8\"><title>" +
            EscapeXml(tooltip) + "</title>" + (kind % 4 == 0 ? "</circle>" : "") +
            (kind % 4 == 1 ? "</rect>" : "") + (kind % 4 >= 2 ? "</polygon>" : "") + "\n";
  }
  void Raw(const std::string& s) { out_ += s; }

  // The finished document: root element with size, accessible title and white background.
  std::string Finish(double width, double height, const std::string& title) const {
    const std::string w = Num(std::ceil(width)), h = Num(std::ceil(height));
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" + w +
           "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h +
           "\" role=\"img\" aria-label=\"" + EscapeXml(title) +
           "\" font-family=\"Helvetica, Arial, sans-serif\">\n<title>" + EscapeXml(title) +
           "</title>\n<rect x=\"0\" y=\"0\" width=\"" + w + "\" height=\"" + h +
           "\" fill=\"#ffffff\"/>\n" + out_ + "</svg>\n";
  }

 private:
  std::string out_;
};

// Title and subtitle at the top; returns the y below them.
double Header(Svg& svg, const std::string& title, const std::string& subtitle, double width) {
  svg.Text(width / 2, 24, title, kTitleSize, "middle", "font-weight=\"bold\"");
  if (subtitle.empty()) return 34;
  svg.Text(width / 2, 42, subtitle, kTextSize, "middle",
           std::string("fill=\"") + kMutedColor + "\"");
  return 52;
}

struct LegendItem {
  std::string name, color;
  int marker = -1;  // -1: a square swatch; >= 0: scatter marker kind
};

// Legend entries flowing left to right in rows that fit in `width`; returns the height used.
double Legend(Svg* svg, const std::vector<LegendItem>& items, double x0, double y0, double width) {
  if (items.empty()) return 0;
  const double row_h = 18;
  double x = x0, y = y0;
  for (const LegendItem& it : items) {
    const double w = 14 + 6 + TextWidth(it.name, kTextSize) + 18;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += row_h;
    }
    if (svg) {
      if (it.marker < 0) {
        svg->Rect(x, y + 1, 12, 12, it.color);
      } else {
        svg->Marker(x + 6, y + 7, it.marker, it.color, it.name);
      }
      svg->Text(x + 18, y + 11, it.name, kTextSize);
    }
    x += w;
  }
  return y + row_h - y0 + 6;
}

std::string EmptyChart(const std::string& title, const std::string& subtitle,
                       const std::string& why) {
  Svg svg;
  const double width = std::max(480.0, TextWidth(title, kTitleSize) + 40);
  const double y = Header(svg, title, subtitle, width);
  svg.Text(width / 2, y + 40, why, kTextSize, "middle",
           std::string("fill=\"") + kMutedColor + "\"");
  return svg.Finish(width, y + 70, title);
}

std::string SeriesColor(const std::string& color, size_t i) {
  return color.empty() ? PaletteColor(i) : color;
}

}  // namespace

std::string EscapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (c < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') {
          out += "\xEF\xBF\xBD";  // U+FFFD: XML 1.0 cannot carry other C0 controls
        } else {
          out += ch;
        }
    }
  }
  return out;
}

Ticks NiceTicks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= 1e-12 * std::max(1.0, std::fabs(hi))) {
    if (hi == 0) {
      hi = 1;
    } else if (lo > 0) {
      lo = 0;
    } else if (hi < 0) {
      hi = 0;
    } else {
      lo -= 1, hi += 1;
    }
  }
  target = std::max(target, 1);
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  Ticks t;
  t.step = nice * mag;
  t.first = std::floor(lo / t.step + 1e-9) * t.step;
  t.last = std::ceil(hi / t.step - 1e-9) * t.step;
  const int n = static_cast<int>(std::lround((t.last - t.first) / t.step));
  for (int i = 0; i <= n; ++i) {
    double v = t.first + i * t.step;
    if (std::fabs(v) < t.step * 1e-9) v = 0;
    t.values.push_back(v);
  }
  return t;
}

std::string FormatTick(double value, double step) {
  int decimals = 0;
  if (step > 0 && std::isfinite(step))
    decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 12), value);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);
  return s;
}

std::string FormatSig(double value, int digits) {
  if (!std::isfinite(value)) return std::isnan(value) ? "n/a" : (value > 0 ? "inf" : "-inf");
  if (value == 0) return "0";
  const int mag = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  const int decimals = std::clamp(digits - 1 - mag, 0, 9);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string PaletteColor(size_t i) {
  static const char* kColors[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                  "#56B4E9", "#D55E00", "#F0E442", "#000000"};
  constexpr size_t n = sizeof kColors / sizeof kColors[0];
  return kColors[i % n];
}

std::string RenderBarChart(const BarChart& c) {
  bool any = false;
  for (const BarSeries& s : c.series)
    for (const auto& v : s.values) any |= v.has_value() && std::isfinite(*v);
  if (c.categories.empty() || !any) return EmptyChart(c.title, c.subtitle, "no data");
  const size_t n_ser = c.series.size();

  // Value labels and bar widths: labels sit above their bar, rotated when wider than it.
  double label_w = 0, lo = 0, hi = 0;
  for (const BarSeries& s : c.series) {
    for (size_t k = 0; k < s.values.size() && k < c.categories.size(); ++k) {
      if (!s.values[k] || !std::isfinite(*s.values[k])) continue;
      const double v = *s.values[k];
      const double e = k < s.errors.size() && std::isfinite(s.errors[k]) ? s.errors[k] : 0;
      label_w = std::max(label_w, TextWidth(FormatSig(v, c.value_digits) + c.value_suffix,
                                            kSmallSize));
      lo = std::min(lo, v - e);
      hi = std::max(hi, v + e);
    }
  }
  if (c.reference) lo = std::min(lo, *c.reference), hi = std::max(hi, *c.reference);
  const double bar_w = std::clamp(label_w + 4, 18.0, 40.0);
  const bool rotate = label_w + 4 > 40;
  const double plot_h = 260;
  // Headroom for the labels above the tallest bar.
  const double label_px = rotate ? label_w + 8 : 16;
  const double span = hi - lo > 0 ? hi - lo : 1;
  const Ticks ticks = NiceTicks(lo < 0 ? lo - span * label_px / plot_h : lo,
                                hi + span * label_px / plot_h);

  double cat_label_w = 0;
  for (const std::string& cat : c.categories)
    cat_label_w = std::max(cat_label_w, TextWidth(cat, kTextSize));
  const double group_w = n_ser * bar_w + (n_ser - 1) * 2;
  const double slot = std::max(group_w + 24, cat_label_w + 14);
  double tick_w = 0;
  for (double v : ticks.values)
    tick_w = std::max(tick_w, TextWidth(FormatTick(v, ticks.step), kTextSize));
  const double left = 28 + tick_w + 10;
  const double plot_w = std::max(420.0, slot * c.categories.size());
  const double width = std::max(left + plot_w + 24, TextWidth(c.title, kTitleSize) + 40);

  std::vector<LegendItem> items;
  if (c.legend)
    for (size_t s = 0; s < n_ser; ++s)
      items.push_back({c.series[s].name, SeriesColor(c.series[s].color, s)});
  if (c.reference && !c.reference_label.empty())
    items.push_back({c.reference_label, "#000000", -2});

  Svg svg;
  double top = Header(svg, c.title, c.subtitle, width);
  // Legend: the reference line gets a dashed stroke instead of a swatch.
  {
    std::vector<LegendItem> swatches;
    for (const LegendItem& it : items)
      if (it.marker != -2) swatches.push_back(it);
    double h = Legend(&svg, swatches, left, top, width - left - 20);
    if (c.reference && !c.reference_label.empty()) {
      const double y = top + h + 7;
      svg.Line(left, y, left + 14, y, "#000", 1.5, "stroke-dasharray=\"4 3\"");
      svg.Text(left + 18, y + 4, c.reference_label, kTextSize);
      h += 18;
    }
    top += h + 8;
  }
  const double plot_top = top, plot_bottom = top + plot_h;
  auto Y = [&](double v) {
    return plot_bottom - (v - ticks.first) / (ticks.last - ticks.first) * plot_h;
  };
  for (double v : ticks.values) {
    svg.Line(left, Y(v), left + plot_w, Y(v), kGridColor);
    svg.Text(left - 6, Y(v) + 4, FormatTick(v, ticks.step), kTextSize, "end");
  }
  for (size_t k = 0; k < c.categories.size(); ++k) {
    const double gx = left + k * slot + (slot - group_w) / 2;
    for (size_t s = 0; s < n_ser; ++s) {
      const BarSeries& ser = c.series[s];
      if (k >= ser.values.size() || !ser.values[k] || !std::isfinite(*ser.values[k])) continue;
      const double v = *ser.values[k];
      const double e = k < ser.errors.size() && std::isfinite(ser.errors[k]) ? ser.errors[k] : 0;
      const double x = gx + s * (bar_w + 2);
      const std::string label = FormatSig(v, c.value_digits) + c.value_suffix;
      std::string tip = ser.name + " / " + c.categories[k] + ": " + label;
      if (e > 0) tip += " \xC2\xB1 " + FormatSig(e, c.value_digits);
      svg.Rect(x, Y(std::max(v, 0.0)), bar_w, std::fabs(Y(v) - Y(0)),
               SeriesColor(ser.color, s), tip);
      if (e > 0) {
        const double cx = x + bar_w / 2;
        svg.Line(cx, Y(v - e), cx, Y(v + e), "#222", 1.2);
        svg.Line(cx - 4, Y(v + e), cx + 4, Y(v + e), "#222", 1.2);
        svg.Line(cx - 4, Y(v - e), cx + 4, Y(v - e), "#222", 1.2);
      }
      const double cx = x + bar_w / 2;
      if (v >= 0) {
        const double ly = Y(v + e) - 4;
        if (rotate) {
          svg.Text(cx + 3.5, ly, label, kSmallSize, "start",
                   "transform=\"rotate(-90 " + Num(cx + 3.5) + " " + Num(ly) + ")\"");
        } else {
          svg.Text(cx, ly, label, kSmallSize, "middle");
        }
      } else {
        const double ly = Y(v - e) + 12;
        svg.Text(cx, ly, label, kSmallSize, "middle");
      }
    }
    svg.Text(left + k * slot + slot / 2, plot_bottom + 18, c.categories[k], kTextSize, "middle");
  }
  if (c.reference) {
    svg.Line(left, Y(*c.reference), left + plot_w, Y(*c.reference), "#000", 1.5,
             "stroke-dasharray=\"6 4\"");
  }
  svg.Line(left, plot_top, left, plot_bottom, kAxisColor);
  svg.Line(left, Y(0), left + plot_w, Y(0), kAxisColor);
  svg.Text(left + plot_w / 2, plot_bottom + 40, c.x_label, kTextSize, "middle",
           "font-weight=\"bold\"");
  const double ymid = (plot_top + plot_bottom) / 2;
  svg.Text(16, ymid, c.y_label, kTextSize, "middle",
           "font-weight=\"bold\" transform=\"rotate(-90 16 " + Num(ymid) + ")\"");
  return svg.Finish(width, plot_bottom + 54, c.title);
}

std::string RenderStackedBarChart(const StackedBarChart& c) {
  double max_total = 0;
  bool any = false;
  for (const auto& row : c.values) {
    double t = 0;
    for (double v : row)
      if (std::isfinite(v) && v > 0) t += v, any = true;
    max_total = std::max(max_total, t);
  }
  if (c.rows.empty() || c.segments.empty() || !any)
    return EmptyChart(c.title, c.subtitle, "no data");
  const Ticks ticks = NiceTicks(0, max_total);
  double row_label_w = 0;
  for (const std::string& r : c.rows) row_label_w = std::max(row_label_w, TextWidth(r, kTextSize));
  const double left = 16 + row_label_w + 10, plot_w = 520, row_h = 22, gap = 10;
  double total_w = 0;
  for (const auto& row : c.values) {
    double t = 0;
    for (double v : row)
      if (std::isfinite(v) && v > 0) t += v;
    total_w = std::max(total_w, TextWidth(FormatSig(t) + c.value_suffix, kSmallSize));
  }
  const double width = std::max(left + plot_w + total_w + 24, TextWidth(c.title, kTitleSize) + 40);
  std::vector<LegendItem> items;
  for (size_t s = 0; s < c.segments.size(); ++s)
    items.push_back({c.segments[s],
                     s < c.segment_colors.size() ? c.segment_colors[s] : PaletteColor(s)});
  Svg svg;
  double top = Header(svg, c.title, c.subtitle, width);
  top += Legend(&svg, items, 16, top, width - 32) + 8;
  const double plot_h = c.rows.size() * (row_h + gap) + gap;
  const double plot_bottom = top + plot_h;
  auto X = [&](double v) { return left + v / ticks.last * plot_w; };
  for (double v : ticks.values) {
    svg.Line(X(v), top, X(v), plot_bottom, kGridColor);
    svg.Text(X(v), plot_bottom + 16, FormatTick(v, ticks.step), kTextSize, "middle");
  }
  for (size_t r = 0; r < c.rows.size(); ++r) {
    const double y = top + gap + r * (row_h + gap);
    svg.Text(left - 8, y + row_h / 2 + 4, c.rows[r], kTextSize, "end");
    double acc = 0;
    if (r >= c.values.size()) continue;
    for (size_t s = 0; s < c.segments.size() && s < c.values[r].size(); ++s) {
      const double v = c.values[r][s];
      if (!std::isfinite(v) || v <= 0) continue;
      const double x0 = X(acc), x1 = X(acc + v);
      const std::string label = FormatSig(v);
      svg.Rect(x0, y, x1 - x0, row_h, items[s].color,
               c.rows[r] + " / " + c.segments[s] + ": " + label + c.value_suffix);
      // Segment value inside the segment when it fits.
      if (TextWidth(label, kSmallSize) + 6 < x1 - x0) {
        const bool dark = items[s].color == "#000000" || items[s].color == "#0072B2" ||
                          items[s].color == "#D55E00" || items[s].color == "#009E73";
        svg.Text((x0 + x1) / 2, y + row_h / 2 + 3.5, label, kSmallSize, "middle",
                 dark ? "fill=\"#ffffff\"" : "");
      }
      acc += v;
    }
    svg.Text(X(acc) + 5, y + row_h / 2 + 3.5, FormatSig(acc) + c.value_suffix, kSmallSize,
             "start", "font-weight=\"bold\"");
  }
  svg.Line(left, top, left, plot_bottom, kAxisColor);
  svg.Line(left, plot_bottom, left + plot_w, plot_bottom, kAxisColor);
  svg.Text(left + plot_w / 2, plot_bottom + 38, c.x_label, kTextSize, "middle",
           "font-weight=\"bold\"");
  return svg.Finish(width, plot_bottom + 52, c.title);
}

std::string RenderScatterChart(const ScatterChart& c) {
  std::vector<const ScatterPoint*> pts;
  for (const ScatterPoint& p : c.points)
    if (std::isfinite(p.x) && std::isfinite(p.y)) pts.push_back(&p);
  if (pts.empty()) return EmptyChart(c.title, c.subtitle, "no data");
  double x_lo = c.x_from_zero ? 0 : pts[0]->x, x_hi = pts[0]->x;
  double y_lo = c.y_from_zero ? 0 : pts[0]->y, y_hi = pts[0]->y;
  for (const ScatterPoint* p : pts) {
    x_lo = std::min(x_lo, p->x), x_hi = std::max(x_hi, p->x);
    y_lo = std::min(y_lo, p->y), y_hi = std::max(y_hi, p->y);
  }
  // Pad the data range so markers do not sit on the frame (the "from zero" ends stay at 0).
  const double xp = (x_hi - x_lo) * 0.08, yp = (y_hi - y_lo) * 0.08;
  if (!c.x_from_zero) x_lo -= xp;
  if (!c.y_from_zero) y_lo -= yp;
  x_hi += xp, y_hi += yp;
  if (c.y_max) y_hi = std::min(y_hi, *c.y_max), y_lo = std::min(y_lo, *c.y_max);
  const Ticks xt = NiceTicks(x_lo, x_hi), yt = NiceTicks(y_lo, y_hi);
  double tick_w = 0;
  for (double v : yt.values)
    tick_w = std::max(tick_w, TextWidth(FormatTick(v, yt.step), kTextSize));
  const double left = 28 + tick_w + 10, plot_w = 520, plot_h = 300;
  double label_w = 0;
  for (const ScatterPoint* p : pts) label_w = std::max(label_w, TextWidth(p->label, 11));
  const double width =
      std::max(left + plot_w + std::min(label_w, 200.0) / 2 + 24,
               TextWidth(c.title, kTitleSize) + 40);
  std::vector<LegendItem> items;
  for (size_t s = 0; s < c.series.size(); ++s)
    items.push_back({c.series[s], PaletteColor(s), static_cast<int>(s)});
  Svg svg;
  double top = Header(svg, c.title, c.subtitle, width);
  top += Legend(&svg, items, left, top, width - left - 20) + 8;
  const double plot_bottom = top + plot_h;
  auto X = [&](double v) { return left + (v - xt.first) / (xt.last - xt.first) * plot_w; };
  auto Y = [&](double v) { return plot_bottom - (v - yt.first) / (yt.last - yt.first) * plot_h; };
  for (double v : xt.values) {
    svg.Line(X(v), top, X(v), plot_bottom, kGridColor);
    svg.Text(X(v), plot_bottom + 16, FormatTick(v, xt.step), kTextSize, "middle");
  }
  for (double v : yt.values) {
    svg.Line(left, Y(v), left + plot_w, Y(v), kGridColor);
    svg.Text(left - 6, Y(v) + 4, FormatTick(v, yt.step), kTextSize, "end");
  }
  svg.Line(left, top, left, plot_bottom, kAxisColor);
  svg.Line(left, plot_bottom, left + plot_w, plot_bottom, kAxisColor);
  for (const ScatterPoint* p : pts) {
    const double x = X(p->x), y = Y(p->y);
    const std::string tip = p->label + ": (" + FormatSig(p->x) + ", " + FormatSig(p->y) + ")";
    svg.Marker(x, y, p->series, PaletteColor(p->series), tip);
    // Label to the right of the point, or to its left near the right edge.
    const bool flip = x + 9 + TextWidth(p->label, 11) > width - 4;
    svg.Text(flip ? x - 9 : x + 9, y - 7, p->label, 11, flip ? "end" : "start");
  }
  svg.Text(left + plot_w / 2, plot_bottom + 38, c.x_label, kTextSize, "middle",
           "font-weight=\"bold\"");
  const double ymid = top + plot_h / 2;
  svg.Text(16, ymid, c.y_label, kTextSize, "middle",
           "font-weight=\"bold\" transform=\"rotate(-90 16 " + Num(ymid) + ")\"");
  return svg.Finish(width, plot_bottom + 52, c.title);
}

}  // namespace fastvlm::report
