// session_fuzz: one whole client session of the real data path, driven by the input.
//
// A real worker (its io_context, pools and routing snapshot) runs on this thread; a client
// is connected to it over loopback TCP and a scripted backend listens on loopback. The
// input is a script of steps: bytes either side sends (raw or a canned HTTP fragment, so
// the fuzzer reaches deep states quickly), and lifecycle events: a pause past a timeout, a
// half-close, a reset, a side that stops reading (receive buffers are small, so a peer that
// does not read stalls the other side for real). Timeouts are milliseconds, so a pause past
// one is cheap; a step may also destroy the worker mid-script, as a shutdown whose grace
// period ran out does. After the script the client half-closes and the session must end
// within a bounded time. Oracles: AddressSanitizer and UndefinedBehaviorSanitizer catch
// memory errors, LeakSanitizer what an input leaves behind; what the client received must
// parse as a stream of whole responses (a truncated last one allowed; after a 101, the
// tunnel's bytes are not looked at), no more of them than
// the complete requests it sent plus one (ringlb's own answer to a bad or unfinished one):
// a byte of one exchange that reached the client outside its response breaks that; and
// every descriptor an input opened is closed when it is over.
//
//   build/fuzz/tests/fuzz/session_fuzz -max_total_time=60 corpus/ tests/fuzz/corpus/session/
#include "ringlb/config/config.hpp"
#include "ringlb/control/bundle_builder.hpp"
#include "ringlb/proxy/session.hpp"
#include "ringlb/proxy/worker.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ringlb;
using asio::ip::tcp;
using std::chrono::milliseconds;

constexpr std::array<std::string_view, 11> client_canned{
    "GET / HTTP/1.1\r\nHost: a\r\nX-User-Id: u1\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: u1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: u2\r\nContent-Length: 10\r\n\r\n",
    "5\r\nhello\r\n",
    "0\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: a\r\nX-User-Id: u2\r\n\r\n",
    "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "ZZ\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "GET /ws HTTP/1.1\r\nHost: a\r\nX-User-Id: u3\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
};

constexpr std::array<std::string_view, 13> backend_canned{
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "3\r\nabc\r\n0\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi",
    "HTTP/1.1 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
    "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
};

enum class step : std::uint8_t {
    client_send,
    client_send_canned,
    client_shutdown,
    client_reset,
    client_read,
    pause,
    backend_send,
    backend_send_canned,
    backend_shutdown,
    backend_reset,
    backend_close,
    backend_read,
    destroy_worker,
    last = destroy_worker,
};

void set_nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void small_buffers(int fd) {
    const int n = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
}

int listen_loopback(std::uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 1024) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        std::perror("session_fuzz: listen");
        std::abort();
    }
    small_buffers(fd);  // accepted sockets inherit them
    set_nonblocking(fd);
    port = ntohs(a.sin_port);
    return fd;
}

void reset_and_close(int fd) {
    const linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
}

void drain(int fd, std::string* into = nullptr) {
    char sink[16384];
    for (;;) {
        const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n <= 0) return;
        if (into != nullptr) into->append(sink, static_cast<std::size_t>(n));
    }
}

void list_descriptors() {
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (const dirent* e = ::readdir(d)) {
            char link[256] = {};
            const std::string path = std::string{"/proc/self/fd/"} + e->d_name;
            if (::readlink(path.c_str(), link, sizeof link - 1) > 0)
                std::fprintf(stderr, "  fd %s -> %s\n", e->d_name, link);
        }
        ::closedir(d);
    }
}

// Open sockets (the sanitizers' symbolizer and libFuzzer open pipes and files of their own,
// so only sockets say whether an input left a connection behind).
std::size_t open_descriptors() {
    std::size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (const dirent* e = ::readdir(d)) {
            char link[64] = {};
            const std::string path = std::string{"/proc/self/fd/"} + e->d_name;
            if (::readlink(path.c_str(), link, sizeof link - 1) > 0 &&
                std::string_view{link}.starts_with("socket:"))
                ++n;
        }
        ::closedir(d);
    }
    return n;
}

// The complete requests in what the client sent, as ringlb's parser reads them: whether
// each is a HEAD (its response has no body).
std::vector<bool> requests_in(std::string_view sent) {
    std::vector<bool> head;
    http_parser p{http_parser::type::request};
    std::size_t pos = 0;
    for (;;) {
        p.reset();
        auto r = p.feed(sent.data() + pos, sent.size() - pos);
        if (r.what != http_parser::event::head_complete) return head;
        pos += r.consumed;
        const bool is_head = p.method() == HTTP_HEAD;
        r = p.feed(sent.data() + pos, sent.size() - pos);
        if (r.what != http_parser::event::message_complete) return head;
        pos += r.consumed;
        head.push_back(is_head);
    }
}

