// ringlb/admin/metrics_text.hpp: GET /metrics, every counter in Prometheus text.
//
//   std::string body = ringlb::admin::metrics_text(controller, worker_shards, shares, "0.1.0",
//   admin_requests);
//
// Per backend: responses by status class, a response-time histogram, bytes, failures,
// failovers and retries (summed over the workers' shards at scrape time), in flight, mode,
// health check results, weight and share of the key space. Proxy: connections accepted and
// open, accept pauses at the connection limit, requests, ringlb's own answers by status,
// client aborts. Control: reloads by result, panic state and entries, generations, the
// placement fingerprint (an info metric) and the share moved by the last change. With etcd:
// whether the instance follows it live, its revision, reconnects, the live instances and
// whether those at its revision agree. Names and labels are documented in docs/ADMIN.md.
//
// Thread-safety: none; the control thread (the shards it reads are safe to read anywhere).
#pragma once

#include "ringlb/admin/views.hpp"
#include "ringlb/control/controller.hpp"
#include "ringlb/control/etcd_source.hpp"
#include "ringlb/metrics/shards.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ringlb::admin {

[[nodiscard]] std::string metrics_text(const controller& c,
                                       const std::vector<const metrics::proxy_shard*>& workers,
                                       const share_cache& shares, std::string_view version,
                                       std::uint64_t admin_requests, const etcd_source* etcd = nullptr);

}  // namespace ringlb::admin
