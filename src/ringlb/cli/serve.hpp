// ringlb/cli/serve.hpp: the `ringlb serve` entry point.
//
//   int main(int argc, char** argv) {
//       ...                                   // CLI11 parses `serve -c ringlb.toml`
//       return ringlb::serve_main(config_path);
//   }
//
// serve_main loads and validates the config, starts one worker thread per configured worker
// (each with its own io_context and SO_REUSEPORT listener), and blocks until SIGTERM or
// SIGINT, after which it stops accepting, lets in-flight requests finish within
// [timeouts] shutdown_grace and returns. SIGHUP re-reads the config file: a valid config is
// published to the workers, an invalid one is logged and the running one kept.
//
// Thread-safety: call once per process, from the main thread (it installs signal handling
// for SIGTERM, SIGINT, SIGHUP and ignores SIGPIPE).
#pragma once

#include <string>

namespace ringlb {

/// Runs the proxy until SIGTERM/SIGINT; returns the process exit code (0 after a clean
/// shutdown, 1 when the config is invalid or the listeners cannot be opened).
int serve_main(const std::string& config_path);

}  // namespace ringlb
