#include "ringlb/control/etcd_source.hpp"

#include "ringlb/common/json_guard.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/control/state_file.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <chash/hash.hpp>

#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

// See src/ringlb/proxy/session.cpp: a GCC 12 false positive on asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace ringlb {

namespace {

using nlohmann::json;

constexpr std::string_view snapshot_format = "ringlb-etcd-snapshot/1";
constexpr std::chrono::milliseconds probe_every{3000};
constexpr std::chrono::milliseconds max_backoff{5000};
// etcd sends progress notifications every 10 minutes by default: a stream silent for
// longer than that is dead (the liveness probe usually notices much sooner).
constexpr std::chrono::milliseconds watch_idle{15 * 60 * 1000};

std::string_view strip(std::string_view key, std::string_view prefix) {
    return key.substr(0, prefix.size()) == prefix ? key.substr(prefix.size()) : std::string_view{};
}

constexpr int max_doc_depth = 8;

// The revision after `r`, without overflowing (an If-Match of INT64_MAX).
std::int64_t next_revision(std::int64_t r) noexcept {
    return r < std::numeric_limits<std::int64_t>::max() ? std::max<std::int64_t>(r, 0) + 1 : r;
}

}  // namespace

cluster_agreement agreement(const etcd_source& source, std::string_view my_membership,
                            std::string_view my_fingerprint, std::string_view my_key) {
    cluster_agreement out;
    for (const auto& [name, info] : source.instances()) {
        ++out.instances;
        // parse_instance_doc kept only fields of the expected types.
        if (info.doc.value("membership", std::string{}) != my_membership) continue;
        ++out.same_membership;
        if (info.doc.value("fingerprint", std::string{}) != my_fingerprint ||
            info.doc.value("key", std::string{}) != my_key)
            out.agree = false;
    }
    return out;
}

// Whatever another writer put under an instance's key is shown, never trusted with more.
json parse_instance_doc(std::string_view value) {
    json out = json::object();
    if (!json_nesting_within(value, max_doc_depth)) return out;
    const json j = json::parse(value, nullptr, false);
    if (!j.is_object()) return out;
    for (const char* key : {"name", "zone", "fingerprint", "key", "membership", "version", "admin", "listen", "started"})
        if (j.contains(key) && j[key].is_string() && j[key].get_ref<const std::string&>().size() <= 256)
            out[key] = j[key];
    for (const char* key : {"revision", "backends"})
        if (j.contains(key) && j[key].is_number_integer()) out[key] = j[key];
    for (const char* key : {"stale", "behind"})
        if (j.contains(key) && j[key].is_boolean()) out[key] = j[key];
    return out;
}

std::optional<backend_config> parse_backend_doc(const std::string& id, std::string_view doc,
                                                const health_check_config& defaults, std::string& error) {
    if (!valid_backend_id(id)) {
        error = "invalid backend id \"" + id + "\"";
        return std::nullopt;
    }
    const json j = json_nesting_within(doc, max_doc_depth) ? json::parse(doc, nullptr, false) : json{};
    if (!j.is_object()) {
        error = "backend \"" + id + "\": not a JSON object";
        return std::nullopt;
    }
    backend_config b;
    b.id = id;
    b.health = defaults;
    for (const auto& [k, v] : j.items()) {
        if (k == "address") {
            const auto at = v.is_string() ? parse_endpoint_checked(v.get<std::string>()) : parsed<endpoint>{};
            if (!at) {
                error =
                    "backend \"" + id + "\": address: " + (at.error.empty() ? "must be a string" : at.error);
                return std::nullopt;
            }
            b.address = *at.value;
        } else if (k == "weight") {
            if (!v.is_number_unsigned() || v.get<std::uint64_t>() > max_backend_weight) {
                error = "backend \"" + id + "\": weight must be an integer in 0.." +
                        std::to_string(max_backend_weight);
                return std::nullopt;
            }
            b.weight = v.get<std::uint32_t>();
        } else if (k == "state") {
            const auto st = v.is_string() ? parse_admin_state(v.get<std::string>()) : parsed<admin_state>{};
            if (!st) {
                error = "backend \"" + id + "\": state must be ready, drain or maintenance";
                return std::nullopt;
            }
            b.state = *st.value;
        } else if (k == "zone") {
            if (!v.is_string() || !valid_zone(v.get<std::string>())) {
                error = "backend \"" + id + "\": zone must be 0..64 letters, digits and - _ .";
                return std::nullopt;
            }
            b.zone = v.get<std::string>();
        }
        // Other fields are ignored: a newer ringlb may write more.
    }
    if (b.address.host.empty()) {
        error = "backend \"" + id + "\": no address";
        return std::nullopt;
    }
    return b;
}

