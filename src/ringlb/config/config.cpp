// TOML -> validated config. The loader walks the document once, section by section, and
// records every problem with the source position toml++ keeps for each node, so
// `ringlb check` can list all of them in one run instead of one per edit.
#include "ringlb/config/config.hpp"

#include "ringlb/common/text.hpp"
#include "ringlb/config/values.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>
#include <unordered_map>

namespace ringlb {
namespace {

// Bounds. Each is far past any sane deployment but small enough that a typo (an extra zero,
// a value meant for another key) is caught before it allocates or loops.
constexpr std::int64_t max_workers = 1024;
constexpr std::int64_t max_vnodes = std::int64_t{1} << 20;
constexpr std::int64_t max_weight = max_backend_weight;
constexpr std::int64_t max_retries = 10;
constexpr double max_balance_factor = 100.0;
constexpr std::int64_t max_connections_limit = 10'000'000;
constexpr std::uint64_t min_header_bytes = 1024;
constexpr std::uint64_t max_header_bytes_limit = 1u << 20;
constexpr std::uint64_t max_body_bytes_limit = std::uint64_t{1} << 62;
constexpr duration max_timeout = std::chrono::hours{24};
constexpr std::size_t max_id_length = 128;
constexpr std::size_t max_file_bytes = 16u << 20;
// Maglev's table size as routing builds it (chash::options default).
constexpr std::uint32_t maglev_table_size = chash::options{}.table_size;
// ketama gives each server 40 MD5 digests of 4 points on average.
constexpr std::size_t ketama_points_per_server = 160;

using keys = std::span<const std::string_view>;
constexpr std::array<std::string_view, 11> top_keys{"server", "tls",        "routing", "timeouts",
                                                    "limits", "health",     "rate_limit", "admin",
                                                    "log",    "membership", "backends"};
constexpr std::array<std::string_view, 4> server_keys{"listen", "workers", "zone", "upgrade"};
constexpr std::array<std::string_view, 13> routing_keys{
    "algorithm",  "hash_key",      "vnodes",         "balance_factor",        "retries",
    "keyless",    "slow_start",    "drain_window",   "previous_owner_header", "previous_owner_window",
    "zone_order", "overprovision", "tunnel_handover"};
constexpr std::array<std::string_view, 8> timeouts_keys{
    "connect", "client_header", "backend_response", "idle", "linger", "shutdown_grace", "resolve", "tunnel"};
constexpr std::array<std::string_view, 4> limits_keys{"max_header_bytes", "max_body_bytes", "max_connections",
                                                      "idle_backend_connections"};
// A backend's own `health` table takes the check keys; the panic keys are pool-wide.
constexpr std::array<std::string_view, 13> check_keys_list{
    "check",  "interval", "fast_interval", "down_interval", "timeout",     "rise",       "fall",
    "method", "path",     "host",          "expect_status", "expect_body", "passive_5xx"};
constexpr std::array<std::string_view, 15> health_keys{
    "check",       "interval",        "fast_interval", "down_interval", "timeout",       "rise",
    "fall",        "method",          "path",          "host",          "expect_status", "expect_body",
    "passive_5xx", "panic_threshold", "panic"};
constexpr std::array<std::string_view, 6> rate_limit_keys{"rate",    "burst", "by",
                                                          "dry_run", "scope", "table_size"};
constexpr std::array<std::string_view, 4> tls_keys{"certificates", "strict_sni", "min_version", "ticket_keys"};
constexpr std::array<std::string_view, 2> cert_keys{"cert", "key"};
constexpr std::array<std::string_view, 3> admin_keys{"listen", "tokens", "state_file"};
constexpr std::array<std::string_view, 9> membership_keys{"source",   "endpoints",     "prefix",
                                                          "username", "password_file", "snapshot",
                                                          "instance", "lease_ttl",     "timeout"};
constexpr std::array<std::string_view, 1> log_keys{"access"};
constexpr std::array<std::string_view, 6> backend_keys{"id", "address", "weight", "zone", "state", "health"};

struct section_keys {
    std::string_view section;
    keys names;
};
// For "this key belongs in another section" hints.
constexpr std::array<section_keys, 11> all_sections{{{"[server]", server_keys},
                                                     {"[tls]", tls_keys},
                                                    {"[routing]", routing_keys},
                                                    {"[timeouts]", timeouts_keys},
                                                    {"[limits]", limits_keys},
                                                    {"[health]", health_keys},
                                                    {"[rate_limit]", rate_limit_keys},
                                                    {"[admin]", admin_keys},
                                                    {"[membership]", membership_keys},
                                                    {"[log]", log_keys},
                                                    {"[[backends]]", backend_keys}}};

// Rate limiting: a key is timed in microseconds; the table is 8 bytes a slot.
constexpr std::uint64_t max_rate_per_ms = 1000;
constexpr std::int64_t max_burst = 1'000'000;
constexpr std::int64_t min_rate_table = 64;
constexpr std::int64_t max_rate_table = 1 << 24;

// Health checks: bounds that keep a typo from checking in a busy loop or never.
constexpr duration min_check_interval{10};
constexpr std::int64_t max_rise_fall = 100;
constexpr std::size_t max_check_path = 1024;
constexpr std::size_t max_expect_body = 1024;

bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(c); });
}

