#include "ringlb/demo/demo_config.hpp"

#include "ringlb/config/values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace ringlb::demo {

std::string demo_config_text(const demo_ports& ports, unsigned backends, duration slow_start) {
    std::string text = fmt::format(
        R"(# ringlb demo: the balancer in front of four demo application servers, each keeping
# up to a bounded number of users in an in-memory cache. Validate: ringlb check -c FILE
# Serve it yourself: ringlb demo --backends-only & ringlb serve -c FILE

[server]
listen = "127.0.0.1:{}"
workers = 2                       # the demo shares the machine with its backends and load

[routing]
algorithm = "ring"
hash_key = "header:X-User-Id"     # one user, one backend, one warm cache
vnodes = 160
balance_factor = 0                # bounded loads off: with a handful of connections, a hot
                                  # user's burst would spill to backends whose caches are cold
retries = 2
keyless = "round-robin"           # requests without X-User-Id: what a plain balancer does;
                                  # --traffic measures both
{}
[timeouts]
shutdown_grace = "2s"             # Ctrl-C should not take long

[admin]
listen = "{}"{}

[log]
access = "off"                    # --traffic sends tens of thousands of requests
)",
        ports.listen,
        slow_start.count() > 0 ? fmt::format("{:<34}# a backend that joins gets its users over this window\n",
                                             fmt::format("slow_start = \"{}\"", format_duration(slow_start)))
                               : std::string{},
        ports.admin == 0 ? std::string{} : fmt::format("127.0.0.1:{}", ports.admin),
        ports.admin == 0 ? "                     # off"
                         : "     # the API and dashboard: open it in a browser");
    for (unsigned i = 0; i < std::min(backends, backend_count); ++i) {
        text += fmt::format(R"(
[[backends]]
id = "app-{}"
address = "127.0.0.1:{}"
)",
                            i + 1, ports.first_backend + i);
    }
    return text;
}

config demo_config(const demo_ports& ports) {
    config_result r = parse_config(demo_config_text(ports), "<demo>");
    if (!r.errors.empty())
        throw std::logic_error("the embedded demo config is invalid: " + r.errors[0].to_string());
    return std::move(*r.value);
}

}  // namespace ringlb::demo