std::string backend_doc(const backend_config& b) {
    json j{
        {"address", to_string(b.address)}, {"weight", b.weight}, {"state", std::string{to_string(b.state)}}};
    if (!b.zone.empty()) j["zone"] = b.zone;
    return j.dump();
}

etcd_source::etcd_source(asio::io_context& io, const membership_config& cfg,
                         health_check_config health_defaults, hooks h)
    : io_{io},
      cfg_{cfg},
      health_defaults_{std::move(health_defaults)},
      hooks_{std::move(h)},
      client_{io,
              {.endpoints = cfg.endpoints,
               .username = cfg.username,
               .password = cfg.password,
               .timeout = cfg.timeout}},
      rng_{static_cast<std::minstd_rand::result_type>(std::random_device{}() | 1)} {}

etcd_source::~etcd_source() {
    stop();
}

void etcd_source::start(ready_fn ready) {
    ready_ = std::move(ready);
    asio::co_spawn(io_, follow(), asio::detached);
    // Nothing in them should throw; if something does, it is said, not swallowed.
    const auto said = [](const char* what) {
        return [what](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "ringlb: etcd: the %s stopped: %s\n", what, x.what());
            }
        };
    };
    asio::co_spawn(io_, probe_loop(), said("liveness probe"));
    asio::co_spawn(io_, register_loop(), said("registration"));
}

void etcd_source::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (watcher_) watcher_->cancel();
    for (auto& t : waits_) t->cancel();
    waits_.clear();
    if (lease_ != 0) {
        // Best effort, bounded: the registration goes at once rather than at its lease's end.
        auto revoke = [](asio::io_context& io, endpoint at, std::int64_t id,
                         std::vector<std::pair<std::string, std::string>> headers) -> asio::awaitable<void> {
            etcd::http_request req{"POST", "/v3/lease/revoke", json{{"ID", std::to_string(id)}}.dump(),
                                   std::move(headers)};
            (void)co_await etcd::http_call(io, at, req, std::chrono::milliseconds{1000});
        };
        asio::co_spawn(io_, revoke(io_, client_.current(), lease_, client_.headers()), asio::detached);
        lease_ = 0;
    }
}

void etcd_source::registration_changed() {
    registration_dirty_ = true;
}

void etcd_source::note_error(const std::string& e) {
    if (e != last_error_ && hooks_.log) hooks_.log("etcd: " + e);
    last_error_ = e;
}

std::chrono::milliseconds etcd_source::backoff(std::chrono::milliseconds& next) {
    const auto d = next;
    next = std::min(max_backoff, next * 2);
    const auto spread = d.count() / 5;
    return std::chrono::milliseconds{d.count() +
                                     std::uniform_int_distribution<std::int64_t>{-spread, spread}(rng_)};
}

asio::awaitable<void> etcd_source::pause(std::chrono::milliseconds d) {
    auto t = std::make_shared<asio::steady_timer>(io_, d);
    waits_.push_back(t);
    asio::error_code ec;
    co_await t->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::erase(waits_, t);
}

// --- following ---

