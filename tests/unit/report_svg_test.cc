// The SVG chart builder of `fastvlm report`: tick selection, number formatting, escaping, empty
// data, and that every chart is well-formed XML whose labels appear in it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "report/svg.h"

namespace fastvlm::report {
namespace {

// Minimal XML well-formedness check for our output: tags balance, attributes are quoted, and
// text never contains a raw '<' or an unescaped '&'. Returns "" or a description of the problem.
std::string CheckXml(const std::string& s) {
  std::vector<std::string> stack;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      if (semi == std::string::npos || semi - i > 8) return "bare & at " + std::to_string(i);
      i = semi + 1;
      continue;
    }
    if (s[i] != '<') {
      ++i;
      continue;
    }
    if (s.compare(i, 5, "<?xml") == 0) {
      i = s.find("?>", i) + 2;
      continue;
    }
    const bool closing = s[i + 1] == '/';
    size_t j = i + 1 + closing;
    size_t name_end = j;
    while (name_end < s.size() && (std::isalnum(static_cast<unsigned char>(s[name_end])) ||
                                   s[name_end] == '-' || s[name_end] == ':'))
      ++name_end;
    const std::string name = s.substr(j, name_end - j);
    if (name.empty()) return "bad tag at " + std::to_string(i);
    // Scan to '>' outside of quoted attribute values.
    size_t k = name_end;
    bool in_quote = false;
    for (; k < s.size(); ++k) {
      if (s[k] == '"') in_quote = !in_quote;
      if (!in_quote && s[k] == '<') return "'<' inside tag " + name;
      if (!in_quote && s[k] == '>') break;
    }
    if (k == s.size()) return "unterminated tag " + name;
    const bool self_closing = s[k - 1] == '/';
    if (closing) {
      if (stack.empty() || stack.back() != name)
        return "</" + name + "> closes <" + (stack.empty() ? "" : stack.back()) + ">";
      stack.pop_back();
    } else if (!self_closing) {
      stack.push_back(name);
    }
    i = k + 1;
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  return "";
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

bool IsNiceStep(double step) {
  const double mag = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double f = step / mag;
  return std::fabs(f - 1) < 1e-9 || std::fabs(f - 2) < 1e-9 || std::fabs(f - 5) < 1e-9 ||
         std::fabs(f - 10) < 1e-9;
}

TEST(ReportTicks, KnownRanges) {
  Ticks t = NiceTicks(0, 97);
  EXPECT_EQ(t.step, 20);
  EXPECT_EQ(t.values, (std::vector<double>{0, 20, 40, 60, 80, 100}));
  t = NiceTicks(0, 1);
  EXPECT_NEAR(t.step, 0.2, 1e-12);
  ASSERT_EQ(t.values.size(), 6u);
  EXPECT_NEAR(t.values.back(), 1.0, 1e-12);
  t = NiceTicks(-3, 7);
  EXPECT_EQ(t.step, 2);
  EXPECT_EQ(t.first, -4);
  EXPECT_EQ(t.last, 8);
  EXPECT_EQ(t.values[2], 0);  // zero is exactly zero, not 1e-17
  t = NiceTicks(0, 0.0123);
  EXPECT_NEAR(t.step, 0.002, 1e-15);
  EXPECT_NEAR(t.last, 0.014, 1e-15);
}

TEST(ReportTicks, DegenerateRanges) {
  Ticks t = NiceTicks(0, 0);
  EXPECT_EQ(t.first, 0);
  EXPECT_GE(t.last, 1);
  t = NiceTicks(5, 5);
  EXPECT_EQ(t.first, 0);
  EXPECT_GE(t.last, 5);
  t = NiceTicks(-3, -3);
  EXPECT_LE(t.first, -3);
  EXPECT_EQ(t.last, 0);
  t = NiceTicks(NAN, 3);
  EXPECT_EQ(t.first, 0);
  EXPECT_EQ(t.last, 1);
  t = NiceTicks(0, INFINITY);
  EXPECT_EQ(t.first, 0);
  EXPECT_EQ(t.last, 1);
  t = NiceTicks(10, 0);  // reversed
  EXPECT_EQ(t.first, 0);
  EXPECT_EQ(t.last, 10);
}

TEST(ReportTicks, RandomRangesAreCoveredWithNiceSteps) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> exp10(-6, 9), frac(0, 1);
  for (int i = 0; i < 2000; ++i) {
    const double scale = std::pow(10.0, exp10(rng));
    double lo = (frac(rng) - 0.3) * scale, hi = lo + frac(rng) * scale + 1e-12 * scale;
    if (i % 3 == 0) lo = 0;
    const Ticks t = NiceTicks(lo, hi);
    SCOPED_TRACE(std::to_string(lo) + " .. " + std::to_string(hi));
    EXPECT_TRUE(IsNiceStep(t.step)) << t.step;
    EXPECT_LE(t.first, lo + 1e-9 * std::fabs(lo));
    EXPECT_GE(t.last, hi - 1e-9 * std::fabs(hi));
    EXPECT_GE(t.values.size(), 3u);
    EXPECT_LE(t.values.size(), 12u);
    EXPECT_NEAR(t.values.front(), t.first, t.step * 1e-9);
    EXPECT_NEAR(t.values.back(), t.last, t.step * 1e-6);
  }
}

TEST(ReportFormat, TicksAndValues) {
  EXPECT_EQ(FormatTick(0.4, 0.2), "0.4");
  EXPECT_EQ(FormatTick(1.0, 0.2), "1.0");
  EXPECT_EQ(FormatTick(-0.0, 1), "0");
  EXPECT_EQ(FormatTick(-1e-17, 0.1), "0.0");
  EXPECT_EQ(FormatTick(1000, 500), "1000");
  EXPECT_EQ(FormatTick(0.05, 0.05), "0.05");
  EXPECT_EQ(FormatSig(1234.6), "1235");
  EXPECT_EQ(FormatSig(0.01234), "0.0123");
  EXPECT_EQ(FormatSig(2), "2");
  EXPECT_EQ(FormatSig(2.5), "2.5");
  EXPECT_EQ(FormatSig(0), "0");
  EXPECT_EQ(FormatSig(-41.26), "-41.3");
  EXPECT_EQ(FormatSig(NAN), "n/a");
}

TEST(ReportEscape, XmlSpecialsAndControls) {
  EXPECT_EQ(EscapeXml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(EscapeXml("x\x01y"), "x\xEF\xBF\xBDy");
  EXPECT_EQ(EscapeXml("tab\there"), "tab\there");
  EXPECT_EQ(EscapeXml("2\xC3\x97 faster"), "2\xC3\x97 faster");  // UTF-8 passes through
  EXPECT_EQ(EscapeXml(""), "");
}

BarChart SampleBars() {
  BarChart c;
  c.title = "Decode <speed> & more";
  c.subtitle = "mean \xC2\xB1 std";
  c.x_label = "task";
  c.y_label = "decode rate (tokens/s)";
  c.categories = {"colour", "describe", "a \"quoted\" task"};
  c.series.push_back({"run <A>", {41.5, 40.26, std::nullopt}, {1.5, 0.5, 0}, ""});
  c.series.push_back({"run B", {72.0, 70.125, 12.0}, {2.0, 0, 0.1}, ""});
  return c;
}

TEST(ReportSvg, BarChartIsWellFormedWithLabelsValuesAndErrorBars) {
  const std::string svg = RenderBarChart(SampleBars());
  EXPECT_EQ(CheckXml(svg), "");
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\"", 0), 0u);
  EXPECT_NE(svg.find("Decode &lt;speed&gt; &amp; more"), std::string::npos);
  EXPECT_EQ(svg.find("<speed>"), std::string::npos);
  EXPECT_NE(svg.find("run &lt;A&gt;"), std::string::npos);
  EXPECT_NE(svg.find("a &quot;quoted&quot; task"), std::string::npos);
  EXPECT_NE(svg.find("decode rate (tokens/s)"), std::string::npos);
  // Value labels (3 significant digits).
  for (const char* v : {">41.5<", ">40.3<", ">72<", ">70.1<", ">12<"})
    EXPECT_NE(svg.find(v), std::string::npos) << v;
  // Five bars with hover titles; no bar for the missing value.
  EXPECT_EQ(Count(svg, "<rect") - Count(svg, "<rect x=\"0\" y=\"0\""), 5u + 2u);  // + 2 swatches
  EXPECT_EQ(Count(svg, "</title></rect>"), 5u);
  // Error bars: three lines each for the four non-zero errors.
  EXPECT_EQ(Count(svg, "stroke=\"#222\" stroke-width=\"1.2\""), 12u);
  // Y ticks start at 0 and are nice numbers.
  EXPECT_NE(svg.find(">0</text>"), std::string::npos);
  EXPECT_NE(svg.find(">20</text>"), std::string::npos);
}

