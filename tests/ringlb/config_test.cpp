// Config loading: defaults, every notation, and that every mistake is reported with its
// position (and all of them at once).
#include "ringlb/config/config.hpp"
#include "ringlb/config/values.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ringlb {
namespace {

constexpr const char* one_backend = R"(
[[backends]]
id = "app-1"
address = "127.0.0.1:9101"
)";

config_result parse(const std::string& text) {
    return parse_config(text, "test.toml");
}

std::string all_errors(const config_result& r) {
    std::string s;
    for (const auto& e : r.errors) s += e.to_string() + "\n";
    return s;
}

// The single error of `text`, or a failure listing what was found instead.
config_error only_error(const std::string& text) {
    const auto r = parse(text);
    EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
    EXPECT_FALSE(r.value.has_value());
    return r.errors.empty() ? config_error{} : r.errors.front();
}

TEST(config, minimal_file_takes_every_default) {
    const auto r = parse(one_backend);
    ASSERT_TRUE(r.value) << all_errors(r);
    const config& c = *r.value;
    EXPECT_EQ(c.server.listen, (endpoint{"127.0.0.1", 8080}));
    EXPECT_EQ(c.server.workers, 0u);
    EXPECT_EQ(c.routing.algorithm, chash::kind::ring);
    EXPECT_EQ(c.routing.hash_key, (hash_key_rule{hash_key_rule::source::header, "X-User-Id"}));
    EXPECT_EQ(c.routing.vnodes, 160u);
    EXPECT_DOUBLE_EQ(c.routing.balance_factor, 1.25);
    EXPECT_EQ(c.routing.retries, 2u);
    EXPECT_EQ(c.routing.keyless, keyless_policy::least_loaded);
    EXPECT_EQ(c.timeouts.connect, duration{2000});
    EXPECT_EQ(c.timeouts.client_header, duration{10000});
    EXPECT_EQ(c.timeouts.backend_response, duration{30000});
    EXPECT_EQ(c.timeouts.idle, duration{60000});
    EXPECT_EQ(c.timeouts.linger, duration{2000});
    EXPECT_EQ(c.timeouts.shutdown_grace, duration{10000});
    EXPECT_EQ(c.limits.max_header_bytes, 32768u);
    EXPECT_EQ(c.limits.max_body_bytes, 100u << 20);
    EXPECT_EQ(c.limits.max_connections, 100000u);
    EXPECT_EQ(c.limits.idle_backend_connections, 1024u);
    EXPECT_EQ(c.log.access, "stdout");
    ASSERT_EQ(c.backends.size(), 1u);
    EXPECT_EQ(c.backends[0].id, "app-1");
    EXPECT_EQ(c.backends[0].address, (endpoint{"127.0.0.1", 9101}));
    EXPECT_EQ(c.backends[0].weight, 1u);
    EXPECT_TRUE(r.warnings.empty());
}

