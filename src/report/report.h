// `fastvlm report`: benchmark results (and optionally accuracy results) rendered as one
// self-contained HTML page with inline SVG charts (DIR/index.html), a Markdown summary with the
// same tables (DIR/report.md), and each chart as a standalone file (DIR/chart-*.svg).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "report/results.h"

namespace fastvlm::report {

struct ReportOptions {
  // Label of the run that speedups are measured against; empty: the first pytorch run if any,
  // else the first run.
  std::string baseline;
  std::string title = "fastvlm.cpp benchmark report";
};

struct Chart {
  std::string id;       // e.g. "decode-rate"; the file is "chart-" + id + ".svg"
  std::string title;
  std::string caption;  // what the chart shows and how to read it
  std::string svg;      // empty when omitted
  std::string omitted;  // why the chart was not drawn (empty when drawn)
  std::string file() const { return "chart-" + id + ".svg"; }
};

struct Report {
  std::string baseline;       // label of the baseline run
  std::vector<Chart> charts;  // every chart, drawn or omitted, in page order
  std::string html, markdown;
  int drawn() const {
    int n = 0;
    for (const Chart& c : charts) n += !c.svg.empty();
    return n;
  }
};

// Fails when there is no benchmark run, or when options.baseline names no run.
StatusOr<Report> BuildReport(const Inputs& inputs, const ReportOptions& options);

// Creates `dir` (and parents) and writes index.html, report.md and chart-*.svg of drawn charts.
Status WriteReport(const Report& report, const std::string& dir);

}  // namespace fastvlm::report
