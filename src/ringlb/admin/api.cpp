#include "ringlb/admin/api.hpp"

#include "ringlb/admin/dashboard.hpp"
#include "ringlb/admin/metrics_text.hpp"
#include "ringlb/admin/views.hpp"
#include "ringlb/common/text.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/control/state_file.hpp"
#include "ringlb/tools/plan.hpp"

#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/format.h>

// See src/ringlb/proxy/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb::admin {

namespace {

using nlohmann::json;

response json_ok(const json& j, int status = 200) {
    response r;
    r.status = status;
    // Invalid UTF-8 (a key, a path, a config string) is replaced, never an exception.
    r.body = j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    return r;
}

response method_not_allowed(std::string_view allow) {
    response r = json_error(405, "method not allowed here; allowed: " + std::string{allow});
    r.headers.emplace_back("Allow", std::string{allow});
    return r;
}

bool reading(const request& req) noexcept {
    return req.method == "GET" || req.method == "HEAD";
}

// The Host header names this listener: its literal address, or "localhost", with its port
// (a browser always sends the port when it is not 80).
bool host_names_listener(std::string_view host, const asio::ip::tcp::endpoint& at) {
    const std::string port = std::to_string(at.port());
    const std::string addr =
        at.address().is_v6() ? "[" + at.address().to_string() + "]" : at.address().to_string();
    for (const std::string& name : {addr, std::string{"localhost"}}) {
        if (iequals(host, name + ":" + port)) return true;
        if (at.port() == 80 && iequals(host, name)) return true;
    }
    if (at.address().is_loopback() && at.address().is_v4())
        return iequals(host, "[::1]:" + port) || iequals(host, "127.0.0.1:" + port);
    return false;
}

// "/v1/backends/ID" or "/v1/backends/ID/ACTION": the id and the action (empty for none).
bool split_backend_path(std::string_view path, std::string& id, std::string& action) {
    constexpr std::string_view prefix = "/v1/backends/";
    if (path.substr(0, prefix.size()) != prefix) return false;
    std::string_view rest = path.substr(prefix.size());
    const std::size_t slash = rest.find('/');
    id = std::string{rest.substr(0, slash)};
    action = slash == std::string_view::npos ? std::string{} : std::string{rest.substr(slash + 1)};
    return !id.empty();
}

// Body as a JSON object (an empty body is an empty object).
std::optional<json> body_object(const request& req, std::string& error) {
    if (req.body.empty()) return json::object();
    json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
        error = "the body must be a JSON object";
        return std::nullopt;
    }
    return j;
}

tools::pool pool_of(const bundle& b) {
    tools::pool p;
    p.algorithm = b.routing->options().algorithm;
    p.options = b.routing->options().build;
    for (const backend& be : b.routing->backends()) p.nodes.push_back({be.id, be.weight});
    return p;
}

// Keys sampled where `ringlb plan` has no exact method: fewer than the tool's million, so an
// admin request holds the control thread for milliseconds, not seconds.
constexpr std::uint64_t plan_samples = 100'000;

}  // namespace

struct api::turn {
    api* owner;
    ~turn() { owner->next_turn(); }
};

api::api(asio::io_context& io, api_context ctx, std::optional<token_set> tokens)
    : io_{io}, ctx_{std::move(ctx)}, tokens_{std::move(tokens)}, stats_{io, *ctx_.control} {}

void api::start() {
    stats_.start();
}

void api::stop() {
    stopping_ = true;
    stats_.stop();
    for (auto& t : queue_) t->cancel();  // each waiter sees stopping_ and answers 503
    queue_.clear();
}

asio::awaitable<response> api::handle(request req) {
    ++requests_;
    response r;
    try {
        if (auto refused = refuse(req)) {
            r = std::move(*refused);
        } else {
            r = co_await route(req);
        }
    } catch (const std::exception& e) {
        r = json_error(500, std::string{"internal error: "} + e.what());
    }
    co_return r;
}