TEST(config, full_file_is_read_key_by_key) {
    const auto r = parse(R"(
[server]
listen = "[::1]:8443"
workers = 4
[routing]
algorithm = "maglev"
hash_key = "cookie:session"
vnodes = 200
balance_factor = 2
retries = 0
keyless = "reject"
[timeouts]
connect = "150ms"
client_header = "1m30s"
backend_response = "1h"
idle = "5s"
linger = "250ms"
shutdown_grace = "0s"
[limits]
max_header_bytes = "64KiB"
max_body_bytes = 1048576
max_connections = 500
idle_backend_connections = 0
[log]
access = "/var/log/ringlb/access.log"
[[backends]]
id = "a"
address = "10.0.0.1:80"
weight = 3
[[backends]]
id = "b"
address = "backend-b.internal:8080"
weight = 0
)");
    ASSERT_TRUE(r.value) << all_errors(r);
    const config& c = *r.value;
    EXPECT_EQ(c.server.listen, (endpoint{"::1", 8443}));
    EXPECT_EQ(c.server.workers, 4u);
    EXPECT_EQ(c.routing.algorithm, chash::kind::maglev);
    EXPECT_EQ(c.routing.hash_key, (hash_key_rule{hash_key_rule::source::cookie, "session"}));
    EXPECT_EQ(c.routing.vnodes, 200u);
    EXPECT_DOUBLE_EQ(c.routing.balance_factor, 2.0);
    EXPECT_EQ(c.routing.retries, 0u);
    EXPECT_EQ(c.routing.keyless, keyless_policy::reject);
    EXPECT_EQ(c.timeouts.connect, duration{150});
    EXPECT_EQ(c.timeouts.client_header, duration{90000});
    EXPECT_EQ(c.timeouts.backend_response, duration{3600000});
    EXPECT_EQ(c.timeouts.idle, duration{5000});
    EXPECT_EQ(c.timeouts.linger, duration{250});
    EXPECT_EQ(c.timeouts.shutdown_grace, duration{0});
    EXPECT_EQ(c.limits.max_header_bytes, 65536u);
    EXPECT_EQ(c.limits.max_body_bytes, 1048576u);
    EXPECT_EQ(c.limits.max_connections, 500u);
    EXPECT_EQ(c.limits.idle_backend_connections, 0u);
    EXPECT_EQ(c.log.access, "/var/log/ringlb/access.log");
    ASSERT_EQ(c.backends.size(), 2u);
    EXPECT_EQ(c.backends[0].weight, 3u);
    EXPECT_EQ(c.backends[1].address, (endpoint{"backend-b.internal", 8080}));
    EXPECT_EQ(c.backends[1].weight, 0u);
}

TEST(config, errors_carry_file_line_and_column) {
    const auto e = only_error(std::string{"[server]\nworkers = \"four\"\n"} + one_backend);
    EXPECT_EQ(e.file, "test.toml");
    EXPECT_EQ(e.line, 2u);
    EXPECT_EQ(e.column, 11u);
    EXPECT_EQ(e.to_string(), "test.toml:2:11: server.workers must be an integer, not a string");
}

TEST(config, syntax_error_is_reported_with_position) {
    const auto e = only_error("[server\nworkers = 1\n");
    EXPECT_EQ(e.line, 1u);
    EXPECT_GT(e.column, 0u);
}

TEST(config, every_error_is_collected_not_only_the_first) {
    const auto r = parse(R"(
[server]
workers = -1
[routing]
algorithm = "maglve"
vnodes = 0
[timeouts]
connect = "2 seconds"
[[backends]]
id = "a"
address = "nowhere"
)");
    EXPECT_EQ(r.errors.size(), 5u) << all_errors(r);
    EXPECT_FALSE(r.value);
    std::uint32_t last_line = 0;
    for (const auto& e : r.errors) {
        EXPECT_GT(e.line, last_line) << "errors come in file order";
        last_line = e.line;
    }
}

TEST(config, unknown_keys_are_errors_with_a_hint) {
    auto e = only_error(std::string{"[routing]\nvnode = 100\n"} + one_backend);
    EXPECT_EQ(e.line, 2u);
    EXPECT_EQ(e.column, 1u);
    EXPECT_NE(e.message.find("unknown key \"vnode\" in [routing] (did you mean \"vnodes\"?)"),
              std::string::npos)
        << e.message;

    e = only_error(std::string{"[server]\nvnodes = 100\n"} + one_backend);
    EXPECT_NE(e.message.find("belongs in [routing]"), std::string::npos) << e.message;

    e = only_error(std::string{"[sever]\nworkers = 1\n"} + one_backend);
    EXPECT_NE(e.message.find("did you mean \"server\""), std::string::npos) << e.message;

    e = only_error(std::string{one_backend} + "wieght = 2\n");
    EXPECT_NE(e.message.find("did you mean \"weight\""), std::string::npos) << e.message;
}

