#include "ringlb/etcd/client.hpp"

#include "ringlb/common/json_guard.hpp"
#include "ringlb/config/values.hpp"

#include <array>
#include <charconv>

// See src/ringlb/proxy/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::etcd {

namespace {

using nlohmann::json;

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// An int64 the gateway sent as a string (its rule) or, leniently, as a number; 0 when left
// out (its zero value) or malformed.
std::int64_t i64(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) return 0;
    if (it->is_number_integer()) return it->get<std::int64_t>();
    if (!it->is_string()) return 0;
    const auto& s = it->get_ref<const std::string&>();
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && end == s.data() + s.size() ? v : 0;
}

// What etcd (or anything on its port) sends is parsed only when shallow (json_guard.hpp).
constexpr int max_json_depth = 32;

json parse_shallow(std::string_view text) {
    if (!json_nesting_within(text, max_json_depth)) return json(json::value_t::discarded);
    return json::parse(text, nullptr, false);
}

bool flag(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string str(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::optional<kv> parse_kv(const json& j) {
    if (!j.is_object()) return std::nullopt;
    kv out;
    auto key = unbase64(str(j, "key"));
    auto value = unbase64(str(j, "value"));
    if (!key || !value) return std::nullopt;
    out.key = std::move(*key);
    out.value = std::move(*value);
    out.create_revision = i64(j, "create_revision");
    out.mod_revision = i64(j, "mod_revision");
    out.lease = i64(j, "lease");
    return out;
}

// The message of an error answer ({"error": "...", "code": N}, or a stream's
// {"error": {"message": ..., "grpc_code": N}}), or the status line when there is none.
std::pair<std::string, int> error_of(const http_result& r) {
    const json j = parse_shallow(r.body);
    if (j.is_object() && j.contains("error")) {
        const json& e = j["error"];
        if (e.is_string()) return {e.get<std::string>(), static_cast<int>(i64(j, "code"))};
        if (e.is_object()) return {str(e, "message"), static_cast<int>(i64(e, "grpc_code"))};
    }
    return {"HTTP " + std::to_string(r.status), 0};
}

// Errors worth another endpoint: cannot reach it, or it has no leader / is overloaded.
bool try_elsewhere(const http_result& r) {
    return !r.ok() || r.status == 503 || r.status == 500 || r.status == 504;
}

}  // namespace

std::string base64(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                       static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[n >> 18];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    if (i < bytes.size()) {
        std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        if (i + 1 < bytes.size())
            n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        out += alphabet[n >> 18];
        out += alphabet[(n >> 12) & 63];
        out += i + 1 < bytes.size() ? alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> unbase64(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t n = 0;
        int pad = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = text[i + k];
            if (c == '=' && i + 4 == text.size() && k >= 2) {
                ++pad;
                n <<= 6;
                continue;
            }
            if (pad > 0) return std::nullopt;  // a character after padding
            const auto pos = alphabet.find(c);
            if (pos == std::string_view::npos) return std::nullopt;
            n = n << 6 | static_cast<std::uint32_t>(pos);
        }
        out += static_cast<char>(n >> 16);
        if (pad < 2) out += static_cast<char>((n >> 8) & 255);
        if (pad < 1) out += static_cast<char>(n & 255);
    }
    return out;
}

std::string prefix_end(std::string_view prefix) {
    std::string end{prefix};
    while (!end.empty()) {
        if (static_cast<unsigned char>(end.back()) < 0xff) {
            end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

std::int64_t json_int64(const json& j, const char* key) noexcept { return i64(j, key); }

std::optional<watch_message> parse_watch_message(std::string_view line) {
    const json j = parse_shallow(line);
    if (!j.is_object()) return std::nullopt;
    watch_message m;
    if (j.contains("error")) {
        const json& e = j["error"];
        m.what = watch_message::kind::error;
        m.error = e.is_object() ? str(e, "message") : e.is_string() ? e.get<std::string>() : "error";
        return m;
    }
    const auto it = j.find("result");
    if (it == j.end() || !it->is_object()) return std::nullopt;
    const json& r = *it;
    if (r.contains("header") && r["header"].is_object()) m.revision = i64(r["header"], "revision");
    if (flag(r, "canceled")) {
        m.what = watch_message::kind::canceled;
        m.compact_revision = i64(r, "compact_revision");
        m.error = str(r, "cancel_reason");
        return m;
    }
    if (flag(r, "created")) {
        m.what = watch_message::kind::created;
        return m;
    }
    if (r.contains("events") && r["events"].is_array() && !r["events"].empty()) {
        m.what = watch_message::kind::events;
        for (const json& e : r["events"]) {
            if (!e.is_object() || !e.contains("kv")) return std::nullopt;
            auto item = parse_kv(e["kv"]);
            if (!item) return std::nullopt;
            m.events.push_back({str(e, "type") == "DELETE", std::move(*item)});
        }
        return m;
    }
    m.what = watch_message::kind::progress;  // a header alone
    return m;
}

client::client(asio::io_context& io, client_options opts) : io_{io}, opts_{std::move(opts)} {
    if (opts_.endpoints.empty()) opts_.endpoints.push_back({"127.0.0.1", 2379});
}

std::vector<std::pair<std::string, std::string>> client::headers() const {
    std::vector<std::pair<std::string, std::string>> h{{"Grpc-Metadata-Hasleader", "true"}};
    if (!token_.empty()) h.emplace_back("Authorization", token_);
    return h;
}

asio::awaitable<bool> client::ensure_token(std::string& error) {
    if (opts_.username.empty() || !token_.empty()) co_return true;
    for (std::size_t tried = 0; tried < opts_.endpoints.size(); ++tried) {
        http_request req{"POST",
                         "/v3/auth/authenticate",
                         json{{"name", opts_.username}, {"password", opts_.password}}.dump(),
                         {}};
        const http_result r = co_await http_call(io_, current(), req, opts_.timeout);
        if (r.ok() && r.status == 200) {
            const json j = parse_shallow(r.body);
            token_ = j.is_object() ? str(j, "token") : std::string{};
            if (!token_.empty()) co_return true;
        }
        error = r.ok() ? "etcd authentication failed: " + error_of(r).first : r.error;
        if (!try_elsewhere(r)) co_return false;
        rotate();
    }
    co_return false;
}

asio::awaitable<result<json>> client::call(std::string path, json body, bool idempotent) {
    result<json> out;
    const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    bool reauthenticated = false;
    for (std::size_t tried = 0; tried < opts_.endpoints.size(); ++tried) {
        if (!co_await ensure_token(out.error)) co_return out;
        http_request req{"POST", path, text, headers()};
        const http_result r = co_await http_call(io_, current(), req, opts_.timeout);
        if (r.ok() && r.status == 200) {
            json j = parse_shallow(r.body);
            if (!j.is_object()) {
                out.error =
                    "etcd at " + to_string(current()) + " answered " + path + " with something not JSON";
                co_return out;
            }
            out.value = std::move(j);
            out.error.clear();
            co_return out;
        }
        const auto [message, code] = r.ok() ? error_of(r) : std::pair<std::string, int>{r.error, 0};
        out.error = "etcd " + path + " at " + to_string(current()) + ": " + message;
        out.code = code;
        if (r.ok() && message.find("invalid auth token") != std::string::npos && !reauthenticated) {
            token_.clear();  // expired: once more with a fresh one
            reauthenticated = true;
            --tried;
            continue;
        }
        if (!try_elsewhere(r)) co_return out;
        if (!idempotent && r.sent) {
            // A write that reached etcd may have been committed even though the answer
            // says it failed (a timeout, "leader changed"): sending it again elsewhere could
            // apply it twice. The caller learns the outcome is unknown.
            out.error += " (the outcome is unknown: it may have been applied)";
            co_return out;
        }
        rotate();
    }
    co_return out;
}

asio::awaitable<result<range_result>> client::range(std::string prefix) {
    result<range_result> out;
    // (Arguments are built before the co_await: GCC 12 miscompiles braced initializer lists
    // passed straight to a coroutine, "array used as initializer".)
    json body{{"key", base64(prefix)}, {"range_end", base64(prefix_end(prefix))}};
    auto r = co_await call(std::string{"/v3/kv/range"}, std::move(body));
    if (!r.ok()) {
        out.error = std::move(r.error);
        out.code = r.code;
        co_return out;
    }
    const json& j = r.value;
    if (j.contains("header") && j["header"].is_object()) out.value.revision = i64(j["header"], "revision");
    if (j.contains("kvs") && j["kvs"].is_array()) {
        for (const json& e : j["kvs"]) {
            auto item = parse_kv(e);
            if (!item) {
                out.error = "etcd answered a range with a malformed key-value";
                co_return out;
            }
            out.value.kvs.push_back(std::move(*item));
        }
    }
    if (out.value.revision <= 0) out.error = "etcd answered a range without a revision";
    co_return out;
}

asio::awaitable<result<std::int64_t>> client::put(std::string key, std::string value, std::int64_t lease) {
    result<std::int64_t> out;
    json body{{"key", base64(key)}, {"value", base64(value)}};
    if (lease != 0) body["lease"] = std::to_string(lease);
    auto r = co_await call(std::string{"/v3/kv/put"}, std::move(body), false);
    if (!r.ok()) {
        out.error = std::move(r.error);
        out.code = r.code;
        co_return out;
    }
    if (r.value.contains("header") && r.value["header"].is_object())
        out.value = i64(r.value["header"], "revision");
    co_return out;
}

asio::awaitable<result<txn_result>> client::txn(json request) {
    result<txn_result> out;
    auto r = co_await call(std::string{"/v3/kv/txn"}, std::move(request), false);
    if (!r.ok()) {
        out.error = std::move(r.error);
        out.code = r.code;
        co_return out;
    }
    if (r.value.contains("header") && r.value["header"].is_object())
        out.value.revision = i64(r.value["header"], "revision");
    out.value.succeeded = flag(r.value, "succeeded");  // left out when false
    co_return out;
}

asio::awaitable<result<std::int64_t>> client::lease_grant(std::chrono::seconds ttl) {
    result<std::int64_t> out;
    json body{{"TTL", std::to_string(ttl.count())}};
    auto r = co_await call(std::string{"/v3/lease/grant"}, std::move(body));
    if (!r.ok()) {
        out.error = std::move(r.error);
        out.code = r.code;
        co_return out;
    }
    out.value = i64(r.value, "ID");
    if (out.value == 0) out.error = "etcd granted a lease without an ID";
    co_return out;
}

asio::awaitable<result<std::int64_t>> client::lease_keepalive(std::int64_t id) {
    // The gateway streams keepalive answers; one request body gives one answer, then the
    // stream ends (the body's end ends the RPC).
    result<std::int64_t> out;
    json body{{"ID", std::to_string(id)}};
    auto r = co_await call(std::string{"/v3/lease/keepalive"}, std::move(body));
    if (!r.ok()) {
        out.error = std::move(r.error);
        out.code = r.code;
        co_return out;
    }
    // The answer is a stream message, {"result": {...}}; its TTL is left out when the lease
    // is gone.
    const json& res = r.value.contains("result") ? r.value["result"] : r.value;
    if (res.contains("error")) {
        out.error = "etcd lease keepalive: " + res["error"].dump();
        co_return out;
    }
    out.value = i64(res, "TTL");
    co_return out;
}

asio::awaitable<result<bool>> client::lease_revoke(std::int64_t id) {
    result<bool> out;
    json body{{"ID", std::to_string(id)}};
    auto r = co_await call(std::string{"/v3/lease/revoke"}, std::move(body));
    out.value = r.ok();
    out.error = std::move(r.error);
    co_return out;
}

json compare_mod_revision(std::string_view key, std::string_view result, std::int64_t rev) {
    return {
        {"result", result}, {"target", "MOD"}, {"key", base64(key)}, {"mod_revision", std::to_string(rev)}};
}

json compare_absent(std::string_view key) {
    return {{"result", "EQUAL"}, {"target", "CREATE"}, {"key", base64(key)}, {"create_revision", "0"}};
}

json op_put(std::string_view key, std::string_view value, std::int64_t lease) {
    json put{{"key", base64(key)}, {"value", base64(value)}};
    if (lease != 0) put["lease"] = std::to_string(lease);
    return {{"request_put", std::move(put)}};
}

json op_delete(std::string_view key) {
    return {{"request_delete_range", {{"key", base64(key)}}}};
}

asio::awaitable<stream_end> watcher::run(const std::string& prefix, std::int64_t start_revision,
                                         message_fn on_message, std::chrono::milliseconds idle_timeout) {
    std::string error;
    if (!co_await client_.ensure_token(error)) co_return stream_end{stream_end::failed, 0, error};
    const json create{{"create_request",
                       {{"key", base64(prefix)},
                        {"range_end", base64(prefix_end(prefix))},
                        {"start_revision", std::to_string(start_revision)},
                        {"progress_notify", true}}}};
    http_request req{"POST", "/v3/watch", create.dump(), client_.headers()};
    bool malformed = false;
    stream_end end = co_await stream_.run(
        client_.current(), req,
        [&](std::string_view line) {
            auto m = parse_watch_message(line);
            if (!m) {
                malformed = true;
                return false;
            }
            return on_message(*m);
        },
        client_.options().timeout, idle_timeout);
    if (malformed)
        end = stream_end{stream_end::failed, end.status, "etcd sent a watch message ringlb cannot read", true};
    co_return end;
}

}  // namespace ringlb::etcd