TEST(ReportSvg, ReferenceLineAndSuffix) {
  BarChart c;
  c.title = "Speedup";
  c.x_label = "phase";
  c.y_label = "speedup (x)";
  c.categories = {"vision", "decode"};
  c.series.push_back({"ours", {3.72, 0.8}, {}, ""});
  c.reference = 1.0;
  c.reference_label = "1x = baseline";
  c.value_suffix = "\xC3\x97";
  const std::string svg = RenderBarChart(c);
  EXPECT_EQ(CheckXml(svg), "");
  EXPECT_NE(svg.find("stroke-dasharray=\"6 4\""), std::string::npos);
  EXPECT_NE(svg.find("1x = baseline"), std::string::npos);
  EXPECT_NE(svg.find(">3.72\xC3\x97<"), std::string::npos);
  EXPECT_NE(svg.find(">0.8\xC3\x97<"), std::string::npos);
}

TEST(ReportSvg, EmptyDataGivesAValidChartSayingSo) {
  BarChart b;
  b.title = "Nothing";
  EXPECT_NE(RenderBarChart(b).find("no data"), std::string::npos);
  b.categories = {"a"};
  b.series.push_back({"s", {std::nullopt}, {}, ""});
  std::string svg = RenderBarChart(b);
  EXPECT_NE(svg.find("no data"), std::string::npos);
  EXPECT_EQ(CheckXml(svg), "");
  StackedBarChart s;
  s.title = "Empty stack";
  svg = RenderStackedBarChart(s);
  EXPECT_NE(svg.find("no data"), std::string::npos);
  EXPECT_EQ(CheckXml(svg), "");
  s.rows = {"r"};
  s.segments = {"x"};
  s.values = {{0}};
  EXPECT_NE(RenderStackedBarChart(s).find("no data"), std::string::npos);
  ScatterChart p;
  p.title = "Empty scatter";
  p.points.push_back({"nan", NAN, 1, 0});
  svg = RenderScatterChart(p);
  EXPECT_NE(svg.find("no data"), std::string::npos);
  EXPECT_EQ(CheckXml(svg), "");
}