std::string_view type_name(const toml::node& n) noexcept {
    switch (n.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return "a date/time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::string join(std::string_view a, std::string_view b) {
    std::string s{a};
    s += '.';
    s += b;
    return s;
}

class loader {
public:
    explicit loader(std::string file) : file_{std::move(file)} {}

    config_result run(std::string_view text) {
        toml::table root;
        try {
            root = toml::parse(text, std::string_view{file_});
        } catch (const toml::parse_error& e) {
            // The parser stops at its first error: the rest of the file is not a document.
            error(e.source(), std::string{e.description()});
            return std::move(result_);
        }
        check_keys(root, "the top level", top_keys);
        if (const auto* t = section(root, "server")) read_server(*t);
        if (const auto* t = section(root, "tls")) read_tls(*t);
        if (const auto* t = section(root, "routing")) read_routing(*t);
        if (const auto* t = section(root, "timeouts")) read_timeouts(*t);
        if (const auto* t = section(root, "limits")) read_limits(*t);
        if (const auto* t = section(root, "health")) read_health(*t);
        if (const auto* t = section(root, "rate_limit")) read_rate_limit(*t);
        if (const auto* t = section(root, "admin")) read_admin(*t);
        if (const auto* t = section(root, "log")) read_log(*t);
        if (const auto* t = section(root, "membership")) read_membership(*t);
        if (cfg_.membership.source == membership_source_kind::etcd) {
            // The backends come from etcd: the file lists none.
            if (const toml::node* b = root.get("backends"))
                error(b->source(),
                      "[[backends]] with membership.source = \"etcd\": the backends come from etcd "
                      "(keys under membership.prefix); remove them, or set source = \"file\"");
        } else {
            read_backends(root);
        }
        check_placement();
        // Sections are read in a fixed order; report in file order, as a compiler would.
        const auto by_position = [](const config_error& a, const config_error& b) {
            return std::tie(a.line, a.column) < std::tie(b.line, b.column);
        };
        std::stable_sort(result_.errors.begin(), result_.errors.end(), by_position);
        std::stable_sort(result_.warnings.begin(), result_.warnings.end(), by_position);
        if (result_.errors.empty()) result_.value = std::move(cfg_);
        return std::move(result_);
    }

    void io_error(std::string message) {
        result_.errors.push_back(config_error{file_, 0, 0, std::move(message)});
    }
    config_result take() { return std::move(result_); }

private:
    void error(const toml::source_region& at, std::string message) {
        result_.errors.push_back(config_error{file_, at.begin.line, at.begin.column, std::move(message)});
    }
    void warn(const toml::source_region& at, std::string message) {
        result_.warnings.push_back(config_error{file_, at.begin.line, at.begin.column, std::move(message)});
    }
    static toml::source_region start_of_file() {
        toml::source_region r;
        r.begin = {1, 1};
        r.end = {1, 1};
        return r;
    }

    // Unknown keys are errors: a misspelt key silently falling back to its default is the
    // worst kind of config bug (it looks applied and is not).
    void check_keys(const toml::table& t, std::string_view where, keys known) {
        for (const auto& [k, v] : t) {
            const std::string_view name = k.str();
            if (std::find(known.begin(), known.end(), name) != known.end()) continue;
            std::string message = "unknown key \"" + std::string{name} + "\" in " + std::string{where};
            if (const auto close = closest_match(name, known)) {
                message += " (did you mean \"" + std::string{*close} + "\"?)";
            } else {
                for (const auto& s : all_sections) {
                    if (s.section != where &&
                        std::find(s.names.begin(), s.names.end(), name) != s.names.end()) {
                        message +=
                            " (\"" + std::string{name} + "\" belongs in " + std::string{s.section} + ")";
                        break;
                    }
                }
            }
            error(k.source(), std::move(message));
            (void)v;
        }
    }

    const toml::table* section(const toml::table& root, std::string_view name) {
        const toml::node* n = root.get(name);
        if (n == nullptr) return nullptr;
        const toml::table* t = n->as_table();
        if (t == nullptr) {
            error(n->source(), "\"" + std::string{name} + "\" must be a table ([" + std::string{name} +
                                   "]), not " + std::string{type_name(*n)});
            return nullptr;
        }
        const std::string where = "[" + std::string{name} + "]";
        const auto it = std::find_if(all_sections.begin(), all_sections.end(),
                                     [&](const section_keys& s) { return s.section == where; });
        if (it != all_sections.end()) check_keys(*t, it->section, it->names);
        return t;
    }

    // Typed readers: each leaves `out` untouched and records an error when the value is
    // present but wrong, and returns whether `out` now holds a value from the file.
    template <class Int>
    bool read_integer(const toml::table& t, std::string_view key, std::string_view path, std::int64_t lo,
                      std::int64_t hi, Int& out) {
        const toml::node* n = t.get(key);
        if (n == nullptr) return false;
        const auto* v = n->as_integer();
        if (v == nullptr) {
            error(n->source(), std::string{path} + " must be an integer, not " + std::string{type_name(*n)});
            return false;
        }
        const std::int64_t x = v->get();
        if (x < lo || x > hi) {
            error(n->source(), std::string{path} + " = " + std::to_string(x) + " is out of range " +
                                   std::to_string(lo) + ".." + std::to_string(hi));
            return false;
        }
        out = static_cast<Int>(x);
        return true;
    }

    const std::string* read_string(const toml::table& t, std::string_view key, std::string_view path) {
        const toml::node* n = t.get(key);
        if (n == nullptr) return nullptr;
        const auto* v = n->as_string();
        if (v == nullptr) {
            error(n->source(), std::string{path} + " must be a string, not " + std::string{type_name(*n)});
            return nullptr;
        }
        return &v->get();
    }

    // Applies `parse` to a string value; records its error at the value's position.
    template <class T, class Parse>
    bool read_parsed(const toml::table& t, std::string_view key, std::string_view path, Parse&& parse,
                     T& out) {
        const std::string* s = read_string(t, key, path);
        if (s == nullptr) return false;
        auto p = parse(std::string_view{*s});
        if (!p) {
            error(t.get(key)->source(), std::string{path} + ": " + p.error);
            return false;
        }
        out = std::move(*p.value);
        return true;
    }

    bool read_duration(const toml::table& t, std::string_view key, std::string_view path, duration min,
                       duration& out) {
        const toml::node* n = t.get(key);
        if (n == nullptr) return false;
        if (n->is_integer() || n->is_floating_point()) {
            error(n->source(), std::string{path} +
                                   " must be a duration string with a unit, e.g. \"2s\" or \"150ms\" "
                                   "(a bare number could mean seconds or milliseconds)");
            return false;
        }
        duration d{};
        if (!read_parsed(t, key, path, parse_duration, d)) return false;
        if (d < min || d > max_timeout) {
            error(n->source(), std::string{path} + " = " + format_duration(d) + " is out of range " +
                                   format_duration(min) + ".." + format_duration(max_timeout));
            return false;
        }
        out = d;
        return true;
    }

    template <class Unsigned>
    bool read_size(const toml::table& t, std::string_view key, std::string_view path, std::uint64_t lo,
                   std::uint64_t hi, Unsigned& out) {
        const toml::node* n = t.get(key);
        if (n == nullptr) return false;
        std::uint64_t bytes = 0;
        if (const auto* i = n->as_integer()) {
            if (i->get() < 0) {
                error(n->source(), std::string{path} + " must not be negative");
                return false;
            }
            bytes = static_cast<std::uint64_t>(i->get());
        } else if (n->is_string()) {
            if (!read_parsed(t, key, path, parse_size, bytes)) return false;
        } else {
            error(n->source(), std::string{path} +
                                   " must be a size (an integer or a string like \"32KiB\"), not " +
                                   std::string{type_name(*n)});
            return false;
        }
        if (bytes < lo || bytes > hi) {
            error(n->source(), std::string{path} + " = " + format_size(bytes) + " is out of range " +
                                   format_size(lo) + ".." + format_size(hi));
            return false;
        }
        out = static_cast<Unsigned>(bytes);
        return true;
    }

    bool read_bool(const toml::table& t, std::string_view key, std::string_view path, bool& out) {
        const toml::node* n = t.get(key);
        if (n == nullptr) return false;
        const auto* v = n->as_boolean();
        if (v == nullptr) {
            error(n->source(),
                  std::string{path} + " must be true or false, not " + std::string{type_name(*n)});
            return false;
        }
        out = v->get();
        return true;
    }

    // The keys of an active check, from [health] or a backend's `health` table (`prefix`
    // names it in messages), over the values already in `out`.
    void read_check(const toml::table& t, const std::string& prefix, health_check_config& out) {
        const auto path = [&](std::string_view key) { return prefix + "." + std::string{key}; };
        read_parsed(t, "check", path("check"), parse_check_kind, out.check);
        read_duration(t, "interval", path("interval"), min_check_interval, out.interval);
        read_duration(t, "fast_interval", path("fast_interval"), min_check_interval, out.fast_interval);
        read_duration(t, "down_interval", path("down_interval"), min_check_interval, out.down_interval);
        read_duration(t, "timeout", path("timeout"), duration{1}, out.timeout);
        read_integer(t, "rise", path("rise"), 1, max_rise_fall, out.rise);
        read_integer(t, "fall", path("fall"), 1, max_rise_fall, out.fall);
        if (const std::string* m = read_string(t, "method", path("method"))) {
            if (!is_token(*m) || m->size() > 32)
                error(t.get("method")->source(),
                      path("method") + " \"" + *m + "\" is not an HTTP method token");
            else
                out.method = *m;
        }
        if (const std::string* p = read_string(t, "path", path("path"))) {
            const bool printable = std::all_of(p->begin(), p->end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return u > 0x20 && u < 0x7f;
            });
            if (p->empty() || (*p)[0] != '/' || p->size() > max_check_path || !printable)
                error(t.get("path")->source(), path("path") + " must start with / and hold at most " +
                                                   std::to_string(max_check_path) +
                                                   " visible characters, no spaces");
            else
                out.path = *p;
        }
        if (const std::string* h = read_string(t, "host", path("host"))) {
            const bool clean = std::all_of(h->begin(), h->end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return u > 0x20 && u < 0x7f;
            });
            if (h->size() > 255 || !clean)
                error(t.get("host")->source(), path("host") + " must be at most 255 visible characters");
            else
                out.host = *h;
        }
        read_parsed(t, "expect_status", path("expect_status"), parse_status_ranges, out.expect_status);
        if (const std::string* b = read_string(t, "expect_body", path("expect_body"))) {
            if (b->size() > max_expect_body)
                error(t.get("expect_body")->source(),
                      path("expect_body") + " is longer than " + std::to_string(max_expect_body) + " bytes");
            else
                out.expect_body = *b;
        }
        read_bool(t, "passive_5xx", path("passive_5xx"), out.passive_5xx);
        // Client failures are observed per check interval (control/health_machine.hpp):
        // without checks there is no interval, and the setting would silently do nothing.
        if (out.passive_5xx && out.check == check_kind::none &&
            (t.get("passive_5xx") != nullptr || t.get("check") != nullptr)) {
            const toml::node* at = t.get("passive_5xx") != nullptr ? t.get("passive_5xx") : t.get("check");
            error(at->source(), path("passive_5xx") + " needs an active check (" + path("check") +
                                    " = \"tcp\" or \"http\"): 5xx answers are counted per check interval");
        }
        if (out.timeout > out.interval && t.get("timeout") != nullptr)
            warn(t.get("timeout")->source(), path("timeout") + " is longer than " + path("interval") +
                                                 ": a slow check delays the next one");
    }

    void read_health(const toml::table& t) {
        read_check(t, "health", cfg_.health.defaults);
        read_parsed(t, "panic", "health.panic", parse_panic_mode, cfg_.health.panic);
        if (const toml::node* n = t.get("panic_threshold")) {
            const auto v = n->value<double>();
            if (!v || n->is_boolean() || n->is_string())
                error(n->source(),
                      "health.panic_threshold must be a number, not " + std::string{type_name(*n)});
            else if (!std::isfinite(*v) || *v < 0.0 || *v > 1.0)
                error(n->source(),
                      "health.panic_threshold must be a share in 0..1 (0 = never panic), e.g. 0.5");
            else
                cfg_.health.panic_threshold = *v;
        }
    }

    void read_server(const toml::table& t) {
        read_parsed(t, "listen", "server.listen", parse_endpoint_checked, cfg_.server.listen);
        read_integer(t, "workers", "server.workers", 0, max_workers, cfg_.server.workers);
        if (const std::string* z = read_string(t, "zone", "server.zone")) {
            if (!valid_zone(*z))
                error(t.get("zone")->source(),
                      "server.zone \"" + *z + "\" must be 0..64 letters, digits and - _ .");
            else
                cfg_.server.zone = *z;
        }
        if (const toml::node* n = t.get("upgrade")) {
            const toml::array* list = n->as_array();
            if (list == nullptr) {
                error(n->source(), "server.upgrade must be a list of protocol names, e.g. [\"websocket\"], or []");
            } else {
                cfg_.server.upgrade.clear();
                for (const toml::node& p : *list) {
                    const auto name = p.value<std::string>();
                    // RFC 9110 7.8: protocol-name is a token; "h2c" is not a tunnel ringlb can carry.
                    if (!name || !is_token(*name) || name->size() > 64) {
                        error(p.source(), "server.upgrade: each is a protocol name (a token of 1..64 characters)");
                    } else if (iequals(*name, "h2c")) {
                        error(p.source(), "server.upgrade: \"h2c\" is HTTP/2, which ringlb does not speak");
                    } else {
                        cfg_.server.upgrade.push_back(*name);
                    }
                }
            }
        }
    }

    void read_membership(const toml::table& t) {
        auto& m = cfg_.membership;
        if (const std::string* src = read_string(t, "source", "membership.source")) {
            if (*src == "file")
                m.source = membership_source_kind::file;
            else if (*src == "etcd")
                m.source = membership_source_kind::etcd;
            else
                error(t.get("source")->source(), "membership.source \"" + *src + "\": expected file or etcd");
        }
        if (const toml::node* n = t.get("endpoints")) {
            const toml::array* list = n->as_array();
            if (list == nullptr || list->empty()) {
                error(n->source(),
                      "membership.endpoints must be a list of host:port, e.g. [\"127.0.0.1:2379\"]");
            } else {
                for (const toml::node& e : *list) {
                    const auto s = e.value<std::string>();
                    const auto at = s ? parse_endpoint_checked(*s) : parsed<endpoint>{};
                    if (!at)
                        error(e.source(), "membership.endpoints: " +
                                              (at.error.empty() ? "each is a string host:port" : at.error));
                    else
                        m.endpoints.push_back(*at.value);
                }
            }
        }
        if (const std::string* p = read_string(t, "prefix", "membership.prefix")) {
            const bool clean = std::all_of(p->begin(), p->end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return u > 0x20 && u < 0x7f;
            });
            if (p->size() < 2 || p->front() != '/' || p->back() != '/' || p->size() > 256 || !clean)
                error(t.get("prefix")->source(),
                      "membership.prefix must start and end with / and hold visible characters, e.g. "
                      "\"/ringlb/\"");
            else
                m.prefix = *p;
        }
        if (const std::string* u = read_string(t, "username", "membership.username")) m.username = *u;
        if (const std::string* pf = read_string(t, "password_file", "membership.password_file")) {
            std::ifstream in{*pf};
            std::string line;
            if (!in || !std::getline(in, line))
                error(t.get("password_file")->source(), "membership.password_file: cannot read " + *pf);
            else
                m.password = std::string{trim(line)};
        }
        if (const std::string* sn = read_string(t, "snapshot", "membership.snapshot")) m.snapshot = *sn;
        if (const std::string* in = read_string(t, "instance", "membership.instance")) {
            if (!valid_backend_id(*in))
                error(t.get("instance")->source(),
                      "membership.instance \"" + *in + "\" must be 1..128 letters, digits and - _ . :");
            else
                m.instance = *in;
        }
        read_duration(t, "lease_ttl", "membership.lease_ttl", duration{2000}, m.lease_ttl);
        read_duration(t, "timeout", "membership.timeout", duration{100}, m.timeout);
        if (m.source == membership_source_kind::etcd && m.endpoints.empty())
            error(t.get("source")->source(), "membership.source = \"etcd\" needs membership.endpoints");
    }

    void read_routing(const toml::table& t) {
        routing_ = &t;
        algorithm_ok_ = read_parsed(t, "algorithm", "routing.algorithm", parse_serving_algorithm,
                                    cfg_.routing.algorithm) ||
                        t.get("algorithm") == nullptr;
        read_parsed(t, "hash_key", "routing.hash_key", parse_hash_key, cfg_.routing.hash_key);
        vnodes_ok_ = read_integer(t, "vnodes", "routing.vnodes", 1, max_vnodes, cfg_.routing.vnodes) ||
                     t.get("vnodes") == nullptr;
        read_integer(t, "retries", "routing.retries", 0, max_retries, cfg_.routing.retries);
        read_parsed(t, "keyless", "routing.keyless", parse_keyless, cfg_.routing.keyless);
        read_duration(t, "slow_start", "routing.slow_start", duration{0}, cfg_.routing.slow_start);
        if (const toml::node* n = t.get("zone_order")) {
            const toml::array* list = n->as_array();
            if (list == nullptr) {
                error(n->source(), "routing.zone_order must be a list of zone names, e.g. [\"a\", \"b\"]");
            } else {
                for (const toml::node& z : *list) {
                    const auto name = z.value<std::string>();
                    if (!name || !valid_zone(*name) || name->empty())
                        error(z.source(), "routing.zone_order: each is a zone name of 1..64 letters, digits and - _ .");
                    else
                        cfg_.routing.zone_order.push_back(*name);
                }
            }
        }
        if (const toml::node* n = t.get("overprovision")) {
            const auto v = n->value<double>();
            if (!v || n->is_boolean() || n->is_string() || !(*v >= 1.0 && *v <= 10.0))
                error(n->source(), "routing.overprovision must be a number in 1..10 (Envoy's default: 1.4)");
            else
                cfg_.routing.overprovision = *v;
        }
        read_duration(t, "drain_window", "routing.drain_window", duration{0}, cfg_.routing.drain_window);
        read_duration(t, "previous_owner_window", "routing.previous_owner_window", duration{0},
                      cfg_.routing.previous_owner_window);
        read_duration(t, "tunnel_handover", "routing.tunnel_handover", duration{0}, cfg_.routing.tunnel_handover);
        if (const std::string* h = read_string(t, "previous_owner_header", "routing.previous_owner_header")) {
            // Never a header that frames, routes or means something else to the message (the
            // ones http/parser.hpp's header_id names, and Trailer): the proxy adds this one
            // itself, and strips every client copy of it.
            static constexpr std::array<std::string_view, 12> reserved{"host",
                                                                       "content-length",
                                                                       "transfer-encoding",
                                                                       "connection",
                                                                       "keep-alive",
                                                                       "te",
                                                                       "upgrade",
                                                                       "expect",
                                                                       "cookie",
                                                                       "x-forwarded-for",
                                                                       "x-forwarded-proto",
                                                                       "trailer"};
            const bool taken = std::any_of(reserved.begin(), reserved.end(),
                                           [&](std::string_view r) { return iequals(r, *h); }) ||
                               (h->size() >= 6 && iequals(h->substr(0, 6), "proxy-"));
            if (!h->empty() && (!is_token(*h) || h->size() > 64 || taken))
                error(t.get("previous_owner_header")->source(),
                      "routing.previous_owner_header \"" + *h +
                          "\" must be a header name token of at most 64 characters that ringlb does not "
                          "set or frame messages with (empty = off), e.g. \"X-Previous-Owner\"");
            else
                cfg_.routing.previous_owner_header = *h;
        }
        if (const toml::node* n = t.get("balance_factor")) {
            const auto c = n->value<double>();  // integers convert: balance_factor = 2
            if (!c || n->is_boolean() || n->is_string()) {
                error(n->source(),
                      "routing.balance_factor must be a number, not " + std::string{type_name(*n)});
            } else if (!std::isfinite(*c) || (*c != 0.0 && (*c <= 1.0 || *c > max_balance_factor))) {
                std::ostringstream m;
                m << "routing.balance_factor = " << *c
                  << " is invalid: use 0 to turn bounded loads off, or a factor in (1, " << max_balance_factor
                  << "], e.g. 1.25 (a backend may carry 25% more than the mean)";
                error(n->source(), m.str());
            } else {
                cfg_.routing.balance_factor = *c;
            }
        }
    }

    void read_timeouts(const toml::table& t) {
        constexpr duration one_ms{1};
        read_duration(t, "connect", "timeouts.connect", one_ms, cfg_.timeouts.connect);
        read_duration(t, "client_header", "timeouts.client_header", one_ms, cfg_.timeouts.client_header);
        read_duration(t, "backend_response", "timeouts.backend_response", one_ms,
                      cfg_.timeouts.backend_response);
        read_duration(t, "idle", "timeouts.idle", one_ms, cfg_.timeouts.idle);
        read_duration(t, "linger", "timeouts.linger", one_ms, cfg_.timeouts.linger);
        // 0 is meaningful here: close everything at once on SIGTERM.
        read_duration(t, "shutdown_grace", "timeouts.shutdown_grace", duration{0},
                      cfg_.timeouts.shutdown_grace);
        read_duration(t, "resolve", "timeouts.resolve", one_ms, cfg_.timeouts.resolve);
        read_duration(t, "tunnel", "timeouts.tunnel", one_ms, cfg_.timeouts.tunnel);
    }

    void read_limits(const toml::table& t) {
        read_size(t, "max_header_bytes", "limits.max_header_bytes", min_header_bytes, max_header_bytes_limit,
                  cfg_.limits.max_header_bytes);
        read_size(t, "max_body_bytes", "limits.max_body_bytes", 1, max_body_bytes_limit,
                  cfg_.limits.max_body_bytes);
        read_integer(t, "max_connections", "limits.max_connections", 1, max_connections_limit,
                     cfg_.limits.max_connections);
        // 0 is meaningful: a new backend connection per request.
        read_integer(t, "idle_backend_connections", "limits.idle_backend_connections", 0,
                     max_connections_limit, cfg_.limits.idle_backend_connections);
    }

    void read_tls(const toml::table& t) {
        tls_rule& r = cfg_.tls;
        // A file path: a non-empty string without NUL (it goes to open(2)). Files are read
        // when the config is applied (serve, reload), not here.
        const auto path_of = [&](const toml::node& n, const std::string& where, std::string& out) {
            const auto v = n.value<std::string>();
            if (!v || v->empty() || v->find('\0') != std::string::npos) {
                error(n.source(), where + " must be a file path (a non-empty string)");
                return false;
            }
            out = *v;
            return true;
        };
        const toml::node* certs = t.get("certificates");
        const toml::array* list = certs != nullptr ? certs->as_array() : nullptr;
        if (list == nullptr || list->empty()) {
            error(certs != nullptr ? certs->source() : t.source(),
                  "tls.certificates must list at least one {cert = \"chain.pem\", key = \"key.pem\"} "
                  "(remove [tls] to serve plain HTTP)");
        } else {
            for (std::size_t i = 0; i < list->size(); ++i) {
                const toml::node& n = *list->get(i);
                const std::string where = "tls.certificates[" + std::to_string(i) + "]";
                const toml::table* c = n.as_table();
                if (c == nullptr) {
                    error(n.source(), where + " must be a table {cert = \"chain.pem\", key = \"key.pem\"}");
                    continue;
                }
                check_keys(*c, where, cert_keys);
                tls_certificate cert;
                const toml::node* cn = c->get("cert");
                const toml::node* kn = c->get("key");
                if (cn == nullptr || kn == nullptr) {
                    error(n.source(), where + " needs both cert (the chain, PEM) and key (PEM)");
                    continue;
                }
                if (path_of(*cn, where + ".cert", cert.cert) && path_of(*kn, where + ".key", cert.key))
                    r.certificates.push_back(std::move(cert));
            }
        }
        read_bool(t, "strict_sni", "tls.strict_sni", r.strict_sni);
        if (const std::string* v = read_string(t, "min_version", "tls.min_version")) {
            if (*v == "1.2")
                r.min_version = tls_version::v1_2;
            else if (*v == "1.3")
                r.min_version = tls_version::v1_3;
            else
                error(t.get("min_version")->source(), "tls.min_version = \"" + *v + "\": expected \"1.2\" or \"1.3\"");
        }
        if (const toml::node* n = t.get("ticket_keys")) {
            const toml::array* files = n->as_array();
            if (files == nullptr) {
                error(n->source(), "tls.ticket_keys must be a list of file paths");
            } else {
                for (std::size_t i = 0; i < files->size(); ++i) {
                    std::string path;
                    if (path_of(*files->get(i), "tls.ticket_keys[" + std::to_string(i) + "]", path))
                        r.ticket_keys.push_back(std::move(path));
                }
            }
        }
    }

    void read_rate_limit(const toml::table& t) {
        rate_rule& r = cfg_.rate_limit;
        rate_value rate;
        if (t.get("rate") == nullptr) {
            error(t.source(), "[rate_limit] needs a rate, e.g. rate = \"100/s\" (remove the section to limit nothing)");
            return;
        }
        if (!read_parsed(t, "rate", "rate_limit.rate", parse_rate, rate)) return;
        const toml::source_region at = t.get("rate")->source();
        // Keys are timed in microseconds: one request per key per microsecond at most.
        if (static_cast<std::uint64_t>(rate.count) > static_cast<std::uint64_t>(rate.period.count()) * max_rate_per_ms) {
            error(at, "rate_limit.rate = \"" + to_string(rate) + "\" is above 1000000/s per key");
            return;
        }
        r.count = rate.count;
        r.period = rate.period;
        // A second's worth by default (nginx's burst is the excess over one; this is the
        // whole bucket), and at least one request.
        const std::uint64_t per_second =
            (static_cast<std::uint64_t>(r.count) * 1000 + static_cast<std::uint64_t>(r.period.count()) - 1) /
            static_cast<std::uint64_t>(r.period.count());
        r.burst = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(per_second, 1, max_burst));
        if (read_integer(t, "burst", "rate_limit.burst", 1, max_burst, r.burst)) {
            // A burst refills at the rate; one that takes over a day to refill is a typo.
            const auto refill_ms = static_cast<std::uint64_t>(r.burst - 1) *
                                   static_cast<std::uint64_t>(r.period.count()) / r.count;
            if (refill_ms > static_cast<std::uint64_t>(max_timeout.count()))
                error(t.get("burst")->source(), "rate_limit.burst = " + std::to_string(r.burst) + " at " +
                                                    to_string(rate) + " takes over a day to refill");
        }
        if (const std::string* by = read_string(t, "by", "rate_limit.by")) {
            if (*by == "key") {
                r.by.reset();
            } else if (auto rule = parse_hash_key(*by)) {
                r.by = *rule.value;
            } else {
                error(t.get("by")->source(), "rate_limit.by: \"key\" (the routing key) or a key rule: " + rule.error);
            }
        }
        read_bool(t, "dry_run", "rate_limit.dry_run", r.dry_run);
        if (const std::string* scope = read_string(t, "scope", "rate_limit.scope")) {
            if (*scope == "cluster")
                r.scope = rate_scope::cluster;
            else if (*scope == "instance")
                r.scope = rate_scope::instance;
            else
                error(t.get("scope")->source(),
                      "rate_limit.scope = \"" + *scope + "\": expected \"cluster\" or \"instance\"");
        }
        std::uint32_t slots = r.table_size;
        if (read_integer(t, "table_size", "rate_limit.table_size", min_rate_table, max_rate_table, slots))
            r.table_size = std::bit_ceil(slots);
    }

    void read_admin(const toml::table& t) {
        // A path: not empty when given, no NUL (it goes to open(2)).
        const auto read_path = [&](std::string_view key, std::string& out) {
            const std::string* v = read_string(t, key, "admin." + std::string{key});
            if (v == nullptr) return;
            if (v->find('\0') != std::string::npos)
                error(t.get(key)->source(), "admin." + std::string{key} + " contains a NUL byte");
            else
                out = *v;
        };
        read_path("tokens", cfg_.admin.tokens);
        read_path("state_file", cfg_.admin.state_file);
        if (const std::string* listen = read_string(t, "listen", "admin.listen")) {
            if (listen->empty()) {
                cfg_.admin.listen.reset();  // off
            } else if (const auto at = parse_endpoint_checked(*listen); !at) {
                error(t.get("listen")->source(), "admin.listen: " + at.error);
            } else {
                cfg_.admin.listen = *at.value;
            }
        }
        // Anyone who can reach the admin port can drain the pool: off loopback, only with tokens.
        if (cfg_.admin.listen && cfg_.admin.tokens.empty() && !is_loopback_host(cfg_.admin.listen->host)) {
            const toml::node* at = t.get("listen") != nullptr ? t.get("listen") : t.get("tokens");
            const std::string message = "admin.listen " + to_string(*cfg_.admin.listen) +
                                        " is not a loopback address: set admin.tokens (a token file) "
                                        "so that only holders of a token can read or change the pool";
            if (at != nullptr)
                error(at->source(), message);
            else
                io_error(message);
        }
    }

    void read_log(const toml::table& t) {
        const std::string* access = read_string(t, "access", "log.access");
        if (access == nullptr) return;
        const toml::node* n = t.get("access");
        if (access->empty()) {
            error(n->source(), "log.access must not be empty: use \"stdout\", \"off\" or a file path");
        } else if (access->find('\0') != std::string::npos) {
            error(n->source(), "log.access contains a NUL byte");
        } else {
            cfg_.log.access = *access;
        }
    }

    void read_backends(const toml::table& root) {
        const toml::node* n = root.get("backends");
        if (n == nullptr) {
            error(start_of_file(),
                  "no backends: add at least one [[backends]] table with an id and an address");
            return;
        }
        const toml::array* list = n->as_array();
        if (list == nullptr) {
            error(n->source(), "\"backends\" must be an array of tables ([[backends]]), not " +
                                   std::string{type_name(*n)});
            return;
        }
        if (list->empty()) {
            error(n->source(), "no backends: add at least one [[backends]] table with an id and an address");
            return;
        }
        backends_at_ = n->source();
        std::unordered_map<std::string, std::uint32_t> id_lines;
        std::map<std::pair<std::string, std::uint16_t>, std::string> address_owner;
        for (std::size_t i = 0; i < list->size(); ++i) {
            const toml::node& item = *list->get(i);
            const std::string path = "backends[" + std::to_string(i) + "]";
            const toml::table* t = item.as_table();
            if (t == nullptr) {
                error(item.source(),
                      path + " must be a table with id and address, not " + std::string{type_name(item)});
                continue;
            }
            check_keys(*t, "[[backends]]", backend_keys);
            backend_config b;
            bool ok = true;
            if (const std::string* id = read_string(*t, "id", join(path, "id"))) {
                const toml::node& at = *t->get("id");
                if (!valid_backend_id(*id)) {
                    error(at.source(), join(path, "id") + " \"" + *id + "\" is invalid: use 1.." +
                                           std::to_string(max_id_length) +
                                           " letters, digits and - _ . : (placement hashes this id)");
                    ok = false;
                } else if (const auto [it, fresh] = id_lines.emplace(*id, at.source().begin.line); !fresh) {
                    error(at.source(), "duplicate backend id \"" + *id + "\" (first defined on line " +
                                           std::to_string(it->second) + "); ids must be unique");
                    ok = false;
                } else {
                    b.id = *id;
                }
            } else {
                if (t->get("id") == nullptr)
                    error(item.source(), path + " has no id (a stable name such as \"app-1\")");
                ok = false;
            }
            if (t->get("address") == nullptr) {
                error(item.source(), path + " has no address (host:port)");
                ok = false;
            } else if (read_parsed(*t, "address", join(path, "address"), parse_endpoint_checked, b.address)) {
                const auto [it, fresh] =
                    address_owner.emplace(std::pair{b.address.host, b.address.port}, b.id);
                if (!fresh) {
                    warn(t->get("address")->source(), "backends \"" + it->second + "\" and \"" + b.id +
                                                          "\" share the address " + to_string(b.address) +
                                                          ": that server will receive both shares of keys");
                }
            } else {
                ok = false;
            }
            if (read_integer(*t, "weight", join(path, "weight"), 0, max_weight, b.weight)) {
                weight_at_.push_back(t->get("weight")->source());
            } else {
                ok = ok && t->get("weight") == nullptr;
                weight_at_.push_back(item.source());
            }
            read_parsed(*t, "state", join(path, "state"), parse_admin_state, b.state);
            if (const std::string* z = read_string(*t, "zone", join(path, "zone"))) {
                if (!valid_zone(*z))
                    error(t->get("zone")->source(),
                          join(path, "zone") + " \"" + *z + "\" must be 0..64 letters, digits and - _ .");
                else
                    b.zone = *z;
            }
            b.health = cfg_.health.defaults;
            if (const toml::node* h = t->get("health")) {
                if (const toml::table* ht = h->as_table()) {
                    check_keys(*ht, "a backend's health table", check_keys_list);
                    read_check(*ht, join(path, "health"), b.health);
                } else {
                    error(h->source(), join(path, "health") + " must be a table of check keys, not " +
                                           std::string{type_name(*h)});
                }
            }
            if (ok) cfg_.backends.push_back(std::move(b));
            all_backends_ok_ = all_backends_ok_ && ok;
        }
    }

    // Checks that need the whole file: limits that depend on algorithm, vnodes and weights
    // together. Skipped when an input is already in error, so one typo gives one message.
    void check_placement() {
        if (!all_backends_ok_ || !algorithm_ok_ || cfg_.backends.empty()) return;
        const auto& r = cfg_.routing;
        const toml::source_region algorithm_at = at_routing("algorithm");
        std::uint64_t total_weight = 0;
        for (const auto& b : cfg_.backends) total_weight += b.weight;
        const std::size_t n = cfg_.backends.size();
        if (total_weight == 0) {
            error(backends_at_, "every backend has weight 0: at least one needs a positive weight");
            return;
        }
        if (n > chash::max_nodes) {
            error(backends_at_,
                  std::to_string(n) + " backends: the limit is " + std::to_string(chash::max_nodes));
            return;
        }
        switch (r.algorithm) {
            case chash::kind::ring:
                if (vnodes_ok_ && total_weight * r.vnodes > chash::max_ring_points) {
                    error(at_routing("vnodes"),
                          "the ring would hold " + std::to_string(total_weight * r.vnodes) +
                              " points (vnodes " + std::to_string(r.vnodes) + " x total weight " +
                              std::to_string(total_weight) + "), over the limit of " +
                              std::to_string(chash::max_ring_points) +
                              " (128 MiB): lower routing.vnodes or the weights");
                }
                break;
            case chash::kind::ketama:
                if (n * ketama_points_per_server > chash::max_ring_points) {
                    error(algorithm_at, "ketama places 160 points per backend; " + std::to_string(n) +
                                            " backends exceed the ring limit of " +
                                            std::to_string(chash::max_ring_points) +
                                            " points: use maglev or ring");
                }
                break;
            case chash::kind::maglev:
                if (n >= maglev_table_size) {
                    error(algorithm_at, "maglev's table has " + std::to_string(maglev_table_size) +
                                            " slots and needs more slots than backends (" +
                                            std::to_string(n) + "): use ring");
                }
                break;
            case chash::kind::modulo:
                for (std::size_t i = 0; i < n; ++i) {
                    if (cfg_.backends[i].weight != 1) {
                        error(weight_at_[i],
                              "backend \"" + cfg_.backends[i].id +
                                  "\": algorithm \"modulo\" does not support weights (every weight "
                                  "must be 1); use ring, maglev or rendezvous for weights");
                    }
                }
                break;
            case chash::kind::rendezvous:
                if (n > 1000) {
                    warn(algorithm_at,
                         "rendezvous scores every backend on each request (O(backends)); with " +
                             std::to_string(n) + " backends prefer ring or maglev");
                }
                break;
            case chash::kind::jump:
                break;  // refused by parse_serving_algorithm
        }
    }

    toml::source_region at_routing(std::string_view key) const {
        if (routing_ != nullptr) {
            if (const toml::node* n = routing_->get(key)) return n->source();
            return routing_->source();
        }
        return start_of_file();
    }

    std::string file_;
    config cfg_;
    config_result result_;
    const toml::table* routing_ = nullptr;
    toml::source_region backends_at_ = start_of_file();
    std::vector<toml::source_region> weight_at_;  // per backend: its weight, or the table
    bool algorithm_ok_ = true;
    bool vnodes_ok_ = true;
    bool all_backends_ok_ = true;
};

}  // namespace

