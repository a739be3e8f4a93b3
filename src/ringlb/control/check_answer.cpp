#include "ringlb/control/check_answer.hpp"

#include "ringlb/http/parser.hpp"

#include <algorithm>

namespace ringlb {

namespace {

constexpr int max_interim_heads = 8;

check_verdict failed(std::string why) {
    return {check_verdict::fail, std::move(why)};
}

}  // namespace

check_verdict judge_check_answer(std::string_view answer, bool closed, const health_check_config& c) {
    http_parser p{http_parser::type::response};
    std::size_t pos = 0;
    for (int interim = 0;; ++interim) {
        const auto r = p.feed(answer.data() + pos, answer.size() - pos);
        if (r.what == http_parser::event::error) return failed("malformed answer");
        if (r.what != http_parser::event::head_complete) {
            if (!closed) return {};
            return failed(answer.empty() ? "closed without an answer" : "incomplete answer");
        }
        pos += r.consumed;
        const int status = p.status();
        if (status < 100 || status > 599) return failed("malformed answer");
        if (status < 200 && status != 101) {  // interim: the answer is still to come
            if (interim == max_interim_heads) return failed("too many interim answers");
            p.reset();
            continue;
        }
        const bool expected =
            std::any_of(c.expect_status.begin(), c.expect_status.end(),
                        [&](const status_range& s) { return status >= s.lo && status <= s.hi; });
        if (!expected) return failed("status " + std::to_string(status));
        if (c.expect_body.empty()) return {check_verdict::pass, {}};
        const auto b = p.feed(answer.data() + pos, answer.size() - pos);
        if (b.what == http_parser::event::error) return failed("malformed answer");
        std::string_view body;
        if (b.what == http_parser::event::message_complete)
            body = answer.substr(pos, b.consumed);
        else if (closed)
            body = answer.substr(pos);  // what arrived before the end (or the read limit)
        else
            return {};
        if (body.find(c.expect_body) == std::string_view::npos)
            return failed("body lacks \"" + c.expect_body + "\"");
        return {check_verdict::pass, {}};
    }
}

}  // namespace ringlb
