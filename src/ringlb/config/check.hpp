// ringlb/config/check.hpp: `ringlb check -c FILE`, the config linter.
//
//   int status = ringlb::check_main("ringlb.toml", std::cout, std::cerr);
//   // status 0: "ringlb.toml: ok (3 backends, ring, 160 vnodes per weight, header:X-User-Id)"
//   // status 1: one "FILE:LINE:COL: message" per error on `err`
//
// Runs the same loader as `serve`, then builds the placement exactly as serve would, so a
// config that passes check is a config serve accepts. Warnings ("FILE:LINE:COL: warning:
// ...") go to `err` and do not change the status.
//
// Thread-safety: no shared state.
#pragma once

#include "ringlb/config/config.hpp"

#include <iosfwd>
#include <string>

namespace ringlb {

/// Validates the config at `path`; returns the process exit status (0 valid, 1 invalid).
int check_main(const std::string& path, std::ostream& out, std::ostream& err);

/// "FILE:LINE:COL: warning: message" for a warning (errors use config_error::to_string).
[[nodiscard]] std::string warning_to_string(const config_error& w);

}  // namespace ringlb
