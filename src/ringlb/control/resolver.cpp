#include "ringlb/control/resolver.hpp"

#include "ringlb/config/values.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <memory>

namespace ringlb {

namespace {

// One lookup: the resolver, its deadline, and the callback, alive until both have run.
struct lookup {
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
};

}  // namespace

void resolver::resolve(const endpoint& at, done_fn done) {
    asio::error_code ec;
    const auto addr = asio::ip::make_address(at.host, ec);
    if (!ec) {
        asio::post(io_, [done = std::move(done), a = asio::ip::tcp::endpoint{addr, at.port}] {
            done(resolve_result{true, a, {}});
        });
        return;
    }
    auto l = std::make_shared<lookup>(io_, std::move(done));
    l->deadline.expires_after(timeout_);
    l->deadline.async_wait([l, host = at.host, t = timeout_](const asio::error_code& e) {
        if (e) return;
        l->finish(resolve_result{false, {}, "cannot resolve " + host + ": no answer within " + format_duration(t)});
    });
    l->res.async_resolve(at.host, std::to_string(at.port),
                         [l, host = at.host](const asio::error_code& e, asio::ip::tcp::resolver::results_type rs) {
                             if (e || rs.empty()) {
                                 l->finish(resolve_result{
                                     false, {}, "cannot resolve " + host + ": " + (e ? e.message() : "no address")});
                                 return;
                             }
                             l->finish(resolve_result{true, rs.begin()->endpoint(), {}});
                         });
}

}  // namespace ringlb
