// ringlb/control/bundle_builder.hpp: a validated config -> the bundle the workers run on.
//
//   std::string err;
//   auto b = ringlb::build_bundle(cfg, previous.get(), err);   // control thread; null on error
//   if (b) for (auto& w : workers) w->publish(b);
//
// This is the one place a config becomes placement: the chash nodes and options come from
// chash_nodes() and chash_options() (config/config.hpp), the functions `ringlb check`, `map`,
// `plan` and the demo use, so every tool and the proxy build the same ring and print the
// same fingerprint. Backend addresses are resolved here, off the data path (blocking for
// now, on the control thread); a name that does not resolve fails the whole bundle, so a
// reload never publishes half a membership.
//
// Thread-safety: no shared state except the process-wide generation counter (atomic).
#pragma once

#include "ringlb/config/config.hpp"
#include "ringlb/proxy/bundle.hpp"

#include <memory>
#include <string>

namespace ringlb {

/// The routing options [routing] implies.
[[nodiscard]] routing_options make_routing_options(const routing_config& routing);
/// The data path's settings from [routing], [timeouts] and [limits].
[[nodiscard]] proxy_settings make_settings(const config& cfg);

/// A bundle for `cfg`, reusing the backend states of `previous` for ids that persist. Null
/// with `error` set when a backend address does not resolve or the algorithm refuses the
/// backends.
[[nodiscard]] std::shared_ptr<const bundle> build_bundle(const config& cfg, const bundle* previous,
                                                         std::string& error);

}  // namespace ringlb