asio::awaitable<bool> etcd_source::read_all() {
    auto r = co_await client_.range(cfg_.prefix);
    if (!r.ok()) {
        note_error(r.error);
        if (ready_) {
            // Start with etcd down: the last membership etcd gave, or no start.
            std::string error;
            if (load_snapshot(error)) {
                from_snapshot_ = true;
                apply_backends(applied_);
                auto f = std::move(ready_);
                ready_ = nullptr;
                f(true, "etcd cannot be read (" + r.error + "): serving the last-good snapshot " +
                            cfg_.snapshot + " at revision " + std::to_string(applied_) + " until it can");
            } else {
                auto f = std::move(ready_);
                ready_ = nullptr;
                f(false, "etcd cannot be read (" + r.error + ") and " + error +
                             ": refusing to start with no backends");
            }
        }
        co_return false;
    }
    if (r.value.revision < applied_ && hooks_.log)
        hooks_.log("etcd: the revision went back from " + std::to_string(applied_) + " to " +
                   std::to_string(r.value.revision) +
                   " (etcd restored from a backup?): membership read again");
    const std::string_view prefix = cfg_.prefix;
    backends_.clear();
    instances_.clear();
    for (const etcd::kv& e : r.value.kvs) {
        const std::string_view rest = strip(e.key, prefix);
        if (rest.substr(0, 9) == "backends/") {
            const std::string id{rest.substr(9)};
            std::string error;
            if (auto b = parse_backend_doc(id, e.value, health_defaults_, error))
                backends_[id] = {std::move(*b), e.mod_revision};
            else
                note_error("key " + e.key + " ignored: " + error);
        } else if (rest.substr(0, 10) == "instances/") {
            instances_[std::string{rest.substr(10)}] = {std::string{rest.substr(10)}, parse_instance_doc(e.value),
                                                        e.mod_revision};
        }
    }
    applied_ = r.value.revision;
    need_read_ = false;
    from_snapshot_ = false;
    ++full_reads_;
    apply_backends(applied_);
    if (hooks_.instances) hooks_.instances(instances_.size());
    if (ready_) {
        auto f = std::move(ready_);
        ready_ = nullptr;
        f(true,
          std::to_string(backends_.size()) + " backends from etcd at revision " + std::to_string(applied_));
    }
    co_return true;
}

asio::awaitable<void> etcd_source::follow() {
    bool failed = false;  // (no co_await inside a handler: the pause comes after it)
    while (!stopped_) {
        try {
            if (need_read_) {
                const bool read = co_await read_all();
                if (stopped_) co_return;
                if (!read) {
                    client_.rotate();
                    co_await pause(backoff(next_backoff_));
                    continue;
                }
            }
            watcher_ = std::make_unique<etcd::watcher>(io_, client_);
            ++watch_generation_;
            watched_ = client_.current();
            const auto end = co_await watcher_->run(
                cfg_.prefix, next_revision(applied_), [this](const etcd::watch_message& m) { return on_message(m); },
                watch_idle);
            watching_ = false;
            if (stopped_) co_return;
            // What the stream could not carry (a message over the line cap, one that does
            // not parse) would fail again from the same revision: read everything instead.
            if (end.unreadable) need_read_ = true;
            if (end.what == etcd::stream_end::stopped && need_read_) {
                // A compaction or a restore: read again at once, unless this keeps happening
                // (a member that cancels every watch): then at the back-off's pace.
                const auto now = std::chrono::steady_clock::now();
                if (now - last_quick_read_ < std::chrono::seconds{1}) co_await pause(backoff(next_backoff_));
                last_quick_read_ = now;
                continue;
            }
            ++reconnects_;
            note_error("watch on " + to_string(watched_) + " ended: " +
                       (end.error.empty() ? std::string{"the stream ended"} : end.error));
            if (to_string(client_.current()) == to_string(watched_)) client_.rotate();
            co_await pause(backoff(next_backoff_));
        } catch (const std::exception& e) {
            // Nothing from etcd should get here; if it does, the follower goes on.
            watching_ = false;
            need_read_ = true;
            note_error(std::string{"unexpected: "} + e.what());
            failed = true;
        }
        if (failed) {
            failed = false;
            co_await pause(backoff(next_backoff_));
        }
    }
}

