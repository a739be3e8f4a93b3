// ringlb/common/buffer.hpp: a fixed-capacity byte buffer and the per-worker pool that recycles them.
//
//   ringlb::buffer_pool pool{16384, 256};          // buffer size, buffers kept when idle
//   std::unique_ptr<ringlb::buffer> b = pool.take(); // no allocation once the pool is warm
//   auto w = b->writable();                         // the free space, a std::span<char>
//   auto n = co_await sock.async_read_some(asio::buffer(w.data(), w.size()), use_awaitable);
//   b->commit(n);
//   pool.give(std::move(b));                        // back for the next request
//
// Buffers belong to requests in progress, not to connections: an idle keep-alive client
// holds none (only the session's 1 KiB landing array, see session.hpp), so 10k idle
// connections cost sockets and coroutine frames, not 10k buffers (HAProxy's buffer pools,
// for the same reason).
//
// Thread-safety: none; a pool and its buffers belong to one worker thread.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace ringlb {

class buffer {
public:
    explicit buffer(std::size_t capacity) : data_{new char[capacity]}, capacity_{capacity} {}

    [[nodiscard]] char* data() noexcept { return data_.get(); }
    [[nodiscard]] const char* data() const noexcept { return data_.get(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// Bytes [0, size()) hold data.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool full() const noexcept { return size_ == capacity_; }
    /// Free space after the data, for the next read.
    [[nodiscard]] std::span<char> writable() noexcept { return {data_.get() + size_, capacity_ - size_}; }
    void commit(std::size_t n) noexcept { size_ += n; }
    /// Drops the first n bytes, moving the rest to the front (between messages only: views
    /// into the buffer become invalid).
    void consume(std::size_t n) noexcept {
        if (n >= size_) {
            size_ = 0;
            return;
        }
        std::memmove(data_.get(), data_.get() + n, size_ - n);
        size_ -= n;
    }
    void clear() noexcept { size_ = 0; }

private:
    std::unique_ptr<char[]> data_;
    std::size_t capacity_;
    std::size_t size_ = 0;
};

/// A worker-local free list of objects of one kind (buffers, parsers).
template <class T>
class object_pool {
public:
    using factory = std::unique_ptr<T> (*)(std::size_t arg);
    object_pool(factory make, std::size_t arg, std::size_t max_idle)
        : make_{make}, arg_{arg}, max_idle_{max_idle} {}

    /// A recycled object, or a new one when the pool is empty.
    [[nodiscard]] std::unique_ptr<T> take() {
        if (idle_.empty()) return make_(arg_);
        std::unique_ptr<T> p = std::move(idle_.back());
        idle_.pop_back();
        return p;
    }
    /// Returns an object; beyond max_idle it is freed, so a burst does not pin memory.
    void give(std::unique_ptr<T> p) {
        if (p && idle_.size() < max_idle_) idle_.push_back(std::move(p));
    }
    [[nodiscard]] std::size_t idle() const noexcept { return idle_.size(); }

private:
    factory make_;
    std::size_t arg_;
    std::size_t max_idle_;
    std::vector<std::unique_ptr<T>> idle_;
};

using buffer_pool = object_pool<buffer>;

}  // namespace ringlb
