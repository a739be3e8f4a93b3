#include "ringlb/control/bundle_builder.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>

namespace ringlb {

namespace {

std::atomic<std::uint64_t> next_generation{1};

bool resolve(const endpoint& ep, asio::ip::tcp::endpoint& out, std::string& error) {
    asio::error_code ec;
    const auto addr = asio::ip::make_address(ep.host, ec);
    if (!ec) {
        out = {addr, ep.port};
        return true;
    }
    asio::io_context ctx;
    asio::ip::tcp::resolver resolver{ctx};
    const auto results = resolver.resolve(ep.host, std::to_string(ep.port), ec);
    if (ec || results.empty()) {
        error = "cannot resolve " + ep.host + ": " + (ec ? ec.message() : "no address");
        return false;
    }
    out = results.begin()->endpoint();
    return true;
}

}  // namespace

routing_options make_routing_options(const routing_config& routing) {
    return {.algorithm = routing.algorithm,
            .build = chash_options(routing),
            .balance_factor = routing.balance_factor,
            .keyless = routing.keyless};
}

proxy_settings make_settings(const config& cfg) {
    proxy_settings s;
    s.timeouts = {.connect = cfg.timeouts.connect,
                  .client_header = cfg.timeouts.client_header,
                  .backend_response = cfg.timeouts.backend_response,
                  .idle = cfg.timeouts.idle,
                  .linger = cfg.timeouts.linger};
    s.limits = {.max_header_bytes = cfg.limits.max_header_bytes,
                .max_body_bytes = cfg.limits.max_body_bytes,
                .max_connections = cfg.limits.max_connections,
                .idle_backend_connections = cfg.limits.idle_backend_connections};
    s.key = cfg.routing.hash_key;
    s.retries = cfg.routing.retries;
    return s;
}

std::shared_ptr<const bundle> build_bundle(const config& cfg, const bundle* previous, std::string& error) {
    auto b = std::make_shared<bundle>();
    b->addresses.resize(cfg.backends.size());
    for (std::size_t i = 0; i < cfg.backends.size(); ++i) {
        if (!resolve(cfg.backends[i].address, b->addresses[i], error)) {
            error = "backend " + cfg.backends[i].id + ": " + error;
            return nullptr;
        }
    }
    const auto nodes = chash_nodes(cfg);
    b->routing = routing_snapshot::build(nodes, make_routing_options(cfg.routing),
                                         previous != nullptr ? previous->routing.get() : nullptr, error);
    if (!b->routing) return nullptr;
    b->settings = make_settings(cfg);
    b->generation = next_generation.fetch_add(1, std::memory_order_relaxed);
    return b;
}

}  // namespace ringlb
