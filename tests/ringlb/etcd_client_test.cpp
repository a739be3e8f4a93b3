// The etcd client (etcd/client.hpp): what it makes of what etcd 3.4's JSON gateway sends.
//
// base64/unbase64 pass RFC 4648's vectors, round-trip every byte value and refuse malformed
// text; prefix_end gives the first key past a prefix. parse_watch_message reads every
// message shape measured on the wire (created, PUT events without "type", a DELETE whose kv
// holds only key and mod_revision, prev_kv, several events, a progress notification that is
// a header alone, a compaction cancel without header revision, the stream's error object,
// a unary error), takes every field left out as its zero value, and refuses garbage;
// malformed int64 strings read as 0. The client against a scripted loopback server (see
// scripted_server.hpp) sends the requests etcd expects (POST, base64 keys, int64 as strings,
// Grpc-Metadata-Hasleader on every one), reads range, put, txn, lease and keepalive answers
// with their zero-valued fields left out, turns error answers into `error` and `code`,
// moves to the next endpoint on a refused connection or a 503/500/504 but not on a 4xx,
// authenticates once and again after "invalid auth token"; the watcher sends its create
// request and hands over parsed messages, and ends failed on one it cannot read.
//
// Verbatim answers come from etcd 3.4.23, as docs/DESIGN.md records them; where the notes
// elide a header ("{...}"), a header of the same cluster stands in.
#include "ringlb/etcd/client.hpp"

#include "ringlb/config/values.hpp"

#include "scripted_server.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ringlb::etcd::base64;
using ringlb::etcd::parse_watch_message;
using ringlb::etcd::prefix_end;
using ringlb::etcd::unbase64;
using ringlb::etcd::watch_message;
using kind = ringlb::etcd::watch_message::kind;
using test::chunk;
using test::send;

// --- base64 ---

TEST(EtcdBase64, EncodesTheRfc4648Vectors) {
    EXPECT_EQ(base64(""), "");
    EXPECT_EQ(base64("f"), "Zg==");
    EXPECT_EQ(base64("fo"), "Zm8=");
    EXPECT_EQ(base64("foo"), "Zm9v");
    EXPECT_EQ(base64("foob"), "Zm9vYg==");
    EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
    // The keys of docs/DESIGN.md's wire captures.
    EXPECT_EQ(base64("/ringlb/backends/"), "L3JpbmdsYi9iYWNrZW5kcy8=");
    EXPECT_EQ(base64("/ringlb/backends0"), "L3JpbmdsYi9iYWNrZW5kczA=");
    EXPECT_EQ(base64("/ringlb/backends/a"), "L3JpbmdsYi9iYWNrZW5kcy9h");
    EXPECT_EQ(base64(std::string(1, '\0')), "AA==");
}

TEST(EtcdBase64, DecodesTheRfc4648Vectors) {
    EXPECT_EQ(unbase64(""), "");
    EXPECT_EQ(unbase64("Zg=="), "f");
    EXPECT_EQ(unbase64("Zm8="), "fo");
    EXPECT_EQ(unbase64("Zm9v"), "foo");
    EXPECT_EQ(unbase64("Zm9vYg=="), "foob");
    EXPECT_EQ(unbase64("Zm9vYmE="), "fooba");
    EXPECT_EQ(unbase64("Zm9vYmFy"), "foobar");
    EXPECT_EQ(unbase64("MTAuMC4wLjE6ODE="), "10.0.0.1:81");
    EXPECT_EQ(unbase64("AA=="), std::string(1, '\0'));
}

TEST(EtcdBase64, EveryByteValueRoundTripsAtEveryLength) {
    std::string all;
    for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
    for (std::size_t n = 0; n <= all.size(); ++n) {
        const std::string bytes = all.substr(all.size() - n);  // ends in 0xff, like prefixes do
        const std::string text = base64(bytes);
        EXPECT_EQ(text.size(), (n + 2) / 3 * 4);
        EXPECT_EQ(unbase64(text), bytes) << "length " << n;
    }
    for (int b = 0; b < 256; ++b) {
        const std::string one(1, static_cast<char>(b));
        EXPECT_EQ(unbase64(base64(one)), one) << b;
        EXPECT_EQ(unbase64(base64(one + one)), one + one) << b;
        EXPECT_EQ(unbase64(base64(one + one + one)), one + one + one) << b;
    }
}

TEST(EtcdBase64, RefusesABadLength) {
    for (const char* text : {"Z", "Zg", "Zg=", "Zm9", "Zm9vY", "Zm9vYg=", "Zm9vYg==="})
        EXPECT_FALSE(unbase64(text).has_value()) << text;
}

TEST(EtcdBase64, RefusesCharactersOutsideTheStandardAlphabet) {
    for (const char* text : {"Zm9v!A==", "Zm-_", "Zm9v\nZm8=", "Zm 9", "Zm9\x80", "\xffm9v"})
        EXPECT_FALSE(unbase64(text).has_value()) << text;
    EXPECT_FALSE(unbase64(std::string{"Zm\0v", 4}).has_value());
}

TEST(EtcdBase64, RefusesPaddingInTheMiddleOrTooMuchOfIt) {
    for (const char* text :
         {"Zg==Zm9v", "Zm8=Zm9v", "=Zm9", "Z=m9", "Zg=a", "Z===", "====", "Zm9v====", "Zm==Zg=="})
        EXPECT_FALSE(unbase64(text).has_value()) << text;
}

