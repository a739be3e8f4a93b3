// ringlb/tools/commands.hpp: the `map`, `simulate` and `plan` subcommands on the CLI.
//
//   CLI::App app{"ringlb"};
//   ringlb::tools::commands tools{app};     // adds the subcommands and their options
//   app.parse(argc, argv);
//   return tools.run(std::cout, std::cerr); // runs the one that was selected
//
// Bad input (unknown algorithm, zero nodes, malformed weights, an invalid config) is
// reported on stderr, one line per problem, with exit status 2.
//
// Thread-safety: single-threaded, like main.
#pragma once

#include <CLI/CLI.hpp>

#include <iosfwd>
#include <memory>

namespace ringlb::tools {

class commands {
public:
    /// Registers the subcommands on `app`; `app` must outlive this object.
    explicit commands(CLI::App& app);
    ~commands();
    commands(const commands&) = delete;
    commands& operator=(const commands&) = delete;

    /// Runs the selected tool subcommand; returns the exit status (2 when none was selected).
    int run(std::ostream& out, std::ostream& err);

private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace ringlb::tools
