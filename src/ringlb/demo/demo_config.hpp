// ringlb/demo/demo_config.hpp: the configuration `ringlb demo` serves, as TOML text.
//
//   ringlb::demo::demo_ports ports{.listen = 8080, .first_backend = 9101};
//   std::string toml = ringlb::demo::demo_config_text(ports);   // `ringlb demo --print-config`
//   ringlb::config cfg = ringlb::demo::demo_config(ports);       // the same, parsed
//   auto three = ringlb::demo::demo_config_text(ports, 3, std::chrono::seconds{4});  // --join
//
// The demo runs the real `ringlb serve` on this text, so what a newcomer sees is the product,
// and the text is printable so the same setup can be run by hand (`ringlb serve -c` with the
// backends of `ringlb demo --backends-only`).
//
// Thread-safety: pure functions.
#pragma once

#include "ringlb/config/config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ringlb::demo {

/// The demo has four backends, app-1..app-4, on consecutive ports.
inline constexpr unsigned backend_count = 4;

struct demo_ports {
    std::uint16_t listen = 8080;         ///< the balancer
    std::uint16_t first_backend = 9101;  ///< app-1; app-2.. take the next ports
    std::uint16_t admin = 9901;          ///< the admin API and dashboard; 0 = off
};

/// The demo config as TOML, with comments that say why each value was chosen. `backends`
/// (1..backend_count) lists app-1..app-N only, and a positive `slow_start` sets
/// [routing] slow_start: `--join` reloads the balancer with such variants.
[[nodiscard]] std::string demo_config_text(const demo_ports& ports, unsigned backends = backend_count,
                                           duration slow_start = {});

/// demo_config_text parsed and validated. Throws std::logic_error if it does not validate
/// (a bug, which the unit tests catch).
[[nodiscard]] config demo_config(const demo_ports& ports);

}  // namespace ringlb::demo
