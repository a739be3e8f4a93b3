#include "ringlb/cli/check_against.hpp"

#include "ringlb/cli/check_state.hpp"
#include "ringlb/config/check.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/control/etcd_source.hpp"
#include "ringlb/etcd/client.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <chash/algorithm.hpp>
#include <fmt/format.h>

#include <map>
#include <ostream>

namespace ringlb {

namespace {

constexpr std::string_view scheme = "etcd://";

std::string describe(const backend_config& b) {
    std::string s = fmt::format("{} weight {}", to_string(b.address), b.weight);
    if (!b.zone.empty()) s += " zone " + b.zone;
    if (b.state != admin_state::ready) s += fmt::format(" {}", to_string(b.state));
    return s;
}

std::string fingerprint(const config& cfg, const std::map<std::string, backend_config>& backends,
                        std::string& error) {
    std::vector<chash::node> nodes;
    for (const auto& [id, b] : backends) nodes.push_back({id, b.weight});
    try {
        return fmt::format("{:016x}", chash::make(cfg.routing.algorithm, nodes, chash_options(cfg.routing))->fingerprint());
    } catch (const std::exception& e) {
        error = e.what();
        return "(none)";
    }
}

struct cluster_view {
    std::int64_t revision = 0;
    std::map<std::string, backend_config> backends;
    std::vector<std::string> ignored;  // keys every instance ignores, and why
    std::map<std::string, nlohmann::json> instances;
};

// One read of the prefix: every backend and every registration.
std::optional<cluster_view> read_cluster(const config& cfg, const etcd_url& url, std::string& error) {
    asio::io_context io{1};
    etcd::client client{io,
                        {.endpoints = url.endpoints,
                         .username = cfg.membership.username,
                         .password = cfg.membership.password,
                         .timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.membership.timeout)}};
    std::optional<etcd::result<etcd::range_result>> answer;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { answer = co_await client.range(url.prefix); }, asio::detached);
    io.run();  // every call is bounded by the timeout, per endpoint
    if (!answer || !answer->ok()) {
        error = answer ? answer->error : "no answer";
        return std::nullopt;
    }
    cluster_view view;
    view.revision = answer->value.revision;
    for (const etcd::kv& kv : answer->value.kvs) {
        const std::string_view rest = std::string_view{kv.key}.substr(url.prefix.size());
        if (rest.starts_with("backends/")) {
            const std::string id{rest.substr(9)};
            std::string why;
            if (auto b = parse_backend_doc(id, kv.value, cfg.health.defaults, why))
                view.backends[id] = std::move(*b);
            else
                view.ignored.push_back(kv.key + ": " + why);
        } else if (rest.starts_with("instances/")) {
            view.instances[std::string{rest.substr(10)}] = parse_instance_doc(kv.value);
        }
    }
    return view;
}

}  // namespace

std::optional<etcd_url> parse_etcd_url(std::string_view text, std::string& error) {
    if (!text.starts_with(scheme)) {
        error = "expected etcd://HOST:PORT[,HOST:PORT...][/PREFIX/], not \"" + std::string{text} + "\"";
        return std::nullopt;
    }
    text.remove_prefix(scheme.size());
    etcd_url url;
    const std::size_t slash = text.find('/');
    if (slash != std::string_view::npos) {
        url.prefix = std::string{text.substr(slash)};
        if (url.prefix.back() != '/') url.prefix += '/';
        text = text.substr(0, slash);
    }
    if (url.prefix.size() < 2 || url.prefix.size() > 256) {
        error = "the prefix must name a folder of 1..255 characters, e.g. /ringlb/";
        return std::nullopt;
    }
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        const std::string_view one = text.substr(0, comma);
        const auto e = parse_endpoint_checked(one);
        if (!e) {
            error = "etcd endpoint \"" + std::string{one} + "\": " + e.error;
            return std::nullopt;
        }
        url.endpoints.push_back(*e.value);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    if (url.endpoints.empty()) {
        error = "no etcd endpoint in the URL";
        return std::nullopt;
    }
    return url;
}

int check_against(const std::string& config_path, const std::string& url_text, std::ostream& out,
                  std::ostream& err) {
    std::string error;
    const auto url = parse_etcd_url(url_text, error);
    if (!url) {
        err << "ringlb check: --against: " << error << "\n";
        return 2;
    }
    std::vector<backend_config> local_list;
    if (const int status = check_members(config_path, local_list, out, err); status != 0) return status;
    const config cfg = *load_config(config_path).value;  // valid: check_members said so
    const bool from_etcd = cfg.membership.source == membership_source_kind::etcd;

    const auto cluster = read_cluster(cfg, *url, error);
    if (!cluster) {
        err << fmt::format("ringlb check: cannot read {} from etcd ({}): {}\n", url->prefix, to_string(url->endpoints.front()),
                           error);
        return 1;
    }
    out << fmt::format("etcd {} at revision {}: {} backends, {} live instances\n", url->prefix, cluster->revision,
                       cluster->backends.size(), cluster->instances.size());
    for (const std::string& why : cluster->ignored) out << "  ignored by every instance: " << why << "\n";

    std::size_t differences = 0;
    std::map<std::string, backend_config> local;
    for (backend_config& b : local_list) local[b.id] = std::move(b);
    if (from_etcd) {
        out << "this config takes its backends from etcd: comparing its [routing] with the instances'\n";
        local = cluster->backends;
    } else {
        for (const auto& [id, b] : local) {
            const auto it = cluster->backends.find(id);
            if (it == cluster->backends.end()) {
                out << fmt::format("  {}: only in the config ({})\n", id, describe(b));
                ++differences;
            } else if (describe(b) != describe(it->second)) {
                out << fmt::format("  {}: {} here, {} in etcd\n", id, describe(b), describe(it->second));
                ++differences;
            }
        }
        for (const auto& [id, b] : cluster->backends)
            if (!local.contains(id)) {
                out << fmt::format("  {}: only in etcd ({})\n", id, describe(b));
                ++differences;
            }
    }

    // Placement under this config's [routing], of both sides.
    std::string build_error;
    const std::string mine = fingerprint(cfg, local, build_error);
    const std::string theirs = fingerprint(cfg, cluster->backends, build_error);
    if (!build_error.empty()) out << "  placement: " << build_error << "\n";
    out << fmt::format("placement fingerprint under this config's [routing]: config {}, etcd {}{}\n", mine, theirs,
                       mine == theirs ? " (equal: every key routes alike)" : " (differ)");
    for (const auto& [name, doc] : cluster->instances) {
        const std::string theirs_live = doc.value("fingerprint", std::string{"?"});
        const bool same = theirs_live == theirs;
        out << fmt::format("  instance {}{}: fingerprint {}{}\n", name,
                           doc.value("zone", std::string{}).empty() ? "" : " (zone " + doc.value("zone", std::string{}) + ")",
                           theirs_live,
                           same ? "" : doc.value("stale", false) ? " (serving a stale membership)"
                                                                : " (differs: other [routing], or not caught up)");
        if (!same) ++differences;
    }
    if (mine != theirs && differences == 0) ++differences;
    out << (differences == 0 ? "the config and the cluster agree\n"
                             : fmt::format("{} difference{}\n", differences, differences == 1 ? "" : "s"));
    return differences == 0 ? 0 : 1;
}

}  // namespace ringlb
