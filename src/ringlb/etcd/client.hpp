// ringlb/etcd/client.hpp: etcd's v3 API through its JSON gateway, on the control thread.
//
//   ringlb::etcd::client c{io, {.endpoints = {{"127.0.0.1", 2379}}}};
//   auto r = co_await c.range("/ringlb/backends/");            // every key under a prefix
//   auto t = co_await c.txn(ringlb::etcd::txn_put_if("/ringlb/backends/app-1", doc, mod_revision));
//   auto lease = co_await c.lease_grant(std::chrono::seconds{10});
//   ringlb::etcd::watcher w{io, c};
//   co_await w.run("/ringlb/", r.value.revision + 1, [](const ringlb::etcd::watch_message& m) { ... });
//
// Why the JSON gateway and not gRPC: etcd serves the same v3 API as JSON over HTTP/1.1
// (APISIX does the same), which ringlb already parses with its own strict HTTP code and
// nlohmann-json; gRPC would bring protobuf, gRPC C++ and their build (see docs/DESIGN.md
// for the measured cost). What the gateway does, measured on etcd 3.4 (docs/DESIGN.md):
// every call is a POST with a JSON body; keys and values are base64; int64 fields come as
// strings; fields at their zero value are left out (a PUT event has no "type", a failed
// txn no "succeeded"); a watch is one request with a fixed body whose answer streams one
// JSON object per line, and is cancelled by closing its connection; unary errors are
// {"error": ..., "code": N} with an HTTP status mapped from the gRPC code.
//
// Endpoints: calls go to the endpoint that last worked and move to the next one when it
// cannot be reached, answers 503 (no leader, leader changed) or 5xx; every call sends
// `Grpc-Metadata-Hasleader: true`, so a member cut off from its cluster refuses at once
// instead of serving stale data (and a watch on it ends with an error). With credentials,
// the client authenticates (/v3/auth/authenticate) and sends the token, again after an
// "invalid auth token" answer.
//
// Thread-safety: none; the control thread.
#pragma once

#include "ringlb/config/config.hpp"
#include "ringlb/etcd/http_client.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ringlb::etcd {

struct client_options {
    std::vector<endpoint> endpoints;
    std::string username;  ///< empty: no authentication
    std::string password;
    std::chrono::milliseconds timeout{5000};  ///< per unary call, per endpoint tried
};

/// A call's outcome: `error` empty on success.
template <class T>
struct result {
    T value{};
    std::string error;
    int code = 0;  ///< the gRPC code of an etcd error (11: compacted), 0 otherwise
    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

struct kv {
    std::string key;
    std::string value;
    std::int64_t create_revision = 0;
    std::int64_t mod_revision = 0;
    std::int64_t lease = 0;
};

struct range_result {
    std::int64_t revision = 0;  ///< the store's revision the read saw
    std::vector<kv> kvs;
};

struct txn_result {
    std::int64_t revision = 0;
    bool succeeded = false;
};

struct watch_message {
    enum class kind : std::uint8_t { created, events, progress, canceled, error };
    struct event {
        bool deleted = false;
        kv item;  ///< for a delete, the key and its mod_revision
    };
    kind what = kind::progress;
    std::int64_t revision = 0;          ///< header.revision (0 when left out)
    std::int64_t compact_revision = 0;  ///< canceled by a compaction: the oldest revision kept
    std::vector<event> events;
    std::string error;  ///< canceled or error: why
};

/// An int64 field as the gateway sends them (a string; leniently a number); 0 when absent
/// or malformed.
[[nodiscard]] std::int64_t json_int64(const nlohmann::json& j, const char* key) noexcept;
/// Parses one line of a watch stream.
[[nodiscard]] std::optional<watch_message> parse_watch_message(std::string_view line);
/// The key just past every key that starts with `prefix` (range_end of a prefix range).
[[nodiscard]] std::string prefix_end(std::string_view prefix);

class client {
public:
    client(asio::io_context& io, client_options opts);

    [[nodiscard]] asio::awaitable<result<range_result>> range(std::string prefix);
    [[nodiscard]] asio::awaitable<result<std::int64_t>> put(std::string key, std::string value,
                                                            std::int64_t lease = 0);
    /// A transaction: `compare`, `success` and `failure` are etcd's JSON arrays, with keys
    /// and values already base64 (see the helpers below).
    [[nodiscard]] asio::awaitable<result<txn_result>> txn(nlohmann::json request);
    [[nodiscard]] asio::awaitable<result<std::int64_t>> lease_grant(std::chrono::seconds ttl);
    /// Renews a lease; its remaining TTL, 0 when the lease is gone.
    [[nodiscard]] asio::awaitable<result<std::int64_t>> lease_keepalive(std::int64_t id);
    [[nodiscard]] asio::awaitable<result<bool>> lease_revoke(std::int64_t id);
    /// A raw call. An idempotent one (a read) moves to the next endpoint on failure; a write
    /// does only when it never reached the socket (else it might be applied twice).
    [[nodiscard]] asio::awaitable<result<nlohmann::json>> call(std::string path, nlohmann::json body,
                                                               bool idempotent = true);

    /// The endpoint calls go to now, and the headers every request carries (a watch uses
    /// them too).
    [[nodiscard]] const endpoint& current() const noexcept { return opts_.endpoints[current_]; }
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> headers() const;
    /// Moves to the next endpoint (a watch that failed on this one).
    void rotate() noexcept { current_ = (current_ + 1) % opts_.endpoints.size(); }
    /// Authenticates when credentials are set and no token is held (a watch needs the token
    /// before it starts). False with `error` when that fails.
    [[nodiscard]] asio::awaitable<bool> ensure_token(std::string& error);
    [[nodiscard]] asio::io_context& io() noexcept { return io_; }
    [[nodiscard]] const client_options& options() const noexcept { return opts_; }

private:
    asio::io_context& io_;
    client_options opts_;
    std::size_t current_ = 0;
    std::string token_;
};

/// Base64 (standard, padded), as the gateway wants keys and values.
[[nodiscard]] std::string base64(std::string_view bytes);
[[nodiscard]] std::optional<std::string> unbase64(std::string_view text);

/// Compare clauses and operations for client::txn.
[[nodiscard]] nlohmann::json compare_mod_revision(std::string_view key, std::string_view result,
                                                  std::int64_t rev);
[[nodiscard]] nlohmann::json compare_absent(std::string_view key);
[[nodiscard]] nlohmann::json op_put(std::string_view key, std::string_view value, std::int64_t lease = 0);
[[nodiscard]] nlohmann::json op_delete(std::string_view key);

/// A watch over a prefix from a revision, on its own connection.
class watcher {
public:
    using message_fn = std::function<bool(const watch_message&)>;
    watcher(asio::io_context& io, client& c) : client_{c}, stream_{io} {}

    /// Watches keys under `prefix` from `start_revision`, with progress notifications and
    /// previous values, handing every message to `on_message` until it returns false
    /// (stopped), the stream ends or fails, or no line comes within `idle_timeout`.
    [[nodiscard]] asio::awaitable<stream_end> run(const std::string& prefix, std::int64_t start_revision,
                                                  message_fn on_message,
                                                  std::chrono::milliseconds idle_timeout);
    void cancel() { stream_.cancel(); }

private:
    client& client_;
    http_stream stream_;
};

}  // namespace ringlb::etcd