TEST(EtcdBase64, AcceptsNonZeroPaddingBitsAsGoDoes) {
    // Go's base64.StdEncoding (not Strict) takes them; so does this decoder.
    EXPECT_EQ(unbase64("Zh=="), "f");
    EXPECT_EQ(unbase64("Zm9="), "fo");
}

// --- prefix_end ---

TEST(EtcdPrefixEnd, IncrementsTheLastByte) {
    EXPECT_EQ(prefix_end("/a/"), "/a0");
    EXPECT_EQ(prefix_end("/ringlb/backends/"), "/ringlb/backends0");
    EXPECT_EQ(prefix_end("a\x7f"), "a\x80") << "bytes are unsigned";
    EXPECT_EQ(prefix_end("a\xfe"), "a\xff");
}

TEST(EtcdPrefixEnd, DropsTrailing0xffBytes) {
    EXPECT_EQ(prefix_end("a\xff"), "b");
    EXPECT_EQ(prefix_end("/a/\xff\xff\xff"), "/a0");
    EXPECT_EQ(prefix_end("a\xfe\xff"), "a\xff");
}

TEST(EtcdPrefixEnd, AnAll0xffOrEmptyPrefixMeansEveryKey) {
    const std::string every_key(1, '\0');  // etcd's "range_end": "AA==" (every key from key on)
    EXPECT_EQ(prefix_end("\xff"), every_key);
    EXPECT_EQ(prefix_end("\xff\xff\xff"), every_key);
    EXPECT_EQ(prefix_end(""), every_key);
}

TEST(EtcdPrefixEnd, EveryKeyUnderThePrefixSortsBeforeIt) {
    for (const std::string prefix : {"/ringlb/", "/a/\xff", "x\xfe\xff"}) {
        const std::string end = prefix_end(prefix);
        EXPECT_LT(prefix, end);
        EXPECT_LT(prefix + "\xff\xff\xff\xff", end) << "bytes compare as unsigned in std::string";
    }
}

// --- parse_watch_message: the shapes etcd 3.4 sends ---

const std::string header13 =
    R"("header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"13","raft_term":"2"})";

watch_message parse(std::string_view line) {
    auto m = parse_watch_message(line);
    EXPECT_TRUE(m.has_value()) << line;
    watch_message none;
    none.what = kind::error;
    none.error = "not parsed";
    return m.value_or(none);
}

TEST(EtcdWatchMessage, Created) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"13","raft_term":"2"},"created":true}})");
    EXPECT_EQ(m.what, kind::created);
    EXPECT_EQ(m.revision, 13);
    EXPECT_TRUE(m.events.empty());
}

TEST(EtcdWatchMessage, CreatedWithAWatchId) {
    const watch_message m = parse(R"({"result":{)" + header13 + R"(,"watch_id":"7","created":true}})");
    EXPECT_EQ(m.what, kind::created);
}

TEST(EtcdWatchMessage, APutEventHasNoType) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"14","raft_term":"2"},"events":[{"kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9l","create_revision":"14","mod_revision":"14","version":"1","value":"MTAuMC4wLjU6ODA="}}]}})");
    EXPECT_EQ(m.what, kind::events);
    EXPECT_EQ(m.revision, 14);
    ASSERT_EQ(m.events.size(), 1u);
    EXPECT_FALSE(m.events[0].deleted);
    EXPECT_EQ(m.events[0].item.key, "/ringlb/backends/e");
    EXPECT_EQ(m.events[0].item.value, "10.0.0.5:80");
    EXPECT_EQ(m.events[0].item.create_revision, 14);
    EXPECT_EQ(m.events[0].item.mod_revision, 14);
    EXPECT_EQ(m.events[0].item.lease, 0);
}

TEST(EtcdWatchMessage, APutEventWithItsPreviousValue) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"15","raft_term":"2"},"events":[{"kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9l","create_revision":"14","mod_revision":"15","version":"2","value":"MTAuMC4wLjU6ODE="},"prev_kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9l","create_revision":"14","mod_revision":"14","version":"1","value":"MTAuMC4wLjU6ODA="}}]}})");
    EXPECT_EQ(m.what, kind::events);
    ASSERT_EQ(m.events.size(), 1u);
    EXPECT_FALSE(m.events[0].deleted);
    EXPECT_EQ(m.events[0].item.value, "10.0.0.5:81") << "the new value, not prev_kv's";
    EXPECT_EQ(m.events[0].item.mod_revision, 15);
}

TEST(EtcdWatchMessage, ADeleteHoldsOnlyKeyAndModRevision) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"16","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9l","mod_revision":"16"},"prev_kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9l","create_revision":"14","mod_revision":"15","version":"2","value":"MTAuMC4wLjU6ODE="}}]}})");
    EXPECT_EQ(m.what, kind::events);
    ASSERT_EQ(m.events.size(), 1u);
    EXPECT_TRUE(m.events[0].deleted);
    EXPECT_EQ(m.events[0].item.key, "/ringlb/backends/e");
    EXPECT_EQ(m.events[0].item.mod_revision, 16);
    EXPECT_EQ(m.events[0].item.value, "");
    EXPECT_EQ(m.events[0].item.create_revision, 0);
}

