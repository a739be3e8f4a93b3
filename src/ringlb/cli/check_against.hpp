// ringlb/cli/check_against.hpp: `ringlb check --against etcd://...`, a local config next to
// the membership a cluster of instances shares through etcd.
//
//   ringlb check -c ringlb.toml --against etcd://10.0.0.1:2379,10.0.0.2:2379/ringlb/
//   return ringlb::check_against("ringlb.toml", "etcd://127.0.0.1:2379/ringlb/", std::cout, std::cerr);
//
// Reads PREFIX backends/ and PREFIX instances/ once, then prints, for the backends of the
// config (with its state file applied, as `serve` would start): the ids only one side has,
// and every field (address, weight, zone, state) that differs; the placement fingerprint
// of each side under the config's [routing] (equal means: this config routes every key as
// the cluster's membership would); and each registered instance's own fingerprint next to
// the etcd one (a different one means that instance's [routing] differs, or it has not
// caught up). Exit 0 when both sides hold the same backends, 1 when they differ, when the
// config is invalid or when etcd cannot be read; 2 for a malformed URL. The config's
// [membership] credentials and timeout are used when it has them.
//
// Thread-safety: a command; one call per process.
#pragma once

#include "ringlb/config/config.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace ringlb {

/// etcd://HOST:PORT[,HOST:PORT...][/PREFIX/] (the prefix defaults to /ringlb/).
struct etcd_url {
    std::vector<endpoint> endpoints;
    std::string prefix = "/ringlb/";
};
[[nodiscard]] std::optional<etcd_url> parse_etcd_url(std::string_view text, std::string& error);

int check_against(const std::string& config_path, const std::string& url, std::ostream& out, std::ostream& err);

}  // namespace ringlb