TEST(config, algorithm_is_checked_and_jump_refused_with_the_reason) {
    auto e = only_error(std::string{"[routing]\nalgorithm = \"rign\"\n"} + one_backend);
    EXPECT_NE(e.message.find("did you mean \"ring\""), std::string::npos) << e.message;
    e = only_error(std::string{"[routing]\nalgorithm = \"jump\"\n"} + one_backend);
    EXPECT_NE(e.message.find("cannot serve"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("removing"), std::string::npos) << e.message;
    for (const char* ok : {"ring", "ketama", "maglev", "rendezvous", "modulo"}) {
        const auto r = parse(std::string{"[routing]\nalgorithm = \""} + ok + "\"\n" + one_backend);
        EXPECT_TRUE(r.value) << ok << ": " << all_errors(r);
    }
}

TEST(config, hash_key_forms) {
    const auto key = [](const std::string& text) {
        const auto r = parse("[routing]\nhash_key = \"" + text + "\"\n" + one_backend);
        return r.value ? to_string(r.value->routing.hash_key) : "error: " + all_errors(r);
    };
    EXPECT_EQ(key("header:X-Tenant"), "header:X-Tenant");
    EXPECT_EQ(key("cookie:sid"), "cookie:sid");
    EXPECT_EQ(key("query:user"), "query:user");
    EXPECT_EQ(key("path"), "path");
    EXPECT_EQ(key("client_ip"), "client_ip");
    for (const char* bad : {"header:", "header", "header:X User", "heder:X", "path:x", "cookie:a;b", ""}) {
        EXPECT_EQ(key(bad).rfind("error: ", 0), 0u) << bad;
    }
}

TEST(config, balance_factor_is_zero_or_above_one) {
    for (const char* ok : {"0", "0.0", "1.25", "2", "100"}) {
        const auto r = parse(std::string{"[routing]\nbalance_factor = "} + ok + "\n" + one_backend);
        EXPECT_TRUE(r.value) << ok << ": " << all_errors(r);
    }
    for (const char* bad : {"1", "1.0", "0.5", "-1", "101", "inf", "nan", "\"1.25\"", "true"}) {
        const auto r = parse(std::string{"[routing]\nbalance_factor = "} + bad + "\n" + one_backend);
        EXPECT_EQ(r.errors.size(), 1u) << bad << ": " << all_errors(r);
    }
}

TEST(config, integer_ranges) {
    const auto errors_of = [](const std::string& section_and_key) {
        return parse(section_and_key + "\n" + one_backend).errors.size();
    };
    EXPECT_EQ(errors_of("[server]\nworkers = 1024"), 0u);
    EXPECT_EQ(errors_of("[server]\nworkers = 1025"), 1u);
    EXPECT_EQ(errors_of("[routing]\nvnodes = 1"), 0u);
    EXPECT_EQ(errors_of("[routing]\nvnodes = 0"), 1u);
    EXPECT_EQ(errors_of("[routing]\nretries = 10"), 0u);
    EXPECT_EQ(errors_of("[routing]\nretries = 11"), 1u);
    EXPECT_EQ(errors_of("[limits]\nmax_connections = 0"), 1u);
    EXPECT_EQ(errors_of("[limits]\nidle_backend_connections = -1"), 1u);
    EXPECT_EQ(errors_of("[limits]\nidle_backend_connections = \"many\""), 1u);
    EXPECT_EQ(errors_of("[limits]\nmax_header_bytes = 512"), 1u);
    EXPECT_EQ(errors_of("[limits]\nmax_header_bytes = \"2MiB\""), 1u);
    EXPECT_EQ(errors_of("[limits]\nmax_body_bytes = -5"), 1u);
    EXPECT_EQ(errors_of("[limits]\nmax_body_bytes = \"1.5GiB\""), 1u);
    EXPECT_EQ(errors_of("[limits]\nmax_body_bytes = \"100m\""), 1u);
}

TEST(config, durations_need_a_unit_and_stay_in_range) {
    const auto errors_of = [](const std::string& value) {
        return parse("[timeouts]\nconnect = " + value + "\n" + one_backend).errors.size();
    };
    EXPECT_EQ(errors_of("\"2s\""), 0u);
    EXPECT_EQ(errors_of("2"), 1u);
    EXPECT_EQ(errors_of("\"2\""), 1u);
    EXPECT_EQ(errors_of("\"0s\""), 1u);
    EXPECT_EQ(errors_of("\"25h\""), 1u);
    EXPECT_EQ(errors_of("\"1.5s\""), 1u);
    EXPECT_EQ(parse(std::string{"[timeouts]\nshutdown_grace = \"0ms\"\n"} + one_backend).errors.size(), 0u);
}

TEST(config, backends_are_required_and_checked) {
    auto e = only_error("[server]\nworkers = 1\n");
    EXPECT_NE(e.message.find("no backends"), std::string::npos);
    e = only_error("backends = []\n");
    EXPECT_NE(e.message.find("no backends"), std::string::npos);

    const auto r = parse(R"(
[[backends]]
id = "a"
address = "127.0.0.1:1"
[[backends]]
id = "a"
address = "127.0.0.1:2"
[[backends]]
address = "127.0.0.1:3"
[[backends]]
id = "bad id"
address = "127.0.0.1:4"
[[backends]]
id = "c"
[[backends]]
id = "d"
address = "127.0.0.1:5"
weight = 10001
)");
    ASSERT_EQ(r.errors.size(), 5u) << all_errors(r);
    EXPECT_NE(r.errors[0].message.find("duplicate backend id \"a\" (first defined on line 3)"),
              std::string::npos)
        << r.errors[0].message;
    EXPECT_EQ(r.errors[0].line, 6u);
    EXPECT_NE(r.errors[1].message.find("has no id"), std::string::npos);
    EXPECT_NE(r.errors[2].message.find("is invalid"), std::string::npos);
    EXPECT_NE(r.errors[3].message.find("has no address"), std::string::npos);
    EXPECT_NE(r.errors[4].message.find("out of range"), std::string::npos);
}

TEST(config, previous_owner_header_is_a_name_ringlb_may_own) {
    const auto errors_of = [](const std::string& name) {
        return parse("[routing]\nprevious_owner_header = \"" + name + "\"\n" + one_backend).errors.size();
    };
    EXPECT_EQ(errors_of("X-Previous-Owner"), 0u);
    EXPECT_EQ(errors_of(""), 0u);  // off
    // Headers that frame, route or mean something to the message are refused.
    for (const char* taken : {"Host", "content-length", "Transfer-Encoding", "Connection", "Keep-Alive", "TE",
                              "Upgrade", "Expect", "Cookie", "X-Forwarded-For", "x-forwarded-proto",
                              "Trailer", "Proxy-Authorization", "proxy-anything"})
        EXPECT_EQ(errors_of(taken), 1u) << taken;
    EXPECT_EQ(errors_of("Bad Name"), 1u);
    EXPECT_EQ(errors_of(std::string(65, 'x')), 1u);
}

TEST(config, passive_5xx_needs_active_checks) {
    const auto e = only_error(std::string{"[health]\npassive_5xx = true\n"} + one_backend);
    EXPECT_NE(e.message.find("health.passive_5xx needs an active check"), std::string::npos) << e.message;
    EXPECT_EQ(e.line, 2u);
    EXPECT_TRUE(
        parse(std::string{"[health]\ncheck = \"tcp\"\npassive_5xx = true\n"} + one_backend).errors.empty());
    // A backend that turns its checks off while [health] counts 5xx is told so.
    const auto b = only_error(
        "[health]\ncheck = \"tcp\"\npassive_5xx = true\n[[backends]]\nid = \"a\"\n"
        "address = \"127.0.0.1:1\"\nhealth = { check = \"none\" }\n");
    EXPECT_NE(b.message.find("backends[0].health.passive_5xx needs an active check"), std::string::npos)
        << b.message;
}

TEST(config, duplicate_address_is_a_warning) {
    const auto r = parse(R"(
[[backends]]
id = "a"
address = "127.0.0.1:9000"
[[backends]]
id = "b"
address = "127.0.0.1:9000"
)");
    ASSERT_TRUE(r.value) << all_errors(r);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].line, 7u);
    EXPECT_NE(r.warnings[0].message.find("share the address"), std::string::npos);
}

