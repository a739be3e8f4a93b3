// The backend documents etcd holds (control/etcd_source.hpp): parse_backend_doc reads a
// valid document (address as IPv4, IPv6 or a name; weight, state and zone optional) with
// the [health] defaults, ignores fields it does not know (a newer ringlb may write more),
// and refuses an invalid id, a document that is not a JSON object, and each invalid field
// with a message that names the backend and the field; backend_doc writes what
// parse_backend_doc reads back unchanged.
#include "ringlb/control/etcd_source.hpp"

#include "ringlb/config/values.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ringlb::admin_state;
using ringlb::backend_config;
using ringlb::backend_doc;
using ringlb::health_check_config;
using ringlb::parse_backend_doc;

health_check_config checks() {
    health_check_config h;
    h.check = ringlb::check_kind::http;
    h.path = "/healthz";
    h.rise = 3;
    return h;
}

struct outcome {
    std::optional<backend_config> value;
    std::string error;
};

outcome parse(const std::string& id, std::string_view doc) {
    outcome o;
    o.value = parse_backend_doc(id, doc, checks(), o.error);
    return o;
}

TEST(EtcdBackendDoc, ReadsAFullDocument) {
    const outcome o =
        parse("app-1", R"({"address": "10.0.0.1:8080", "weight": 3, "zone": "a", "state": "drain"})");
    ASSERT_TRUE(o.value.has_value()) << o.error;
    const backend_config& b = *o.value;
    EXPECT_EQ(b.id, "app-1");
    EXPECT_EQ(b.address, (ringlb::endpoint{"10.0.0.1", 8080}));
    EXPECT_EQ(b.weight, 3u);
    EXPECT_EQ(b.zone, "a");
    EXPECT_EQ(b.state, admin_state::drain);
    EXPECT_EQ(b.health, checks()) << "the [health] defaults";
}

TEST(EtcdBackendDoc, AnAddressAloneTakesTheDefaults) {
    const outcome o = parse("app-1", R"({"address":"10.0.0.1:8080"})");
    ASSERT_TRUE(o.value.has_value()) << o.error;
    EXPECT_EQ(o.value->weight, 1u);
    EXPECT_EQ(o.value->state, admin_state::ready);
    EXPECT_EQ(o.value->zone, "");
}

TEST(EtcdBackendDoc, ReadsEveryAddressForm) {
    EXPECT_EQ(parse("a", R"({"address":"[::1]:8080"})").value->address, (ringlb::endpoint{"::1", 8080}));
    EXPECT_EQ(parse("a", R"({"address":"app.internal:80"})").value->address,
              (ringlb::endpoint{"app.internal", 80}));
}

TEST(EtcdBackendDoc, ReadsTheBoundsOfEachField) {
    EXPECT_EQ(parse("a", R"({"address":"10.0.0.1:1","weight":0})").value->weight, 0u) << "weight 0: no keys";
    EXPECT_EQ(parse("a", R"({"address":"10.0.0.1:65535","weight":10000})").value->weight, 10000u);
    EXPECT_EQ(parse("a", R"({"address":"10.0.0.1:80","state":"maintenance"})").value->state,
              admin_state::maintenance);
    EXPECT_EQ(parse("a", R"({"address":"10.0.0.1:80","zone":""})").value->zone, "");
    EXPECT_EQ(parse("a", R"({"address":"10.0.0.1:80","zone":")" + std::string(64, 'z') + "\"}").value->zone,
              std::string(64, 'z'));
    const std::string long_id(ringlb::max_backend_id, 'i');
    EXPECT_TRUE(parse(long_id, R"({"address":"10.0.0.1:80"})").value.has_value());
    EXPECT_TRUE(parse("a-b_c.d:e", R"({"address":"10.0.0.1:80"})").value.has_value());
}

TEST(EtcdBackendDoc, IgnoresFieldsItDoesNotKnow) {
    const outcome o = parse(
        "app-1",
        R"({"address":"10.0.0.1:8080","weight":2,"health":{"path":"/x"},"labels":{"team":"a"},"version":7,"id":"other"})");
    ASSERT_TRUE(o.value.has_value()) << o.error;
    EXPECT_EQ(o.value->id, "app-1") << "the key names the backend, not a field";
    EXPECT_EQ(o.value->weight, 2u);
    EXPECT_EQ(o.value->health, checks()) << "a health field is not read";
}

TEST(EtcdBackendDoc, RefusesAnInvalidId) {
    for (const std::string& id : {std::string{}, std::string{"a b"}, std::string{"a/b"}, std::string{"é"},
                                  std::string(ringlb::max_backend_id + 1, 'i')}) {
        const outcome o = parse(id, R"({"address":"10.0.0.1:8080"})");
        EXPECT_FALSE(o.value.has_value()) << id;
        EXPECT_EQ(o.error, "invalid backend id \"" + id + "\"");
    }
}

