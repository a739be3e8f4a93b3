#include "ringlb/control/resolver.hpp"

#include "ringlb/config/values.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <memory>

namespace ringlb {

// One lookup: the resolver, its deadline, and the callback, alive until both have run.
struct resolver::lookup {
    lookup(asio::io_context& io, resolver::done_fn f) : res{io}, deadline{io}, done{std::move(f)} {}
    asio::ip::tcp::resolver res;
    asio::steady_timer deadline;
    resolver::done_fn done;
    void finish(const resolve_result& r) {
        if (!done) return;  // the other side finished first
        auto f = std::move(done);
        done = nullptr;
        deadline.cancel();
        f(r);
    }
    // Drops the callback and cancels both sides. A lookup still queued for asio's resolver
    // thread is then skipped; one already inside getaddrinfo runs to its end.
    void abandon() {
        done = nullptr;
        deadline.cancel();
        res.cancel();
    }
};

void resolver::resolve(const endpoint& at, done_fn done) {
    asio::error_code ec;
    const auto addr = asio::ip::make_address(at.host, ec);
    if (!ec) {
        asio::post(io_, [done = std::move(done), a = asio::ip::tcp::endpoint{addr, at.port}] {
            done(resolve_result{true, a, {}});
        });
        return;
    }
    std::erase_if(pending_, [](const std::weak_ptr<lookup>& w) { return w.expired(); });
    auto l = std::make_shared<lookup>(io_, std::move(done));
    pending_.push_back(l);
    l->deadline.expires_after(timeout_);
    l->deadline.async_wait([l, host = at.host, t = timeout_](const asio::error_code& e) {
        if (e) return;
        l->finish(
            resolve_result{false, {}, "cannot resolve " + host + ": no answer within " + format_duration(t)});
        // A lookup that is still queued behind a slow one need not run at all.
        l->res.cancel();
    });
    l->res.async_resolve(
        at.host, std::to_string(at.port),
        [l, host = at.host](const asio::error_code& e, asio::ip::tcp::resolver::results_type rs) {
            if (e || rs.empty()) {
                l->finish(resolve_result{
                    false, {}, "cannot resolve " + host + ": " + (e ? e.message() : "no address")});
                return;
            }
            l->finish(resolve_result{true, rs.begin()->endpoint(), {}});
        });
}

void resolver::cancel_all() {
    for (const auto& w : pending_)
        if (auto l = w.lock()) l->abandon();
    pending_.clear();
}

}  // namespace ringlb
