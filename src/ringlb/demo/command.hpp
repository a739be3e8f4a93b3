// ringlb/demo/command.hpp: the `demo` subcommand on the CLI.
//
//   CLI::App app{"ringlb"};
//   ringlb::demo::command demo{app};          // adds `demo` and its options
//   app.parse(argc, argv);
//   if (demo.parsed()) return demo.run();     // bad values: one line on stderr, status 2
//
// Thread-safety: single-threaded, like main.
#pragma once

#include "ringlb/demo/demo.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace ringlb::demo {

class command {
public:
    /// Registers `demo` on `app`; `app` must outlive this object.
    explicit command(CLI::App& app);
    command(const command&) = delete;
    command& operator=(const command&) = delete;

    /// Whether `demo` was the subcommand given.
    [[nodiscard]] bool parsed() const { return cmd_->parsed(); }
    /// Validates the options and runs the demo; returns the exit status.
    int run();

private:
    CLI::App* cmd_;
    demo_options opts_;
    std::string traffic_;
    std::string join_;
    std::string miss_cost_;
};

}  // namespace ringlb::demo