bool etcd_source::on_message(const etcd::watch_message& m) {
    using kind = etcd::watch_message::kind;
    if (stopped_) return false;
    switch (m.what) {
        case kind::created:
            if (m.revision != 0 && m.revision < applied_) {
                need_read_ = true;  // etcd is behind what we applied: restored from a backup
                return false;
            }
            watching_ = true;
            if (!last_error_.empty() && hooks_.log)
                hooks_.log("etcd: watching " + cfg_.prefix + " again on " + to_string(client_.current()) +
                           " from revision " + std::to_string(next_revision(applied_)));
            last_error_.clear();
            return true;
        case kind::canceled:
            if (hooks_.log)
                hooks_.log("etcd: watch cancelled" +
                           (m.compact_revision != 0
                                ? " by a compaction at revision " + std::to_string(m.compact_revision)
                                : std::string{}) +
                           ": membership read again");
            need_read_ = true;
            return false;
        case kind::error:
            note_error("watch error: " + m.error);
            return false;
        case kind::progress:
            next_backoff_ = std::chrono::milliseconds{100};  // a stream that delivers: back-off over
            // Every event up to the header's revision was delivered.
            if (m.revision != 0 && m.revision < applied_) {
                need_read_ = true;
                return false;
            }
            if (m.revision > applied_) applied_ = m.revision;
            return true;
        case kind::events:
            break;
    }
    next_backoff_ = std::chrono::milliseconds{100};
    const std::string_view prefix = cfg_.prefix;
    bool instances_counted = false;  // the number of live instances changed
    for (const auto& e : m.events) {
        const std::string_view rest = strip(e.item.key, prefix);
        if (rest.substr(0, 9) == "backends/") {
            const std::string id{rest.substr(9)};
            if (e.deleted) {
                backends_dirty_ = backends_.erase(id) > 0 || backends_dirty_;
            } else {
                std::string error;
                if (auto b = parse_backend_doc(id, e.item.value, health_defaults_, error)) {
                    backends_[id] = {std::move(*b), e.item.mod_revision};
                    backends_dirty_ = true;
                } else {
                    // As a full read would: an invalid document is no backend (instances that
                    // started at different times must agree).
                    note_error("key " + e.item.key + " ignored: " + error);
                    backends_dirty_ = backends_.erase(id) > 0 || backends_dirty_;
                }
            }
        } else if (rest.substr(0, 10) == "instances/") {
            const std::string name{rest.substr(10)};
            const std::size_t before = instances_.size();
            if (e.deleted)
                instances_.erase(name);
            else
                instances_[name] = {name, parse_instance_doc(e.item.value), e.item.mod_revision};
            instances_counted |= instances_.size() != before;
        }
        applied_ = std::max(applied_, e.item.mod_revision);
    }
    if (backends_dirty_) {
        backends_dirty_ = false;
        apply_backends(applied_);
    }
    if (instances_counted && hooks_.instances) hooks_.instances(instances_.size());
    return true;
}

void etcd_source::apply_backends(std::int64_t revision) {
    std::vector<backend_config> list;
    list.reserve(backends_.size());
    std::int64_t newest = 0;
    std::uint64_t digest = chash::mix64(backends_.size() + 1);
    for (const auto& [id, b] : backends_) {  // in id order
        list.push_back(b.backend);
        newest = std::max(newest, b.mod_revision);
        digest = chash::mix64(digest ^ chash::hash64(id)) + chash::mix64(static_cast<std::uint64_t>(b.mod_revision));
    }
    membership_revision_ = newest;
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(digest));
    membership_digest_ = text;
    if (hooks_.apply) hooks_.apply(std::move(list), revision, membership_digest_);
    registration_dirty_ = true;  // the registration says which membership this instance runs
    if (!from_snapshot_) save_snapshot();
}

// --- liveness and registration ---

