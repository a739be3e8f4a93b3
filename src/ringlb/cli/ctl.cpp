#include "ringlb/cli/ctl.hpp"

#include "ringlb/http/parser.hpp"

#include <fmt/format.h>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <ostream>
#include <sstream>

namespace ringlb {

namespace {

using nlohmann::json;

struct reply {
    int status = 0;
    json body;
};

struct unreachable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// "http://host:port" (or "host:port") -> host, port.
bool parse_admin_url(std::string url, std::string& host, std::string& port) {
    if (url.rfind("http://", 0) == 0) url = url.substr(7);
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.empty()) return false;
    std::size_t colon = url.rfind(':');
    if (url.front() == '[') {
        const std::size_t close = url.find(']');
        if (close == std::string::npos) return false;
        host = url.substr(1, close - 1);
        port = close + 1 < url.size() && url[close + 1] == ':' ? url.substr(close + 2) : "80";
        return !host.empty() && !port.empty();
    }
    if (colon == std::string::npos) {
        host = url;
        port = "80";
    } else {
        host = url.substr(0, colon);
        port = url.substr(colon + 1);
    }
    return !host.empty() && !port.empty();
}

std::string url_encode(std::string_view s) {
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~')
            out += c;
        else
            out += fmt::format("%{:02X}", u);
    }
    return out;
}

// One request to the admin API over a fresh connection, all of it (connect, send, answer)
// bounded by 30 s: the operations are asynchronous and the loop runs for that long at most.
reply call(const std::string& admin, const std::string& token, const std::string& method,
           const std::string& target, const std::string& body) {
    std::string host, port;
    if (!parse_admin_url(admin, host, port)) throw unreachable{"bad --admin address \"" + admin + "\""};
    asio::io_context io{1};
    asio::ip::tcp::resolver resolver{io};
    asio::error_code ec;
    const auto endpoints = resolver.resolve(host, port, ec);
    if (ec) throw unreachable{"cannot resolve " + host + ": " + ec.message()};
    const std::string host_header =
        (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_header +
                      "\r\nUser-Agent: ringlb-ctl\r\nAccept: application/json\r\nConnection: close\r\n";
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    if (method != "GET")
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;

    asio::ip::tcp::socket sock{io};
    std::string in;
    std::array<char, 65536> chunk;
    std::string failure;
    bool done = false;
    std::function<void()> read_more = [&] {
        sock.async_read_some(asio::buffer(chunk), [&](const asio::error_code& e, std::size_t n) {
            in.append(chunk.data(), n);
            if (e || in.size() > (64u << 20)) {
                done = true;  // EOF ends the answer (Connection: close)
                return;
            }
            read_more();
        });
    };
    asio::async_connect(sock, endpoints, [&](const asio::error_code& e, const asio::ip::tcp::endpoint&) {
        if (e) {
            failure = "cannot reach the admin listener at " + admin + ": " + e.message();
            return;
        }
        asio::async_write(sock, asio::buffer(req), [&](const asio::error_code& w, std::size_t) {
            if (w) {
                failure = "sending to " + admin + ": " + w.message();
                return;
            }
            read_more();
        });
    });
    io.run_for(std::chrono::seconds{30});
    if (!failure.empty()) throw unreachable{failure};
    if (!done && in.empty()) throw unreachable{"no answer from " + admin + " within 30 s"};
    http_parser p{http_parser::type::response};
    const auto head = p.feed(in.data(), in.size());
    if (head.what != http_parser::event::head_complete)
        throw unreachable{"the admin listener at " + admin + " sent no HTTP answer"};
    reply r;
    r.status = p.status();
    r.body = json::parse(in.substr(head.consumed), nullptr, false);
    if (r.body.is_discarded() || !r.body.is_object()) r.body = json::object();
    return r;
}

// A member of an object, or null: never operator[] on a missing key of a const object.
const json& at(const json& j, const char* key) {
    static const json none;
    if (!j.is_object()) return none;
    const auto it = j.find(key);
    return it != j.end() ? *it : none;
}

// A bare token, or a token file's write token (else its first): ctl changes things.
std::string read_token_file(const std::string& path) {
    std::ifstream f{path};
    if (!f) throw CLI::ValidationError("--token-file", "cannot open " + path);
    std::string line, first;
    while (std::getline(f, line)) {
        std::istringstream words{line};
        std::string a, b;
        words >> a >> b;
        if (a.empty() || a[0] == '#') continue;
        if (b.empty()) return a;
        if (a == "write") return b;
        if (first.empty()) first = b;
    }
    if (first.empty()) throw CLI::ValidationError("--token-file", path + " holds no token");
    return first;
}

std::string pct(double share) {
    return fmt::format("{:.1f}%", share * 100);
}

std::string str(const json& j, const char* key) {
    const json& v = at(j, key);
    return v.is_string() ? v.get<std::string>() : std::string{"-"};
}

template <class T>
T num(const json& j, const char* key) {
    const json& v = at(j, key);
    return v.is_number() ? v.get<T>() : T{};
}

void print_backends(const json& list, std::ostream& out) {
    out << fmt::format("{:<16} {:<12} {:>6} {:>7} {:>9} {:>10} {:>7}  {}\n", "BACKEND", "MODE", "WEIGHT",
                       "SHARE", "IN-FLIGHT", "REQUESTS", "5XX", "WHY");
    if (!list.is_array()) return;
    for (const auto& b : list) {
        out << fmt::format("{:<16} {:<12} {:>6} {:>7} {:>9} {:>10} {:>7}  {}\n", str(b, "id"), str(b, "mode"),
                           num<unsigned>(b, "weight"), pct(num<double>(b, "key_share")),
                           num<std::uint64_t>(b, "in_flight"), num<std::uint64_t>(at(b, "requests"), "total"),
                           num<std::uint64_t>(at(b, "requests"), "5xx"), str(b, "reason"));
    }
}

void print_plan(const json& plan, std::ostream& out) {
    if (plan.is_null()) {
        out << "no key moves (placement unchanged)\n";
        return;
    }
    out << fmt::format("moves {} of the key space (ideal {})\n", pct(plan.value("moved_fraction", 0.0)),
                       pct(plan.value("ideal_fraction", 0.0)));
    if (plan.contains("flows"))
        for (const auto& f : plan["flows"])
            out << fmt::format("  {:<16} -> {:<16} {}\n", str(f, "from"), str(f, "to"),
                               pct(f.value("fraction", 0.0)));
}

}  // namespace

