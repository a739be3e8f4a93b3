#include "ringlb/control/reload.hpp"

#include "ringlb/control/bundle_builder.hpp"

namespace ringlb {

load_result load_bundle(const std::string& path, const config* current_cfg, const bundle* current) {
    load_result out;
    config_result r = load_config(path);
    if (!r.errors.empty()) {
        for (const config_error& e : r.errors) out.messages.push_back(e.to_string());
        return out;
    }
    auto cfg = std::make_shared<const config>(std::move(*r.value));
    std::string error;
    auto next = build_bundle(*cfg, current, error);
    if (!next) {
        out.messages.push_back(path + ": " + error);
        return out;
    }
    if (current_cfg != nullptr &&
        (!(cfg->server.listen == current_cfg->server.listen) || cfg->server.workers != current_cfg->server.workers ||
         cfg->log.access != current_cfg->log.access))
        out.messages.emplace_back("[server] and [log] changes take effect on restart");
    out.cfg = std::move(cfg);
    out.next = std::move(next);
    return out;
}

}  // namespace ringlb