// Prints what the client received, for the report of a broken oracle.
void dump(std::string_view got) {
    std::fprintf(stderr, "session_fuzz: the client received %zu bytes:\n", got.size());
    for (const char c : got.substr(0, 2000)) {
        const auto u = static_cast<unsigned char>(c);
        if (u == '\n')
            std::fputs("\\n\n", stderr);
        else if (u >= 0x20 && u < 0x7f)
            std::fputc(c, stderr);
        else
            std::fprintf(stderr, "\\x%02x", u);
    }
    std::fputc('\n', stderr);
}

// Checks what the client received: whole responses, each to the next request, at most one
// more than the requests (an answer to a bad or unfinished one), possibly ended by a
// truncated one or a body that runs to the close; nothing after a response that closes the
// connection.
void check_received(std::string_view got, const std::vector<bool>& heads) {
    const auto fail = [&](const char* what, std::size_t at, const char* why) {
        std::fprintf(stderr, "session_fuzz: the client received %s at byte %zu: %s\n", what, at, why);
        dump(got);
        std::abort();
    };
    http_parser p{http_parser::type::response};
    std::size_t pos = 0, finals = 0;
    while (pos < got.size()) {
        const std::size_t start = pos;
        const bool head = finals < heads.size() && heads[finals];
        p.reset(head);
        auto r = p.feed(got.data() + pos, got.size() - pos);
        if (r.what == http_parser::event::need_more) return;  // truncated at the end
        if (r.what == http_parser::event::error) fail("a malformed response", pos, p.error_reason());
        const bool closing = !p.keep_alive();
        if (closing && head) {
            // A closing answer may be ringlb's own to a request that was unfinished when it
            // answered (the client completed it later): read it as one with its body.
            p.reset(false);
            r = p.feed(got.data() + start, got.size() - start);
        }
        pos = start + r.consumed;
        if (p.status() == 101) return;  // a tunnel: the rest is the backend's, not HTTP
        const bool interim = p.status() >= 100 && p.status() < 200;
        if (!interim && ++finals > heads.size() + 1) fail("more responses than requests", start, "");
        if (p.body_until_eof()) return;  // the rest is its body
        r = p.feed(got.data() + pos, got.size() - pos);
        if (r.what == http_parser::event::need_more) return;
        if (r.what == http_parser::event::error) fail("a malformed body", pos, p.error_reason());
        pos += r.consumed;
        if (closing && pos < got.size()) fail("bytes after a response that closed the connection", pos, "");
    }
}

// Everything that lives across inputs: the worker and the two listeners.
struct world {
    std::uint16_t client_port = 0;
    std::uint16_t backend_port = 0;
    int client_listener = -1;
    int backend_listener = -1;
    std::shared_ptr<const bundle> b;
    std::unique_ptr<worker> w;
    std::size_t descriptors = 0;  // sockets open with no input running

    world() {
        std::signal(SIGPIPE, SIG_IGN);
        client_listener = listen_loopback(client_port);
        backend_listener = listen_loopback(backend_port);
        auto cfg = std::make_shared<config>();
        cfg->server.workers = 1;
        cfg->timeouts.connect = milliseconds{5};
        cfg->timeouts.client_header = milliseconds{5};
        cfg->timeouts.backend_response = milliseconds{10};
        cfg->timeouts.idle = milliseconds{5};
        cfg->timeouts.linger = milliseconds{5};
        cfg->timeouts.tunnel = milliseconds{10};
        cfg->timeouts.shutdown_grace = milliseconds{0};
        cfg->limits.max_header_bytes = 1024;
        cfg->limits.max_body_bytes = 4096;
        cfg->routing.retries = 1;
        cfg->log.access = "off";
        // Two backend ids behind one listener: failover has somewhere to go.
        for (const char* id : {"b1", "b2"}) {
            ringlb::backend_config bc;
            bc.id = id;
            bc.address = {"127.0.0.1", backend_port};
            cfg->backends.push_back(bc);
        }
        std::string error;
        b = build_bundle(*cfg, nullptr, error);
        if (!b) {
            std::fprintf(stderr, "session_fuzz: %s\n", error.c_str());
            std::abort();
        }
        w = std::make_unique<worker>(0, 1, b, nullptr);
        descriptors = open_descriptors();
    }

    // A worker destroyed with its sessions suspended, as when shutdown_grace runs out.
    void replace_worker() {
        w.reset();
        w = std::make_unique<worker>(0, 1, b, nullptr);
    }

    // Runs every handler that is ready, a few times over so loopback deliveries that the
    // handlers cause are seen too.
    void pump() {
        asio::io_context& io = w->io();
        for (int i = 0; i < 4; ++i) {
            io.restart();
            if (io.poll() == 0 && i > 0) break;
        }
    }

    void run_for(milliseconds d) {
        w->io().restart();
        w->io().run_for(d);
        pump();
    }

