#include "ringlb/proxy/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace ringlb {

namespace {

constexpr std::size_t max_queued_bytes = 16u << 20;
constexpr std::size_t flush_threshold = 64u << 10;

void write_all(int fd, std::string_view s) noexcept {
    while (!s.empty()) {
        const ssize_t n = ::write(fd, s.data(), s.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nothing sensible to do with a failing log; the proxy keeps serving
        }
        s.remove_prefix(static_cast<std::size_t>(n));
    }
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u%04x", c);
            out.append(esc);
        } else {
            out.push_back(ch);  // UTF-8 and other bytes pass as they are
        }
    }
    out.push_back('"');
}

void append_uint(std::string& out, std::uint64_t v) {
    char tmp[24];
    char* p = tmp + sizeof tmp;
    do {
        *--p = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    out.append(p, static_cast<std::size_t>(tmp + sizeof tmp - p));
}

}  // namespace

std::unique_ptr<access_log> access_log::open(const std::string& target, std::string& error) {
    if (target == "off") return nullptr;
    if (target == "stdout") return std::unique_ptr<access_log>(new access_log(STDOUT_FILENO, false));
    const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = "cannot open access log " + target + ": " + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<access_log>(new access_log(fd, true));
}

access_log::access_log(int fd, bool owns_fd) : fd_{fd}, owns_fd_{owns_fd} {
    thread_ = std::thread([this] { run(); });
}

access_log::~access_log() {
    {
        std::lock_guard lock{mutex_};
        stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
    if (owns_fd_) ::close(fd_);
}

void access_log::submit(std::string& batch) {
    if (batch.empty()) return;
    std::string replacement;
    {
        std::lock_guard lock{mutex_};
        if (queued_bytes_ + batch.size() > max_queued_bytes) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            batch.clear();
            return;
        }
        queued_bytes_ += batch.size();
        queue_.push_back(std::move(batch));
        if (!spare_.empty()) {
            replacement = std::move(spare_.back());
            spare_.pop_back();
        }
    }
    cv_.notify_one();
    batch = std::move(replacement);
    batch.clear();
}

void access_log::run() {
    std::vector<std::string> work;
    std::unique_lock lock{mutex_};
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty() && stop_) break;
        work.swap(queue_);
        queued_bytes_ = 0;
        lock.unlock();
        for (std::string& s : work) write_all(fd_, s);
        lock.lock();
        for (std::string& s : work) {
            s.clear();
            if (spare_.size() < 64) spare_.push_back(std::move(s));
        }
        work.clear();
    }
    if (const auto d = dropped_.load(std::memory_order_relaxed); d != 0)
        std::fprintf(stderr, "ringlb: access log dropped %llu batches (writer too slow)\n",
                     static_cast<unsigned long long>(d));
}

bool access_log_writer::append(const access_entry& e) {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
    const std::int64_t sec = ms / 1000;
    if (sec != cached_second_) {
        cached_second_ = sec;
        const std::time_t t = static_cast<std::time_t>(sec);
        std::tm tm{};
        gmtime_r(&t, &tm);
        std::strftime(time_prefix_, sizeof time_prefix_, "%Y-%m-%dT%H:%M:%S", &tm);
    }
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));

    std::string& out = buffer_;
    out.append("{\"time\":\"").append(time_prefix_).append(frac).append("\",\"client\":");
    append_json_string(out, e.client);
    out.append(",\"method\":");
    append_json_string(out, e.method);
    out.append(",\"path\":");
    append_json_string(out, e.path);
    out.append(",\"status\":");
    append_uint(out, static_cast<std::uint64_t>(e.status));
    out.append(",\"backend\":");
    if (e.backend.empty())
        out.append("null");
    else
        append_json_string(out, e.backend);
    out.append(",\"key_hash\":");
    if (e.key_hash) {
        char hex[24];
        std::snprintf(hex, sizeof hex, "\"%016llx\"", static_cast<unsigned long long>(*e.key_hash));
        out.append(hex);
    } else {
        out.append("null");
    }
    out.append(",\"bytes\":");
    append_uint(out, e.bytes);
    out.append(",\"duration_us\":");
    append_uint(out, e.duration_us);
    out.append(",\"retries\":");
    append_uint(out, e.retries);
    if (e.rate_limited) out.append(",\"rate_limited\":true");
    out.append("}\n");
    return out.size() >= flush_threshold;
}

void access_log_writer::flush() {
    if (log_ != nullptr && !buffer_.empty()) log_->submit(buffer_);
}

}  // namespace ringlb
