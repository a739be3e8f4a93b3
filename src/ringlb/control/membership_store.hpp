// ringlb/control/membership_store.hpp: the one writer of the backend set.
//
//   ringlb::membership_store store;
//   store.set_file(cfg.backends);                        // start, and every SIGHUP
//   store.put({.id = "app-9", ...}, member_source::admin);   // the admin API (next issue)
//   store.set_state("app-2", admin_state::drain, member_source::admin);
//   store.remove("app-3", member_source::admin);
//   for (const member& m : store.members()) ...           // what the controller publishes
//
// Two layers. The file layer is the config's [[backends]], replaced whole on every reload.
// The runtime layer is an overlay keyed by backend id, written by the admin API (and etcd
// later); it survives reloads and wins over the file for every id it holds:
//   - a put entry replaces the file's backend of that id (or adds one the file lacks);
//   - a state entry overrides only the operator state (ready, drain, maintenance) of
//     whatever backend has that id, from either layer;
//   - a removal hides the file's backend of that id until the overlay entry is cleared.
// clear() drops an id's overlay entries, so the file speaks for it again. Each member says
// which layer its definition and its state came from. The order of members() is the file's
// order, then overlay additions by id; placement does not depend on it.
//
// Thread-safety: none; the control thread owns it.
#pragma once

#include "ringlb/config/config.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ringlb {

/// Where a member's definition or state came from.
enum class member_source : std::uint8_t { config, admin, etcd };
[[nodiscard]] std::string_view to_string(member_source s) noexcept;

struct member {
    backend_config backend;                            ///< id, address, weight, state, health
    member_source defined_by = member_source::config;  ///< the layer of id, address, weight
    member_source state_by = member_source::config;    ///< the layer of the state
    friend bool operator==(const member&, const member&) = default;
};

class membership_store {
public:
    /// Replaces the file layer; `defaults` ([health]) are the health settings of backends
    /// defined at runtime only; `source` names where the layer came from (the config file,
    /// or etcd when etcd is the membership). Returns whether members() changed.
    bool set_file(std::span<const backend_config> backends, const health_check_config& defaults = {},
                  member_source source = member_source::config);
    /// Adds or replaces `b` in the runtime layer (its address, weight and state: health
    /// settings always come from the config, the backend's own or [health]). Its state
    /// replaces any state override of the id.
    bool put(const backend_config& b, member_source from);
    /// Overrides the operator state of backend `id` (false when no such member).
    bool set_state(const std::string& id, admin_state state, member_source from);
    /// Hides backend `id` (false when no such member); one defined at runtime only is
    /// simply forgotten.
    bool remove(const std::string& id, member_source from);
    /// Drops every runtime entry of `id`: the file's word holds again.
    bool clear(const std::string& id);

    /// The effective members: the file layer with the overlay applied.
    [[nodiscard]] const std::vector<member>& members() const noexcept { return members_; }
    [[nodiscard]] const member* find(std::string_view id) const noexcept;
    /// Bumped by every change of members(): the membership generation.
    [[nodiscard]] std::uint64_t generation() const noexcept { return generation_; }

    /// One id's runtime entries, as the state file keeps them (control/state_file.hpp).
    struct overlay_entry {
        std::string id;
        std::optional<backend_config> definition;  ///< a put: the backend as defined at runtime
        member_source defined_by = member_source::admin;
        std::optional<admin_state> state;  ///< a state override
        member_source state_by = member_source::admin;
        bool removed = false;  ///< a removal hiding the file's backend
    };
    /// The runtime layer, by id.
    [[nodiscard]] std::vector<overlay_entry> overlay() const;
    /// Replaces the runtime layer (a state file loaded at start). Returns whether members()
    /// changed.
    bool set_overlay(std::vector<overlay_entry> entries);
    /// One id's runtime entry, to undo an edit with restore().
    [[nodiscard]] std::optional<overlay_entry> entry(std::string_view id) const;
    /// Puts back what entry(id) returned before an edit (nullopt: no entry). The generation
    /// moves on (never back), even when the members are as they were.
    void restore(const std::string& id, const std::optional<overlay_entry>& was);

private:
    struct layer_entry {
        std::optional<backend_config> definition;
        member_source defined_by = member_source::admin;
        std::optional<admin_state> state;
        member_source state_by = member_source::admin;
        bool removed = false;
    };
    bool recompute();  // members_ from the layers; true when it changed

    std::vector<backend_config> file_;
    member_source file_source_ = member_source::config;
    health_check_config health_defaults_;
    std::map<std::string, layer_entry, std::less<>> overlay_;
    std::vector<member> members_;
    std::uint64_t generation_ = 0;
};

}  // namespace ringlb
