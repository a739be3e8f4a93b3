// ringlb/admin/auth.hpp: who may read and who may change things through the admin API.
//
//   std::string error;
//   auto tokens = ringlb::admin::token_set::load("/etc/ringlb/admin-tokens", error);
//   switch (tokens->check(request_authorization_header)) { ... }   // none, read, write
//
// The token file holds one token per line with its scope, `read` or `write` (write implies
// read); blank lines and lines starting with # are skipped:
//
//   # ringlb admin tokens: SCOPE TOKEN
//   read  3f9c0c2e7d1a4b6f8e5d2c1b0a9f8e7d
//   write 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d
//
// A token is 16 to 256 visible ASCII characters. Requests carry one as
// `Authorization: Bearer TOKEN`; every known token is compared in constant time, so the
// answer's timing does not tell how much of a guess was right. The file must not be
// readable by others than its owner (a warning otherwise, as ssh does for keys).
//
// Thread-safety: immutable after load; shared read-only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringlb::admin {

enum class scope : std::uint8_t { none, read, write };

class token_set {
public:
    /// Parses a token file's text; nullopt with `error` set ("FILE:LINE: ...") when malformed.
    [[nodiscard]] static std::optional<token_set> parse(std::string_view text, const std::string& name,
                                                        std::string& error);
    /// Reads and parses a file; `warning` is set when others may read it.
    [[nodiscard]] static std::optional<token_set> load(const std::string& path, std::string& error,
                                                       std::string* warning = nullptr);

    /// The scope an Authorization header value grants (none when absent or unknown).
    [[nodiscard]] scope check(std::string_view authorization) const noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return tokens_.size(); }

private:
    struct entry {
        scope grants;
        std::string token;
    };
    std::vector<entry> tokens_;
};

}  // namespace ringlb::admin
