// ringlb/config/config.hpp: the validated configuration (TOML -> structs).
//
//   auto result = ringlb::load_config("ringlb.toml");
//   if (!result.errors.empty()) { for (auto& e : result.errors) std::cerr << e << '\n'; }
//   const ringlb::config& cfg = *result.value;
//
// Every key has a default except [[backends]]. Durations are strings ("2s", "150ms",
// "1m"); sizes are integers (bytes) or strings ("100MiB", "32KiB").
//
// Thread-safety: a config is a plain value; it is built on the control thread and copied
// or shared read-only (shared_ptr<const config>) afterwards.
#pragma once

#include "ringlb/common/key_rule.hpp"
#include "ringlb/common/rate_rule.hpp"
#include "ringlb/common/tls_rule.hpp"

#include <chash/algorithm.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb {

using duration = std::chrono::milliseconds;

/// A host:port; host is an IPv4 literal, an IPv6 literal (without brackets) or a name.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

struct server_config {
    endpoint listen{"127.0.0.1", 8080};
    unsigned workers = 0;  ///< 0 = one per CPU core
    std::string zone;      ///< this instance's zone; empty = none (one pool for all)
    /// Protocols a request may switch the connection to with Upgrade (compared without
    /// case); a request offering another one is forwarded without its Upgrade header.
    std::vector<std::string> upgrade = default_upgrade();

    static std::vector<std::string> default_upgrade() { return {"websocket"}; }
};
/// The worker threads `serve` runs: `workers`, or one per CPU core when 0.
[[nodiscard]] unsigned worker_count(const server_config& s) noexcept;

struct routing_config {
    chash::kind algorithm = chash::kind::ring;
    hash_key_rule hash_key;
    std::uint32_t vnodes = 160;
    double balance_factor = 1.25;  ///< 0 = bounded loads off; otherwise > 1
    unsigned retries = 2;
    keyless_policy keyless = keyless_policy::least_loaded;
    duration slow_start{0};             ///< hand a returning backend its keys over this window; 0 = at once
    duration drain_window{0};           ///< hand a draining backend's keys away over this window; 0 = at once
    std::vector<std::string> zone_order;  ///< zones' spill order after the local one; empty = by name
    double overprovision = 1.4;           ///< a zone keeps its keys while 1/overprovision of it is healthy
    std::string previous_owner_header;  ///< names the key's previous owner; empty = off
    duration previous_owner_window{60000};  ///< how long after a change the header is sent
    duration tunnel_handover{10000};        ///< tunnels of a key that moved close over this window
};

/// An active health check (the [health] defaults, or a backend's own `health` table).
enum class check_kind : std::uint8_t { none, tcp, http };

/// An inclusive range of expected HTTP statuses.
struct status_range {
    int lo = 200;
    int hi = 399;
    friend bool operator==(const status_range&, const status_range&) = default;
};

/// 200-399: what a check expects unless told otherwise.
[[nodiscard]] inline std::vector<status_range> default_expect_status() { return std::vector<status_range>(1); }

struct health_check_config {
    check_kind check = check_kind::none;
    duration interval{2000};       ///< between checks while the state is steady
    duration fast_interval{500};   ///< while a state change is under way (after one result)
    duration down_interval{3000};  ///< while the backend is down
    duration timeout{1000};        ///< a check that takes longer failed
    unsigned rise = 2;             ///< consecutive successes that bring a down backend up
    unsigned fall = 3;             ///< consecutive failures that take an up backend down
    std::string method = "GET";
    std::string path = "/";
    std::string host;  ///< the Host header; empty = the backend's address
    // (A function, not a braced list: GCC 12 at -O2 warns that the list's backing array
    // "may be used uninitialized" wherever the default constructor is inlined.)
    std::vector<status_range> expect_status = default_expect_status();
    std::string expect_body;   ///< a substring the body must hold; empty = any body
    bool passive_5xx = false;  ///< a 5xx answer to client traffic counts as a failed check
    friend bool operator==(const health_check_config&, const health_check_config&) = default;
};

/// What selection does when too few backends are healthy.
enum class panic_mode : std::uint8_t { fail_open, fail_closed };

struct health_config {
    health_check_config defaults;
    double panic_threshold = 0.5;  ///< below this share healthy, panic; 0 = never
    panic_mode panic = panic_mode::fail_open;
};

