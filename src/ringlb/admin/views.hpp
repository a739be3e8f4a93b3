// ringlb/admin/views.hpp: the JSON the admin API answers with, built from the controller.
//
//   ringlb::admin::share_cache shares;
//   nlohmann::json all = ringlb::admin::backends_json(controller, shares);
//   auto one = ringlb::admin::backend_json(controller, "app-2", shares);   // nullopt: no such id
//   nlohmann::json why = ringlb::admin::lookup_json(controller, "alice");
//
// Pure functions of what the controller holds (its store, its current bundle, its health
// view and its event log), so tests can check them without a socket. Shares of the key
// space come from lb/placement_diff.hpp's probes, computed once per bundle.
//
// Thread-safety: none; the control thread.
#pragma once

#include "ringlb/control/controller.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb::admin {

/// Each backend's share of the key space under a bundle, computed once per bundle.
class share_cache {
public:
    /// shares[i] is backend i's of `b` (probed at 65536 points).
    [[nodiscard]] const std::vector<double>& of(const bundle& b) const;

private:
    mutable std::uint64_t generation_ = 0;
    mutable std::vector<double> shares_;
};

[[nodiscard]] std::string iso_time(std::chrono::system_clock::time_point t);
[[nodiscard]] std::string hex64(std::uint64_t v);
/// A decimal count ("0".."18446744073709551615"); nullopt otherwise.
[[nodiscard]] std::optional<std::uint64_t> parse_count_text(std::string_view s);

[[nodiscard]] nlohmann::json status_json(const controller& c, std::chrono::system_clock::time_point started);
[[nodiscard]] nlohmann::json backends_json(const controller& c, const share_cache& shares);
[[nodiscard]] std::optional<nlohmann::json> backend_json(const controller& c, std::string_view id,
                                                         const share_cache& shares);
/// The placement: algorithm, generations, fingerprint, per-backend weight, points and
/// share; with `arcs` > 0, the hash space probed at that many points as merged runs
/// [begin, end, backend index].
[[nodiscard]] nlohmann::json ring_json(const controller& c, const share_cache& shares, std::uint32_t arcs);
/// Where `key` goes and why: its hash, its owner, the candidate chain with the reason each
/// skipped candidate was skipped, and the backend selection picks now.
[[nodiscard]] nlohmann::json lookup_json(const controller& c, std::string_view key);
[[nodiscard]] nlohmann::json events_json(const controller& c);

}  // namespace ringlb::admin
