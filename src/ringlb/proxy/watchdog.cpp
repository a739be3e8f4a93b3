#include "ringlb/proxy/watchdog.hpp"

namespace ringlb {

void watchdog::arm(phase p, std::chrono::milliseconds d) {
    waiting_ = p;
    timed_out_ = phase::none;
    deadline_ = std::chrono::steady_clock::now() + d;
    // A later deadline needs no timer operation: the pending wait re-arms when it fires.
    if (running_ && timer_.expiry() <= deadline_) return;
    timer_.expires_at(deadline_);
    start_wait();
}

void watchdog::start_wait() {
    std::shared_ptr<void> keep = owner_.lock();
    if (!keep) return;  // the session is ending: nothing to watch
    running_ = true;
    timer_.async_wait([this, keep = std::move(keep)](const asio::error_code& ec) { on_timer(ec); });
}

void watchdog::on_timer(const asio::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // superseded, or stopped
    running_ = false;
    if (waiting_ == phase::none) return;
    if (std::chrono::steady_clock::now() < deadline_) {
        timer_.expires_at(deadline_);
        start_wait();
        return;
    }
    expire_now(waiting_);
}

void watchdog::expire_now(phase p) noexcept {
    timed_out_ = p;
    waiting_ = phase::none;
    client_.cancel();
    if (backend_ != nullptr) {
        asio::error_code ignored;
        backend_->cancel(ignored);
    }
}

void watchdog::stop() noexcept {
    waiting_ = phase::none;
    running_ = false;
    timer_.cancel();
}

}  // namespace ringlb
