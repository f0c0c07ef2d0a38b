// fastvlm report RESULTS.json... --out DIR [--baseline LABEL] [--title TEXT]: renders benchmark
// results (fastvlm.bench.v1, from fastvlm bench and the peer scripts) and optional accuracy
// results (fastvlm.eval.v1, fastvlm.eval_tasks.v1) as DIR/index.html (one self-contained page
// with inline SVG charts), DIR/report.md (the same tables) and DIR/chart-*.svg.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "report/report.h"
#include "report/results.h"

namespace fastvlm::cli {

Command RegisterReport(CLI::App& app) {
  struct Args {
    std::vector<std::string> files;
    std::string out, baseline, title;
  };
  auto a = std::make_shared<Args>();
  app.add_option("files", a->files,
                 "Result files: fastvlm.bench.v1 (fastvlm bench, tools/peers/), and optionally "
                 "fastvlm.eval.v1 (fastvlm eval) and fastvlm.eval_tasks.v1 (fastvlm eval-tasks)")
      ->required();
  app.add_option("-o,--out", a->out,
                 "Output folder (created): index.html, report.md and chart-*.svg")
      ->required();
  app.add_option("--baseline", a->baseline,
                 "Label of the run that speedups are measured against (default: the first "
                 "pytorch run, else the first run)");
  app.add_option("--title", a->title, "Page title (default: fastvlm.cpp benchmark report)");
  return [a]() -> int {
    report::Inputs inputs;
    for (const std::string& f : a->files) {
      const Status s = report::AddResultFile(f, &inputs);
      if (!s.ok()) return Fail(s.message());
    }
    report::ReportOptions opt;
    opt.baseline = a->baseline;
    if (!a->title.empty()) opt.title = a->title;
    auto rep = report::BuildReport(inputs, opt);
    if (!rep.ok()) return Fail(rep.status().message());
    const Status w = report::WriteReport(*rep, a->out);
    if (!w.ok()) return Fail(w.message());
    std::printf("%s/index.html: %zu runs, %d charts (baseline: %s)\n", a->out.c_str(),
                inputs.runs.size(), rep->drawn(), rep->baseline.c_str());
    for (const report::Chart& c : rep->charts) {
      if (c.svg.empty()) {
        std::printf("  %-22s omitted: %s\n", c.file().c_str(), c.omitted.c_str());
      } else {
        std::printf("  %-22s %s\n", c.file().c_str(), c.title.c_str());
      }
    }
    std::printf("%s/report.md\n", a->out.c_str());
    return 0;
  };
}

}  // namespace fastvlm::cli