std::optional<response> api::refuse(const request& req) const {
    if (req.method != "GET" && req.method != "HEAD" && req.method != "POST" && req.method != "PUT" &&
        req.method != "DELETE")
        return method_not_allowed("GET, HEAD, POST, PUT, DELETE");
    // The page itself holds nothing secret: it asks for a token to call the API with.
    const bool page = req.path == "/" && reading(req);
    if (tokens_) {
        const scope granted = tokens_->check(req.authorization);
        if (granted == scope::none && !page) {
            response r =
                json_error(401, req.authorization.empty() ? "a token is needed: Authorization: Bearer TOKEN"
                                                          : "unknown token");
            r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"ringlb admin\"");
            return r;
        }
        if (req.mutating() && granted != scope::write)
            return json_error(403, "this token may read, not change");
    } else if (!host_names_listener(req.host, ctx_.listen)) {
        return json_error(403, "Host \"" + req.host + "\" does not name this admin listener");
    }
    if (req.mutating()) {
        const bool json_type =
            iequals(trim(std::string_view{req.content_type}.substr(0, req.content_type.find(';'))),
                    "application/json");
        // With a body, say what it is; without tokens, say it even without one (see api.hpp).
        if (((req.has_body && !req.body.empty()) || !tokens_) && !json_type)
            return json_error(415, "send Content-Type: application/json");
    }
    return std::nullopt;
}

asio::awaitable<response> api::route(request& req) {
    const std::string& path = req.path;
    if (path == "/") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        response r;
        r.content_type = "text/html; charset=utf-8";
        r.body = std::string{dashboard_page()};
        r.headers.emplace_back(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'");
        r.headers.emplace_back("X-Frame-Options", "DENY");
        co_return r;
    }
    if (path == "/metrics") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_metrics();
    }
    if (path == "/v1/status") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_status();
    }
    if (path == "/v1/backends") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_backends();
    }
    if (path == "/v1/ring") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_ring(req);
    }
    if (path == "/v1/lookup") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_lookup(req);
    }
    if (path == "/v1/stats") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_stats();
    }
    if (path == "/v1/instances") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_instances();
    }
    if (path == "/v1/events") {
        if (!reading(req)) co_return method_not_allowed("GET, HEAD");
        co_return get_events();
    }
    if (path == "/v1/reload") {
        if (req.method != "POST") co_return method_not_allowed("POST");
        co_return co_await post_reload();
    }
    std::string id, action;
    if (split_backend_path(path, id, action)) {
        if (action == "override") {
            if (req.method != "DELETE") co_return method_not_allowed("DELETE");
            co_return co_await clear_override(req, id);
        }
        if (action.empty()) {
            if (reading(req)) co_return get_backend(id);
            if (req.method == "PUT") co_return co_await put_backend(req, id);
            if (req.method == "DELETE") co_return co_await delete_backend(req, id);
            co_return method_not_allowed("GET, HEAD, PUT, DELETE");
        }
        const std::optional<admin_state> st = action == "drain" ? std::optional{admin_state::drain}
                                              : action == "maintenance"
                                                  ? std::optional{admin_state::maintenance}
                                              : action == "ready" ? std::optional{admin_state::ready}
                                                                  : std::nullopt;
        if (!st)
            co_return json_error(404,
                                 "no such action \"" + action + "\": drain, maintenance, ready or override");
        if (req.method != "POST") co_return method_not_allowed("POST");
        co_return co_await set_state(req, id, *st);
    }
    co_return json_error(404, "no such resource: " + path + " (see GET /v1/status and docs/ADMIN.md)");
}

std::string api::etag() const {
    // With etcd, the revision this instance applied: the same number on every instance.
    if (ctx_.etcd != nullptr) return fmt::format("\"{}\"", ctx_.etcd->applied_revision());
    return fmt::format("\"{}\"", ctx_.control->store().generation());
}