    void accept_backends(std::vector<int>& backends) const {
        for (;;) {
            const int fd = ::accept4(backend_listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            backends.push_back(fd);
        }
    }
};

world& the_world() {
    static world* w = new world();  // never destroyed: libFuzzer exits without unwinding
    return *w;
}

void send_recorded(int fd, std::string_view bytes, std::string& sent) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) sent.append(bytes.data(), static_cast<std::size_t>(n));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    world& wd = the_world();
    FuzzedDataProvider in{data, size};

    // The client's connection, accepted the way the worker's listener would. A connect
    // that fails is the machine's trouble (ports, descriptors), not an input's: skip it.
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    small_buffers(client);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(wd.client_port);
    if (::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        std::perror("session_fuzz: connect (input skipped)");
        ::close(client);
        return 0;
    }
    set_nonblocking(client);
    int server_side = -1;
    for (int tries = 0; server_side < 0 && tries < 1000; ++tries)
        server_side = ::accept4(wd.client_listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (server_side < 0) {
        ::close(client);
        return 0;
    }
    int client_fd = client;
    std::make_shared<session>(*wd.w, tcp::socket{wd.w->io(), tcp::v4(), server_side})->start();
    wd.pump();

    std::vector<int> backends;
    std::string sent, received;
    milliseconds paused{0};
    while (in.remaining_bytes() > 0) {
        const auto s = static_cast<step>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(step::last)));
        wd.accept_backends(backends);
        const int backend = backends.empty() ? -1 : backends.back();
        switch (s) {
            case step::client_send: {
                const auto bytes = in.ConsumeBytes<char>(in.ConsumeIntegralInRange<std::size_t>(1, 2048));
                if (client_fd >= 0) send_recorded(client_fd, {bytes.data(), bytes.size()}, sent);
                break;
            }
            case step::client_send_canned: {
                const auto m =
                    client_canned[in.ConsumeIntegralInRange<std::size_t>(0, client_canned.size() - 1)];
                if (client_fd >= 0) send_recorded(client_fd, m, sent);
                break;
            }
            case step::client_shutdown:
                if (client_fd >= 0) ::shutdown(client_fd, SHUT_WR);
                break;
            case step::client_reset:
                if (client_fd >= 0) reset_and_close(client_fd);
                client_fd = -1;
                break;
            case step::client_read:
                if (client_fd >= 0) drain(client_fd, &received);
                break;
            case step::pause: {
                // Up to 3x the longest timeout, and at most 60 ms per input in all.
                const milliseconds d{in.ConsumeIntegralInRange<int>(0, 30)};
                if (paused + d <= milliseconds{60}) {
                    paused += d;
                    wd.run_for(d);
                }
                break;
            }
            case step::backend_send: {
                const auto bytes = in.ConsumeBytes<char>(in.ConsumeIntegralInRange<std::size_t>(1, 2048));
                if (backend >= 0) (void)::send(backend, bytes.data(), bytes.size(), MSG_NOSIGNAL);
                break;
            }
            case step::backend_send_canned: {
                const auto m =
                    backend_canned[in.ConsumeIntegralInRange<std::size_t>(0, backend_canned.size() - 1)];
                if (backend >= 0) (void)::send(backend, m.data(), m.size(), MSG_NOSIGNAL);
                break;
            }
            case step::backend_shutdown:
                if (backend >= 0) ::shutdown(backend, SHUT_WR);
                break;
            case step::backend_reset:
                if (backend >= 0) {
                    reset_and_close(backend);
                    backends.pop_back();
                }
                break;
            case step::backend_close:
                if (backend >= 0) {
                    ::close(backend);
                    backends.pop_back();
                }
                break;
            case step::backend_read:
                if (backend >= 0) drain(backend);
                break;
            case step::destroy_worker:
                wd.replace_worker();
                break;
        }
        wd.pump();
    }

    // The client half-closes and reads what is left; the session must end by itself, within
    // its timeouts, and close its side.
    if (client_fd >= 0) ::shutdown(client_fd, SHUT_WR);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    while (wd.w->connections() != 0 && std::chrono::steady_clock::now() < deadline) {
        wd.run_for(milliseconds{1});
        if (client_fd >= 0) drain(client_fd, &received);
    }
    if (wd.w->connections() != 0) {
        std::fprintf(stderr, "session_fuzz: a session outlived its client's close by 2 s\n");
        std::abort();
    }
    if (client_fd >= 0) {
        drain(client_fd, &received);
        ::close(client_fd);
    }
    check_received(received, requests_in(sent));
    wd.accept_backends(backends);
    for (const int fd : backends) ::close(fd);
    wd.w->upstreams().clear();
    wd.pump();
    if (open_descriptors() != wd.descriptors) {
        std::fprintf(stderr, "session_fuzz: %zu sockets open after the input, %zu before\n",
                     open_descriptors(), wd.descriptors);
        list_descriptors();
        std::abort();
    }
    return 0;
}
