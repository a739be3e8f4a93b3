// config_fuzz: arbitrary text through the TOML config loader, as `ringlb check` and a
// SIGHUP reload read it.
//
// Oracles: the loader never throws or crashes; it returns a config or errors, never both
// and never neither; every error names the file; a config it accepts builds its placement
// (the loader's own bounds keep that from allocating without limit) or fails with
// chash::error, which `check` reports.
#include "http_fuzz.hpp"

#include "ringlb/config/config.hpp"
#include "ringlb/config/values.hpp"

#include <chash/algorithm.hpp>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    const ringlb::config_result r = ringlb::parse_config(text, "fuzz.toml");
    FUZZ_CHECK(r.value.has_value() != !r.errors.empty());
    for (const auto& e : r.errors) FUZZ_CHECK(e.to_string().rfind("fuzz.toml", 0) == 0);
    if (!r.value) return 0;
    const ringlb::config& cfg = *r.value;
    (void)ringlb::to_string(cfg.routing.hash_key);
    try {
        const auto algo =
            chash::make(cfg.routing.algorithm, ringlb::chash_nodes(cfg), ringlb::chash_options(cfg.routing));
        (void)algo->fingerprint();
    } catch (const chash::error&) {
    }
    return 0;
}