std::optional<std::int64_t> api::if_match_revision(const request& req) const {
    std::string_view list = req.if_match;
    std::optional<std::int64_t> lowest;
    while (!list.empty()) {
        std::string_view tag = next_list_item(list);
        if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
        if (tag == "*") return std::nullopt;
        if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
        if (const auto n = parse_count_text(tag); n && *n <= static_cast<std::uint64_t>(INT64_MAX))
            lowest = std::min(lowest.value_or(static_cast<std::int64_t>(*n)), static_cast<std::int64_t>(*n));
        else
            return -1;  // not a revision: nothing is unchanged since it
    }
    return lowest;
}

std::optional<response> api::precondition_failed(const request& req) const {
    // With etcd the check is etcd's own (the transaction compares the key's revision).
    if (req.if_match.empty() || ctx_.etcd != nullptr) return std::nullopt;
    // A list of entity tags (RFC 9110 13.1.1), weak ones compared by their tag.
    const std::string current = etag();
    std::string_view list = req.if_match;
    while (!list.empty()) {
        std::string_view tag = next_list_item(list);
        if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
        if (tag == "*" || tag == current) return std::nullopt;
    }
    return with_etag(json_error(412, "the membership changed (generation " + etag() + "); read it again"));
}

response api::with_etag(response r) const {
    r.headers.emplace_back("ETag", etag());
    return r;
}

// --- reads ---

response api::get_status() const {
    const controller& c = *ctx_.control;
    json j = status_json(c, started_);
    j["version"] = ctx_.version;
    json workers = json::array();
    if (ctx_.applied_generations) {
        const auto gens = ctx_.applied_generations();
        for (std::size_t i = 0; i < gens.size(); ++i)
            workers.push_back({{"worker", i}, {"applied_generation", gens[i]}});
    }
    j["workers"] = std::move(workers);
    j["state_file"] = ctx_.state_file.empty() ? json(nullptr) : json(ctx_.state_file);
    if (const etcd_source* e = ctx_.etcd) {
        j["membership"] = {{"source", "etcd"},
                           {"prefix", e->config().prefix},
                           {"instance", e->config().instance},
                           {"revision", e->applied_revision()},
                           {"membership_revision", e->membership_revision()},
                           {"stale", e->stale()},
                           {"endpoint", to_string(e->current_endpoint())},
                           {"last_error", e->last_error()},
                           {"reconnects", e->reconnects()},
                           {"full_reads", e->full_reads()}};
    } else {
        j["membership"] = {{"source", "file"}};
    }
    j["tokens"] = tokens_.has_value();
    return with_etag(json_ok(j));
}

response api::get_backends() const {
    return with_etag(json_ok({{"generation", ctx_.control->store().generation()},
                              {"backends", backends_json(*ctx_.control, shares_)}}));
}

response api::get_backend(const std::string& id) const {
    auto j = backend_json(*ctx_.control, id, shares_);
    if (!j) return json_error(404, "no backend \"" + id + "\"");
    return with_etag(json_ok(*j));
}

response api::get_ring(const request& req) const {
    std::uint32_t arcs = 0;
    if (const auto a = req.param("arcs")) {
        const auto n = parse_count_text(*a);
        if (!n || *n > 4096) return json_error(400, "arcs must be an integer in 0..4096");
        arcs = static_cast<std::uint32_t>(*n);
    }
    return with_etag(json_ok(ring_json(*ctx_.control, shares_, arcs)));
}

response api::get_lookup(const request& req) const {
    const auto key = req.param("key");
    if (!key) return json_error(400, "give the key: /v1/lookup?key=K");
    if (key->size() > 4096) return json_error(400, "the key is longer than 4096 bytes");
    return json_ok(lookup_json(*ctx_.control, *key));
}

response api::get_stats() const {
    return json_ok(stats_.to_json());
}

