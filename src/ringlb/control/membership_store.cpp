#include "ringlb/control/membership_store.hpp"

#include <algorithm>
#include <set>

namespace ringlb {

std::string_view to_string(member_source s) noexcept {
    switch (s) {
        case member_source::config:
            return "config";
        case member_source::admin:
            return "admin";
        case member_source::etcd:
            return "etcd";
    }
    return "?";
}

bool membership_store::set_file(std::span<const backend_config> backends, const health_check_config& defaults,
                                member_source source) {
    file_.assign(backends.begin(), backends.end());
    health_defaults_ = defaults;
    file_source_ = source;
    return recompute();
}

bool membership_store::put(const backend_config& b, member_source from) {
    layer_entry& o = overlay_[b.id];
    o.definition = b;
    o.defined_by = from;
    o.removed = false;
    o.state.reset();  // the definition's state is the newest word on it
    return recompute();
}

bool membership_store::set_state(const std::string& id, admin_state state, member_source from) {
    if (find(id) == nullptr) return false;
    layer_entry& o = overlay_[id];
    o.state = state;
    o.state_by = from;
    return recompute() || true;
}

bool membership_store::remove(const std::string& id, member_source from) {
    if (find(id) == nullptr) return false;
    if (std::none_of(file_.begin(), file_.end(), [&](const backend_config& b) { return b.id == id; })) {
        // Defined at runtime only: forgetting it is the removal; no tombstone is left to
        // hide a backend of that id a later config may bring.
        overlay_.erase(id);
        return recompute() || true;
    }
    layer_entry& o = overlay_[id];
    o.definition.reset();
    o.defined_by = from;
    o.removed = true;
    return recompute() || true;
}

bool membership_store::clear(const std::string& id) {
    if (overlay_.erase(id) == 0) return false;
    return recompute();
}

std::optional<membership_store::overlay_entry> membership_store::entry(std::string_view id) const {
    const auto it = overlay_.find(id);
    if (it == overlay_.end()) return std::nullopt;
    const layer_entry& o = it->second;
    return overlay_entry{it->first, o.definition, o.defined_by, o.state, o.state_by, o.removed};
}

void membership_store::restore(const std::string& id, const std::optional<overlay_entry>& was) {
    if (was)
        overlay_[id] = layer_entry{was->definition, was->defined_by, was->state, was->state_by, was->removed};
    else
        overlay_.erase(id);
    if (!recompute()) ++generation_;  // never back: an ETag handed out meanwhile must not match again
}

std::vector<membership_store::overlay_entry> membership_store::overlay() const {
    std::vector<overlay_entry> out;
    out.reserve(overlay_.size());
    for (const auto& [id, o] : overlay_)
        out.push_back({id, o.definition, o.defined_by, o.state, o.state_by, o.removed});
    return out;
}

bool membership_store::set_overlay(std::vector<overlay_entry> entries) {
    overlay_.clear();
    for (overlay_entry& e : entries)
        overlay_[e.id] = layer_entry{std::move(e.definition), e.defined_by, e.state, e.state_by, e.removed};
    return recompute();
}

const member* membership_store::find(std::string_view id) const noexcept {
    const auto it =
        std::find_if(members_.begin(), members_.end(), [&](const member& m) { return m.backend.id == id; });
    return it != members_.end() ? &*it : nullptr;
}

bool membership_store::recompute() {
    std::vector<member> next;
    next.reserve(file_.size() + overlay_.size());
    std::set<std::string_view> seen;
    const auto apply_state = [&](member& m, const layer_entry* o) {
        if (o != nullptr && o->state) {
            m.backend.state = *o->state;
            m.state_by = o->state_by;
        }
    };
    for (const backend_config& b : file_) {
        seen.insert(b.id);
        const auto it = overlay_.find(b.id);
        const layer_entry* o = it != overlay_.end() ? &it->second : nullptr;
        if (o != nullptr && o->removed) continue;
        member m;
        if (o != nullptr && o->definition) {
            m.backend = *o->definition;
            m.backend.health = b.health;  // health settings come from the config file
            m.defined_by = o->defined_by;
            m.state_by = o->defined_by;
        } else {
            m.backend = b;
            m.defined_by = m.state_by = file_source_;
        }
        apply_state(m, o);
        next.push_back(std::move(m));
    }
    for (const auto& [id, o] : overlay_) {
        if (seen.contains(id) || o.removed || !o.definition) continue;
        member m{*o.definition, o.defined_by, o.defined_by};
        m.backend.health = health_defaults_;  // a runtime-only backend: the config's [health]
        apply_state(m, &o);
        next.push_back(std::move(m));
    }
    if (next == members_) return false;
    members_ = std::move(next);
    ++generation_;
    return true;
}

}  // namespace ringlb