std::string config_error::to_string() const {
    if (line == 0) return file + ": " + message;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

config_result parse_config(std::string_view text, const std::string& name) {
    return loader{name}.run(text);
}

config_result load_config(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    if (!in) {
        loader l{path};
        l.io_error(std::string{"cannot open: "} + std::strerror(errno));
        return l.take();
    }
    // Read in blocks and stop past the cap, so pointing -c at a huge file (a log, a disk
    // image) is a quick error rather than a huge allocation.
    std::string text;
    std::array<char, 64 * 1024> block;
    while (in.read(block.data(), static_cast<std::streamsize>(block.size())) || in.gcount() > 0) {
        text.append(block.data(), static_cast<std::size_t>(in.gcount()));
        if (text.size() > max_file_bytes) {
            loader l{path};
            l.io_error("larger than " + format_size(max_file_bytes) + "; is this the right file?");
            return l.take();
        }
    }
    if (in.bad()) {
        loader l{path};
        l.io_error(std::string{"cannot read: "} + std::strerror(errno));
        return l.take();
    }
    return parse_config(text, path);
}

std::vector<chash::node> chash_nodes(const config& cfg) {
    std::vector<chash::node> nodes;
    nodes.reserve(cfg.backends.size());
    for (const auto& b : cfg.backends) nodes.push_back(chash::node{b.id, b.weight});
    return nodes;
}

chash::options chash_options(const routing_config& routing) {
    chash::options opts;
    opts.vnodes_per_weight = routing.vnodes;
    return opts;
}

}  // namespace ringlb