TEST(EtcdWatchMessage, ALeaseExpiryIsADeleteWhosePrevKvHasALease) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"27","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"L3JpbmdsYi9pbnN0YW5jZXMvaTk=","mod_revision":"27"},"prev_kv":{"key":"L3JpbmdsYi9pbnN0YW5jZXMvaTk=","create_revision":"26","mod_revision":"26","version":"1","value":"dXA=","lease":"2324035843374695242"}}]}})");
    ASSERT_EQ(m.events.size(), 1u);
    EXPECT_TRUE(m.events[0].deleted);
    EXPECT_EQ(m.events[0].item.key, "/ringlb/instances/i9");
    EXPECT_EQ(m.events[0].item.mod_revision, 27);
}

TEST(EtcdWatchMessage, AKvWithALeaseAndNoValue) {
    const watch_message m = parse(
        R"({"result":{)" + header13 +
        R"(,"events":[{"kv":{"key":"L3JpbmdsYi9pbnN0YW5jZXMvaTE=","create_revision":"24","mod_revision":"24","version":"1","lease":"4242"}}]}})");
    ASSERT_EQ(m.events.size(), 1u);
    EXPECT_EQ(m.events[0].item.key, "/ringlb/instances/i1");
    EXPECT_EQ(m.events[0].item.value, "") << "an empty value is left out";
    EXPECT_EQ(m.events[0].item.lease, 4242);
}

TEST(EtcdWatchMessage, SeveralEventsInOneMessageKeepTheirOrder) {
    // A catch-up replay: the header holds the current revision, the events their own.
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"30","raft_term":"3"},"events":[{"kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9h","create_revision":"2","mod_revision":"28","version":"2","value":"MTAuMC4wLjE6ODE="}},{"type":"DELETE","kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9i","mod_revision":"29"}},{"kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9l","create_revision":"29","mod_revision":"29","version":"1","value":"MTAuMC4wLjU6ODA="}}]}})");
    EXPECT_EQ(m.what, kind::events);
    EXPECT_EQ(m.revision, 30);
    ASSERT_EQ(m.events.size(), 3u);
    EXPECT_EQ(m.events[0].item.key, "/ringlb/backends/a");
    EXPECT_EQ(m.events[0].item.mod_revision, 28);
    EXPECT_EQ(m.events[1].item.key, "/ringlb/backends/b");
    EXPECT_TRUE(m.events[1].deleted);
    EXPECT_EQ(m.events[2].item.key, "/ringlb/backends/e");
    EXPECT_FALSE(m.events[2].deleted);
}

TEST(EtcdWatchMessage, AProgressNotificationIsAHeaderAlone) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"1","raft_term":"2"}}})");
    EXPECT_EQ(m.what, kind::progress);
    EXPECT_EQ(m.revision, 1);
    EXPECT_TRUE(m.events.empty());
}

TEST(EtcdWatchMessage, AProgressAnswerWithWatchIdMinusOne) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"21","raft_term":"2"},"watch_id":"-1"}})");
    EXPECT_EQ(m.what, kind::progress);
    EXPECT_EQ(m.revision, 21);
}

TEST(EtcdWatchMessage, ACompactionCancelHasNoHeaderRevision) {
    const watch_message m = parse(
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","raft_term":"2"},"canceled":true,"compact_revision":"20"}})");
    EXPECT_EQ(m.what, kind::canceled);
    EXPECT_EQ(m.revision, 0);
    EXPECT_EQ(m.compact_revision, 20);
}

TEST(EtcdWatchMessage, ACancelWithAReason) {
    const watch_message m =
        parse(R"({"result":{)" + header13 + R"(,"canceled":true,"cancel_reason":"permission denied"}})");
    EXPECT_EQ(m.what, kind::canceled);
    EXPECT_EQ(m.compact_revision, 0);
    EXPECT_EQ(m.error, "permission denied");
}

TEST(EtcdWatchMessage, TheStreamErrorObject) {
    const watch_message m = parse(
        R"({"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}})");
    EXPECT_EQ(m.what, kind::error);
    EXPECT_EQ(m.error, "transport is closing");
    const watch_message no_leader = parse(
        R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})");
    EXPECT_EQ(no_leader.what, kind::error);
    EXPECT_EQ(no_leader.error, "etcdserver: no leader");
}

TEST(EtcdWatchMessage, AUnaryStyleError) {
    // What /v3/watch answers to a body it cannot decode (HTTP 500).
    const watch_message m = parse(R"({"error":"unexpected EOF","message":"unexpected EOF","code":2})");
    EXPECT_EQ(m.what, kind::error);
    EXPECT_EQ(m.error, "unexpected EOF");
    EXPECT_EQ(parse(R"({"error":7})").error, "error") << "an error of no known shape still says error";
}

TEST(EtcdWatchMessage, AKeepaliveAnswerForAGoneLeaseIsAHeaderAlone) {
    const watch_message m = parse(R"({"result":{)" + header13 + R"(,"ID":"777"}})");
    EXPECT_EQ(m.what, kind::progress);
}

TEST(EtcdWatchMessage, UnknownFieldsAreIgnored) {
    const watch_message m = parse(
        R"({"result":{)" + header13 +
        R"(,"fragment":false,"bogus":[1,{"x":null}],"events":[{"kv":{"key":"YQ==","mod_revision":"5","bogus":1},"bogus":2}]},"bogus":3})");
    EXPECT_EQ(m.what, kind::events);
    ASSERT_EQ(m.events.size(), 1u);
    EXPECT_EQ(m.events[0].item.key, "a");
    EXPECT_EQ(m.events[0].item.mod_revision, 5);
}