response api::get_events() const {
    return json_ok({{"events", events_json(*ctx_.control)}});
}

response api::get_metrics() const {
    std::vector<const metrics::proxy_shard*> shards;
    if (ctx_.proxy_shards) shards = ctx_.proxy_shards();
    response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_text(*ctx_.control, shards, shares_, ctx_.version, requests_, ctx_.etcd);
    return r;
}

response api::get_instances() const {
    if (ctx_.etcd == nullptr)
        return json_error(
            404, "no instance list: the membership is the config file ([membership] source = \"file\")");
    const etcd_source& e = *ctx_.etcd;
    const std::string mine = hex64(ctx_.control->current()->routing->algorithm().fingerprint());
    json list = json::array();
    for (const auto& [name, info] : e.instances()) {
        json item = info.doc.is_object() ? info.doc : json::object();
        item["name"] = name;
        item["same_membership"] = item.value("membership", std::string{}) == ctx_.control->published_base_tag();
        list.push_back(std::move(item));
    }
    const cluster_agreement a =
        agreement(e, ctx_.control->published_base_tag(), mine, to_string(ctx_.control->cfg()->routing.hash_key));
    return json_ok({{"revision", e.applied_revision()},
                    {"membership_revision", e.membership_revision()},
                    {"fingerprint", mine},
                    {"agree", a.agree},
                    {"membership", ctx_.control->published_base_tag()},
                    {"instances_with_this_membership", a.same_membership},
                    {"instances", std::move(list)}});
}

