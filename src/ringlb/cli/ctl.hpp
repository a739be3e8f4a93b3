// ringlb/cli/ctl.hpp: `ringlb ctl`, a small client of the admin API in the same binary.
//
//   ringlb ctl backends                      # a table: mode, weight, share, load, health
//   ringlb ctl drain app-2                   # POST /v1/backends/app-2/drain
//   ringlb ctl add app-5 10.0.0.5:8080 --weight 2 --dry-run   # what would move
//   ringlb ctl lookup alice                  # owner, chain, why candidates were skipped
//   ringlb ctl --admin http://10.0.0.1:9901 --token-file ~/.ringlb-token backends
//
// The admin address defaults to http://127.0.0.1:9901 (or $RINGLB_ADMIN); the token comes
// from --token, --token-file (its first token: a bare token, or a line "write TOKEN") or
// $RINGLB_TOKEN. Tables are for people; --json prints the API's answer as it came. Exit
// status: 0 done, 1 the API refused or failed (its message on stderr), 2 bad usage, 3 the
// admin listener could not be reached.
//
// Thread-safety: a command-line front end; one call per process.
#pragma once

#include <CLI/CLI.hpp>

#include <iosfwd>
#include <memory>

namespace ringlb {

class ctl_command {
public:
    explicit ctl_command(CLI::App& app);
    ~ctl_command();
    ctl_command(const ctl_command&) = delete;
    ctl_command& operator=(const ctl_command&) = delete;

    [[nodiscard]] bool parsed() const;
    int run(std::ostream& out, std::ostream& err);

private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace ringlb
