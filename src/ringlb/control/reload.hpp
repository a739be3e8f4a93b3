// ringlb/control/reload.hpp: the config file as the source of membership: read it, validate
// it, and build the bundle that replaces the running one.
//
//   auto r = ringlb::load_bundle("ringlb.toml", current_cfg.get(), current.get());
//   for (const auto& m : r.messages) log(m);      // errors, or notes on what needs a restart
//   if (r.next) publish(r.next);                  // else the running bundle stays
//
// A reload is all or nothing: an invalid file, or a backend that does not resolve, leaves
// the running bundle in place (the messages say why). Settings that only a restart can
// change ([server], [log]) are noted, not applied.
//
// Thread-safety: no shared state; call it on the control thread.
#pragma once

#include "ringlb/config/config.hpp"
#include "ringlb/proxy/bundle.hpp"

#include <memory>
#include <string>
#include <vector>

namespace ringlb {

struct load_result {
    std::shared_ptr<const config> cfg;    ///< the config read (set on success)
    std::shared_ptr<const bundle> next;   ///< the bundle built from it (set on success)
    std::vector<std::string> messages;    ///< errors (on failure) or notes (on success)
};

/// Reads `path` and builds the bundle to run next. `current_cfg` and `current` are the
/// running ones (null at start): backend states of ids that persist carry over.
[[nodiscard]] load_result load_bundle(const std::string& path, const config* current_cfg, const bundle* current);

}  // namespace ringlb
