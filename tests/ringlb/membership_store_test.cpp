// The membership store's two layers: the file layer in the file's order, the runtime overlay
// keyed by id that wins over it (a put replaces or adds, a state entry overrides only the
// operator state, a removal hides until clear()), the overlay surviving a reload, the
// source of each member's definition and state, and a generation that moves only when the
// members do.
#include "ringlb/control/membership_store.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ringlb::admin_state;
using ringlb::backend_config;
using ringlb::member_source;
using ringlb::membership_store;

backend_config be(const std::string& id, std::uint16_t port, std::uint32_t weight = 1,
                  admin_state state = admin_state::ready) {
    backend_config b;
    b.id = id;
    b.address = {"127.0.0.1", port};
    b.weight = weight;
    b.state = state;
    return b;
}

std::vector<backend_config> file3() {
    return {be("app-1", 9001), be("app-2", 9002), be("app-3", 9003)};
}

std::vector<std::string> ids(const membership_store& s) {
    std::vector<std::string> out;
    for (const auto& m : s.members()) out.push_back(m.backend.id);
    return out;
}

TEST(MembershipStore, TheFileLayerAloneIsTheMembersInFileOrder) {
    membership_store s;
    EXPECT_EQ(s.generation(), 0u);
    const std::vector<backend_config> file{be("zeta", 9001), be("alpha", 9002), be("mid", 9003)};
    EXPECT_TRUE(s.set_file(file));
    EXPECT_EQ(ids(s), (std::vector<std::string>{"zeta", "alpha", "mid"}));
    for (std::size_t i = 0; i < file.size(); ++i) {
        EXPECT_EQ(s.members()[i].backend, file[i]);
        EXPECT_EQ(s.members()[i].defined_by, member_source::config);
        EXPECT_EQ(s.members()[i].state_by, member_source::config);
    }
    ASSERT_NE(s.find("alpha"), nullptr);
    EXPECT_EQ(s.find("alpha")->backend.address.port, 9002);
    EXPECT_EQ(s.find("nope"), nullptr);
}

TEST(MembershipStore, APutReplacesTheFileBackendOfItsIdInPlace) {
    membership_store s;
    s.set_file(file3());
    EXPECT_TRUE(s.put(be("app-2", 7002, 5, admin_state::drain), member_source::admin));
    EXPECT_EQ(ids(s), (std::vector<std::string>{"app-1", "app-2", "app-3"})) << "no duplicate, same place";
    const auto& m = s.members()[1];
    EXPECT_EQ(m.backend.address.port, 7002);
    EXPECT_EQ(m.backend.weight, 5u);
    EXPECT_EQ(m.backend.state, admin_state::drain);
    EXPECT_EQ(m.defined_by, member_source::admin);
    EXPECT_EQ(m.state_by, member_source::admin);
    // The other file members are untouched.
    EXPECT_EQ(s.members()[0].backend, file3()[0]);
    EXPECT_EQ(s.members()[2].backend, file3()[2]);
}

TEST(MembershipStore, APutOfANewIdAddsItAfterTheFileOrderedById) {
    membership_store s;
    s.set_file(file3());
    EXPECT_TRUE(s.put(be("app-z", 7026), member_source::etcd));
    EXPECT_TRUE(s.put(be("app-a", 7001), member_source::admin));
    EXPECT_EQ(ids(s), (std::vector<std::string>{"app-1", "app-2", "app-3", "app-a", "app-z"}));
    ASSERT_NE(s.find("app-z"), nullptr);
    EXPECT_EQ(s.find("app-z")->defined_by, member_source::etcd);
    EXPECT_EQ(s.find("app-z")->state_by, member_source::etcd);
    EXPECT_EQ(s.find("app-a")->defined_by, member_source::admin);
}

