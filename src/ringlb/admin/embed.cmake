# Writes OUT, a C++ source defining ringlb::admin::dashboard_page() as the text of IN.
# Run as: cmake -DIN=dashboard.html -DOUT=dashboard_page.cpp -P embed.cmake
file(READ "${IN}" page)
string(FIND "${page}" ")ringlb_page\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )ringlb_page\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by embed.cmake: do not edit.\n#include \"ringlb/admin/dashboard.hpp\"\n\nnamespace ringlb::admin {\n\nstd::string_view dashboard_page() noexcept {\n    static constexpr std::string_view page = R\"ringlb_page(${page})ringlb_page\";\n    return page;\n}\n\n}  // namespace ringlb::admin\n")
file(RENAME "${OUT}.tmp" "${OUT}")
