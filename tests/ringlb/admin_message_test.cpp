// The admin API's message values: percent-decoding (malformed escapes and NUL refused, '+'
// a space only in a query), query parameters, the JSON error shape, and the bytes an answer
// is sent as (Content-Length, Connection: close, HEAD without a body).
#include "ringlb/admin/message.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

namespace {

using ringlb::admin::json_error;
using ringlb::admin::percent_decode;
using ringlb::admin::request;
using ringlb::admin::response;
using ringlb::admin::serialize;

TEST(AdminMessage, PercentDecodeDecodesEscapesOfEitherCase) {
    EXPECT_EQ(percent_decode("/v1/backends/app%2D1", false), "/v1/backends/app-1");
    EXPECT_EQ(percent_decode("%41%62%7a%5A%2f%2F", false), "AbzZ//");
    EXPECT_EQ(percent_decode("a%20b", true), "a b");
    EXPECT_EQ(percent_decode("", false), "");
    EXPECT_EQ(percent_decode("%25", false), "%") << "an escaped % is not decoded twice";
    EXPECT_EQ(percent_decode("%2541", false), "%41");
    EXPECT_EQ(percent_decode("%ff", false), std::string{"\xff"}) << "any byte but NUL";
}

TEST(AdminMessage, PercentDecodeRefusesMalformedEscapes) {
    for (const char* bad : {"%", "%4", "a%", "a%4", "%g1", "%1g", "%%41", "%-1", "% 1", "ab%zz"}) {
        EXPECT_FALSE(percent_decode(bad, false)) << bad;
        EXPECT_FALSE(percent_decode(bad, true)) << bad;
    }
}

TEST(AdminMessage, PercentDecodeRefusesNul) {
    EXPECT_FALSE(percent_decode("a%00b", false));
    EXPECT_FALSE(percent_decode("%00", true));
    EXPECT_FALSE(percent_decode(std::string_view{"a\0b", 3}, false)) << "a raw NUL too";
}

TEST(AdminMessage, PlusIsASpaceOnlyInAQuery) {
    EXPECT_EQ(percent_decode("a+b", true), "a b");
    EXPECT_EQ(percent_decode("a+b", false), "a+b");
    EXPECT_EQ(percent_decode("a%2Bb", true), "a+b") << "an escaped + stays a +";
    EXPECT_EQ(percent_decode("a%2Bb", false), "a+b");
}

TEST(AdminMessage, ParamFindsDecodedValues) {
    request r;
    r.query = "key=alice+smith&arcs=360&dry_run=1&empty=&flag&enc=%2Fa%3Db";
    EXPECT_EQ(r.param("key"), "alice smith");
    EXPECT_EQ(r.param("arcs"), "360");
    EXPECT_EQ(r.param("dry_run"), "1");
    EXPECT_EQ(r.param("empty"), "");
    EXPECT_EQ(r.param("flag"), "") << "present without a value";
    EXPECT_EQ(r.param("enc"), "/a=b");
    EXPECT_FALSE(r.param("missing"));
    EXPECT_FALSE(r.param("ke")) << "whole names only";
    EXPECT_FALSE(r.param("key=alice"));
}

TEST(AdminMessage, ParamOfAnEmptyQueryIsAbsentAndTheFirstOfTwoWins) {
    request r;
    EXPECT_FALSE(r.param("key"));
    r.query = "key=one&key=two";
    EXPECT_EQ(r.param("key"), "one");
    r.query = "&&key=x&";
    EXPECT_EQ(r.param("key"), "x") << "empty pairs are skipped";
}

TEST(AdminMessage, ParamWithAMalformedValueIsNotAValue) {
    request r;
    r.query = "key=%zz&nul=a%00";
    EXPECT_FALSE(r.param("key"));
    EXPECT_FALSE(r.param("nul"));
}

TEST(AdminMessage, MutatingMeansPostPutOrDelete) {
    const auto with_method = [](const char* m) {
        request r;
        r.method = m;
        return r;
    };
    for (const char* m : {"POST", "PUT", "DELETE"}) EXPECT_TRUE(with_method(m).mutating()) << m;
    for (const char* m : {"GET", "HEAD", "OPTIONS", "PATCH", "post", ""})
        EXPECT_FALSE(with_method(m).mutating()) << m;
}

TEST(AdminMessage, JsonErrorHasTheDocumentedShape) {
    const response r = json_error(404, "no backend \"app-9\"");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_TRUE(r.headers.empty());
    ASSERT_FALSE(r.body.empty());
    EXPECT_EQ(r.body.back(), '\n');
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j, (nlohmann::json{{"error", {{"status", 404}, {"message", "no backend \"app-9\""}}}}));
}

TEST(AdminMessage, SerializeWritesTheLengthTheTypeAndExtraHeaders) {
    response r;
    r.status = 201;
    r.body = "{\"a\": 1}\n";
    r.headers.emplace_back("ETag", "\"7\"");
    const std::string out = serialize(r, true);
    EXPECT_EQ(out,
              "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 9\r\n"
              "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nETag: \"7\"\r\n\r\n"
              "{\"a\": 1}\n");
}

TEST(AdminMessage, SerializeClosesWhenNotKeptAlive) {
    const response r = json_error(400, "bad");
    const std::string kept = serialize(r, true);
    const std::string closed = serialize(r, false);
    EXPECT_EQ(kept.find("Connection: close"), std::string::npos);
    const std::size_t head_end = closed.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    EXPECT_NE(closed.substr(0, head_end).find("\r\nConnection: close"), std::string::npos);
    EXPECT_EQ(closed.substr(head_end + 4), r.body);
    EXPECT_EQ(closed.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u);
}

TEST(AdminMessage, SerializeAnswersHeadWithTheHeadAlone) {
    response r;
    r.body = std::string(1234, 'x');
    const std::string full = serialize(r, true);
    const std::string head = serialize(r, true, true);
    EXPECT_NE(head.find("Content-Length: 1234\r\n"), std::string::npos) << "the length GET would get";
    EXPECT_TRUE(head.ends_with("\r\n\r\n"));
    EXPECT_EQ(full, head + r.body);
}

TEST(AdminMessage, EveryStatusTheApiUsesHasItsReasonPhrase) {
    for (const auto& [status, phrase] :
         std::initializer_list<std::pair<int, std::string_view>>{{200, "OK"},
                                                                 {401, "Unauthorized"},
                                                                 {403, "Forbidden"},
                                                                 {405, "Method Not Allowed"},
                                                                 {409, "Conflict"},
                                                                 {411, "Length Required"},
                                                                 {412, "Precondition Failed"},
                                                                 {413, "Content Too Large"},
                                                                 {415, "Unsupported Media Type"},
                                                                 {431, "Request Header Fields Too Large"},
                                                                 {503, "Service Unavailable"}})
        EXPECT_EQ(ringlb::admin::reason_phrase(status), phrase) << status;
}

}  // namespace