TEST(config, placement_limits_depend_on_algorithm_and_weights) {
    // 10000 x 1000 = 1e7 ring points > max_ring_points (8 Mi).
    auto e = only_error(R"(
[routing]
vnodes = 1000
[[backends]]
id = "a"
address = "127.0.0.1:1"
weight = 10000
)");
    EXPECT_EQ(e.line, 3u);
    EXPECT_NE(e.message.find("10000000 points"), std::string::npos) << e.message;

    e = only_error(R"(
[routing]
algorithm = "modulo"
[[backends]]
id = "a"
address = "127.0.0.1:1"
weight = 2
)");
    EXPECT_EQ(e.line, 7u);
    EXPECT_NE(e.message.find("does not support weights"), std::string::npos) << e.message;

    e = only_error(R"(
[[backends]]
id = "a"
address = "127.0.0.1:1"
weight = 0
)");
    EXPECT_NE(e.message.find("weight 0"), std::string::npos) << e.message;
}

TEST(config, wrong_section_types) {
    auto e = only_error(std::string{"server = 3\n"} + one_backend);
    EXPECT_NE(e.message.find("must be a table"), std::string::npos);
    e = only_error("backends = \"a\"\n");
    EXPECT_NE(e.message.find("array of tables"), std::string::npos);
}

