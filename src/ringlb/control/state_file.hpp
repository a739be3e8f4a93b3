// ringlb/control/state_file.hpp: the runtime overlay on disk, so a restart keeps it.
//
//   std::string error;
//   if (!ringlb::save_state("/var/lib/ringlb/state.json", store, error)) log(error);  // after a change
//   auto loaded = ringlb::load_state(path, cfg.health.defaults, store);              // at start
//   if (!loaded.ok) { std::cerr << loaded.error; return 1; }
//
// What the admin API (and later etcd) changed at runtime lives in the membership store's
// overlay (membership_store.hpp); this file is that overlay, written after every change
// that was published, atomically: to a temporary file in the same directory, flushed to
// disk (fsync), renamed over the old one, and the directory flushed too, so a crash at any
// moment leaves either the old file or the new one, never a torn one. `ringlb serve` loads
// it at start, before the first publication, and `ringlb check` reports what it changes.
// A file that does not parse is an error that names the problem, never a silent start
// without the operator's changes.
//
//   {"format": "ringlb-state/1",
//    "backends": [{"id": "app-9", "definition": {"address": "10.0.0.9:8080", "weight": 2},
//                  "defined_by": "admin"},
//                 {"id": "app-2", "state": "drain", "state_by": "admin"},
//                 {"id": "app-3", "removed": true, "defined_by": "admin"}]}
//
// Backends defined at runtime take the config's [health] defaults when loaded.
//
// Thread-safety: functions of their arguments; the control thread calls them.
#pragma once

#include "ringlb/control/membership_store.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace ringlb {

/// The overlay of `store` as the state file's JSON.
[[nodiscard]] nlohmann::json state_to_json(const membership_store& store);
/// Replaces the overlay of `store` with the entries of `j`. False with `error` set (and the
/// store untouched) when `j` is not a valid state document.
bool state_from_json(const nlohmann::json& j, const health_check_config& defaults, membership_store& store,
                     std::string& error);

/// Writes `text` to `path` atomically (temporary file, fsync, rename, fsync of the
/// directory). False with `error` set on failure.
bool write_file_atomically(const std::string& path, std::string_view text, std::string& error);

/// Writes the overlay of `store` to `path` atomically. False with `error` set on failure.
bool save_state(const std::string& path, const membership_store& store, std::string& error);

struct state_load {
    bool ok = true;      ///< false: the file exists and is invalid (error says why)
    bool found = false;  ///< the file existed
    std::size_t entries = 0;
    std::string error;
};
/// Loads `path` into the overlay of `store`; a missing file is fine (found = false).
[[nodiscard]] state_load load_state(const std::string& path, const health_check_config& defaults,
                                    membership_store& store);

}  // namespace ringlb