TEST(ReportSvg, StackedBarsShowSegmentsAndTotals) {
  StackedBarChart c;
  c.title = "Latency";
  c.x_label = "time (ms)";
  c.rows = {"fast & small", "slow"};
  c.segments = {"vision", "prefill", "decode"};
  c.values = {{400, 200, 300}, {1500, 650, 1800}};
  c.value_suffix = " ms";
  const std::string svg = RenderStackedBarChart(c);
  EXPECT_EQ(CheckXml(svg), "");
  EXPECT_NE(svg.find("fast &amp; small"), std::string::npos);
  EXPECT_NE(svg.find(">900 ms<"), std::string::npos);   // total of row 0
  EXPECT_NE(svg.find(">3950 ms<"), std::string::npos);  // total of row 1
  EXPECT_NE(svg.find(">1500<"), std::string::npos);     // a segment label
  EXPECT_EQ(Count(svg, "</title></rect>"), 6u);
  EXPECT_NE(svg.find("time (ms)"), std::string::npos);
}

TEST(ReportSvg, ScatterHasMarkersLabelsAndClampedAxis) {
  ScatterChart c;
  c.title = "Accuracy vs speed";
  c.x_label = "decode rate (tokens/s)";
  c.y_label = "accuracy (%)";
  c.series = {"top-1", "tasks"};
  c.points = {{"q8_0", 72, 98.7, 0}, {"bf16", 41, 99.9, 1}};
  c.y_max = 100;
  const std::string svg = RenderScatterChart(c);
  EXPECT_EQ(CheckXml(svg), "");
  EXPECT_NE(svg.find(">q8_0<"), std::string::npos);
  EXPECT_NE(svg.find(">bf16<"), std::string::npos);
  EXPECT_NE(svg.find("<circle"), std::string::npos);
  EXPECT_NE(svg.find(">100.0<"), std::string::npos);  // top tick clamped at 100
  EXPECT_EQ(svg.find(">100.1<"), std::string::npos);
  EXPECT_EQ(svg.find(">101"), std::string::npos);
}

}  // namespace
}  // namespace fastvlm::report