asio::awaitable<void> api::wait_workers() {
    // Every worker runs the controller's current bundle (they apply a post within
    // microseconds; bounded in case one is stuck in a long handler).
    const std::uint64_t generation = ctx_.control->current()->generation;
    asio::steady_timer pause{io_};
    for (int i = 0; i < 1000 && ctx_.applied_generations; ++i) {
        const auto applied = ctx_.applied_generations();
        if (std::all_of(applied.begin(), applied.end(), [&](std::uint64_t g) { return g >= generation; }))
            break;
        pause.expires_after(std::chrono::milliseconds{2});
        asio::error_code ec;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

const backend_config* api::definition_of(const std::string& id) const {
    if (ctx_.etcd != nullptr) {
        // etcd's document, the one whose mod_revision a write compares with: the published
        // copy may be older (a pass under way), and writing it back would undo a change.
        const auto it = ctx_.etcd->backends().find(id);
        return it != ctx_.etcd->backends().end() ? &it->second.backend : nullptr;
    }
    const member* m = ctx_.control->store().find(id);
    return m != nullptr ? &m->backend : nullptr;
}

asio::awaitable<std::optional<response>> api::write_etcd(const request& req, const std::string& id,
                                                         const backend_config* b) {
    etcd_source& e = *ctx_.etcd;
    if (e.stale())
        co_return json_error(503, "this instance is not following etcd right now (" +
                                      (e.last_error().empty() ? std::string{"starting"} : e.last_error()) +
                                      "): retry, or make the change through another instance");
    // Without an If-Match, the key must not have changed since what this instance knows of
    // it (absent, for an add): a change made elsewhere meanwhile is not overwritten.
    std::optional<std::int64_t> since = if_match_revision(req);
    if (req.if_match.empty()) {
        const auto it = e.backends().find(id);
        since = it != e.backends().end() ? it->second.mod_revision : 0;
    }
    // (Not a conditional expression: GCC 12 miscompiles co_await in one.)
    etcd_source::write_result w;
    if (b != nullptr)
        w = co_await e.put_backend(*b, since);
    else
        w = co_await e.delete_backend(id, since);
    if (w.conflict)
        co_return with_etag(json_error(412, "backend \"" + id + "\" changed after revision " +
                                                std::to_string(since.value_or(0)) + "; read it again"));
    if (!w.ok) co_return json_error(503, "etcd did not take the change: " + w.error);
    // This instance's watch applies it, then its controller publishes it.
    if (!co_await e.wait_applied(w.revision, std::chrono::seconds{5}))
        co_return json_error(503, "etcd took the change at revision " + std::to_string(w.revision) +
                                      " but this instance has not seen it within 5 s");
    auto [ok, message] =
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool, std::string)>(
            [this](auto handler) {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                ctx_.control->changed([this, h](bool done, const std::string& why) {
                    asio::post(io_, [h, done, why] { std::move (*h)(done, why); });
                });
            },
            asio::use_awaitable);
    if (!ok)
        co_return json_error(409, "etcd holds the change, but this instance cannot publish it: " + message);
    co_await wait_workers();
    co_return std::nullopt;
}

// --- mutations ---

asio::awaitable<std::unique_ptr<api::turn>> api::wait_turn() {
    if (stopping_) co_return nullptr;
    if (busy_) {
        auto t = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
        queue_.push_back(t);
        asio::error_code ec;
        co_await t->async_wait(asio::redirect_error(asio::use_awaitable, ec));  // cancelled: our turn
        if (stopping_) co_return nullptr;  // woken by stop(), not by the one before us
    }
    busy_ = true;
    co_return std::unique_ptr<turn>(new turn{this});  // no temporary: its destructor would pass the turn on
}

void api::next_turn() {
    if (queue_.empty() || stopping_) {
        busy_ = false;
        return;
    }
    auto next = std::move(queue_.front());
    queue_.pop_front();
    next->cancel();  // busy_ stays set: the turn passes on
}

asio::awaitable<std::optional<std::string>> api::publish(const std::string& id,
                                                         std::optional<membership_store::overlay_entry> was) {
    auto [ok, message] =
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool, std::string)>(
            [this, &id, &was](auto handler) {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                ctx_.control->changed([this, h, id, was](bool done, const std::string& why) {
                    // Undone at once, inside the callback, before any other change can
                    // land: only this edit, so a reload that shared the failed pass keeps
                    // its own restoration.
                    if (!done) ctx_.control->store().restore(id, was);
                    asio::post(io_, [h, done, why] { std::move (*h)(done, why); });
                });
            },
            asio::use_awaitable);
    if (!ok) co_return message;
    if (!ctx_.state_file.empty()) {
        std::string error;
        if (!save_state(ctx_.state_file, ctx_.control->store(), error) && ctx_.log)
            ctx_.log("admin: the change is live but not saved: " + error);
    }
    co_await wait_workers();  // answer once every worker runs the new bundle
    co_return std::nullopt;
}

std::optional<response> api::dry_run(const request& req, bool& yes) const {
    const auto v = req.param("dry_run");
    yes = v && (*v == "1" || *v == "true");
    if (v && !yes && *v != "0" && *v != "false")
        return json_error(400, "dry_run must be 1, true, 0 or false");
    return std::nullopt;
}