struct ctl_command::state {
    CLI::App* cmd = nullptr;
    std::string admin;
    std::string token;
    std::string token_file;
    bool raw_json = false;
    std::string verb;
    std::vector<std::string> args;
    unsigned weight = 1;
    bool weight_given = false;
    bool dry_run = false;
};

ctl_command::ctl_command(CLI::App& app) : state_{std::make_unique<state>()} {
    state& s = *state_;
    s.cmd = app.add_subcommand("ctl", "Talk to a running ringlb's admin API (backends, drain, lookup, ...)");
    s.cmd->add_option("--admin", s.admin, "Admin listener (default $RINGLB_ADMIN or http://127.0.0.1:9901)")
        ->type_name("URL");
    s.cmd->add_option("--token", s.token, "Bearer token (default $RINGLB_TOKEN)")->type_name("TOKEN");
    s.cmd->add_option("--token-file", s.token_file, "Read the token from FILE")->type_name("FILE");
    s.cmd->add_flag("--json", s.raw_json, "Print the API's JSON answer");
    s.cmd->add_option("--weight", s.weight, "add: the backend's weight (default 1)")->type_name("W");
    s.cmd->add_flag("--dry-run", s.dry_run, "add, remove: only say what would move");
    s.cmd
        ->add_option(
            "command", s.verb,
            "status | backends | backend ID | drain ID | maintenance ID | ready ID | add ID ADDRESS | "
            "remove ID | lookup KEY | ring | events")
        ->required();
    s.cmd->add_option("args", s.args, "The command's arguments");
    s.cmd->footer(
        "Examples:\n"
        "  ringlb ctl backends\n"
        "  ringlb ctl drain app-2\n"
        "  ringlb ctl add app-5 10.0.0.5:8080 --weight 2 --dry-run\n"
        "  ringlb ctl lookup alice\n"
        "API reference: docs/ADMIN.md");
}

ctl_command::~ctl_command() = default;

bool ctl_command::parsed() const {
    return state_->cmd->parsed();
}

