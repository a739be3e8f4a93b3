#include "ringlb/admin/live_stats.hpp"

namespace ringlb::admin {

namespace {

constexpr std::size_t kept_readings = 6;

// Counters only grow, but a backend removed and added again starts from zero.
std::uint64_t delta(std::uint64_t now, std::uint64_t then) noexcept {
    return now >= then ? now - then : now;
}

}  // namespace

live_stats::live_stats(asio::io_context& io, const controller& c) : control_{c}, timer_{io} {}

void live_stats::start() {
    running_ = true;
    sample();
    arm();
}

void live_stats::stop() {
    running_ = false;
    timer_.cancel();
}

void live_stats::arm() {
    timer_.expires_after(std::chrono::seconds{1});
    timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || !running_) return;
        sample();
        arm();
    });
}

void live_stats::sample() {
    const auto& b = control_.current();
    if (!b) return;
    reading r;
    r.at = std::chrono::steady_clock::now();
    for (const backend& be : b->routing->backends()) r.backends.emplace(be.id, sum(*be.state));
    readings_.push_back(std::move(r));
    while (readings_.size() > kept_readings) readings_.pop_front();
}

nlohmann::json live_stats::to_json() const {
    nlohmann::json out = nlohmann::json::array();
    const auto& b = control_.current();
    if (!b || readings_.empty()) return {{"window_seconds", 0}, {"backends", out}};
    const reading& last = readings_.back();
    const reading& first = readings_.front();
    const double seconds = std::chrono::duration<double>(last.at - first.at).count();
    for (const backend& be : b->routing->backends()) {
        nlohmann::json j{{"id", be.id},
                         {"mode", std::string{to_string(be.state->mode())}},
                         {"in_flight", be.state->in_flight()}};
        const auto now_it = last.backends.find(be.id);
        const auto then_it = first.backends.find(be.id);
        if (now_it != last.backends.end() && then_it != first.backends.end() && seconds > 0) {
            const auto& now_t = now_it->second;
            const auto& then_t = then_it->second;
            const std::uint64_t done = delta(now_t.requests(), then_t.requests());
            const metrics::latency_totals window = now_t.latency.since(then_t.latency);
            j["rate"] = static_cast<double>(done) / seconds;
            const double p50 = window.quantile(0.5), p99 = window.quantile(0.99);
            j["p50_ms"] = p50 < 0 ? nlohmann::json(nullptr) : nlohmann::json(p50 * 1000);
            j["p99_ms"] = p99 < 0 ? nlohmann::json(nullptr) : nlohmann::json(p99 * 1000);
            const std::uint64_t errors =
                delta(now_t.responses[4], then_t.responses[4]) + delta(now_t.failures, then_t.failures);
            j["errors_per_second"] = static_cast<double>(errors) / seconds;
        } else {
            j["rate"] = 0.0;
            j["p50_ms"] = nullptr;
            j["p99_ms"] = nullptr;
            j["errors_per_second"] = 0.0;
        }
        out.push_back(std::move(j));
    }
    return {{"window_seconds", seconds}, {"generation", b->generation}, {"backends", std::move(out)}};
}

}  // namespace ringlb::admin
