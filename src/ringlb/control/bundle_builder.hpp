// ringlb/control/bundle_builder.hpp: a validated config -> the bundle the workers run on.
//
//   std::string err;
//   auto b = ringlb::build_bundle(cfg, previous.get(), err);   // control thread; null on error
//   if (b) for (auto& w : workers) w->publish(b);
//
// This is the one place a config becomes placement: the chash nodes and options come from
// chash_nodes() and chash_options() (config/config.hpp), the functions `ringlb check`, `map`,
// `plan` and the demo use, so every tool and the proxy build the same ring and print the
// same fingerprint. The controller gives it the members (the membership store's) and their
// addresses (resolved asynchronously by control/resolver); the convenience overload for
// tests and one-shot tools takes them from the config and resolves blocking.
//
// The ring is rebuilt only when placement changes, and incrementally where chash can: the
// same ids and weights (an address, a state or a setting changed) reuse the running routing
// snapshot itself; one ring backend added or removed derives the ring from the running one
// (chash::ring::with_node_added/removed, a merge instead of a sort).
//
// Thread-safety: no shared state except the process-wide generation counter (atomic).
#pragma once

#include "ringlb/config/config.hpp"
#include "ringlb/control/membership_store.hpp"
#include "ringlb/proxy/bundle.hpp"

#include <span>
#include <memory>
#include <string>

namespace ringlb {

/// The routing options [routing] implies.
[[nodiscard]] routing_options make_routing_options(const routing_config& routing);
/// The data path's settings from [routing], [timeouts] and [limits].
[[nodiscard]] proxy_settings make_settings(const config& cfg);

/// A bundle for `cfg`, reusing the backend states of `previous` for ids that persist, with
/// its TLS context built from [tls]. Null with `error` set when a backend address does not
/// resolve, the algorithm refuses the backends, or a TLS file is bad.
[[nodiscard]] std::shared_ptr<const bundle> build_bundle(const config& cfg, const bundle* previous,
                                                         std::string& error);

/// How a bundle's routing came to be, for logs and tests.
enum class placement_change : std::uint8_t { first, none, added_one, removed_one, rebuilt };

/// A bundle for `members` (addresses[i] is members[i]'s) under the settings of `cfg`,
/// reusing what it can of `previous`. Null with `error` set when the algorithm refuses.
/// The bundle is returned mutable for the controller to attach what it builds once per
/// config rather than per membership change (the TLS context), before it publishes it.
[[nodiscard]] std::shared_ptr<bundle> build_bundle(const config& cfg, std::span<const member> members,
                                                         std::span<const asio::ip::tcp::endpoint> addresses,
                                                         const bundle* previous, std::string& error,
                                                         placement_change* how = nullptr);

}  // namespace ringlb
