#include "ringlb/control/state_file.hpp"

#include "ringlb/config/values.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ringlb {

namespace {

constexpr std::string_view format_name = "ringlb-state/1";
constexpr std::size_t max_state_bytes = 64u << 20;

std::optional<member_source> source_named(std::string_view s) {
    for (const member_source m : {member_source::config, member_source::admin, member_source::etcd})
        if (to_string(m) == s) return m;
    return std::nullopt;
}

std::string errno_text() {
    return std::strerror(errno);
}

// write(2) all of `data`; false on error.
bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

nlohmann::json state_to_json(const membership_store& store) {
    nlohmann::json backends = nlohmann::json::array();
    for (const auto& e : store.overlay()) {
        nlohmann::json b{{"id", e.id}};
        if (e.definition) {
            b["definition"] = {{"address", to_string(e.definition->address)},
                               {"weight", e.definition->weight},
                               {"state", std::string{to_string(e.definition->state)}}};
            b["defined_by"] = std::string{to_string(e.defined_by)};
        }
        if (e.removed) {
            b["removed"] = true;
            b["defined_by"] = std::string{to_string(e.defined_by)};
        }
        if (e.state) {
            b["state"] = std::string{to_string(*e.state)};
            b["state_by"] = std::string{to_string(e.state_by)};
        }
        backends.push_back(std::move(b));
    }
    return {{"format", format_name}, {"backends", std::move(backends)}};
}

bool state_from_json(const nlohmann::json& j, const health_check_config& defaults, membership_store& store,
                     std::string& error) {
    if (!j.is_object() || !j.contains("format") || j["format"] != format_name) {
        error = "not a ringlb state file (\"format\" must be \"ringlb-state/1\")";
        return false;
    }
    if (!j.contains("backends") || !j["backends"].is_array()) {
        error = "\"backends\" must be an array";
        return false;
    }
    std::vector<membership_store::overlay_entry> entries;
    std::size_t index = 0;
    for (const auto& b : j["backends"]) {
        const std::string where = "backends[" + std::to_string(index++) + "]";
        if (!b.is_object() || !b.contains("id") || !b["id"].is_string()) {
            error = where + ": needs a string \"id\"";
            return false;
        }
        membership_store::overlay_entry e;
        e.id = b["id"].get<std::string>();
        if (!valid_backend_id(e.id)) {
            error = where + ": invalid id \"" + e.id + "\"";
            return false;
        }
        const auto source = [&](const char* key, member_source& out) {
            if (!b.contains(key)) return true;
            const auto s = b[key].is_string() ? source_named(b[key].get<std::string>()) : std::nullopt;
            if (!s) {
                error = where + ": \"" + key + "\" must be config, admin or etcd";
                return false;
            }
            out = *s;
            return true;
        };
        if (!source("defined_by", e.defined_by) || !source("state_by", e.state_by)) return false;
        if (b.contains("definition")) {
            const auto& d = b["definition"];
            if (!d.is_object() || !d.contains("address") || !d["address"].is_string()) {
                error = where + ": \"definition\" needs a string \"address\"";
                return false;
            }
            backend_config def;
            def.id = e.id;
            def.health = defaults;
            const auto at = parse_endpoint_checked(d["address"].get<std::string>());
            if (!at) {
                error = where + ": " + at.error;
                return false;
            }
            def.address = *at.value;
            if (d.contains("weight")) {
                if (!d["weight"].is_number_unsigned() ||
                    d["weight"].get<std::uint64_t>() > max_backend_weight) {
                    error =
                        where + ": \"weight\" must be an integer in 0.." + std::to_string(max_backend_weight);
                    return false;
                }
                def.weight = d["weight"].get<std::uint32_t>();
            }
            if (d.contains("state")) {
                const auto st = d["state"].is_string() ? parse_admin_state(d["state"].get<std::string>())
                                                       : parsed<admin_state>{};
                if (!st) {
                    error = where + ": \"state\" must be ready, drain or maintenance";
                    return false;
                }
                def.state = *st.value;
            }
            e.definition = std::move(def);
        }
        if (b.contains("removed")) {
            if (!b["removed"].is_boolean()) {
                error = where + ": \"removed\" must be true or false";
                return false;
            }
            e.removed = b["removed"].get<bool>();
        }
        if (b.contains("state")) {
            const auto st = b["state"].is_string() ? parse_admin_state(b["state"].get<std::string>())
                                                   : parsed<admin_state>{};
            if (!st) {
                error = where + ": \"state\" must be ready, drain or maintenance";
                return false;
            }
            e.state = *st.value;
        }
        if (e.removed && e.definition) {
            error = where + ": an entry is either removed or defined, not both";
            return false;
        }
        entries.push_back(std::move(e));
    }
    store.set_overlay(std::move(entries));
    return true;
}

bool write_file_atomically(const std::string& path, std::string_view text, std::string& error) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = "cannot write " + tmp + ": " + errno_text();
        return false;
    }
    const bool written = write_all(fd, text) && ::fsync(fd) == 0;
    const std::string why = written ? std::string{} : errno_text();
    ::close(fd);
    if (!written) {
        ::unlink(tmp.c_str());
        error = "cannot write " + tmp + ": " + why;
        return false;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        error = "cannot rename " + tmp + " to " + path + ": " + errno_text();
        ::unlink(tmp.c_str());
        return false;
    }
    // The rename itself must reach the disk: flush the directory.
    const std::size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
        (void)::fsync(d);
        ::close(d);
    }
    return true;
}

bool save_state(const std::string& path, const membership_store& store, std::string& error) {
    return write_file_atomically(path, state_to_json(store).dump(2) + "\n", error);
}

state_load load_state(const std::string& path, const health_check_config& defaults, membership_store& store) {
    state_load r;
    std::ifstream in{path, std::ios::binary};
    if (!in) {
        if (errno != ENOENT) {
            r.ok = false;
            r.found = true;
            r.error = path + ": cannot open: " + errno_text();
        }
        return r;
    }
    r.found = true;
    std::ostringstream text;
    text << in.rdbuf();
    if (text.str().size() > max_state_bytes) {
        r.ok = false;
        r.error = path + ": larger than 64 MiB";
        return r;
    }
    const auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        r.ok = false;
        r.error = path + ": not valid JSON (move it away to start without the runtime changes it holds)";
        return r;
    }
    std::string error;
    if (!state_from_json(j, defaults, store, error)) {
        r.ok = false;
        r.error = path + ": " + error;
        return r;
    }
    r.entries = store.overlay().size();
    return r;
}

}  // namespace ringlb