int ctl_command::run(std::ostream& out, std::ostream& err) {
    state& s = *state_;
    s.weight_given = s.cmd->count("--weight") > 0;
    std::string admin = s.admin;
    if (admin.empty())
        admin =
            std::getenv("RINGLB_ADMIN") != nullptr ? std::getenv("RINGLB_ADMIN") : "http://127.0.0.1:9901";
    std::string token = s.token;
    try {
        if (!s.token_file.empty()) token = read_token_file(s.token_file);
    } catch (const CLI::Error& e) {
        err << "ringlb ctl: " << e.what() << "\n";
        return 2;
    }
    if (token.empty() && std::getenv("RINGLB_TOKEN") != nullptr) token = std::getenv("RINGLB_TOKEN");
    const auto need = [&](std::size_t n, const char* usage) {
        if (s.args.size() == n) return true;
        err << "ringlb ctl: usage: ringlb ctl " << usage << "\n";
        return false;
    };
    std::string method = "GET", target, body;
    const std::string& v = s.verb;
    if (v == "status") {
        if (!need(0, "status")) return 2;
        target = "/v1/status";
    } else if (v == "backends") {
        if (!need(0, "backends")) return 2;
        target = "/v1/backends";
    } else if (v == "backend") {
        if (!need(1, "backend ID")) return 2;
        target = "/v1/backends/" + url_encode(s.args[0]);
    } else if (v == "drain" || v == "maintenance" || v == "ready") {
        if (!need(1, (v + " ID").c_str())) return 2;
        method = "POST";
        target = "/v1/backends/" + url_encode(s.args[0]) + "/" + v;
        body = "{}";
    } else if (v == "reset") {
        if (!need(1, "reset ID")) return 2;
        method = "DELETE";
        target = "/v1/backends/" + url_encode(s.args[0]) + "/override";
        body = "{}";
    } else if (v == "add") {
        if (!need(2, "add ID ADDRESS [--weight W] [--dry-run]")) return 2;
        method = "PUT";
        target = "/v1/backends/" + url_encode(s.args[0]) + (s.dry_run ? "?dry_run=1" : "");
        json b{{"address", s.args[1]}};
        if (s.weight_given) b["weight"] = s.weight;
        body = b.dump();
    } else if (v == "remove") {
        if (!need(1, "remove ID [--dry-run]")) return 2;
        method = "DELETE";
        target = "/v1/backends/" + url_encode(s.args[0]) + (s.dry_run ? "?dry_run=1" : "");
        body = "{}";
    } else if (v == "lookup") {
        if (!need(1, "lookup KEY")) return 2;
        target = "/v1/lookup?key=" + url_encode(s.args[0]);
    } else if (v == "ring") {
        if (!need(0, "ring")) return 2;
        target = "/v1/ring";
    } else if (v == "events") {
        if (!need(0, "events")) return 2;
        target = "/v1/events";
    } else {
        err << "ringlb ctl: unknown command \"" << v << "\" (see ringlb ctl --help)\n";
        return 2;
    }

    reply r;
    try {
        r = call(admin, token, method, target, body);
    } catch (const unreachable& e) {
        err << "ringlb ctl: " << e.what() << "\n";
        return 3;
    }
    if (r.status >= 400) {
        const std::string message =
            r.body.contains("error") ? r.body["error"].value("message", "") : r.body.dump();
        err << "ringlb ctl: " << r.status << ": " << message << "\n";
        return 1;
    }
    if (s.raw_json) {
        out << r.body.dump(2) << "\n";
        return 0;
    }
    const json& j = r.body;
    if (v == "backends") {
        print_backends(j["backends"], out);
    } else if (v == "drain" || v == "maintenance" || v == "ready") {
        const json& b = j["backend"];
        out << fmt::format("{}: {} ({}; membership generation {})\n", str(b, "id"), str(b, "mode"),
                           str(b, "reason"), j.value("generation", 0));
    } else if (v == "add" || v == "remove") {
        if (j.value("dry_run", false)) out << "dry run: nothing changed\n";
        print_plan(j["plan"], out);
        if (j.contains("generation"))
            out << "membership generation " << j["generation"].get<std::uint64_t>() << "\n";
    } else if (v == "lookup") {
        out << fmt::format("{} -> {} (owner {}, hash {})\n", str(j, "key"),
                           j["chosen"].is_null() ? std::string{"nobody: 503"} : str(j, "chosen"),
                           str(j, "owner"), str(j, "hash"));
        int i = 1;
        for (const auto& c : j["chain"])
            out << fmt::format(
                "  {}. {:<16} {}\n", i++, str(c, "id"),
                c.value("usable", false) ? std::string{"usable"} : "skipped: " + str(c, "skipped"));
    } else if (v == "ring") {
        out << fmt::format("{} fingerprint {} generation {}\n", str(j, "algorithm"), str(j, "fingerprint"),
                           j.value("generation", 0));
        for (const auto& b : j["backends"])
            out << fmt::format("  {:<16} weight {:>5} share {:>7} {}\n", str(b, "id"), b.value("weight", 0),
                               pct(b.value("share", 0.0)), str(b, "mode"));
    } else if (v == "events") {
        for (const auto& e : j["events"]) out << str(e, "at") << "  " << str(e, "text") << "\n";
    } else {
        out << j.dump(2) << "\n";
    }
    return 0;
}

}  // namespace ringlb
