// ringlb/admin/dashboard.hpp: the dashboard page, compiled into the binary.
//
//   std::string_view html = ringlb::admin::dashboard_page();   // GET / on the admin listener
//
// The page is src/ringlb/admin/dashboard.html, embedded at build time (embed.cmake) so the
// binary needs no files beside it and the page cannot drift from the API it calls.
//
// Thread-safety: a constant.
#pragma once

#include <string_view>

namespace ringlb::admin {

[[nodiscard]] std::string_view dashboard_page() noexcept;

}  // namespace ringlb::admin