// --- parse_watch_message: garbage ---

TEST(EtcdWatchMessage, RefusesWhatIsNotAJsonObject) {
    for (const char* line : {"", "not json", "{", R"({"result":)", "[]", R"([{"result":{}}])", "\"result\"",
                             "42", "null", "true", R"({"result":{}} trailing)"})
        EXPECT_FALSE(parse_watch_message(line).has_value()) << line;
}

TEST(EtcdWatchMessage, RefusesAnObjectWithoutResultOrError) {
    for (const char* line : {"{}", R"({"header":{"revision":"1"}})", R"({"Result":{}})"})
        EXPECT_FALSE(parse_watch_message(line).has_value()) << line;
}

TEST(EtcdWatchMessage, RefusesAResultThatIsNotAnObject) {
    for (const char* line :
         {R"({"result":null})", R"({"result":[]})", R"({"result":"x"})", R"({"result":5})"})
        EXPECT_FALSE(parse_watch_message(line).has_value()) << line;
}

TEST(EtcdWatchMessage, RefusesMalformedEvents) {
    for (const std::string events : {R"([1])", R"([{}])", R"([{"type":"DELETE"}])", R"([{"kv":5}])",
                                     R"([{"kv":[]}])", R"([null])", R"([{"kv":{"key":"YQ=="}}, "x"])"})
        EXPECT_FALSE(
            parse_watch_message(R"({"result":{)" + header13 + R"(,"events":)" + events + "}}").has_value())
            << events;
}

TEST(EtcdWatchMessage, RefusesAKvWithBadBase64) {
    for (const char* kv : {R"({"key":"YQ="})", R"({"key":"Y!=="})", R"({"key":"YQ==","value":"%%%%"})",
                           R"({"key":"YQ==","value":"Zg==Zg=="})"})
        EXPECT_FALSE(
            parse_watch_message(R"({"result":{"events":[{"kv":)" + std::string{kv} + "}]}}").has_value())
            << kv;
}

TEST(EtcdWatchMessage, AKeyOrValueNotAStringReadsAsEmpty) {
    // What the code does: str() gives "" for a key of another type (a zero value).
    const watch_message m =
        parse(R"({"result":{"events":[{"kv":{"key":5,"value":null,"mod_revision":"3"}}]}})");
    ASSERT_EQ(m.events.size(), 1u);
    EXPECT_EQ(m.events[0].item.key, "");
    EXPECT_EQ(m.events[0].item.value, "");
}

TEST(EtcdWatchMessage, EventsThatAreNotAnArrayOrEmptyReadAsAHeaderAlone) {
    // What the code does: only a non-empty array is events; anything else, a progress
    // notification at the header's revision.
    for (const char* events : {"[]", "{}", "null", R"("x")", "7"}) {
        const watch_message m = parse(R"({"result":{)" + header13 + R"(,"events":)" + events + "}}");
        EXPECT_EQ(m.what, kind::progress) << events;
        EXPECT_EQ(m.revision, 13) << events;
    }
}

TEST(EtcdWatchMessage, ATypeOtherThanTheNameDeleteIsAPut) {
    // What the code does: the gateway writes enum names; the number 1 (DELETE) is not read.
    for (const char* type : {R"("PUT")", R"("delete")", "1", "null"}) {
        const watch_message m =
            parse(R"({"result":{"events":[{"type":)" + std::string{type} + R"(,"kv":{"key":"YQ=="}}]}})");
        ASSERT_EQ(m.events.size(), 1u);
        EXPECT_FALSE(m.events[0].deleted) << type;
    }
}

std::int64_t revision_of(const std::string& value) {
    return parse(R"({"result":{"header":{"revision":)" + value + "}}}").revision;
}

TEST(EtcdWatchMessage, Int64FieldsReadAsStringsOrNumbers) {
    EXPECT_EQ(revision_of(R"("13")"), 13);
    EXPECT_EQ(revision_of("13"), 13) << "a number is taken too";
    EXPECT_EQ(revision_of(R"("9223372036854775807")"), INT64_MAX);
    EXPECT_EQ(revision_of(R"("-5")"), -5);
    EXPECT_EQ(revision_of(R"("0")"), 0);
}

TEST(EtcdWatchMessage, MalformedInt64FieldsReadAsZero) {
    // What the code does: a value it cannot read exactly is 0, the field's zero value.
    for (const char* value :
         {R"("")", R"("13x")", R"(" 13")", R"("13 ")", R"("+13")", R"("0x10")", R"("1e3")", R"("1.0")",
          R"("--1")", "1.5", "true", "null", "[13]", R"({"n":13})"})
        EXPECT_EQ(revision_of(value), 0) << value;
}

TEST(EtcdWatchMessage, HugeInt64FieldsReadAsZero) {
    EXPECT_EQ(revision_of(R"("9223372036854775808")"), 0) << "one past INT64_MAX";
    EXPECT_EQ(revision_of(R"("-9223372036854775809")"), 0);
    EXPECT_EQ(revision_of(R"("99999999999999999999999999999999999999999999")"), 0);
    EXPECT_EQ(revision_of('"' + std::string(100000, '9') + '"'), 0);
    EXPECT_EQ(revision_of("1e300"), 0) << "a float";
}

