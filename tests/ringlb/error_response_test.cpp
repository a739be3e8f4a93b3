// ringlb's own answers: each parses as one whole response with a body of its declared
// length; the closing variant says Connection: close; the answer to a HEAD is the head alone
// and still declares the length (a body there would be read as the next response).
#include "ringlb/http/error_response.hpp"

#include "ringlb/http/parser.hpp"
#include "ringlb/http/rate_limited.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ringlb::http_parser;

TEST(ErrorResponse, EveryAnswerIsOneWholeResponse) {
    for (const int status : {400, 405, 408, 413, 414, 417, 431, 502, 503, 504}) {
        for (const bool close : {false, true}) {
            for (const bool head : {false, true}) {
                const std::string r{ringlb::error_response(status, close, head)};
                http_parser p{http_parser::type::response};
                p.reset(head);
                const auto h = p.feed(r.data(), r.size());
                ASSERT_EQ(h.what, http_parser::event::head_complete) << r;
                EXPECT_EQ(p.status(), status);
                EXPECT_GT(p.content_length(), 0u);
                EXPECT_EQ(!p.keep_alive(), close) << r;
                if (head) {
                    EXPECT_EQ(h.consumed, r.size()) << "a HEAD answer carries no body: " << r;
                } else {
                    const auto m = p.feed(r.data() + h.consumed, r.size() - h.consumed);
                    EXPECT_EQ(m.what, http_parser::event::message_complete);
                    EXPECT_EQ(h.consumed + m.consumed, r.size()) << r;
                }
                EXPECT_EQ(status == 503, p.header_value("retry-after") == "1") << r;
            }
        }
    }
}

// The 429: one whole response, Retry-After in whole seconds rounded up (a client that
// waits that long is let through), the policy as configured and the key's state
// (draft-ietf-httpapi-ratelimit-headers).
TEST(ErrorResponse, RateLimitedIsA429WithRetryAfterAndRateLimitFields) {
    for (const bool close : {false, true}) {
        for (const bool head : {false, true}) {
            std::string r = "leftover";
            ringlb::append_rate_limited(r, {.quota = 30, .window_s = 60, .retry_after_us = 1'200'000}, close, head);
            ASSERT_EQ(r.rfind("leftover", 0), 0u);
            r.erase(0, 8);
            http_parser p{http_parser::type::response};
            p.reset(head);
            const auto h = p.feed(r.data(), r.size());
            ASSERT_EQ(h.what, http_parser::event::head_complete) << r;
            EXPECT_EQ(p.status(), 429);
            EXPECT_EQ(!p.keep_alive(), close) << r;
            EXPECT_EQ(p.header_value("retry-after"), "2");
            EXPECT_EQ(p.header_value("ratelimit-policy"), "\"ringlb\";q=30;w=60");
            EXPECT_EQ(p.header_value("ratelimit"), "\"ringlb\";r=0;t=2");
            if (head) {
                EXPECT_EQ(h.consumed, r.size());
            } else {
                const auto m = p.feed(r.data() + h.consumed, r.size() - h.consumed);
                EXPECT_EQ(m.what, http_parser::event::message_complete);
                EXPECT_EQ(h.consumed + m.consumed, r.size()) << r;
            }
        }
    }
    std::string soon;
    ringlb::append_rate_limited(soon, {.quota = 10, .window_s = 1, .retry_after_us = 1}, false, false);
    EXPECT_NE(soon.find("\r\nRetry-After: 1\r\n"), std::string::npos) << soon;
}

TEST(ErrorResponse, AnUnknownStatusIsA500) {
    EXPECT_EQ(std::string{ringlb::error_response(299, true)}.rfind("HTTP/1.1 500 ", 0), 0u);
}

}  // namespace
