// Subcommands of the `fastvlm` binary. Each Register* adds its options to the CLI11 app and
// returns the function to run when that subcommand was chosen.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace fastvlm::cli {

using Command = std::function<int()>;

Command RegisterGenerate(CLI::App& app);
Command RegisterTokenize(CLI::App& app);
Command RegisterRun(CLI::App& app);
Command RegisterChat(CLI::App& app);
Command RegisterQuantize(CLI::App& app);
Command RegisterExportLlm(CLI::App& app);
Command RegisterEval(CLI::App& app);
Command RegisterEvalTasks(CLI::App& app);
Command RegisterSynth(CLI::App& app);
Command RegisterBench(CLI::App& app);
Command RegisterReport(CLI::App& app);
Command RegisterPull(CLI::App& app);

// --model ORG/NAME[@REVISION]: replaces `model` by the local snapshot folder in the Hugging Face
// cache, downloading what is missing (cli/pull.cc); an existing path is left as is. On failure
// prints the error and returns false.
bool ResolveModelArg(std::string& model);

// Prints "fastvlm: error: <msg>" to stderr; returns the exit code for errors (1).
int Fail(const std::string& msg);

}  // namespace fastvlm::cli
