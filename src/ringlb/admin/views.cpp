#include "ringlb/admin/views.hpp"

#include "ringlb/admin/totals.hpp"
#include "ringlb/config/values.hpp"
#include "ringlb/lb/placement_diff.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <charconv>

namespace ringlb::admin {

namespace {

using nlohmann::json;

constexpr std::uint32_t share_points = 65536;

std::string_view panic_name(panic_state p) noexcept {
    switch (p) {
        case panic_state::none:
            return "none";
        case panic_state::fail_open:
            return "fail-open";
        case panic_state::fail_closed:
            return "fail-closed";
    }
    return "?";
}

json health_json(const backend_health* h) {
    if (h == nullptr) return {{"check", "none"}, {"verdict", "up"}};
    json history = json::array();
    for (const check_event& e : h->history) {
        json item{{"at", iso_time(e.at)}, {"ok", e.ok}, {"source", e.passive ? "traffic" : "check"}};
        if (!e.detail.empty()) item["detail"] = e.detail;
        history.push_back(std::move(item));
    }
    json j{{"check", std::string{to_string(h->check)}},
           {"verdict", h->up ? "up" : "down"},
           {"passed", h->passed},
           {"failed", h->failed},
           {"history", std::move(history)}};
    if (!h->detail.empty()) j["detail"] = h->detail;
    return j;
}

// Why the mode is what it is, in words.
std::string reason(const member* m, const backend_health* h, backend_mode mode, panic_state panic) {
    switch (mode) {
        case backend_mode::up:
            return "in service";
        case backend_mode::slow_start:
            return "returning to service: its keys arrive over routing.slow_start";
        case backend_mode::draining:
            return "draining (set by " + std::string{m != nullptr ? to_string(m->state_by) : "config"} + ")";
        case backend_mode::maintenance:
            return "in maintenance (set by " + std::string{m != nullptr ? to_string(m->state_by) : "config"} +
                   ")";
        case backend_mode::down:
            return "failed its health checks" + (h != nullptr && !h->detail.empty() ? ": " + h->detail : "") +
                   (panic == panic_state::fail_open ? " (the pool panics open: it still takes its keys)"
                                                    : "");
    }
    return {};
}

json one_backend(const controller& c, std::size_t i, const std::vector<double>& shares) {
    const bundle& b = *c.current();
    const backend& be = b.routing->backends()[i];
    const backend_state& s = *be.state;
    const member* m = c.store().find(be.id);
    const backend_health* h = c.health(be.id);
    const auto now = steady_clock::now();
    const backend_state::mode_view v = s.view();
    const backend_totals t = sum(s);
    json j{{"id", be.id},
           {"address", m != nullptr ? to_string(m->backend.address) : std::string{}},
           {"resolved", b.addresses[i].address().to_string() + ":" + std::to_string(b.addresses[i].port())},
           {"weight", be.weight},
           {"mode", std::string{to_string(v.mode)}},
           {"reason", reason(m, h, v.mode, c.panic())},
           {"operator_state", m != nullptr ? std::string{to_string(m->backend.state)} : std::string{"ready"}},
           {"defined_by", m != nullptr ? std::string{to_string(m->defined_by)} : std::string{"config"}},
           {"state_by", m != nullptr ? std::string{to_string(m->state_by)} : std::string{"config"}},
           {"health", health_json(h)},
           {"in_flight", s.in_flight()},
           {"key_share", i < shares.size() ? shares[i] : 0.0},
           {"requests",
            {{"total", t.requests()},
             {"1xx", t.responses[0]},
             {"2xx", t.responses[1]},
             {"3xx", t.responses[2]},
             {"4xx", t.responses[3]},
             {"5xx", t.responses[4]}}},
           {"zone", be.zone},
           {"predicted_ms", t.predicted_seconds < 0 ? json(nullptr) : json(t.predicted_seconds * 1000)},
           {"failures", t.failures},
           {"failovers", t.failovers},
           {"retries", t.retries},
           {"response_bytes", t.response_bytes}};
    if (s.failures() != 0)
        j["passive"] = {{"consecutive_failures", s.failures()}, {"backing_off", !s.eligible(now)}};
    if (v.mode == backend_mode::slow_start || v.mode == backend_mode::draining) {
        const auto span = s.admitted_span(now);
        const double share = static_cast<double>(span >> 32) / 4294967296.0;
        const std::int64_t left = v.ramp_start + v.ramp_window - now.time_since_epoch().count();
        j["ramp"] = {
            {"share_taken", share},
            {"ends_in_ms",
             left > 0
                 ? std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::duration{left}).count()
                 : 0}};
    }
    return j;
}

}  // namespace

const std::vector<double>& share_cache::of(const bundle& b) const {
    if (generation_ != b.generation || shares_.size() != b.routing->backends().size()) {
        shares_.assign(b.routing->backends().size(), 0.0);
        for (const owner_arc& a : owner_arcs(*b.routing, share_points))
            if (a.owner < shares_.size())
                shares_[a.owner] += static_cast<double>(a.end - a.begin) / share_points;
        generation_ = b.generation;
    }
    return shares_;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
    const auto ms = std::chrono::time_point_cast<std::chrono::milliseconds>(t);
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", std::chrono::floor<std::chrono::seconds>(ms),
                       ms.time_since_epoch().count() % 1000);
}

