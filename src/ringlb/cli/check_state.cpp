#include "ringlb/cli/check_state.hpp"

#include "ringlb/config/check.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/control/state_file.hpp"

#include <fmt/format.h>
#include <chash/algorithm.hpp>

#include <ostream>

namespace ringlb {

namespace {

bool cfg_has(const config& cfg, const std::string& id) {
    for (const backend_config& b : cfg.backends)
        if (b.id == id) return true;
    return false;
}

}  // namespace

int check_with_state(const std::string& path, std::ostream& out, std::ostream& err) {
    std::vector<backend_config> members;
    return check_members(path, members, out, err);
}

int check_members(const std::string& path, std::vector<backend_config>& members, std::ostream& out,
                  std::ostream& err) {
    const int status = check_main(path, out, err);
    if (status != 0) return status;
    const config_result r = load_config(path);  // valid: check_main said so
    const config& cfg = *r.value;
    members = cfg.backends;
    if (cfg.admin.state_file.empty()) return 0;
    membership_store store;
    store.set_file(cfg.backends, cfg.health.defaults);
    const state_load loaded = load_state(cfg.admin.state_file, cfg.health.defaults, store);
    if (!loaded.ok) {
        err << loaded.error << "\n";
        return 1;
    }
    if (!loaded.found) {
        out << cfg.admin.state_file << ": none yet (no runtime changes)\n";
        return 0;
    }
    out << cfg.admin.state_file << ": " << loaded.entries << " runtime change"
        << (loaded.entries == 1 ? "" : "s") << " over the config:\n";
    for (const auto& e : store.overlay()) {
        if (e.removed) out << fmt::format("  {}: removed by {}\n", e.id, to_string(e.defined_by));
        if (e.definition)
            out << fmt::format("  {}: {} at {} weight {} by {}\n", e.id,
                               cfg_has(cfg, e.id) ? "redefined" : "added", to_string(e.definition->address),
                               e.definition->weight, to_string(e.defined_by));
        if (e.state) out << fmt::format("  {}: {} by {}\n", e.id, to_string(*e.state), to_string(e.state_by));
    }
    members.clear();
    std::vector<chash::node> nodes;
    for (const member& m : store.members()) {
        members.push_back(m.backend);
        nodes.push_back({m.backend.id, m.backend.weight});
    }
    try {
        const auto algo = chash::make(cfg.routing.algorithm, nodes, chash_options(cfg.routing));
        out << fmt::format("with them: {} backends, placement fingerprint {:016x} (what serve will run)\n",
                           nodes.size(), algo->fingerprint());
    } catch (const std::exception& e) {
        err << cfg.admin.state_file
            << ": the runtime changes leave a placement that cannot be built: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace ringlb
