// ringlb/cli/check_state.hpp: `ringlb check`, the config and the state file beside it.
//
//   return ringlb::check_with_state("ringlb.toml", std::cout, std::cerr);
//
// The config is checked as config/check.hpp does; when it names an [admin] state_file that
// exists, the runtime changes in it are loaded over the config's backends as `serve` would
// load them at start, listed, and the placement fingerprint they lead to is printed: the
// one a restarted `serve` will run. A state file that does not parse fails the check.
//
// Thread-safety: a command; one call per process.
#pragma once

#include "ringlb/config/config.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace ringlb {

int check_with_state(const std::string& path, std::ostream& out, std::ostream& err);
/// The same, giving the backends `serve` would start with (the config's, with the state
/// file's changes over them); `members` is meaningful when it returns 0.
int check_members(const std::string& path, std::vector<backend_config>& members, std::ostream& out,
                  std::ostream& err);

}  // namespace ringlb
