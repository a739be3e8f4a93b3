// The state file: the membership store's runtime overlay as JSON and back (puts, state
// overrides and removals survive the round trip), invalid documents refused with a message
// that says where and the store left as it was, saving atomically (the content whole, no
// temporary left, an unwritable place an error), and loading a missing or broken file.
#include "ringlb/control/state_file.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;
using ringlb::admin_state;
using ringlb::backend_config;
using ringlb::member_source;
using ringlb::membership_store;

ringlb::health_check_config defaults() {
    ringlb::health_check_config h;
    h.check = ringlb::check_kind::tcp;  // not the type's default: loading must apply it
    h.rise = 3;
    return h;
}

backend_config be(const std::string& id, std::uint16_t port, std::uint32_t weight = 1) {
    backend_config b;
    b.id = id;
    b.address = {"127.0.0.1", port};
    b.weight = weight;
    b.health = defaults();
    return b;
}

std::vector<backend_config> file3() {
    return {be("app-1", 9001), be("app-2", 9002), be("app-3", 9003)};
}

// A store with the file layer and one of each overlay entry.
membership_store edited() {
    membership_store s;
    s.set_file(file3(), defaults());
    backend_config added = be("app-9", 9009, 2);
    added.address = {"backend.example", 8080};
    EXPECT_TRUE(s.put(added, member_source::admin));
    EXPECT_TRUE(s.set_state("app-2", admin_state::drain, member_source::admin));
    EXPECT_TRUE(s.remove("app-3", member_source::admin));
    backend_config changed = be("app-1", 7001, 5);
    changed.state = admin_state::maintenance;
    EXPECT_TRUE(s.put(changed, member_source::etcd));
    return s;
}

membership_store fresh() {
    membership_store s;
    s.set_file(file3(), defaults());
    return s;
}

TEST(StateFile, TheOverlayRoundTripsThroughJson) {
    const membership_store before = edited();
    const json j = state_to_json(before);
    EXPECT_EQ(j["format"], "ringlb-state/1");
    ASSERT_TRUE(j["backends"].is_array());
    EXPECT_EQ(j["backends"].size(), 4u) << j.dump(2);

    membership_store after = fresh();
    std::string error;
    // Through text, as the file holds it.
    ASSERT_TRUE(ringlb::state_from_json(json::parse(j.dump()), defaults(), after, error)) << error;
    EXPECT_EQ(after.members(), before.members());
    EXPECT_EQ(state_to_json(after), j);
}

TEST(StateFile, TheDocumentSaysWhatEachEntryIs) {
    const json j = state_to_json(edited());
    std::map<std::string, json> by_id;
    for (const auto& b : j["backends"]) by_id[b["id"].get<std::string>()] = b;
    EXPECT_EQ(by_id["app-9"]["definition"]["address"], "backend.example:8080");
    EXPECT_EQ(by_id["app-9"]["definition"]["weight"], 2);
    EXPECT_EQ(by_id["app-9"]["defined_by"], "admin");
    EXPECT_EQ(by_id["app-2"]["state"], "drain");
    EXPECT_EQ(by_id["app-2"]["state_by"], "admin");
    EXPECT_FALSE(by_id["app-2"].contains("definition"));
    EXPECT_EQ(by_id["app-3"]["removed"], true);
    EXPECT_EQ(by_id["app-1"]["defined_by"], "etcd");
    EXPECT_EQ(by_id["app-1"]["definition"]["state"], "maintenance");
}

TEST(StateFile, AnEmptyOverlayIsAnEmptyListAndLoadingItClearsTheOverlay) {
    const membership_store plain = fresh();
    EXPECT_EQ(state_to_json(plain), (json{{"format", "ringlb-state/1"}, {"backends", json::array()}}));
    membership_store s = edited();
    std::string error;
    ASSERT_TRUE(ringlb::state_from_json(state_to_json(plain), defaults(), s, error)) << error;
    EXPECT_EQ(s.members(), plain.members()) << "the overlay is replaced, not merged";
}

TEST(StateFile, RuntimeBackendsTakeTheHealthDefaults) {
    membership_store s = fresh();
    std::string error;
    const json j = json::parse(
        R"({"format": "ringlb-state/1", "backends": [{"id": "app-7", "definition": {"address": "127.0.0.1:7"}}]})");
    ASSERT_TRUE(ringlb::state_from_json(j, defaults(), s, error)) << error;
    const ringlb::member* m = s.find("app-7");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->backend.health, defaults());
    EXPECT_EQ(m->backend.weight, 1u) << "weight left out: 1";
    EXPECT_EQ(m->defined_by, member_source::admin) << "defined_by left out: admin";
}

struct invalid_case {
    const char* name;
    const char* doc;
    const char* message;  // a part of the error
};

