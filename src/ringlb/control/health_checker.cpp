#include "ringlb/control/health_checker.hpp"

#include "ringlb/config/values.hpp"
#include "ringlb/control/check_answer.hpp"

#include <asio/connect.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>

namespace ringlb {

namespace {

constexpr std::size_t max_answer = 64 * 1024;

std::string build_request(const health_check_config& c, const asio::ip::tcp::endpoint& at) {
    std::string host = c.host;
    if (host.empty()) {
        const std::string addr = at.address().to_string();
        host = (at.address().is_v6() ? "[" + addr + "]" : addr) + ":" + std::to_string(at.port());
    }
    return c.method + " " + c.path + " HTTP/1.1\r\nHost: " + host +
           "\r\nUser-Agent: ringlb-health-check\r\nConnection: close\r\n\r\n";
}

}  // namespace

std::shared_ptr<health_checker> health_checker::start(asio::io_context& io, std::string id,
                                                      asio::ip::tcp::endpoint address,
                                                      health_check_config check,
                                                      std::shared_ptr<backend_state> state,
                                                      report_fn report) {
    auto c = std::make_shared<health_checker>(io, std::move(id), address, std::move(check), std::move(state),
                                              std::move(report));
    c->run();
    return c;
}

health_checker::health_checker(asio::io_context& io, std::string id, asio::ip::tcp::endpoint address,
                               health_check_config check, std::shared_ptr<backend_state> state,
                               report_fn report)
    : io_{io},
      id_{std::move(id)},
      address_{address},
      check_{std::move(check)},
      state_{std::move(state)},
      report_{std::move(report)},
      machine_{check_.rise, check_.fall},
      timer_{io},
      deadline_{io},
      passive_seen_{state_->passive_events()},
      rng_{static_cast<std::minstd_rand::result_type>(std::hash<std::string>{}(id_) | 1)} {}

void health_checker::update(asio::ip::tcp::endpoint address, health_check_config check) {
    address_ = address;
    check_ = std::move(check);
    machine_.set_thresholds(check_.rise, check_.fall);
}

void health_checker::stop() {
    stopped_ = true;
    timer_.cancel();
    deadline_.cancel();
    if (socket_) {
        asio::error_code ignored;
        socket_->close(ignored);
    }
}

void health_checker::run() {
    if (stopped_) return;
    duration d = machine_.next_delay(check_);
    if (first_) {
        // The first probe at a random point of the first interval: checkers started together
        // (at start, by a reload) spread out at once.
        first_ = false;
        d = duration{std::uniform_int_distribution<std::int64_t>{0, d.count()}(rng_)};
    } else {
        const std::int64_t spread = d.count() / 10;
        d += duration{std::uniform_int_distribution<std::int64_t>{-spread, spread}(rng_)};
    }
    wait(d);
}

void health_checker::wait(duration d) {
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (ec || self->stopped_) return;
        self->probe();
    });
}

void health_checker::probe() {
    // What the data path saw since the last probe: one interval with failures, however
    // many (health_machine counts such intervals apart from the checks' results).
    const std::uint64_t passive = state_->passive_events();
    const bool failed = passive != passive_seen_;
    passive_seen_ = passive;
    if (machine_.observe_passive(failed)) {
        report_(check_report{id_, false, true, machine_.up(),
                             "client traffic failed in " + std::to_string(check_.fall) + " check interval" +
                                 (check_.fall == 1 ? "" : "s in a row"),
                             true});
        if (stopped_) return;
    }
    const std::uint64_t seq = ++probe_seq_;
    socket_.emplace(io_);
    answer_.clear();
    deadline_.expires_after(check_.timeout);
    deadline_.async_wait([self = shared_from_this(), seq](const asio::error_code& ec) {
        if (ec || self->probe_seq_ != seq || !self->socket_) return;
        self->probe_done(false, "timed out after " + format_duration(self->check_.timeout));
    });
    socket_->async_connect(address_, [self = shared_from_this(), seq](const asio::error_code& ec) {
        if (self->probe_seq_ != seq || !self->socket_) return;
        if (ec) {
            self->probe_done(false, "connect: " + ec.message());
            return;
        }
        self->on_connected();
    });
}

void health_checker::on_connected() {
    if (check_.check == check_kind::tcp) {
        probe_done(true, {});
        return;
    }
    request_ = build_request(check_, address_);
    const std::uint64_t seq = probe_seq_;
    asio::async_write(*socket_, asio::buffer(request_),
                      [self = shared_from_this(), seq](const asio::error_code& ec, std::size_t) {
                          if (self->probe_seq_ != seq || !self->socket_) return;
                          if (ec) {
                              self->probe_done(false, "send: " + ec.message());
                              return;
                          }
                          self->read_more();
                      });
}

void health_checker::read_more() {
    const std::size_t have = answer_.size();
    answer_.resize(std::min(max_answer, have + 4096));
    const std::uint64_t seq = probe_seq_;
    socket_->async_read_some(
        asio::buffer(answer_.data() + have, answer_.size() - have),
        [self = shared_from_this(), seq, have](const asio::error_code& ec, std::size_t n) {
            if (self->probe_seq_ != seq || !self->socket_) return;
            self->answer_.resize(have + n);
            // Judged as soon as it can be (check_answer.hpp); no more bytes come after an
            // error or EOF, nor past the cap.
            const bool closed = static_cast<bool>(ec) || self->answer_.size() >= max_answer;
            check_verdict v = judge_check_answer(self->answer_, closed, self->check_);
            if (v.what == check_verdict::pending) {
                self->read_more();
                return;
            }
            self->probe_done(v.what == check_verdict::pass, std::move(v.detail));
        });
}

void health_checker::probe_done(bool ok, std::string detail) {
    ++probe_seq_;  // later completions of this probe are stale
    if (stopped_) return;
    deadline_.cancel();
    if (socket_) {
        asio::error_code ignored;
        socket_->close(ignored);
        socket_.reset();
    }
    const bool changed = machine_.observe(ok);
    report_(check_report{id_, ok, changed, machine_.up(), std::move(detail)});
    run();
}

}  // namespace ringlb
