#include "ringlb/admin/auth.hpp"

#include "ringlb/common/text.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace ringlb::admin {

namespace {

constexpr std::size_t min_token = 16;
constexpr std::size_t max_token = 256;
constexpr std::size_t max_file = 1 << 20;

// Equal in time proportional to the candidate's length, whatever the token: no early exit.
bool same(std::string_view a, std::string_view b) noexcept {
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |=
            static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b.empty() ? 0 : b[i % b.size()]);
    return diff == 0;
}

bool visible(std::string_view s) noexcept {
    for (const char c : s)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
    return true;
}

}  // namespace

std::optional<token_set> token_set::parse(std::string_view text, const std::string& name,
                                          std::string& error) {
    token_set set;
    std::size_t line_no = 0;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // a file with CRLF line ends
        line = trim(line);
        if (line.empty() || line.front() == '#') continue;
        const std::size_t sp = line.find_first_of(" \t");
        const std::string_view word = line.substr(0, sp);
        const std::string_view token =
            sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp));
        const auto where = name + ":" + std::to_string(line_no) + ": ";
        scope grants = scope::none;
        if (word == "read")
            grants = scope::read;
        else if (word == "write")
            grants = scope::write;
        else {
            error = where + "expected \"read TOKEN\" or \"write TOKEN\"";
            return std::nullopt;
        }
        if (token.size() < min_token || token.size() > max_token || !visible(token)) {
            error = where + "a token is 16 to 256 visible characters without spaces";
            return std::nullopt;
        }
        set.tokens_.push_back({grants, std::string{token}});
    }
    if (set.tokens_.empty()) {
        error = name + ": no tokens (lines \"read TOKEN\" or \"write TOKEN\")";
        return std::nullopt;
    }
    return set;
}

std::optional<token_set> token_set::load(const std::string& path, std::string& error, std::string* warning) {
    std::ifstream in{path, std::ios::binary};
    if (!in) {
        error = path + ": cannot open";
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > max_file) {
        error = path + ": larger than 1 MiB";
        return std::nullopt;
    }
    struct stat st {};
    if (warning != nullptr && ::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        *warning = path + " may be read by others than its owner (chmod 600 it)";
    return parse(text.str(), path, error);
}

scope token_set::check(std::string_view authorization) const noexcept {
    authorization = trim(authorization);
    constexpr std::string_view bearer = "Bearer ";
    if (authorization.size() <= bearer.size() || !iequals(authorization.substr(0, bearer.size()), bearer))
        return scope::none;
    const std::string_view given = trim(authorization.substr(bearer.size()));
    // Every entry is compared, so the time taken does not depend on which one matches.
    scope best = scope::none;
    for (const entry& e : tokens_) {
        const bool match = same(given, e.token);
        if (match && (best == scope::none || e.grants == scope::write)) best = e.grants;
    }
    return best;
}

}  // namespace ringlb::admin