class StateFileInvalid : public ::testing::TestWithParam<invalid_case> {};

TEST_P(StateFileInvalid, IsRefusedWithAMessageAndTheStoreUntouched) {
    const invalid_case& c = GetParam();
    membership_store s = edited();
    const auto members = s.members();
    const auto generation = s.generation();
    std::string error;
    const json j = json::parse(c.doc);
    EXPECT_FALSE(ringlb::state_from_json(j, defaults(), s, error));
    EXPECT_NE(error.find(c.message), std::string::npos) << "error: " << error;
    EXPECT_EQ(s.members(), members);
    EXPECT_EQ(s.generation(), generation);
}

#define STATE_DOC(backends) "{\"format\": \"ringlb-state/1\", \"backends\": [" backends "]}"

INSTANTIATE_TEST_SUITE_P(
    StateFile, StateFileInvalid,
    ::testing::Values(
        invalid_case{"NotAnObject", "[]", "not a ringlb state file"},
        invalid_case{"NoFormat", R"({"backends": []})", "not a ringlb state file"},
        invalid_case{"WrongFormat", R"({"format": "ringlb-state/2", "backends": []})",
                     "\"format\" must be \"ringlb-state/1\""},
        invalid_case{"FormatNotAString", R"({"format": 1, "backends": []})", "not a ringlb state file"},
        invalid_case{"NoBackends", R"({"format": "ringlb-state/1"})", "\"backends\" must be an array"},
        invalid_case{"BackendsNotAnArray", R"({"format": "ringlb-state/1", "backends": {}})",
                     "\"backends\" must be an array"},
        invalid_case{"EntryNotAnObject", STATE_DOC("1"), "backends[0]: needs a string \"id\""},
        invalid_case{"IdMissing", STATE_DOC(R"({"state": "drain"})"), "backends[0]: needs a string \"id\""},
        invalid_case{"IdNotAString", STATE_DOC(R"({"id": 7})"), "backends[0]: needs a string \"id\""},
        invalid_case{"IdInvalid", STATE_DOC(R"({"id": "app 1"})"), "backends[0]: invalid id \"app 1\""},
        invalid_case{"IdEmpty", STATE_DOC(R"({"id": ""})"), "backends[0]: invalid id"},
        invalid_case{"BadAddress", STATE_DOC(R"({"id": "a", "definition": {"address": "nope"}})"),
                     "backends[0]: "},
        invalid_case{"AddressNotAString", STATE_DOC(R"({"id": "a", "definition": {"address": 80}})"),
                     "backends[0]: \"definition\" needs a string \"address\""},
        invalid_case{"DefinitionWithoutAddress", STATE_DOC(R"({"id": "a", "definition": {"weight": 1}})"),
                     "\"definition\" needs a string \"address\""},
        invalid_case{"WeightTooLarge",
                     STATE_DOC(R"({"id": "a", "definition": {"address": "127.0.0.1:1", "weight": 10001}})"),
                     "backends[0]: \"weight\" must be an integer in 0..10000"},
        invalid_case{"WeightNegative",
                     STATE_DOC(R"({"id": "a", "definition": {"address": "127.0.0.1:1", "weight": -1}})"),
                     "\"weight\" must be an integer"},
        invalid_case{"WeightFractional",
                     STATE_DOC(R"({"id": "a", "definition": {"address": "127.0.0.1:1", "weight": 1.5}})"),
                     "\"weight\" must be an integer"},
        invalid_case{
            "WeightHuge",
            STATE_DOC(R"({"id": "a", "definition": {"address": "127.0.0.1:1", "weight": 4294967297}})"),
            "\"weight\" must be an integer"},
        invalid_case{"DefinitionStateUnknown",
                     STATE_DOC(R"({"id": "a", "definition": {"address": "127.0.0.1:1", "state": "asleep"}})"),
                     "\"state\" must be ready, drain or maintenance"},
        invalid_case{"StateUnknown", STATE_DOC(R"({"id": "app-1", "state": "asleep"})"),
                     "backends[0]: \"state\" must be ready, drain or maintenance"},
        invalid_case{"StateNotAString", STATE_DOC(R"({"id": "app-1", "state": 1})"), "\"state\" must be"},
        invalid_case{"SourceUnknown", STATE_DOC(R"({"id": "app-1", "state": "drain", "state_by": "root"})"),
                     "backends[0]: \"state_by\" must be config, admin or etcd"},
        invalid_case{"DefinedByNotAString", STATE_DOC(R"({"id": "app-1", "removed": true, "defined_by": 1})"),
                     "\"defined_by\" must be config, admin or etcd"},
        invalid_case{"RemovedNotABoolean", STATE_DOC(R"({"id": "app-1", "removed": "yes"})"),
                     "\"removed\" must be true or false"},
        invalid_case{"RemovedAndDefined",
                     STATE_DOC(R"({"id": "a", "removed": true, "definition": {"address": "127.0.0.1:1"}})"),
                     "backends[0]: an entry is either removed or defined, not both"},
        invalid_case{"SecondEntryBad", STATE_DOC(R"({"id": "app-1", "state": "drain"}, {"id": "bad id"})"),
                     "backends[1]: invalid id"}),
    [](const auto& p) { return std::string{p.param.name}; });