TEST(MembershipStore, SetStateOverridesOnlyTheOperatorState) {
    membership_store s;
    s.set_file(file3());
    EXPECT_TRUE(s.set_state("app-2", admin_state::maintenance, member_source::etcd));
    const auto* m = s.find("app-2");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->backend.state, admin_state::maintenance);
    EXPECT_EQ(m->state_by, member_source::etcd);
    EXPECT_EQ(m->defined_by, member_source::config) << "the definition is still the file's";
    backend_config expected = file3()[1];
    expected.state = admin_state::maintenance;
    EXPECT_EQ(m->backend, expected) << "address, weight and checks stay the file's";

    // A state entry applies to a runtime definition too; a later put of that id carries
    // its own state, which replaces the override (the API's put copies the effective state
    // unless told another).
    EXPECT_TRUE(s.put(be("app-9", 7009, 3), member_source::admin));
    EXPECT_TRUE(s.set_state("app-9", admin_state::drain, member_source::admin));
    EXPECT_EQ(s.find("app-9")->backend.state, admin_state::drain);
    EXPECT_EQ(s.find("app-9")->backend.weight, 3u);
    s.put(be("app-2", 7002, 4), member_source::admin);
    EXPECT_EQ(s.find("app-2")->backend.address.port, 7002);
    EXPECT_EQ(s.find("app-2")->backend.state, admin_state::ready);
    EXPECT_EQ(s.find("app-2")->state_by, member_source::admin);
    EXPECT_EQ(s.find("app-2")->defined_by, member_source::admin);
}

TEST(MembershipStore, ARemovalHidesAFileBackendUntilCleared) {
    membership_store s;
    s.set_file(file3());
    EXPECT_TRUE(s.remove("app-2", member_source::admin));
    EXPECT_EQ(s.find("app-2"), nullptr);
    EXPECT_EQ(ids(s), (std::vector<std::string>{"app-1", "app-3"}));
    // Reloads (the same file, then one that changes app-2) do not bring it back.
    s.set_file(file3());
    EXPECT_EQ(s.find("app-2"), nullptr);
    auto changed = file3();
    changed[1].address.port = 8002;
    s.set_file(changed);
    EXPECT_EQ(s.find("app-2"), nullptr);
    // Clearing the overlay entry lets the file speak again, with the file's current word.
    EXPECT_TRUE(s.clear("app-2"));
    ASSERT_NE(s.find("app-2"), nullptr);
    EXPECT_EQ(s.find("app-2")->backend, changed[1]);
    EXPECT_EQ(s.find("app-2")->defined_by, member_source::config);
    EXPECT_EQ(ids(s), (std::vector<std::string>{"app-1", "app-2", "app-3"}));
}

TEST(MembershipStore, ClearDropsEveryRuntimeEntryOfAnId) {
    membership_store s;
    s.set_file(file3());
    s.put(be("app-1", 7001, 9), member_source::admin);
    s.set_state("app-1", admin_state::drain, member_source::admin);
    s.put(be("app-7", 7007), member_source::admin);
    EXPECT_TRUE(s.clear("app-1"));
    EXPECT_EQ(s.members()[0].backend, file3()[0]);
    EXPECT_EQ(s.members()[0].defined_by, member_source::config);
    EXPECT_EQ(s.members()[0].state_by, member_source::config);
    EXPECT_TRUE(s.clear("app-7")) << "a runtime-only member disappears";
    EXPECT_EQ(s.find("app-7"), nullptr);
    EXPECT_EQ(ids(s), (std::vector<std::string>{"app-1", "app-2", "app-3"}));
    EXPECT_FALSE(s.clear("app-7")) << "nothing left to clear";
}

