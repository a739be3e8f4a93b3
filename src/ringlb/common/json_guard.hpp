// ringlb/common/json_guard.hpp: refuse JSON nested deeper than a limit before parsing it.
//
//   if (!ringlb::json_nesting_within(text, 32)) return error("nested too deep");
//   auto j = nlohmann::json::parse(text, nullptr, false);
//
// nlohmann-json parses deep nesting without recursion but copies, compares and prints it
// recursively: 400,000 nested arrays from a peer (an etcd value, an admin request body, a
// state file) would overflow the stack on the first copy. Every document ringlb reads is
// shallow; this scan (strings and their escapes skipped) bounds the depth first.
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

namespace ringlb {

[[nodiscard]] constexpr bool json_nesting_within(std::string_view text, int limit) noexcept {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;  // the escaped character is not a quote that ends the string
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return false;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return true;
}

}  // namespace ringlb