asio::awaitable<void> etcd_source::probe_loop() {
    int behind = 0;  // consecutive probes that saw a change the watch has not delivered
    while (!stopped_) {
        co_await pause(probe_every);
        if (stopped_ || !watching_) {
            behind = 0;
            continue;
        }
        // Asks the member being watched itself (not the next endpoint: a rotation here would
        // hide that the watched one is gone) whether it has a leader, where its store is,
        // and the newest change under the prefix: a watch silently cut (a NAT or conntrack
        // entry dropped, a stuck gateway) is behind it while the member answers well.
        const std::uint64_t generation = watch_generation_;
        const endpoint at = watched_;
        const json probe{{"key", etcd::base64(cfg_.prefix)},
                         {"range_end", etcd::base64(etcd::prefix_end(cfg_.prefix))},
                         {"limit", 1},
                         {"sort_order", "DESCEND"},
                         {"sort_target", "MOD"},
                         {"keys_only", true}};
        etcd::http_request req{"POST", "/v3/kv/range", probe.dump(), client_.headers()};
        const etcd::http_result r = co_await etcd::http_call(io_, at, req, cfg_.timeout);
        if (stopped_ || !watching_ || generation != watch_generation_) {  // a newer watch since
            behind = 0;
            continue;
        }
        std::int64_t revision = 0, newest = 0;
        // 401: the token expired, which says nothing of the member's health (the watch
        // renews it when it has to).
        bool alive = r.ok() && r.status == 401;
        if (r.ok() && r.status == 200) {
            const json j = json_nesting_within(r.body, 8) ? json::parse(r.body, nullptr, false) : json{};
            if (j.is_object() && j.contains("header") && j["header"].is_object())
                revision = etcd::json_int64(j["header"], "revision");
            if (j.is_object() && j.contains("kvs") && j["kvs"].is_array() && !j["kvs"].empty() &&
                j["kvs"][0].is_object())
                newest = etcd::json_int64(j["kvs"][0], "mod_revision");
            alive = revision > 0;
            if (alive && revision < applied_) {
                need_read_ = true;  // behind what was applied: etcd restored from a backup
                note_error("the watched member " + to_string(at) + " is behind the applied revision");
                if (watcher_) watcher_->cancel();
                behind = 0;
                continue;
            }
        }
        if (!alive) {
            note_error("the watched member " + to_string(at) + " does not answer with a leader" +
                       (r.ok() ? "" : ": " + r.error));
            if (watcher_) watcher_->cancel();
            behind = 0;
            continue;
        }
        behind = newest > applied_ ? behind + 1 : 0;
        if (behind >= 2) {  // two probes apart: not a change on its way
            note_error("the watch on " + to_string(at) + " is silent while " + cfg_.prefix + " changed at revision " +
                       std::to_string(newest));
            if (watcher_) watcher_->cancel();
            behind = 0;
        }
    }
}

asio::awaitable<void> etcd_source::register_loop() {
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(cfg_.lease_ttl);
    const auto renew_every = cfg_.lease_ttl / 3;
    const std::string key = cfg_.prefix + "instances/" + cfg_.instance;
    auto renewed = std::chrono::steady_clock::now();
    while (!stopped_) {
        if (lease_ == 0) {
            auto g = co_await client_.lease_grant(ttl);
            if (stopped_) co_return;
            if (!g.ok()) {
                note_error("registration: " + g.error);
                co_await pause(backoff(next_register_backoff_));
                continue;
            }
            lease_ = g.value;
            renewed = std::chrono::steady_clock::now();
            registration_dirty_ = true;
        }
        if (registration_dirty_ && hooks_.instance_doc) {
            registration_dirty_ = false;
            registered_stale_ = stale();
            auto p = co_await client_.put(key, hooks_.instance_doc().dump(), lease_);
            if (stopped_) co_return;
            if (!p.ok()) {
                registration_dirty_ = true;
                if (p.code == 5) lease_ = 0;  // the lease is gone: a new one
                note_error("registration: " + p.error);
                co_await pause(backoff(next_register_backoff_));
                continue;
            }
        }
        if (stale() != registered_stale_) registration_dirty_ = true;  // the registration says it
        if (std::chrono::steady_clock::now() - renewed >= renew_every) {
            auto k = co_await client_.lease_keepalive(lease_);
            if (stopped_) co_return;
            if (k.ok() && k.value <= 0) lease_ = 0;  // expired meanwhile: register again
            if (k.ok()) {
                renewed = std::chrono::steady_clock::now();
            } else {
                note_error("registration: keepalive: " + k.error);
                co_await pause(backoff(next_register_backoff_));
                continue;
            }
        }
        next_register_backoff_ = std::chrono::milliseconds{100};
        co_await pause(std::chrono::milliseconds{200});
    }
}

// --- snapshot ---