TEST(EtcdWatchMessage, AnUnsignedNumberPastInt64WrapsNegative) {
    // What the code does: nlohmann stores 2^64-1 as unsigned, i64() takes is_number_integer
    // and get<int64_t>() wraps it to -1. etcd never sends a number here (it sends strings);
    // etcd_source treats a negative revision as "behind" and reads everything again.
    EXPECT_EQ(revision_of("18446744073709551615"), -1);
}

// etcd sends booleans; any other type reads as "not set" (the message is then a progress
// notification), never as an exception out of the watch loop.
TEST(EtcdWatchMessage, CreatedOrCanceledOfAnotherTypeReadsAsUnset) {
    for (const char* value : {R"("true")", "1", "null", "{}"}) {
        std::optional<watch_message> created, canceled;
        EXPECT_NO_THROW(created = parse_watch_message(R"({"result":{"created":)" + std::string{value} + "}}"))
            << value;
        EXPECT_NO_THROW(canceled =
                            parse_watch_message(R"({"result":{"canceled":)" + std::string{value} + "}}"))
            << value;
        ASSERT_TRUE(created.has_value()) << value;
        ASSERT_TRUE(canceled.has_value()) << value;
        EXPECT_EQ(created->what, kind::progress) << value;
        EXPECT_EQ(canceled->what, kind::progress) << value;
    }
}

TEST(EtcdWatchMessage, DeeplyNestedJsonIsRefusedWithoutCrashing) {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_FALSE(parse_watch_message(deep).has_value());
    const std::string deep_result =
        R"({"result":{"bogus":)" + std::string(50000, '[') + std::string(50000, ']') + "}}";
    // Refused as a whole (nesting is checked before parsing), not parsed around.
    EXPECT_FALSE(parse_watch_message(deep_result).has_value());
}

// --- the client against a scripted server ---

const std::string range_answer =
    R"({"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"4","raft_term":"2"},"kvs":[{"key":"L3JpbmdsYi9iYWNrZW5kcy9h","create_revision":"2","mod_revision":"3","version":"2","value":"MTAuMC4wLjE6ODE="},{"key":"L3JpbmdsYi9iYWNrZW5kcy9i","create_revision":"4","mod_revision":"4","version":"1","value":"MTAuMC4wLjI6ODA="}],"count":"2"})";
const std::string empty_range_answer =
    R"({"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"1","raft_term":"2"}})";
const std::string no_leader_error =
    R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})";
const std::string hasleader = "\r\nGrpc-Metadata-Hasleader: true\r\n";

class EtcdClient : public ::testing::Test {
protected:
    void TearDown() override {
        server.close();
        other.close();
        io.restart();
        io.poll();
    }

    ringlb::etcd::client make_client(std::vector<ringlb::endpoint> endpoints) {
        return ringlb::etcd::client{
            io, {.endpoints = std::move(endpoints), .username = {}, .password = {}, .timeout = 2000ms}};
    }

    template <class T>
    T run(asio::awaitable<T> a) {
        auto r = test::complete(io, std::move(a));
        EXPECT_TRUE(r.has_value()) << "the call did not complete";
        return r.value_or(T{});
    }

    asio::io_context io{1};
    test::scripted_server server{io};
    test::scripted_server other{io};
};

TEST_F(EtcdClient, RangeSendsThePrefixAsBase64AndParsesKvs) {
    server.answer({send(test::http_answer(200, range_answer))});
    auto c = make_client({server.at()});
    const auto r = run(c.range("/ringlb/backends/"));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.value.revision, 4);
    ASSERT_EQ(r.value.kvs.size(), 2u);
    EXPECT_EQ(r.value.kvs[0].key, "/ringlb/backends/a");
    EXPECT_EQ(r.value.kvs[0].value, "10.0.0.1:81");
    EXPECT_EQ(r.value.kvs[0].create_revision, 2);
    EXPECT_EQ(r.value.kvs[0].mod_revision, 3);
    EXPECT_EQ(r.value.kvs[1].key, "/ringlb/backends/b");
    EXPECT_EQ(r.value.kvs[1].value, "10.0.0.2:80");
    EXPECT_EQ(r.value.kvs[1].mod_revision, 4);
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(test::path_of(server.requests()[0]), "/v3/kv/range");
    EXPECT_EQ(server.requests()[0].rfind("POST ", 0), 0u);
    EXPECT_EQ(json::parse(test::body_of(server.requests()[0])),
              json::parse(R"({"key":"L3JpbmdsYi9iYWNrZW5kcy8=","range_end":"L3JpbmdsYi9iYWNrZW5kczA="})"));
}

TEST_F(EtcdClient, AnEmptyRangeIsAHeaderAlone) {
    server.answer({send(test::http_answer(200, empty_range_answer))});
    auto c = make_client({server.at()});
    const auto r = run(c.range("/ringlb/"));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.value.revision, 1);
    EXPECT_TRUE(r.value.kvs.empty());
}

