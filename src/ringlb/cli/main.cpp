// ringlb: the command line. Each subcommand is a thin shell over a function of ringlb_core,
// so tests exercise the same code without spawning the binary.
//
// Exit codes: 0 success; 1 an invalid config (`check`) or a runtime failure; 2 bad usage
// or bad input (unknown option, malformed value), reported on one line of stderr.
#include "ringlb/cli/check_against.hpp"
#include "ringlb/cli/check_state.hpp"
#include "ringlb/cli/ctl.hpp"
#include "ringlb/cli/serve.hpp"
#include "ringlb/demo/command.hpp"
#include "ringlb/tools/commands.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace {

constexpr const char* footer = R"(Examples:
  ringlb check -c ringlb.toml                  validate a config, list every error
  ringlb check -c ringlb.toml --against etcd://127.0.0.1:2379/ringlb/
                                               compare it with a cluster's membership
  ringlb serve -c ringlb.toml                  run the proxy (SIGHUP reloads, SIGTERM drains)
  ringlb demo --traffic 10s                    4 demo backends + balancer: consistent hashing in numbers
  printf 'user-1\nuser-2\n' | ringlb map -c ringlb.toml
  ringlb simulate --algorithm ring --nodes 100 --remove 1
  ringlb simulate --compare --nodes 100 --remove 1
  ringlb plan -c ringlb.toml --drain app-2
  ringlb ctl backends                          the running proxy's backends (admin API)
  ringlb ctl drain app-2                       drain one, no reload

Configuration reference: docs/CONFIG.md; admin API: docs/ADMIN.md)";

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "ringlb: a consistent-hashing HTTP/1.1 load balancer.\n"
        "Requests carrying the same key (header, cookie, query parameter, path or client IP)\n"
        "reach the same backend; adding or removing a backend moves only its own keys.",
        "ringlb"};
    app.set_version_flag("--version", std::string{"ringlb "} + RINGLB_VERSION + " (allocator: " RINGLB_ALLOCATOR ")",
                         "Print the version and exit");
    app.footer(footer);
    app.require_subcommand(1);
    app.fallthrough(false);

    std::string serve_config;
    CLI::App* serve =
        app.add_subcommand("serve", "Run the proxy until SIGTERM/SIGINT (SIGHUP re-reads the config)");
    serve->add_option("-c,--config", serve_config, "Config file (TOML)")->required()->type_name("FILE");

    std::string check_config;
    CLI::App* check = app.add_subcommand("check",
                                         "Validate a config (and its state file): exit 0, or print each "
                                         "error as FILE:LINE:COL: message and exit 1");
    check->add_option("-c,--config", check_config, "Config file (TOML)")->required()->type_name("FILE");
    std::string check_against_url;
    check->add_option("--against", check_against_url,
                      "Compare the config's backends and placement with a cluster's membership in etcd")
        ->type_name("etcd://HOST:PORT[,...]/PREFIX/");

    ringlb::tools::commands tools{app};
    ringlb::ctl_command ctl{app};
    ringlb::demo::command demo{app};

    if (argc <= 1) {
        std::cerr << app.help();
        return 2;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One line, conventional usage-error status (CLI11's own codes are 100+).
        std::cerr << "ringlb: " << e.what() << " (see ringlb --help)\n";
        return 2;
    }

    if (serve->parsed()) return ringlb::serve_main(serve_config);
    if (check->parsed())
        return check_against_url.empty() ? ringlb::check_with_state(check_config, std::cout, std::cerr)
                                         : ringlb::check_against(check_config, check_against_url, std::cout, std::cerr);
    if (ctl.parsed()) {
        try {
            return ctl.run(std::cout, std::cerr);
        } catch (const std::exception& e) {  // an answer it could not make sense of
            std::cerr << "ringlb ctl: " << e.what() << "\n";
            return 1;
        }
    }
    if (demo.parsed()) return demo.run();
    return tools.run(std::cout, std::cerr);
}
