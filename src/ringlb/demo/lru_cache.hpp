// ringlb/demo/lru_cache.hpp: a bounded least-recently-used map from string keys to values.
//
//   ringlb::demo::lru_cache<profile> cache{1000};   // holds at most 1000 users
//   if (profile* p = cache.find("alice")) { ... }   // a hit: "alice" becomes most recent
//   else cache.insert("alice", load_profile("alice"));  // a miss; evicts the oldest when full
//
// The demo backends keep one per process to stand for the per-user state an application
// server keeps in RAM, which is what consistent hashing exists to preserve. Lookups take a
// string_view and do not allocate; once the cache is full, an insert recycles the evicted
// entry's node instead of allocating a new one.
//
// Thread-safety: none; a cache belongs to one thread (the demo backends' event loop).
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace ringlb::demo {

template <class Value>
class lru_cache {
public:
    /// A cache that holds at most `capacity` entries (at least one).
    explicit lru_cache(std::size_t capacity) : capacity_{capacity == 0 ? 1 : capacity} {
        index_.reserve(capacity_);
    }
    lru_cache(const lru_cache&) = delete;
    lru_cache& operator=(const lru_cache&) = delete;

    /// The value cached for `key` (now the most recently used), or nullptr on a miss.
    [[nodiscard]] Value* find(std::string_view key) {
        const auto it = index_.find(key);
        if (it == index_.end()) return nullptr;
        order_.splice(order_.begin(), order_, it->second);
        return &it->second->value;
    }

    /// Caches `value` under `key` as the most recently used entry, replacing any value it
    /// had; when the cache is full, the least recently used entry is evicted first.
    Value& insert(std::string_view key, Value value) {
        if (Value* existing = find(key)) {
            *existing = std::move(value);
            return *existing;
        }
        if (order_.size() == capacity_) {
            // Reuse the oldest node: its key string keeps its buffer, so a cache of
            // similar-length ids stops allocating once warm.
            auto oldest = std::prev(order_.end());
            index_.erase(std::string_view{oldest->key});
            oldest->key.assign(key);
            oldest->value = std::move(value);
            order_.splice(order_.begin(), order_, oldest);
        } else {
            order_.push_front(entry{std::string{key}, std::move(value)});
        }
        // The index keys view the strings inside the list nodes, which never move.
        index_.emplace(std::string_view{order_.front().key}, order_.begin());
        return order_.front().value;
    }

    /// Whether `key` is cached, without touching its recency.
    [[nodiscard]] bool contains(std::string_view key) const { return index_.contains(key); }
    [[nodiscard]] std::size_t size() const noexcept { return order_.size(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// Drops every entry (the capacity stays).
    void clear() noexcept {
        index_.clear();
        order_.clear();
    }

private:
    struct entry {
        std::string key;
        Value value;
    };
    using list = std::list<entry>;

    std::size_t capacity_;
    list order_;  ///< most recently used first
    std::unordered_map<std::string_view, typename list::iterator> index_;
};

}  // namespace ringlb::demo