TEST(EtcdBackendDoc, RefusesWhatIsNotAJsonObject) {
    for (const char* doc :
         {"", "10.0.0.1:8080", "[]", R"(["10.0.0.1:8080"])", "\"x\"", "null", "{", "{} {}"}) {
        const outcome o = parse("app-1", doc);
        EXPECT_FALSE(o.value.has_value()) << doc;
        EXPECT_EQ(o.error, "backend \"app-1\": not a JSON object") << doc;
    }
}

TEST(EtcdBackendDoc, RefusesADocumentWithoutAnAddress) {
    const outcome o = parse("app-1", R"({"weight":1})");
    EXPECT_FALSE(o.value.has_value());
    EXPECT_EQ(o.error, "backend \"app-1\": no address");
}

TEST(EtcdBackendDoc, RefusesAnInvalidAddress) {
    for (const char* address : {"5", "null", "[\"10.0.0.1:80\"]"}) {
        const outcome o = parse("app-1", std::string{R"({"address":)"} + address + "}");
        EXPECT_FALSE(o.value.has_value()) << address;
        EXPECT_EQ(o.error, "backend \"app-1\": address: must be a string") << address;
    }
    for (const char* address : {"", "10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.256:80", "::1:80",
                                "[::1]", "host name:80", "10.0.0.1:8o"}) {
        const outcome o = parse("app-1", std::string{R"({"address":")"} + address + "\"}");
        EXPECT_FALSE(o.value.has_value()) << address;
        EXPECT_EQ(o.error.rfind("backend \"app-1\": address: malformed address", 0), 0u) << o.error;
    }
}

TEST(EtcdBackendDoc, RefusesAnInvalidWeight) {
    for (const char* weight : {"-1", "10001", "1.5", "1.0", "\"2\"", "true", "null", "4294967297"}) {
        const outcome o = parse("app-1", std::string{R"({"address":"10.0.0.1:80","weight":)"} + weight + "}");
        EXPECT_FALSE(o.value.has_value()) << weight;
        EXPECT_EQ(o.error, "backend \"app-1\": weight must be an integer in 0..10000") << weight;
    }
}

TEST(EtcdBackendDoc, RefusesAnInvalidState) {
    for (const char* state : {"\"Ready\"", "\"down\"", "\"\"", "0", "null"}) {
        const outcome o = parse("app-1", std::string{R"({"address":"10.0.0.1:80","state":)"} + state + "}");
        EXPECT_FALSE(o.value.has_value()) << state;
        EXPECT_EQ(o.error, "backend \"app-1\": state must be ready, drain or maintenance") << state;
    }
}

TEST(EtcdBackendDoc, RefusesAnInvalidZone) {
    const std::string too_long = "\"" + std::string(65, 'z') + "\"";
    for (const std::string& zone :
         {too_long, std::string{"\"a b\""}, std::string{"\"a/b\""}, std::string{"1"}, std::string{"null"}}) {
        const outcome o = parse("app-1", R"({"address":"10.0.0.1:80","zone":)" + zone + "}");
        EXPECT_FALSE(o.value.has_value()) << zone;
        EXPECT_EQ(o.error, "backend \"app-1\": zone must be 0..64 letters, digits and - _ .") << zone;
    }
}

TEST(EtcdBackendDoc, WritesTheFieldsItReads) {
    backend_config b;
    b.id = "app-1";
    b.address = {"10.0.0.1", 8080};
    EXPECT_EQ(backend_doc(b), R"({"address":"10.0.0.1:8080","state":"ready","weight":1})")
        << "no zone: left out";
    b.zone = "eu-1";
    b.weight = 7;
    b.state = admin_state::maintenance;
    EXPECT_EQ(backend_doc(b),
              R"({"address":"10.0.0.1:8080","state":"maintenance","weight":7,"zone":"eu-1"})");
}

TEST(EtcdBackendDoc, RoundTrips) {
    std::vector<backend_config> all;
    backend_config b;
    b.id = "app-1";
    b.address = {"10.0.0.1", 8080};
    b.health = checks();
    all.push_back(b);
    b.id = "v6";
    b.address = {"2001:db8::7", 443};
    b.weight = 0;
    b.zone = "z.1_a-b";
    b.state = admin_state::drain;
    all.push_back(b);
    b.id = "named:9";
    b.address = {"app.internal", 65535};
    b.weight = ringlb::max_backend_weight;
    b.zone = std::string(64, 'q');
    b.state = admin_state::maintenance;
    all.push_back(b);
    for (const backend_config& want : all) {
        const std::string doc = backend_doc(want);
        const outcome o = parse(want.id, doc);
        ASSERT_TRUE(o.value.has_value()) << doc << ": " << o.error;
        EXPECT_EQ(*o.value, want) << doc;
        EXPECT_EQ(backend_doc(*o.value), doc);
    }
}

}  // namespace