class StateFileOnDisk : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ringlb-state-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
    }
    void TearDown() override {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
    static std::string read(const std::string& path) {
        std::ifstream in{path, std::ios::binary};
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }
    std::vector<std::string> files() const {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator{dir}) out.push_back(e.path().filename());
        std::sort(out.begin(), out.end());
        return out;
    }
    std::string dir;
};

TEST_F(StateFileOnDisk, SaveWritesTheWholeDocumentAndNoTemporaryStays) {
    const membership_store s = edited();
    const std::string path = dir + "/state.json";
    std::string error;
    ASSERT_TRUE(ringlb::save_state(path, s, error)) << error;
    EXPECT_EQ(json::parse(read(path)), state_to_json(s));
    EXPECT_EQ(files(), std::vector<std::string>{"state.json"}) << "no state.json.tmp left behind";

    // A second save replaces the first whole.
    ASSERT_TRUE(ringlb::save_state(path, fresh(), error)) << error;
    EXPECT_EQ(json::parse(read(path)), state_to_json(fresh()));
    EXPECT_EQ(files(), std::vector<std::string>{"state.json"});
}

TEST_F(StateFileOnDisk, SaveIntoADirectoryThatDoesNotExistIsAnError) {
    std::string error;
    const std::string path = dir + "/missing/state.json";
    EXPECT_FALSE(ringlb::save_state(path, edited(), error));
    EXPECT_EQ(error.rfind("cannot write " + path + ".tmp: ", 0), 0u) << error;
    EXPECT_FALSE(std::filesystem::exists(dir + "/missing"));
}

TEST_F(StateFileOnDisk, SaveOverADirectoryFailsAndLeavesNoTemporary) {
    const std::string path = dir + "/state.json";
    std::filesystem::create_directory(path);  // rename(2) cannot replace a directory by a file
    std::string error;
    EXPECT_FALSE(ringlb::save_state(path, edited(), error));
    EXPECT_EQ(error.rfind("cannot rename ", 0), 0u) << error;
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(StateFileOnDisk, SavedThenLoadedGivesTheSameMembers) {
    const membership_store s = edited();
    const std::string path = dir + "/state.json";
    std::string error;
    ASSERT_TRUE(ringlb::save_state(path, s, error)) << error;
    membership_store loaded = fresh();
    const ringlb::state_load r = ringlb::load_state(path, defaults(), loaded);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(r.found);
    EXPECT_EQ(r.entries, 4u);
    EXPECT_EQ(loaded.members(), s.members());
}

TEST_F(StateFileOnDisk, AMissingFileIsFineAndChangesNothing) {
    membership_store s = fresh();
    const auto generation = s.generation();
    const ringlb::state_load r = ringlb::load_state(dir + "/none.json", defaults(), s);
    EXPECT_TRUE(r.ok);
    EXPECT_FALSE(r.found);
    EXPECT_EQ(r.entries, 0u);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(s.generation(), generation);
}

TEST_F(StateFileOnDisk, GarbageIsAnErrorThatNamesTheFile) {
    const std::string path = dir + "/state.json";
    for (const std::string text :
         {"not json at all", "{\"format\": \"ringlb-state/1\", \"backends\": [", ""}) {
        std::ofstream{path, std::ios::binary | std::ios::trunc} << text;
        membership_store s = edited();
        const auto members = s.members();
        const ringlb::state_load r = ringlb::load_state(path, defaults(), s);
        EXPECT_FALSE(r.ok) << text;
        EXPECT_TRUE(r.found);
        EXPECT_EQ(r.error.rfind(path + ": not valid JSON", 0), 0u) << r.error;
        EXPECT_EQ(s.members(), members);
    }
}

TEST_F(StateFileOnDisk, AValidJsonThatIsNotAStateDocumentIsAnErrorThatSaysWhere) {
    const std::string path = dir + "/state.json";
    std::ofstream{path, std::ios::binary} << STATE_DOC(R"({"id": "app-1", "state": "asleep"})");
    membership_store s = fresh();
    const ringlb::state_load r = ringlb::load_state(path, defaults(), s);
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.found);
    EXPECT_EQ(r.error, path + ": backends[0]: \"state\" must be ready, drain or maintenance");
    EXPECT_EQ(s.members(), fresh().members());
}

}  // namespace