asio::awaitable<response> api::put_backend(const request& req, const std::string& id) {
    if (!valid_backend_id(id))
        co_return json_error(400, "invalid backend id \"" + id + "\": 1..128 letters, digits, - _ . :");
    bool dry = false;
    if (auto bad = dry_run(req, dry)) co_return *bad;
    std::string error;
    const auto body = body_object(req, error);
    if (!body) co_return json_error(400, error);
    for (const auto& [k, v] : body->items())
        if (k != "address" && k != "weight" && k != "state" && k != "zone")
            co_return json_error(400, "unknown field \"" + k + "\": address, weight, state, zone");
    const auto t = co_await wait_turn();
    if (!t) co_return json_error(503, "shutting down");
    if (auto stale = precondition_failed(req)) co_return *stale;
    controller& c = *ctx_.control;
    const backend_config* existing = definition_of(id);
    backend_config b;
    if (existing != nullptr) {
        b = *existing;
    } else {
        b.id = id;
    }
    if (body->contains("address")) {
        const auto& a = (*body)["address"];
        const auto at = a.is_string() ? parse_endpoint_checked(a.get<std::string>()) : parsed<endpoint>{};
        if (!at)
            co_return json_error(400,
                                 "address: " + (at.error.empty() ? "must be a string host:port" : at.error));
        b.address = *at.value;
    } else if (existing == nullptr) {
        co_return json_error(400, "a new backend needs an \"address\"");
    }
    if (body->contains("weight")) {
        const auto& w = (*body)["weight"];
        if (!w.is_number_unsigned() || w.get<std::uint64_t>() > max_backend_weight)
            co_return json_error(400,
                                 "weight must be an integer in 0.." + std::to_string(max_backend_weight));
        b.weight = w.get<std::uint32_t>();
    }
    if (body->contains("state")) {
        const auto& s = (*body)["state"];
        const auto st = s.is_string() ? parse_admin_state(s.get<std::string>()) : parsed<admin_state>{};
        if (!st) co_return json_error(400, "state must be ready, drain or maintenance");
        b.state = *st.value;
    }
    if (body->contains("zone")) {
        const auto& z = (*body)["zone"];
        if (!z.is_string() || !valid_zone(z.get<std::string>()))
            co_return json_error(400, "zone must be 0..64 letters, digits and - _ .");
        b.zone = z.get<std::string>();
    }
    // What moves: the same code as `ringlb plan`.
    json plan = nullptr;
    if (existing == nullptr || existing->weight != b.weight) {
        tools::plan_change change;
        change.what =
            existing == nullptr ? tools::plan_change::action::add : tools::plan_change::action::reweight;
        change.id = id;
        change.address = to_string(b.address);
        change.weight = b.weight;
        try {
            plan = tools::plan_to_json(
                tools::make_plan(pool_of(*c.current()), change, plan_samples, c.cfg()->routing.slow_start));
        } catch (const std::exception& e) {
            co_return json_error(409, e.what());
        }
    }
    if (dry) co_return with_etag(json_ok({{"dry_run", true}, {"plan", plan}}));
    if (ctx_.etcd != nullptr) {
        if (auto failed = co_await write_etcd(req, id, &b)) co_return *failed;
        auto view = backend_json(c, id, shares_);
        co_return with_etag(json_ok({{"revision", ctx_.etcd->applied_revision()},
                                     {"backend", view ? *view : json(nullptr)},
                                     {"plan", plan}},
                                    existing == nullptr ? 201 : 200));
    }
    const auto was = c.store().entry(id);
    const std::uint64_t before = c.store().generation();
    c.store().put(b, member_source::admin);
    if (c.store().generation() != before) {
        if (auto failed = co_await publish(id, was)) co_return json_error(409, *failed);
    }
    auto view = backend_json(c, id, shares_);
    co_return with_etag(json_ok(
        {{"generation", c.store().generation()}, {"backend", view ? *view : json(nullptr)}, {"plan", plan}},
        existing == nullptr ? 201 : 200));
}

asio::awaitable<response> api::delete_backend(const request& req, const std::string& id) {
    bool dry = false;
    if (auto bad = dry_run(req, dry)) co_return *bad;
    const auto t = co_await wait_turn();
    if (!t) co_return json_error(503, "shutting down");
    if (auto stale = precondition_failed(req)) co_return *stale;
    controller& c = *ctx_.control;
    if (c.store().find(id) == nullptr) co_return json_error(404, "no backend \"" + id + "\"");
    json plan = nullptr;
    tools::plan_change change;
    change.what = tools::plan_change::action::drain;
    change.id = id;
    try {
        plan = tools::plan_to_json(tools::make_plan(pool_of(*c.current()), change, plan_samples));
    } catch (const std::exception& e) {
        co_return json_error(409, e.what());
    }
    if (dry) co_return with_etag(json_ok({{"dry_run", true}, {"plan", plan}}));
    if (ctx_.etcd != nullptr) {
        if (auto failed = co_await write_etcd(req, id, nullptr)) co_return *failed;
        co_return with_etag(
            json_ok({{"revision", ctx_.etcd->applied_revision()}, {"removed", id}, {"plan", plan}}));
    }
    const auto was = c.store().entry(id);
    c.store().remove(id, member_source::admin);
    if (auto failed = co_await publish(id, was)) co_return json_error(409, *failed);
    co_return with_etag(json_ok({{"generation", c.store().generation()}, {"removed", id}, {"plan", plan}}));
}

