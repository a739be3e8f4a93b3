#include "ringlb/config/check.hpp"

#include "ringlb/config/values.hpp"

#include <chash/algorithm.hpp>

#include <fmt/format.h>

#include <ostream>

namespace ringlb {

std::string warning_to_string(const config_error& w) {
    config_error tagged = w;
    tagged.message = "warning: " + w.message;
    return tagged.to_string();
}

int check_main(const std::string& path, std::ostream& out, std::ostream& err) {
    const config_result result = load_config(path);
    for (const auto& w : result.warnings) err << warning_to_string(w) << '\n';
    for (const auto& e : result.errors) err << e.to_string() << '\n';
    if (!result.value) return 1;
    const config& cfg = *result.value;
    // The loader checks the library's documented limits itself, with positions; building
    // is the last word, for any rule the library adds later.
    std::uint64_t fingerprint = 0;
    try {
        const auto nodes = chash_nodes(cfg);
        fingerprint = chash::make(cfg.routing.algorithm, nodes, chash_options(cfg.routing))->fingerprint();
    } catch (const chash::error& e) {
        err << config_error{path, 0, 0, std::string{"cannot build the placement: "} + e.what()}.to_string()
            << '\n';
        return 1;
    }
    out << path << ": ok (" << cfg.backends.size()
        << (cfg.backends.size() == 1 ? " backend, " : " backends, ")
        << chash::to_string(cfg.routing.algorithm);
    if (cfg.routing.algorithm == chash::kind::ring) out << ", " << cfg.routing.vnodes << " vnodes per weight";
    // The fingerprint covers everything that decides placement: two instances (or a config
    // before and after an edit) that print the same one route every key alike.
    out << ", " << to_string(cfg.routing.hash_key) << ", listen " << to_string(cfg.server.listen)
        << ", placement fingerprint " << fmt::format("{:016x}", fingerprint) << ")\n";
    return 0;
}

}  // namespace ringlb
