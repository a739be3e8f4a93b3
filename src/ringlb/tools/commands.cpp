#include "ringlb/tools/commands.hpp"

#include <ostream>

namespace ringlb::tools {

struct commands::state {};

commands::commands(CLI::App& /*app*/) : state_{std::make_unique<state>()} {}
commands::~commands() = default;

int commands::run(std::ostream& /*out*/, std::ostream& err) {
    err << "ringlb: no command selected\n";
    return 2;
}

}  // namespace ringlb::tools