asio::awaitable<response> api::clear_override(const request& req, const std::string& id) {
    if (ctx_.etcd != nullptr)
        co_return json_error(409, "the membership is etcd's: there is no runtime overlay to forget");
    const auto t = co_await wait_turn();
    if (!t) co_return json_error(503, "shutting down");
    if (auto stale = precondition_failed(req)) co_return *stale;
    controller& c = *ctx_.control;
    const auto was = c.store().entry(id);
    if (!was) co_return json_error(404, "no runtime change of \"" + id + "\" to forget");
    const std::uint64_t before = c.store().generation();
    c.store().clear(id);
    if (c.store().generation() != before) {
        if (auto failed = co_await publish(id, was)) co_return json_error(409, *failed);
    } else if (!ctx_.state_file.empty()) {
        std::string error;  // nothing moved, but the entry is gone from the file too
        if (!save_state(ctx_.state_file, c.store(), error) && ctx_.log) ctx_.log("admin: " + error);
    }
    auto view = backend_json(c, id, shares_);
    co_return with_etag(
        json_ok({{"generation", c.store().generation()}, {"backend", view ? *view : json(nullptr)}}));
}

asio::awaitable<response> api::set_state(const request& req, const std::string& id, admin_state state) {
    const auto t = co_await wait_turn();
    if (!t) co_return json_error(503, "shutting down");
    if (auto stale = precondition_failed(req)) co_return *stale;
    controller& c = *ctx_.control;
    if (ctx_.etcd != nullptr) {
        const backend_config* m = definition_of(id);
        if (m == nullptr) co_return json_error(404, "no backend \"" + id + "\"");
        backend_config b = *m;
        b.state = state;
        if (auto failed = co_await write_etcd(req, id, &b)) co_return *failed;
        auto view = backend_json(c, id, shares_);
        co_return with_etag(json_ok(
            {{"revision", ctx_.etcd->applied_revision()}, {"backend", view ? *view : json(nullptr)}}));
    }
    const auto was = c.store().entry(id);
    const std::uint64_t before = c.store().generation();
    if (!c.store().set_state(id, state, member_source::admin))
        co_return json_error(404, "no backend \"" + id + "\"");
    if (c.store().generation() != before) {
        if (auto failed = co_await publish(id, was)) co_return json_error(409, *failed);
    }
    auto view = backend_json(c, id, shares_);
    co_return with_etag(
        json_ok({{"generation", c.store().generation()}, {"backend", view ? *view : json(nullptr)}}));
}

asio::awaitable<response> api::post_reload() {
    if (!ctx_.reload) co_return json_error(404, "no config file to reload");
    const auto t = co_await wait_turn();
    if (!t) co_return json_error(503, "shutting down");
    auto [ok, message] = co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool, std::string)>(
        [this](auto handler) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            ctx_.reload([this, h](bool done, const std::string& why) {
                asio::post(io_, [h, done, why] { std::move (*h)(done, why); });
            });
        },
        asio::use_awaitable);
    // A file that does not load (a config error, a TLS certificate or key that does not)
    // changes nothing: the running config serves on.
    if (!ok) co_return json_error(422, message);
    co_await wait_workers();
    co_return json_ok({{"reloaded", true}, {"message", message}, {"generation", ctx_.control->current()->generation}});
}

}  // namespace ringlb::admin
