// The CLI contract of check, map, simulate and plan: exit statuses and one-line errors.
#include "ringlb/tools/commands.hpp"
#include "ringlb/config/check.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ringlb {
namespace {

struct outcome {
    int status = -1;
    std::string out;
    std::string err;
};

// Parses `args` as main does (usage errors -> 2) and runs the selected tool.
outcome run_tool(const std::string& args) {
    CLI::App app{"ringlb"};
    app.require_subcommand(1);
    tools::commands cmds{app};
    std::ostringstream out, err;
    outcome o;
    try {
        app.parse(args, false);
        o.status = cmds.run(out, err);
    } catch (const CLI::ParseError& e) {
        err << "ringlb: " << e.what() << '\n';
        o.status = 2;
    }
    o.out = out.str();
    o.err = err.str();
    return o;
}

std::string example_config() {
    return std::string{RINGLB_TEST_DATA_DIR} + "/../../examples/ringlb.toml";
}

std::size_t lines(const std::string& s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(check_command, the_shipped_example_is_valid) {
    std::ostringstream out, err;
    EXPECT_EQ(check_main(example_config(), out, err), 0) << err.str();
    EXPECT_NE(out.str().find(": ok (3 backends, ring"), std::string::npos) << out.str();
    EXPECT_EQ(err.str(), "");
}

TEST(check_command, fingerprint_ignores_backend_order_and_sees_weights) {
    const auto fingerprint_of = [](const std::string& backends) {
        const std::string path = ::testing::TempDir() + "ringlb_fingerprint_test.toml";
        std::ofstream{path} << backends;
        std::ostringstream out, err;
        EXPECT_EQ(check_main(path, out, err), 0) << err.str();
        const std::string text = out.str();
        const auto at = text.find("placement fingerprint ");
        EXPECT_NE(at, std::string::npos) << text;
        return at == std::string::npos ? std::string{} : text.substr(at + 22, 16);
    };
    const std::string a = "[[backends]]\nid = \"a\"\naddress = \"127.0.0.1:9001\"\n";
    const std::string b = "[[backends]]\nid = \"b\"\naddress = \"127.0.0.1:9002\"\n";
    const std::string b2 = b + "weight = 2\n";
    EXPECT_EQ(fingerprint_of(a + b), fingerprint_of(b + a));
    EXPECT_NE(fingerprint_of(a + b), fingerprint_of(a + b2));
    // The address is not part of placement: a backend may move and keep its keys.
    EXPECT_EQ(fingerprint_of(a + b),
              fingerprint_of(a + "[[backends]]\nid = \"b\"\naddress = \"127.0.0.1:9009\"\n"));
}

TEST(check_command, prints_every_error_and_exits_1) {
    const std::string path = ::testing::TempDir() + "ringlb_check_test.toml";
    std::ofstream{path} << "[server]\nworkers = \"x\"\n[routing]\nalgorithm = \"jump\"\n";
    std::ostringstream out, err;
    EXPECT_EQ(check_main(path, out, err), 1);
    EXPECT_EQ(lines(err.str()), 3u) << err.str();  // workers, algorithm, no backends
    EXPECT_EQ(err.str().rfind(path + ":1:1: no backends", 0), 0u) << err.str();
    EXPECT_NE(err.str().find(path + ":2:11: server.workers must be an integer"), std::string::npos)
        << err.str();
}

TEST(tool_commands, bad_input_is_one_line_and_status_2) {
    for (const char* args : {"simulate --algorithm rign -n 3", "simulate -n 0", "simulate -n 3 --weights 1,2",
                             "simulate -n 3 --remove 1 --add 1", "simulate -n 3 --format xml",
                             "simulate -n 3 --balance-factor 0.5", "simulate -n 3 --sweep vnodes=1",
                             "simulate -n 3 --keys 0", "map -a nope -n 3", "map", "simulate --nodes a,,b",
                             "plan -c /nonexistent.toml --drain a", "plan --drain a"}) {
        const outcome o = run_tool(args);
        EXPECT_EQ(o.status, 2) << args;
        EXPECT_EQ(lines(o.err), 1u) << args << ": " << o.err;
        EXPECT_EQ(o.out, "") << args;
    }
}

TEST(tool_commands, plan_against_the_example_config) {
    const outcome o = run_tool("plan -c " + example_config() + " --drain app-2");
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_NE(o.out.find("method: exact"), std::string::npos) << o.out;
    const outcome bad = run_tool("plan -c " + example_config() + " --drain app-9");
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("no backend \"app-9\""), std::string::npos) << bad.err;
}

TEST(tool_commands, simulate_writes_json_and_svg) {
    const std::string svg = ::testing::TempDir() + "ringlb_simulate_test.svg";
    const outcome o =
        run_tool("simulate -a maglev -n 5 --keys 2000 --add 1 --format json --no-timing --svg " + svg);
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_NE(o.out.find("\"moved_keys\""), std::string::npos);
    std::ifstream f{svg};
    std::stringstream doc;
    doc << f.rdbuf();
    EXPECT_NE(doc.str().find("node-006"), std::string::npos) << "the joined node is drawn";
}

}  // namespace
}  // namespace ringlb
