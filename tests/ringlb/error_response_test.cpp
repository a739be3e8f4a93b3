// ringlb's own answers: each parses as one whole response with a body of its declared
// length; the closing variant says Connection: close; the answer to a HEAD is the head alone
// and still declares the length (a body there would be read as the next response).
#include "ringlb/http/error_response.hpp"

#include "ringlb/http/parser.hpp"

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

TEST(ErrorResponse, AnUnknownStatusIsA500) {
    EXPECT_EQ(std::string{ringlb::error_response(299, true)}.rfind("HTTP/1.1 500 ", 0), 0u);
}

}  // namespace
