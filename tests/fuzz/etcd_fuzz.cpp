// etcd_fuzz: arbitrary bytes as what an etcd member (or another writer under the prefix)
// hands ringlb: the first byte picks what is parsed, the rest is the text.
//   0: one line of a watch stream (etcd::parse_watch_message)
//   1: a backend document (parse_backend_doc), and when it is accepted, the document
//      ringlb writes for it (backend_doc) parses back to the same backend
//   2: an instance registration (parse_instance_doc): an object of only the known fields,
//      each of its documented type
// Oracles: AddressSanitizer, UBSan, LeakSanitizer; nothing throws; the properties above.
//
//   build/fuzz/tests/fuzz/etcd_fuzz -max_total_time=60 corpus/ tests/fuzz/corpus/etcd/
#include "ringlb/control/etcd_source.hpp"
#include "ringlb/etcd/client.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void watch_line(std::string_view text) {
    const auto m = ringlb::etcd::parse_watch_message(text);
    if (!m) return;
    using kind = ringlb::etcd::watch_message::kind;
    // Events only in an events message; a compaction revision only when canceled.
    if (m->what != kind::events) check(m->events.empty());
    if (m->what == kind::events) check(!m->events.empty());
}

void backend_document(std::string_view text) {
    std::string error;
    const auto b = ringlb::parse_backend_doc("app-1", text, ringlb::health_check_config{}, error);
    if (!b) {
        check(!error.empty());
        return;
    }
    const std::string again = ringlb::backend_doc(*b);
    std::string error2;
    const auto round = ringlb::parse_backend_doc("app-1", again, ringlb::health_check_config{}, error2);
    check(round.has_value());
    check(round->address == b->address && round->weight == b->weight && round->zone == b->zone &&
          round->state == b->state);
}

void instance_document(std::string_view text) {
    const nlohmann::json j = ringlb::parse_instance_doc(text);
    check(j.is_object());
    for (const auto& [key, value] : j.items()) {
        if (key == "revision" || key == "backends")
            check(value.is_number_integer());
        else if (key == "stale" || key == "behind")
            check(value.is_boolean());
        else
            check(value.is_string() && value.get_ref<const std::string&>().size() <= 256);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
    switch (data[0] % 3) {
        case 0:
            watch_line(text);
            break;
        case 1:
            backend_document(text);
            break;
        default:
            instance_document(text);
            break;
    }
    return 0;
}