TEST_F(EtcdClient, ARangeWithoutARevisionIsAnError) {
    server.answer({send(test::http_answer(200, R"({"kvs":[]})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("without a revision"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, ARangeWithAMalformedKvIsAnError) {
    server.answer({send(test::http_answer(
        200, R"({"header":{"revision":"4"},"kvs":[{"key":"L3Jp!mdsYi9iYWNrZW5kcy9h"}]})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("malformed key-value"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, AnAnswerThatIsNotJsonIsAnError) {
    server.answer({send(test::http_answer(200, "<html>proxy</html>", "text/html"))});
    auto c = make_client({server.at()});
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("something not JSON"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, PutSendsKeyValueAndLeaseAndReadsTheRevision) {
    server.answer({send(test::http_answer(
        200,
        R"({"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"2","raft_term":"2"}})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.put("/ringlb/backends/a", "10.0.0.1:80", 4242));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.value, 2);
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(test::path_of(server.requests()[0]), "/v3/kv/put");
    EXPECT_EQ(json::parse(test::body_of(server.requests()[0])),
              json::parse(R"({"key":"L3JpbmdsYi9iYWNrZW5kcy9h","value":"MTAuMC4wLjE6ODA=","lease":"4242"})"));
}

TEST_F(EtcdClient, PutToAnUnknownLeaseGivesCodeFive) {
    server.answer({send(test::grpc_error_answer(
        404,
        R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.put("/ringlb/instances/i1", "up", 4242));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, 5);
    EXPECT_NE(r.error.find("etcdserver: requested lease not found"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, ATxnThatSucceeded) {
    server.answer({send(test::http_answer(
        200,
        R"({"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"9","raft_term":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"9"}}}]})"))});
    auto c = make_client({server.at()});
    json request{
        {"compare", json::array({ringlb::etcd::compare_mod_revision("/ringlb/backends/a", "EQUAL", 3)})},
        {"success", json::array({ringlb::etcd::op_put("/ringlb/backends/a", "10.0.0.1:82")})},
        {"failure", json::array()}};
    const auto r = run(c.txn(std::move(request)));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_TRUE(r.value.succeeded);
    EXPECT_EQ(r.value.revision, 9);
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(test::path_of(server.requests()[0]), "/v3/kv/txn");
    const json sent = json::parse(test::body_of(server.requests()[0]));
    EXPECT_EQ(
        sent["compare"][0],
        json::parse(
            R"({"result":"EQUAL","target":"MOD","key":"L3JpbmdsYi9iYWNrZW5kcy9h","mod_revision":"3"})"));
    EXPECT_EQ(
        sent["success"][0],
        json::parse(R"({"request_put":{"key":"L3JpbmdsYi9iYWNrZW5kcy9h","value":"MTAuMC4wLjE6ODI="}})"));
}

TEST_F(EtcdClient, ATxnThatFailedLeavesSucceededOut) {
    server.answer({send(test::http_answer(
        200,
        R"({"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"9","raft_term":"2"},"responses":[{"response_range":{"header":{"revision":"9"},"kvs":[{"key":"L3JpbmdsYi9iYWNrZW5kcy9h","create_revision":"2","mod_revision":"9","version":"3","value":"MTAuMC4wLjE6ODI="}],"count":"1"}}]})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.txn(json::object()));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_FALSE(r.value.succeeded);
    EXPECT_EQ(r.value.revision, 9);
}

TEST_F(EtcdClient, ATxnWithSucceededOfAnotherTypeIsAnError) {
    server.answer({send(test::http_answer(200, R"({"header":{"revision":"9"},"succeeded":"true"})"))});
    auto c = make_client({server.at()});
    std::optional<ringlb::etcd::result<ringlb::etcd::txn_result>> r;
    EXPECT_NO_THROW(r = test::complete(io, c.txn(json::object())));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->ok() && r->value.succeeded);
}

TEST_F(EtcdClient, LeaseGrantReadsAnIdPast2To53) {
    server.answer({send(test::http_answer(
        200,
        R"({"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"23","raft_term":"2"},"ID":"2324035843374695224","TTL":"5"})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.lease_grant(std::chrono::seconds{5}));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.value, 2324035843374695224);
    EXPECT_EQ(json::parse(test::body_of(server.requests().at(0))), json::parse(R"({"TTL":"5"})"));
}

TEST_F(EtcdClient, LeaseGrantWithoutAnIdIsAnError) {
    server.answer({send(test::http_answer(200, R"({"header":{"revision":"23"},"TTL":"5"})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.lease_grant(std::chrono::seconds{5}));
    EXPECT_FALSE(r.ok());
}

TEST_F(EtcdClient, LeaseKeepaliveReadsTheTtlOfTheStreamedAnswer) {
    server.answer({send(
        test::stream_head() +
        chunk(
            R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"24","raft_term":"2"},"ID":"4242","TTL":"60"}})"
            "\n") +
        "0\r\n\r\n")});
    auto c = make_client({server.at()});
    const auto r = run(c.lease_keepalive(4242));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.value, 60);
    EXPECT_EQ(test::path_of(server.requests().at(0)), "/v3/lease/keepalive");
    EXPECT_EQ(json::parse(test::body_of(server.requests().at(0))), json::parse(R"({"ID":"4242"})"));
}

TEST_F(EtcdClient, LeaseKeepaliveWithoutTtlMeansTheLeaseIsGone) {
    server.answer({send(
        test::stream_head() +
        chunk(
            R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"24","raft_term":"2"},"ID":"777"}})"
            "\n") +
        "0\r\n\r\n")});
    auto c = make_client({server.at()});
    const auto r = run(c.lease_keepalive(777));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.value, 0);
}

TEST_F(EtcdClient, LeaseKeepaliveWithoutALeaderGivesTheStreamErrorAndItsCode) {
    server.answer({send(
        test::stream_head(503) +
        chunk(
            R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}})") +
        "0\r\n\r\n")});
    auto c = make_client({server.at()});
    const auto r = run(c.lease_keepalive(4242));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, 14);
    EXPECT_NE(r.error.find("etcdserver: no leader"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, LeaseKeepaliveWithAnErrorInsideA200IsAnError) {
    server.answer({send(test::stream_head() +
                        chunk(R"({"result":{"error":{"grpc_code":14,"message":"transport is closing"}}})") +
                        "0\r\n\r\n")});
    auto c = make_client({server.at()});
    const auto r = run(c.lease_keepalive(4242));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("transport is closing"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, ErrorAnswersGiveTheirMessageAndCode) {
    server.answer({send(test::grpc_error_answer(
        400,
        R"({"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11})"))});
    auto c = make_client({server.at()});
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, 11);
    EXPECT_NE(r.error.find("required revision has been compacted"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find(ringlb::to_string(server.at())), std::string::npos) << "says which member";
    EXPECT_EQ(server.requests().size(), 1u) << "a 4xx is not tried again";
}

TEST_F(EtcdClient, AnErrorWithoutJsonGivesTheStatus) {
    server.answer({send(
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nNot Found\n")});
    auto c = make_client({server.at()});
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.error.find("HTTP 404"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, ARefusedEndpointMovesCallsToTheNext) {
    const ringlb::endpoint dead{"127.0.0.1", test::closed_port(io)};
    server.answer({send(test::http_answer(200, empty_range_answer))});
    auto c = make_client({dead, server.at()});
    EXPECT_EQ(c.current(), dead);
    const auto r = run(c.range("/ringlb/"));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(c.current(), server.at());
    // The next call goes straight to the endpoint that worked.
    const auto again = run(c.range("/ringlb/"));
    ASSERT_TRUE(again.ok()) << again.error;
    EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(EtcdClient, NoLeaderMakesItTryTheNextEndpoint) {
    server.answer({send(test::grpc_error_answer(503, no_leader_error))});
    other.answer({send(test::http_answer(200, empty_range_answer))});
    auto c = make_client({server.at(), other.at()});
    const auto r = run(c.range("/ringlb/"));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(c.current(), other.at());
    EXPECT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(other.requests().size(), 1u);
}

TEST_F(EtcdClient, ServerErrorsAndTimeoutsMakeItTryTheNextEndpoint) {
    // 500 (context deadline exceeded), then 504 (Grpc-Timeout): both worth another member.
    server.answer({send(test::grpc_error_answer(
        500, R"({"error":"context deadline exceeded","message":"context deadline exceeded","code":2})"))});
    other.answer({send(test::grpc_error_answer(
        504, R"({"error":"context deadline exceeded","message":"context deadline exceeded","code":4})"))});
    auto c = make_client({server.at(), other.at()});
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.code, 4) << "the last endpoint's error";
    EXPECT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(other.requests().size(), 1u) << "each endpoint tried once per call";
}

TEST_F(EtcdClient, EveryEndpointDownGivesTheLastError) {
    const ringlb::endpoint a{"127.0.0.1", test::closed_port(io)};
    const ringlb::endpoint b{"127.0.0.1", test::closed_port(io)};
    auto c = make_client({a, b});
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("cannot connect"), std::string::npos) << r.error;
}

TEST_F(EtcdClient, HasleaderIsSentOnEveryRequest) {
    server.respond([](const std::string& request) -> test::script {
        const std::string path = test::path_of(request);
        if (path == "/v3/kv/range") return {send(test::http_answer(200, empty_range_answer))};
        if (path == "/v3/kv/put" || path == "/v3/kv/txn" || path == "/v3/lease/revoke")
            return {send(test::http_answer(200, R"({"header":{"revision":"5"},"succeeded":true})"))};
        if (path == "/v3/lease/grant")
            return {send(test::http_answer(200, R"({"header":{},"ID":"9","TTL":"5"})"))};
        if (path == "/v3/lease/keepalive")
            return {send(test::stream_head() +
                         chunk(R"({"result":{"header":{},"ID":"9","TTL":"5"}})"
                               "\n") +
                         "0\r\n\r\n")};
        if (path == "/v3/watch")
            return {
                send(test::stream_head() + chunk(R"({"result":{"header":{"revision":"5"},"created":true}})"
                                                 "\n"))};
        return {send(test::http_answer(404, "Not Found\n", "text/plain"))};
    });
    auto c = make_client({server.at()});
    EXPECT_TRUE(run(c.range("/ringlb/")).ok());
    EXPECT_TRUE(run(c.put("k", "v")).ok());
    EXPECT_TRUE(run(c.txn(json::object())).ok());
    EXPECT_TRUE(run(c.lease_grant(std::chrono::seconds{5})).ok());
    EXPECT_TRUE(run(c.lease_keepalive(9)).ok());
    EXPECT_TRUE(run(c.lease_revoke(9)).ok());
    EXPECT_TRUE(run(c.call("/v3/maintenance/status", json::object())).ok() == false) << "404 here";
    ringlb::etcd::watcher w{io, c};
    ringlb::etcd::watcher::message_fn on_message = [](const watch_message&) { return false; };
    const auto end = run(w.run("/ringlb/", 6, on_message, 2000ms));
    EXPECT_EQ(end.what, ringlb::etcd::stream_end::stopped) << end.error;
    ASSERT_EQ(server.requests().size(), 8u);
    for (const std::string& r : server.requests())
        EXPECT_NE(r.find(hasleader), std::string::npos) << test::path_of(r);
}

TEST_F(EtcdClient, AuthenticatesOnceAndSendsTheToken) {
    server.respond([](const std::string& request) -> test::script {
        if (test::path_of(request) == "/v3/auth/authenticate")
            return {send(test::http_answer(200, R"({"header":{"revision":"1"},"token":"tok.1"})"))};
        return {send(test::http_answer(200, empty_range_answer))};
    });
    ringlb::etcd::client c{
        io, {.endpoints = {server.at()}, .username = "ringlb", .password = "pw", .timeout = 2000ms}};
    EXPECT_TRUE(run(c.range("/ringlb/")).ok());
    EXPECT_TRUE(run(c.range("/ringlb/")).ok());
    ASSERT_EQ(server.requests().size(), 3u);
    EXPECT_EQ(test::path_of(server.requests()[0]), "/v3/auth/authenticate");
    EXPECT_EQ(json::parse(test::body_of(server.requests()[0])),
              json::parse(R"({"name":"ringlb","password":"pw"})"));
    EXPECT_NE(server.requests()[1].find("\r\nAuthorization: tok.1\r\n"), std::string::npos);
    EXPECT_NE(server.requests()[2].find("\r\nAuthorization: tok.1\r\n"), std::string::npos);
}

TEST_F(EtcdClient, AnInvalidTokenIsRenewedOnce) {
    int authentications = 0;
    server.respond([&](const std::string& request) -> test::script {
        if (test::path_of(request) == "/v3/auth/authenticate") {
            ++authentications;
            return {send(test::http_answer(
                200, R"({"header":{},"token":"tok.)" + std::to_string(authentications) + "\"}"))};
        }
        if (request.find("Authorization: tok.1\r\n") != std::string::npos)
            return {send(test::grpc_error_answer(
                401,
                R"({"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16})"))};
        return {send(test::http_answer(200, empty_range_answer))};
    });
    ringlb::etcd::client c{
        io, {.endpoints = {server.at()}, .username = "ringlb", .password = "pw", .timeout = 2000ms}};
    const auto r = run(c.range("/ringlb/"));
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(authentications, 2);
    ASSERT_EQ(server.requests().size(), 4u);
    EXPECT_NE(server.requests()[3].find("\r\nAuthorization: tok.2\r\n"), std::string::npos);
}

TEST_F(EtcdClient, AFailedAuthenticationIsTheCallsError) {
    server.answer({send(test::grpc_error_answer(
        400,
        R"({"error":"etcdserver: authentication failed, invalid user ID or password","message":"etcdserver: authentication failed, invalid user ID or password","code":3})"))});
    ringlb::etcd::client c{
        io, {.endpoints = {server.at()}, .username = "ringlb", .password = "bad", .timeout = 2000ms}};
    const auto r = run(c.range("/ringlb/"));
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("invalid user ID or password"), std::string::npos) << r.error;
    EXPECT_EQ(server.requests().size(), 1u);
}

// --- the watcher ---

TEST_F(EtcdClient, TheWatcherSendsItsCreateRequestAndHandsOverParsedMessages) {
    const std::string created =
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"13","raft_term":"2"},"created":true}})";
    const std::string progress =
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"15","raft_term":"2"}}})";
    const std::string canceled =
        R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","raft_term":"2"},"canceled":true,"compact_revision":"20"}})";
    server.answer({send(test::stream_head() + chunk(created + "\n")), test::wait(10ms),
                   send(chunk(progress + "\n") + chunk(canceled + "\n"))});
    auto c = make_client({server.at()});
    ringlb::etcd::watcher w{io, c};
    std::vector<watch_message> seen;
    ringlb::etcd::watcher::message_fn on_message = [&](const watch_message& m) {
        seen.push_back(m);
        return m.what != kind::canceled;
    };
    const auto end = run(w.run("/ringlb/backends/", 5, on_message, 2000ms));
    EXPECT_EQ(end.what, ringlb::etcd::stream_end::stopped) << end.error;
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].what, kind::created);
    EXPECT_EQ(seen[1].what, kind::progress);
    EXPECT_EQ(seen[1].revision, 15);
    EXPECT_EQ(seen[2].what, kind::canceled);
    EXPECT_EQ(seen[2].compact_revision, 20);
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(test::path_of(server.requests()[0]), "/v3/watch");
    EXPECT_EQ(
        json::parse(test::body_of(server.requests()[0])),
        json::parse(
            R"({"create_request":{"key":"L3JpbmdsYi9iYWNrZW5kcy8=","range_end":"L3JpbmdsYi9iYWNrZW5kczA=","start_revision":"5","progress_notify":true}})"));
}

TEST_F(EtcdClient, TheWatcherFailsOnAMessageItCannotRead) {
    server.answer({send(test::stream_head() +
                        chunk(R"({"result":{"created":true}})"
                              "\n") +
                        chunk("<html>\n"))});
    auto c = make_client({server.at()});
    ringlb::etcd::watcher w{io, c};
    int seen = 0;
    ringlb::etcd::watcher::message_fn on_message = [&](const watch_message&) {
        ++seen;
        return true;
    };
    const auto end = run(w.run("/ringlb/", 1, on_message, 2000ms));
    EXPECT_EQ(end.what, ringlb::etcd::stream_end::failed);
    EXPECT_NE(end.error.find("cannot read"), std::string::npos) << end.error;
    EXPECT_EQ(seen, 1);
}

}  // namespace