struct timeouts_config {
    duration connect{2000};
    duration client_header{10000};
    duration backend_response{30000};
    duration idle{60000};
    duration linger{2000};  ///< reading off unread input after an error, before close
    duration shutdown_grace{10000};
    duration resolve{5000};  ///< a backend name that takes longer to resolve failed
    duration tunnel{3600000};  ///< an Upgrade tunnel with no byte either way is closed
};

struct limits_config {
    std::size_t max_header_bytes = 32768;
    std::uint64_t max_body_bytes = 100ull << 20;
    std::size_t max_connections = 100000;
    std::size_t idle_backend_connections = 1024;  ///< kept per backend per worker
};

/// Where the backends come from.
enum class membership_source_kind : std::uint8_t { file, etcd };

/// [membership]: the config file's [[backends]], or etcd (control/etcd_source.hpp).
struct membership_config {
    membership_source_kind source = membership_source_kind::file;
    std::vector<endpoint> endpoints;  ///< etcd members (client URLs' host:port)
    std::string prefix = "/ringlb/";  ///< keys: PREFIX backends/ID, PREFIX instances/NAME
    std::string username;             ///< etcd authentication; empty = none
    std::string password;             ///< read from password_file
    std::string snapshot;             ///< last-good membership, for a start with etcd down
    std::string instance;             ///< this instance's name; empty = the host name
    duration lease_ttl{10000};        ///< of the instance's registration
    duration timeout{5000};           ///< per etcd call
};

/// The admin listener (admin/): REST API, /metrics, the dashboard.
struct admin_config {
    std::optional<endpoint> listen = endpoint{"127.0.0.1", 9901};  ///< nullopt = off
    std::string tokens;      ///< token file (admin/auth.hpp); empty = loopback only, no tokens
    std::string state_file;  ///< where runtime changes are kept across restarts; empty = nowhere
};

struct log_config {
    std::string access = "stdout";  ///< "stdout" | "off" | a file path
};

/// An operator's word on a backend: serving, draining (no new keys), or maintenance
/// (no new keys, no checks).
enum class admin_state : std::uint8_t { ready, drain, maintenance };

struct backend_config {
    std::string id;
    endpoint address;
    std::uint32_t weight = 1;
    std::string zone;  ///< empty = none
    admin_state state = admin_state::ready;
    health_check_config health;  ///< [health] with the backend's own `health` table over it
    friend bool operator==(const backend_config&, const backend_config&) = default;
};

struct config {
    server_config server;
    tls_rule tls;  ///< [tls]; plain HTTP unless it lists certificates
    routing_config routing;
    timeouts_config timeouts;
    limits_config limits;
    health_config health;
    rate_rule rate_limit;  ///< [rate_limit]; off unless it has a rate
    membership_config membership;
    admin_config admin;
    log_config log;
    std::vector<backend_config> backends;
};

/// One problem found in a config, printed as "FILE:LINE:COL: message".
struct config_error {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;
    std::string message;
    [[nodiscard]] std::string to_string() const;
};

struct config_result {
    std::optional<config> value;         ///< set when errors is empty
    std::vector<config_error> errors;    ///< every problem found, not only the first
    std::vector<config_error> warnings;  ///< legal but suspicious (e.g. two backends, one address)
};

/// Reads and validates a config file. Never throws for bad content; I/O errors and parse
/// errors become config_errors.
[[nodiscard]] config_result load_config(const std::string& path);
/// Same, from text (`name` is used in error messages).
[[nodiscard]] config_result parse_config(std::string_view text, const std::string& name);

/// Whether `host` is a loopback address literal or "localhost".
[[nodiscard]] bool is_loopback_host(std::string_view host) noexcept;

/// Parses "host:port" / "[v6]:port". nullopt when malformed (parse_endpoint_checked in
/// config/values.hpp says why).
[[nodiscard]] std::optional<endpoint> parse_endpoint(std::string_view text);

/// The backends as chash nodes {id, weight}; node i is backends[i].
[[nodiscard]] std::vector<chash::node> chash_nodes(const config& cfg);
/// The chash build options implied by [routing].
[[nodiscard]] chash::options chash_options(const routing_config& routing);

}  // namespace ringlb
