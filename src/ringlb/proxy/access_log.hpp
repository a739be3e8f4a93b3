// ringlb/proxy/access_log.hpp: one JSON object per request, written off the worker threads.
//
//   auto log = ringlb::access_log::open("stdout", err);      // null for "off"
//   ringlb::access_log_writer w{log.get()};                   // one per worker
//   w.append(entry);                                          // formats into a local buffer
//   w.flush();                                                // every ~100ms or 64 KiB
//
// {"time":"2025-01-31T12:00:00.123Z","client":"10.0.0.7","method":"GET","path":"/a",
//  "status":200,"backend":"app-1","key_hash":"9f3c...","bytes":512,"duration_us":830,
//  "retries":0}                     (+ "rate_limited":true when over [rate_limit])
//
// Workers format lines into their own buffer and hand whole batches to a logging thread,
// one lock per batch, never per request. The thread does the write(2) calls, so a slow
// disk or a full stdout pipe stalls the log, not the proxy: past 16 MiB queued, batches are
// dropped and counted (reported on the next write that succeeds and at exit). The raw key
// is never logged, only its hash.
//
// Thread-safety: access_log::submit may be called from any thread (mutex per batch);
// an access_log_writer belongs to one worker thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ringlb {

/// What one request contributes to the log.
struct access_entry {
    std::string_view client;
    std::string_view method;
    std::string_view path;
    int status = 0;
    std::string_view backend;               ///< empty when no backend was chosen
    std::optional<std::uint64_t> key_hash;  ///< absent for keyless requests
    std::uint64_t bytes = 0;                ///< bytes sent to the client
    std::uint64_t duration_us = 0;
    unsigned retries = 0;
    bool rate_limited = false;  ///< logged as "rate_limited":true only when set
};

class access_log {
public:
    /// "stdout", "off" (returns null) or a file path (appended to). Null + error on failure.
    [[nodiscard]] static std::unique_ptr<access_log> open(const std::string& target, std::string& error);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    /// Queues `batch` for writing and gives back an empty buffer with capacity.
    void submit(std::string& batch);
    /// Batches dropped because the writer fell behind.
    [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

private:
    explicit access_log(int fd, bool owns_fd);
    void run();

    int fd_;
    bool owns_fd_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::string> queue_;  // guarded by mutex_
    std::vector<std::string> spare_;  // guarded by mutex_: emptied buffers, capacity kept
    std::size_t queued_bytes_ = 0;    // guarded by mutex_
    bool stop_ = false;               // guarded by mutex_
    std::atomic<std::uint64_t> dropped_{0};
    std::thread thread_;
};

/// A worker's side of the log: formats entries into a local buffer.
class access_log_writer {
public:
    explicit access_log_writer(access_log* log) : log_{log} {}
    [[nodiscard]] bool enabled() const noexcept { return log_ != nullptr; }
    /// Appends one line; returns true when the buffer is large enough to flush now.
    bool append(const access_entry& e);
    /// Hands the buffered lines to the logging thread.
    void flush();
    [[nodiscard]] bool empty() const noexcept { return buffer_.empty(); }

private:
    access_log* log_;
    std::string buffer_;
    std::int64_t cached_second_ = -1;
    char time_prefix_[24] = {};  // "YYYY-MM-DDTHH:MM:SS" of cached_second_
};

}  // namespace ringlb