TEST(config, load_config_reports_io_errors_without_position) {
    const auto r = load_config("/nonexistent/ringlb.toml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 0u);
    EXPECT_EQ(r.errors[0].to_string().rfind("/nonexistent/ringlb.toml: cannot open", 0), 0u);
}

TEST(config_values, durations) {
    EXPECT_EQ(parse_duration("150ms").value, duration{150});
    EXPECT_EQ(parse_duration("2s").value, duration{2000});
    EXPECT_EQ(parse_duration("1m").value, duration{60000});
    EXPECT_EQ(parse_duration("1h").value, duration{3600000});
    EXPECT_EQ(parse_duration("1m30s").value, duration{90000});
    for (const char* bad :
         {"", "s", "2", "2x", "2 s", "-1s", "1.5s", "99999999999999999999s", "9999999999999999h"}) {
        const auto p = parse_duration(bad);
        EXPECT_FALSE(p) << bad;
        EXPECT_NE(p.error.find("malformed duration"), std::string::npos) << bad;
    }
    EXPECT_EQ(format_duration(duration{90000}), "90s");
    EXPECT_EQ(format_duration(duration{150}), "150ms");
    EXPECT_EQ(format_duration(duration{7200000}), "2h");
}

TEST(config_values, sizes) {
    EXPECT_EQ(parse_size("512").value, 512u);
    EXPECT_EQ(parse_size("32KiB").value, 32768u);
    EXPECT_EQ(parse_size("100MiB").value, 100u << 20);
    EXPECT_EQ(parse_size("1GB").value, 1000000000u);
    EXPECT_EQ(parse_size("1 gib").value, 1u << 30);
    EXPECT_EQ(parse_size("2TiB").value, 2ull << 40);
    for (const char* bad : {"", "MiB", "1.5MiB", "10m", "10 k", "10XB", "-1", "99999999999TiB"}) {
        EXPECT_FALSE(parse_size(bad)) << bad;
    }
    EXPECT_NE(parse_size("10m").error.find("ambiguous"), std::string::npos);
    EXPECT_EQ(format_size(100u << 20), "100MiB");
    EXPECT_EQ(format_size(1000), "1000");
}

TEST(config, zones_and_peak_ewma) {
    const auto r = parse(std::string{"[server]\nzone = \"eu-1\"\n[routing]\nzone_order = [\"eu-2\", \"us-1\"]\n"
                                     "overprovision = 1.2\nkeyless = \"peak-ewma\"\n"} +
                         one_backend + "zone = \"eu-2\"\n");
    ASSERT_TRUE(r.value) << all_errors(r);
    EXPECT_EQ(r.value->server.zone, "eu-1");
    EXPECT_EQ(r.value->routing.zone_order, (std::vector<std::string>{"eu-2", "us-1"}));
    EXPECT_DOUBLE_EQ(r.value->routing.overprovision, 1.2);
    EXPECT_EQ(r.value->routing.keyless, keyless_policy::peak_ewma);
    EXPECT_EQ(r.value->backends[0].zone, "eu-2");

    EXPECT_EQ(only_error(std::string{"[routing]\noverprovision = 0.5\n"} + one_backend).message,
              "routing.overprovision must be a number in 1..10 (Envoy's default: 1.4)");
    EXPECT_EQ(only_error(std::string{"[routing]\noverprovision = \"2\"\n"} + one_backend).message,
              "routing.overprovision must be a number in 1..10 (Envoy's default: 1.4)");
    EXPECT_EQ(only_error(std::string{"[routing]\nzone_order = \"a\"\n"} + one_backend).message,
              "routing.zone_order must be a list of zone names, e.g. [\"a\", \"b\"]");
    EXPECT_EQ(only_error(std::string{"[routing]\nzone_order = [\"a\", \"b c\"]\n"} + one_backend).message,
              "routing.zone_order: each is a zone name of 1..64 letters, digits and - _ .");
}

TEST(config, rate_limit_is_off_by_default_and_read_key_by_key) {
    const auto defaults = parse(one_backend);
    ASSERT_TRUE(defaults.value) << all_errors(defaults);
    EXPECT_FALSE(defaults.value->rate_limit.enabled());

    const auto r = parse(std::string{"[rate_limit]\nrate = \"30/m\"\nburst = 5\nby = \"header:X-Api-Key\"\n"
                                     "dry_run = true\nscope = \"instance\"\ntable_size = 1000\n"} +
                         one_backend);
    ASSERT_TRUE(r.value) << all_errors(r);
    const rate_rule& rl = r.value->rate_limit;
    EXPECT_TRUE(rl.enabled());
    EXPECT_EQ(rl.count, 30u);
    EXPECT_EQ(rl.period, duration{60'000});
    EXPECT_EQ(rl.burst, 5u);
    ASSERT_TRUE(rl.by.has_value());
    EXPECT_EQ(rl.by->from, hash_key_rule::source::header);
    EXPECT_EQ(rl.by->name, "X-Api-Key");
    EXPECT_TRUE(rl.dry_run);
    EXPECT_EQ(rl.scope, rate_scope::instance);
    EXPECT_EQ(rl.table_size, 1024u);  // rounded up to a power of two

    // The defaults: the routing key, a second's worth of burst (at least 1), the cluster.
    const auto d = parse(std::string{"[rate_limit]\nrate = \"100/s\"\n"} + one_backend);
    ASSERT_TRUE(d.value) << all_errors(d);
    EXPECT_EQ(d.value->rate_limit.burst, 100u);
    EXPECT_FALSE(d.value->rate_limit.by.has_value());
    EXPECT_EQ(d.value->rate_limit.scope, rate_scope::cluster);
    EXPECT_FALSE(d.value->rate_limit.dry_run);
    EXPECT_EQ(d.value->rate_limit.table_size, 65536u);
    const auto fast = parse(std::string{"[rate_limit]\nrate = \"1000000/s\"\n"} + one_backend);
    ASSERT_TRUE(fast.value) << all_errors(fast);
    EXPECT_EQ(fast.value->rate_limit.count, 1'000'000u);
    const auto slow = parse(std::string{"[rate_limit]\nrate = \"1000/h\"\nby = \"client_ip\"\n"} + one_backend);
    ASSERT_TRUE(slow.value) << all_errors(slow);
    EXPECT_EQ(slow.value->rate_limit.burst, 1u);
    EXPECT_EQ(slow.value->rate_limit.by->from, hash_key_rule::source::client_ip);
}

TEST(config, rate_limit_errors_say_what_is_accepted) {
    const auto message = [](const std::string& section) {
        return only_error("[rate_limit]\n" + section + one_backend).message;
    };
    EXPECT_EQ(message("burst = 3\n"),
              "[rate_limit] needs a rate, e.g. rate = \"100/s\" (remove the section to limit nothing)");
    EXPECT_EQ(message("rate = \"100\"\n"),
              "rate_limit.rate: malformed rate \"100\": no '/'; expected a count per unit, e.g. \"100/s\", "
              "\"30/m\" or \"1000/h\"");
    EXPECT_EQ(message("rate = \"10/d\"\n"),
              "rate_limit.rate: malformed rate \"10/d\": unknown unit \"d\"; expected a count per unit, e.g. "
              "\"100/s\", \"30/m\" or \"1000/h\"");
    EXPECT_EQ(message("rate = \"0/s\"\n"),
              "rate_limit.rate: malformed rate \"0/s\": the count is out of range 1..1000000000; expected a "
              "count per unit, e.g. \"100/s\", \"30/m\" or \"1000/h\"");
    EXPECT_EQ(message("rate = \"2000000/s\"\n"), "rate_limit.rate = \"2000000/s\" is above 1000000/s per key");
    EXPECT_EQ(message("rate = \"60000001/m\"\n"), "rate_limit.rate = \"60000001/m\" is above 1000000/s per key");
    EXPECT_EQ(message("rate = \"1/h\"\nburst = 100\n"), "rate_limit.burst = 100 at 1/h takes over a day to refill");
    EXPECT_EQ(message("rate = \"1/s\"\nburst = 0\n"), "rate_limit.burst = 0 is out of range 1..1000000");
    EXPECT_EQ(message("rate = \"1/s\"\nscope = \"global\"\n"),
              "rate_limit.scope = \"global\": expected \"cluster\" or \"instance\"");
    EXPECT_EQ(message("rate = \"1/s\"\ntable_size = 10\n"), "rate_limit.table_size = 10 is out of range 64..16777216");
    EXPECT_NE(message("rate = \"1/s\"\nby = \"ip\"\n").find("rate_limit.by: \"key\" (the routing key) or a key rule"),
              std::string::npos);
    EXPECT_EQ(message("rate = \"1/s\"\nburts = 1\n"),
              "unknown key \"burts\" in [rate_limit] (did you mean \"burst\"?)");
}

TEST(config, tls_is_off_by_default_and_read_key_by_key) {
    const auto defaults = parse(one_backend);
    ASSERT_TRUE(defaults.value) << all_errors(defaults);
    EXPECT_FALSE(defaults.value->tls.enabled());

    const auto r = parse(std::string{"[tls]\ncertificates = [{cert = \"a.pem\", key = \"a.key\"},\n"
                                     "                {cert = \"b.pem\", key = \"b.key\"}]\n"
                                     "strict_sni = true\nmin_version = \"1.3\"\nticket_keys = [\"t1\", \"t0\"]\n"} +
                         one_backend);
    ASSERT_TRUE(r.value) << all_errors(r);
    const tls_rule& t = r.value->tls;
    EXPECT_TRUE(t.enabled());
    EXPECT_EQ(t.certificates, (std::vector<tls_certificate>{{"a.pem", "a.key"}, {"b.pem", "b.key"}}));
    EXPECT_TRUE(t.strict_sni);
    EXPECT_EQ(t.min_version, tls_version::v1_3);
    EXPECT_EQ(t.ticket_keys, (std::vector<std::string>{"t1", "t0"}));

    // The array-of-tables spelling is the same thing.
    const auto tables = parse(std::string{"[[tls.certificates]]\ncert = \"a.pem\"\nkey = \"a.key\"\n"} + one_backend);
    ASSERT_TRUE(tables.value) << all_errors(tables);
    EXPECT_EQ(tables.value->tls.certificates.size(), 1u);
    EXPECT_EQ(tables.value->tls.min_version, tls_version::v1_2);
    EXPECT_FALSE(tables.value->tls.strict_sni);
}

TEST(config, tls_errors_say_what_is_accepted) {
    const auto message = [](const std::string& section) { return only_error("[tls]\n" + section + one_backend).message; };
    EXPECT_EQ(message("strict_sni = true\n"),
              "tls.certificates must list at least one {cert = \"chain.pem\", key = \"key.pem\"} (remove [tls] to "
              "serve plain HTTP)");
    EXPECT_EQ(message("certificates = [{cert = \"a.pem\"}]\n"),
              "tls.certificates[0] needs both cert (the chain, PEM) and key (PEM)");
    EXPECT_EQ(message("certificates = [{cert = \"a.pem\", key = \"\"}]\n"),
              "tls.certificates[0].key must be a file path (a non-empty string)");
    EXPECT_EQ(message("certificates = [\"a.pem\"]\n"),
              "tls.certificates[0] must be a table {cert = \"chain.pem\", key = \"key.pem\"}");
    EXPECT_EQ(message("certificates = [{cert = \"a.pem\", key = \"a.key\", chain = \"c\"}]\n"),
              "unknown key \"chain\" in tls.certificates[0]");
    EXPECT_EQ(message("certificates = [{cert = \"a.pem\", key = \"a.key\"}]\nmin_version = \"1.1\"\n"),
              "tls.min_version = \"1.1\": expected \"1.2\" or \"1.3\"");
    EXPECT_EQ(message("certificates = [{cert = \"a.pem\", key = \"a.key\"}]\nticket_keys = \"t\"\n"),
              "tls.ticket_keys must be a list of file paths");
}

TEST(config, upgrade_protocols_and_the_tunnel_timeout) {
    const auto defaults = parse(one_backend);
    ASSERT_TRUE(defaults.value) << all_errors(defaults);
    EXPECT_EQ(defaults.value->server.upgrade, (std::vector<std::string>{"websocket"}));
    EXPECT_EQ(defaults.value->timeouts.tunnel, std::chrono::hours{1});

    const auto r = parse(std::string{"[server]\nupgrade = [\"websocket\", \"my-proto\"]\n[timeouts]\ntunnel = \"5m\"\n"} +
                         one_backend);
    ASSERT_TRUE(r.value) << all_errors(r);
    EXPECT_EQ(r.value->server.upgrade, (std::vector<std::string>{"websocket", "my-proto"}));
    EXPECT_EQ(r.value->timeouts.tunnel, std::chrono::minutes{5});
    const auto off = parse(std::string{"[server]\nupgrade = []\n"} + one_backend);
    ASSERT_TRUE(off.value) << all_errors(off);
    EXPECT_TRUE(off.value->server.upgrade.empty());

    EXPECT_EQ(only_error(std::string{"[server]\nupgrade = \"websocket\"\n"} + one_backend).message,
              "server.upgrade must be a list of protocol names, e.g. [\"websocket\"], or []");
    EXPECT_EQ(only_error(std::string{"[server]\nupgrade = [\"web socket\"]\n"} + one_backend).message,
              "server.upgrade: each is a protocol name (a token of 1..64 characters)");
    EXPECT_EQ(only_error(std::string{"[server]\nupgrade = [\"H2C\"]\n"} + one_backend).message,
              "server.upgrade: \"h2c\" is HTTP/2, which ringlb does not speak");
    EXPECT_EQ(only_error(std::string{"[timeouts]\ntunnel = \"0s\"\n"} + one_backend).line, 2u);
}

TEST(config_values, endpoints) {
    EXPECT_EQ(parse_endpoint("127.0.0.1:80"), (endpoint{"127.0.0.1", 80}));
    EXPECT_EQ(parse_endpoint("[2001:db8::1]:443"), (endpoint{"2001:db8::1", 443}));
    EXPECT_EQ(parse_endpoint("localhost:65535"), (endpoint{"localhost", 65535}));
    for (const char* bad :
         {"", "127.0.0.1", ":80", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "::1:80", "[::1]80",
          "[nothex]:80", "10.0.0.256:80", "bad_host:80", "-a.b:1", "a..b:1"}) {
        EXPECT_FALSE(parse_endpoint(bad)) << bad;
    }
    EXPECT_EQ(to_string(endpoint{"::1", 80}), "[::1]:80");
    EXPECT_EQ(to_string(endpoint{"10.0.0.1", 80}), "10.0.0.1:80");
}

TEST(config_values, closest_match_only_suggests_near_misses) {
    constexpr std::array<std::string_view, 3> words{"algorithm", "vnodes", "retries"};
    EXPECT_EQ(closest_match("algoritm", words), "algorithm");
    EXPECT_EQ(closest_match("VNODES", words), "vnodes");
    EXPECT_EQ(closest_match("workers", words), std::nullopt);
    EXPECT_EQ(closest_match("x", words), std::nullopt);
}

TEST(config, chash_view_of_the_backends) {
    const auto r = parse(R"(
[routing]
vnodes = 40
[[backends]]
id = "b"
address = "127.0.0.1:1"
weight = 2
[[backends]]
id = "a"
address = "127.0.0.1:2"
)");
    ASSERT_TRUE(r.value) << all_errors(r);
    const auto nodes = chash_nodes(*r.value);
    ASSERT_EQ(nodes.size(), 2u);
    EXPECT_EQ(nodes[0].id, "b");
    EXPECT_EQ(nodes[0].weight, 2u);
    EXPECT_EQ(nodes[1].id, "a");
    EXPECT_EQ(chash_options(r.value->routing).vnodes_per_weight, 40u);
}

}  // namespace
}  // namespace ringlb
