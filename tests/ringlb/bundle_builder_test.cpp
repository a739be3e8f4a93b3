// config -> bundle: the placement `serve` builds is the one `ringlb check` fingerprints (one
// code path, not two copies), the settings the workers read are the config's, backend state
// carries over for ids that persist, generations grow, and a bad address fails the whole
// bundle.
#include "ringlb/control/bundle_builder.hpp"

#include "ringlb/config/check.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string config_text(const std::string& algorithm, int backends, const std::string& extra = "") {
    std::string t = "[routing]\nalgorithm = \"" + algorithm + "\"\nvnodes = 37\n" + extra;
    for (int i = 1; i <= backends; ++i)
        t += "[[backends]]\nid = \"app-" + std::to_string(i) +
             "\"\naddress = \"127.0.0.1:" + std::to_string(9000 + i) +
             "\"\nweight = " + std::to_string(algorithm == "modulo" ? 1 : i) + "\n";
    return t;
}

ringlb::config parsed(const std::string& text) {
    auto r = ringlb::parse_config(text, "test.toml");
    EXPECT_TRUE(r.value) << (r.errors.empty() ? "" : r.errors[0].to_string());
    return *r.value;
}

TEST(BundleBuilder, ServeBuildsThePlacementCheckFingerprints) {
    for (const std::string algorithm : {"ring", "ketama", "maglev", "rendezvous", "modulo"}) {
        const std::string text = config_text(algorithm, 5);
        const std::string path = ::testing::TempDir() + "bundle_builder_" + algorithm + ".toml";
        std::ofstream{path} << text;
        std::ostringstream out, err;
        ASSERT_EQ(ringlb::check_main(path, out, err), 0) << err.str();
        std::remove(path.c_str());
        const std::string line = out.str();
        const auto at = line.find("placement fingerprint ");
        ASSERT_NE(at, std::string::npos) << line;
        const std::string printed = line.substr(at + 22, 16);

        std::string error;
        const auto b = ringlb::build_bundle(parsed(text), nullptr, error);
        ASSERT_TRUE(b) << error;
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx",
                      static_cast<unsigned long long>(b->routing->algorithm().fingerprint()));
        EXPECT_EQ(printed, hex) << algorithm;
    }
}

TEST(BundleBuilder, SettingsAndAddressesComeFromTheConfig) {
    const auto cfg = parsed(config_text("ring", 2,
                                        "retries = 1\nhash_key = \"cookie:sid\"\nkeyless = \"reject\"\n"
                                        "[timeouts]\nconnect = \"150ms\"\nclient_header = \"3s\"\n"
                                        "backend_response = \"4s\"\nidle = \"5s\"\nlinger = \"250ms\"\n"
                                        "[limits]\nmax_header_bytes = \"8KiB\"\nmax_body_bytes = 1000\n"
                                        "max_connections = 77\nidle_backend_connections = 3\n"));
    std::string error;
    const auto b = ringlb::build_bundle(cfg, nullptr, error);
    ASSERT_TRUE(b) << error;
    const ringlb::proxy_settings& s = b->settings;
    EXPECT_EQ(s.timeouts.connect.count(), 150);
    EXPECT_EQ(s.timeouts.client_header.count(), 3000);
    EXPECT_EQ(s.timeouts.backend_response.count(), 4000);
    EXPECT_EQ(s.timeouts.idle.count(), 5000);
    EXPECT_EQ(s.timeouts.linger.count(), 250);
    EXPECT_EQ(s.limits.max_header_bytes, 8192u);
    EXPECT_EQ(s.limits.max_body_bytes, 1000u);
    EXPECT_EQ(s.limits.max_connections, 77u);
    EXPECT_EQ(s.limits.idle_backend_connections, 3u);
    EXPECT_EQ(s.retries, 1u);
    EXPECT_EQ(s.key, (ringlb::hash_key_rule{ringlb::hash_key_rule::source::cookie, "sid"}));
    EXPECT_EQ(b->routing->options().keyless, ringlb::keyless_policy::reject);
    EXPECT_EQ(b->routing->options().build.vnodes_per_weight, 37u);
    ASSERT_EQ(b->addresses.size(), 2u);
    EXPECT_EQ(b->addresses[1].port(), 9002);
    EXPECT_EQ(b->routing->backends()[1].id, "app-2");
    EXPECT_EQ(b->routing->backends()[1].weight, 2u);
}

TEST(BundleBuilder, StateCarriesOverAndGenerationsGrow) {
    std::string error;
    const auto a = ringlb::build_bundle(parsed(config_text("ring", 3)), nullptr, error);
    const auto b = ringlb::build_bundle(parsed(config_text("ring", 4)), a.get(), error);
    ASSERT_TRUE(a && b) << error;
    for (std::size_t i = 0; i < 3; ++i)
        EXPECT_EQ(a->routing->backends()[i].state, b->routing->backends()[i].state);
    EXPECT_GT(b->generation, a->generation);
}

TEST(BundleBuilder, AnAddressThatDoesNotResolveFailsTheBundle) {
    auto cfg = parsed(config_text("ring", 2));
    cfg.backends[1].address.host = "no-such-host.invalid";
    std::string error;
    EXPECT_EQ(ringlb::build_bundle(cfg, nullptr, error), nullptr);
    EXPECT_NE(error.find("backend app-2"), std::string::npos) << error;
}

}  // namespace