TEST(MembershipStore, TheOverlaySurvivesAReload) {
    membership_store s;
    s.set_file(file3());
    s.put(be("app-9", 7009), member_source::admin);                  // an addition
    s.put(be("app-2", 7002, 4), member_source::admin);               // a replacement
    s.set_state("app-1", admin_state::drain, member_source::admin);  // a state
    s.remove("app-3", member_source::admin);                         // a removal

    // SIGHUP: the file moves app-1, app-2 and app-3, adds app-4, and also defines app-9.
    std::vector<backend_config> next{be("app-1", 8001), be("app-2", 8002), be("app-3", 8003),
                                     be("app-4", 8004), be("app-9", 8009)};
    EXPECT_TRUE(s.set_file(next));
    EXPECT_EQ(ids(s), (std::vector<std::string>{"app-1", "app-2", "app-4", "app-9"}));
    const auto* a1 = s.find("app-1");
    EXPECT_EQ(a1->backend.address.port, 8001) << "the new file's definition";
    EXPECT_EQ(a1->backend.state, admin_state::drain) << "the runtime state";
    EXPECT_EQ(a1->defined_by, member_source::config);
    EXPECT_EQ(a1->state_by, member_source::admin);
    EXPECT_EQ(s.find("app-2")->backend.address.port, 7002);
    EXPECT_EQ(s.find("app-2")->backend.weight, 4u);
    EXPECT_EQ(s.find("app-2")->defined_by, member_source::admin);
    EXPECT_EQ(s.find("app-9")->backend.address.port, 7009) << "the overlay wins over a file that catches up";
    EXPECT_EQ(s.find("app-9")->defined_by, member_source::admin);
    EXPECT_EQ(s.find("app-4")->defined_by, member_source::config);

    // A file that drops every id: the runtime additions and replacements stay.
    EXPECT_TRUE(s.set_file(std::vector<backend_config>{be("app-5", 8005)}));
    EXPECT_EQ(ids(s), (std::vector<std::string>{"app-5", "app-2", "app-9"}));
}

TEST(MembershipStore, EditsOfAnUnknownIdAreRefusedAndChangeNothing) {
    membership_store s;
    s.set_file(file3());
    const auto before = s.members();
    const auto generation = s.generation();
    EXPECT_FALSE(s.set_state("nope", admin_state::drain, member_source::admin));
    EXPECT_FALSE(s.remove("nope", member_source::admin));
    EXPECT_FALSE(s.clear("nope"));
    EXPECT_EQ(s.members(), before);
    EXPECT_EQ(s.generation(), generation);
    // A removed member is unknown too, and a refused edit leaves no entry behind that a
    // later file could pick up.
    EXPECT_TRUE(s.remove("app-3", member_source::admin));
    EXPECT_FALSE(s.remove("app-3", member_source::admin));
    EXPECT_FALSE(s.set_state("app-3", admin_state::drain, member_source::admin));
    s.set_file(std::vector<backend_config>{be("app-1", 9001), be("nope", 9100)});
    ASSERT_NE(s.find("nope"), nullptr);
    EXPECT_EQ(s.find("nope")->backend.state, admin_state::ready);
    EXPECT_EQ(s.find("nope")->state_by, member_source::config);
}

TEST(MembershipStore, TheGenerationMovesOnlyWhenTheMembersDo) {
    membership_store s;
    EXPECT_TRUE(s.set_file(file3()));
    EXPECT_EQ(s.generation(), 1u);
    EXPECT_FALSE(s.set_file(file3())) << "the same file again";
    EXPECT_EQ(s.generation(), 1u);

    s.put(be("app-9", 7009), member_source::admin);
    EXPECT_EQ(s.generation(), 2u);
    EXPECT_FALSE(s.put(be("app-9", 7009), member_source::admin)) << "the same put again";
    EXPECT_EQ(s.generation(), 2u);

    EXPECT_TRUE(s.set_state("app-1", admin_state::drain, member_source::admin));
    EXPECT_EQ(s.generation(), 3u);
    EXPECT_TRUE(s.set_state("app-1", admin_state::drain, member_source::admin)) << "a known id";
    EXPECT_EQ(s.generation(), 3u) << "but nothing changed";

    EXPECT_TRUE(s.remove("app-2", member_source::admin));
    EXPECT_EQ(s.generation(), 4u);
    EXPECT_TRUE(s.clear("app-2"));
    EXPECT_EQ(s.generation(), 5u);

    // A file change hidden by the overlay is no change of the members.
    s.remove("app-3", member_source::admin);
    const auto generation = s.generation();
    auto next = file3();
    next[2].address.port = 8003;
    EXPECT_FALSE(s.set_file(next));
    EXPECT_EQ(s.generation(), generation);
}

TEST(MembershipStore, SourcesHaveNames) {
    EXPECT_EQ(ringlb::to_string(member_source::config), "config");
    EXPECT_EQ(ringlb::to_string(member_source::admin), "admin");
    EXPECT_EQ(ringlb::to_string(member_source::etcd), "etcd");
}

}  // namespace
