// The verdict on an http check's answer: interim heads skipped, status and body judged as
// soon as the answer allows, anything malformed a failure.
#include "ringlb/control/check_answer.hpp"

#include <gtest/gtest.h>

namespace {

using ringlb::check_verdict;
using ringlb::judge_check_answer;

ringlb::health_check_config http_check(std::string body = {}) {
    ringlb::health_check_config c;
    c.check = ringlb::check_kind::http;
    c.expect_body = std::move(body);
    return c;
}

TEST(CheckAnswer, TheStatusDecidesAsSoonAsTheHeadIsIn) {
    EXPECT_EQ(judge_check_answer("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", false, http_check()).what,
              check_verdict::pass);
    const auto v = judge_check_answer("HTTP/1.1 503 No\r\nContent-Length: 0\r\n\r\n", false, http_check());
    EXPECT_EQ(v.what, check_verdict::fail);
    EXPECT_EQ(v.detail, "status 503");
    EXPECT_EQ(judge_check_answer("HTTP/1.1 200 OK\r\nContent-Le", false, http_check()).what,
              check_verdict::pending);
    EXPECT_EQ(judge_check_answer("HTTP/1.1 200 OK\r\nContent-Le", true, http_check()).detail,
              "incomplete answer");
    EXPECT_EQ(judge_check_answer("", true, http_check()).detail, "closed without an answer");
}

TEST(CheckAnswer, InterimHeadsAreNotTheAnswer) {
    const std::string early = "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n";
    EXPECT_EQ(judge_check_answer(early, false, http_check()).what, check_verdict::pending);
    EXPECT_EQ(judge_check_answer(early + "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                                 false, http_check())
                  .what,
              check_verdict::pass);
    std::string flood;
    for (int i = 0; i < 20; ++i) flood += early;
    EXPECT_EQ(judge_check_answer(flood, false, http_check()).detail, "too many interim answers");
}

TEST(CheckAnswer, TheBodyIsJudgedOnceTheAnswerEnds) {
    const auto c = http_check("ready");
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
    EXPECT_EQ(judge_check_answer(head + "I am r", false, c).what, check_verdict::pending);
    EXPECT_EQ(judge_check_answer(head + "I am ready!\n", false, c).what, check_verdict::pass)
        << "complete by its length: no need to wait for the close";
    EXPECT_EQ(judge_check_answer(head + "I am busy..\n", false, c).detail, "body lacks \"ready\"");
    // Chunked: complete at the last chunk.
    EXPECT_EQ(judge_check_answer(
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nready\r\n0\r\n\r\n", false, c)
                  .what,
              check_verdict::pass);
    // Until the connection closes; or cut short by it.
    EXPECT_EQ(judge_check_answer("HTTP/1.1 200 OK\r\n\r\nall ready", false, c).what, check_verdict::pending);
    EXPECT_EQ(judge_check_answer("HTTP/1.1 200 OK\r\n\r\nall ready", true, c).what, check_verdict::pass);
    EXPECT_EQ(judge_check_answer(head + "rea", true, c).what, check_verdict::fail);
}

TEST(CheckAnswer, GarbageIsAFailure) {
    EXPECT_EQ(judge_check_answer("SSH-2.0-OpenSSH_9.2\r\n", false, http_check()).detail, "malformed answer");
    EXPECT_EQ(judge_check_answer("HTTP/1.1 999 What\r\n\r\n", false, http_check()).detail,
              "malformed answer");
    EXPECT_EQ(judge_check_answer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false,
                                 http_check())
                  .detail,
              "malformed answer");
}

}  // namespace