std::string hex64(std::uint64_t v) {
    return fmt::format("{:016x}", v);
}

std::optional<std::uint64_t> parse_count_text(std::string_view s) {
    std::uint64_t v = 0;
    if (s.empty()) return std::nullopt;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

json status_json(const controller& c, std::chrono::system_clock::time_point started) {
    const bundle& b = *c.current();
    const auto now = std::chrono::system_clock::now();
    return {{"started_at", iso_time(started)},
            {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(now - started).count()},
            {"generation", b.generation},
            {"membership_generation", c.store().generation()},
            {"algorithm", std::string{chash::to_string(b.routing->options().algorithm)}},
            {"fingerprint", hex64(b.routing->algorithm().fingerprint())},
            {"backends", b.routing->backends().size()},
            {"panic", std::string{panic_name(c.panic())}},
            {"panic_entries", c.panic_entries()}};
}

json backends_json(const controller& c, const share_cache& shares) {
    json out = json::array();
    const bundle& b = *c.current();
    const auto& s = shares.of(b);
    for (std::size_t i = 0; i < b.routing->backends().size(); ++i) out.push_back(one_backend(c, i, s));
    return out;
}

std::optional<json> backend_json(const controller& c, std::string_view id, const share_cache& shares) {
    const bundle& b = *c.current();
    const auto backends = b.routing->backends();
    for (std::size_t i = 0; i < backends.size(); ++i)
        if (backends[i].id == id) return one_backend(c, i, shares.of(b));
    return std::nullopt;
}

json ring_json(const controller& c, const share_cache& shares, std::uint32_t arcs) {
    const bundle& b = *c.current();
    const routing_snapshot& r = *b.routing;
    const auto& s = shares.of(b);
    const chash::kind k = r.options().algorithm;
    json backends = json::array();
    for (std::size_t i = 0; i < r.backends().size(); ++i) {
        const backend& be = r.backends()[i];
        json j{{"id", be.id},
               {"weight", be.weight},
               {"share", s[i]},
               {"mode", std::string{to_string(be.state->mode())}}};
        if (k == chash::kind::ring)
            j["points"] = static_cast<std::uint64_t>(r.options().build.vnodes_per_weight) * be.weight;
        else if (k == chash::kind::maglev)
            j["points"] = static_cast<std::uint64_t>(s[i] * r.options().build.table_size + 0.5);
        backends.push_back(std::move(j));
    }
    json j{{"algorithm", std::string{chash::to_string(k)}},
           {"generation", b.generation},
           {"membership_generation", c.store().generation()},
           {"fingerprint", hex64(r.algorithm().fingerprint())},
           {"memory_bytes", r.algorithm().memory_bytes()},
           {"backends", std::move(backends)}};
    if (const auto moved = c.last_moved()) j["last_change_moved"] = *moved;
    if (!r.zones().empty()) {
        json zones = json::array();
        const auto shares_now = r.zone_shares();
        for (std::size_t z = 0; z < r.zones().size(); ++z)
            zones.push_back({{"zone", r.zones()[z].name},
                             {"backends", r.zones()[z].index.size()},
                             {"takes", shares_now[z]}});
        j["zones"] = {{"local", r.options().local_zone}, {"order", std::move(zones)}};
    }
    if (arcs > 0) {
        json list = json::array();
        for (const owner_arc& a : owner_arcs(r, arcs)) list.push_back({a.begin, a.end, a.owner});
        j["arcs"] = {{"points", arcs}, {"runs", std::move(list)}};
    }
    return j;
}

json lookup_json(const controller& c, std::string_view key) {
    const bundle& b = *c.current();
    const routing_snapshot& r = *b.routing;
    const std::uint64_t h = r.hash_key(key);
    const auto now = steady_clock::now();
    json chain = json::array();
    for (const candidate_verdict& v : r.explain(h, now)) {
        json item{{"id", r.backends()[v.index].id}, {"usable", v.why == skip_reason::none}};
        if (v.why != skip_reason::none) item["skipped"] = std::string{describe(v.why)};
        chain.push_back(std::move(item));
    }
    const std::size_t owner = r.owner(h);
    const std::size_t chosen = r.select(h, {}, now);
    json out{{"key", std::string{key}},
             {"hash", hex64(h)},
             {"owner", owner < r.backends().size() ? json(r.backends()[owner].id) : json(nullptr)},
             {"chosen", chosen < r.backends().size() ? json(r.backends()[chosen].id) : json(nullptr)},
             {"chain", std::move(chain)}};
    if (!r.zones().empty()) out["zone"] = std::string{r.zone_of(h)};
    return out;
}

json events_json(const controller& c) {
    json out = json::array();
    for (auto it = c.events().rbegin(); it != c.events().rend(); ++it) {
        json e{{"at", iso_time(it->at)}, {"kind", it->kind}, {"text", it->text}};
        if (it->moved) e["moved"] = *it->moved;
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace ringlb::admin