void etcd_source::save_snapshot() {
    if (cfg_.snapshot.empty()) return;
    json backends = json::array();
    for (const auto& [id, b] : backends_)
        backends.push_back(
            {{"id", id}, {"doc", json::parse(backend_doc(b.backend))}, {"mod_revision", b.mod_revision}});
    const json doc{
        {"format", snapshot_format}, {"prefix", cfg_.prefix}, {"revision", applied_}, {"backends", backends}};
    std::string error;
    if (!write_file_atomically(cfg_.snapshot, doc.dump(2) + "\n", error)) note_error("snapshot: " + error);
}

bool etcd_source::load_snapshot(std::string& error) {
    if (cfg_.snapshot.empty()) {
        error = "no membership.snapshot is configured";
        return false;
    }
    std::ifstream in{cfg_.snapshot, std::ios::binary};
    if (!in) {
        error = "no snapshot at " + cfg_.snapshot;
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    const json j = json_nesting_within(text.str(), 16) ? json::parse(text.str(), nullptr, false) : json{};
    const auto text_of = [&](const char* key) {
        return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
    };
    if (!j.is_object() || text_of("format") != snapshot_format || !j.contains("backends") ||
        !j["backends"].is_array() || text_of("prefix") != cfg_.prefix || !j.contains("revision") ||
        !j["revision"].is_number_integer()) {
        error = "the snapshot " + cfg_.snapshot + " is not one of this prefix";
        return false;
    }
    std::map<std::string, etcd_backend, std::less<>> loaded;
    for (const json& e : j["backends"]) {
        if (!e.is_object() || !e.contains("id") || !e["id"].is_string() || !e.contains("doc")) {
            error = "the snapshot " + cfg_.snapshot + " has a malformed entry";
            return false;
        }
        const std::string id = e["id"].get<std::string>();
        std::string why;
        auto b = parse_backend_doc(id, e["doc"].dump(), health_defaults_, why);
        if (!b) {
            error = "the snapshot " + cfg_.snapshot + ": " + why;
            return false;
        }
        loaded[id] = {std::move(*b), e.contains("mod_revision") && e["mod_revision"].is_number_integer()
                                         ? e["mod_revision"].get<std::int64_t>()
                                         : 0};
    }
    backends_ = std::move(loaded);
    applied_ = j["revision"].get<std::int64_t>();
    need_read_ = true;  // etcd's word replaces it as soon as etcd answers
    return true;
}

// --- writes ---

asio::awaitable<etcd_source::write_result> etcd_source::put_backend(
    const backend_config& b, std::optional<std::int64_t> if_unchanged_since) {
    const std::string key = cfg_.prefix + "backends/" + b.id;
    return write_key(key, etcd::op_put(key, backend_doc(b)), if_unchanged_since);
}

asio::awaitable<etcd_source::write_result> etcd_source::delete_backend(
    const std::string& id, std::optional<std::int64_t> if_unchanged_since) {
    const std::string key = cfg_.prefix + "backends/" + id;
    return write_key(key, etcd::op_delete(key), if_unchanged_since);
}

asio::awaitable<etcd_source::write_result> etcd_source::write_key(std::string key, json op,
                                                                  std::optional<std::int64_t> if_unchanged_since) {
    json txn{{"success", json::array({std::move(op)})}};
    if (if_unchanged_since)
        txn["compare"] = json::array({etcd::compare_mod_revision(key, "LESS", next_revision(*if_unchanged_since))});
    auto r = co_await client_.txn(std::move(txn));
    write_result out;
    out.ok = r.ok() && r.value.succeeded;
    out.conflict = r.ok() && !r.value.succeeded;
    out.revision = r.value.revision;
    out.error = r.ok() ? (out.conflict ? "changed since revision " + std::to_string(if_unchanged_since.value_or(0)) : "")
                       : r.error;
    co_return out;
}

asio::awaitable<bool> etcd_source::wait_applied(std::int64_t revision, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (applied_ < revision && !stopped_ && std::chrono::steady_clock::now() < until)
        co_await pause(std::chrono::milliseconds{5});
    co_return applied_ >= revision;
}

}  // namespace ringlb
