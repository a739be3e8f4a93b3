#include "ringlb/tools/simulation.hpp"

#include <chash/bounded_load.hpp>
#include <chash/ketama.hpp>
#include <chash/maglev.hpp>
#include <chash/ring.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace ringlb::tools {
namespace {

using clock_type = std::chrono::steady_clock;

double elapsed_ms(clock_type::time_point since) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - since).count();
}

// Places keys one at a time, plainly or with bounded loads over the keys placed so far.
class placer {
public:
    placer(const chash::algorithm& algo, std::span<const chash::node> nodes, double balance_factor)
        : algo_{algo}, nodes_{nodes}, counts_(nodes.size(), 0) {
        if (balance_factor > 0) bounded_.emplace(balance_factor);
        for (const auto& n : nodes) eligible_ += n.weight > 0 ? 1 : 0;
    }

    std::size_t place(std::uint64_t key_hash) {
        std::size_t owner = algo_.pick_hashed(key_hash);
        if (bounded_ && owner != chash::npos && counts_[owner] >= bounded_->cap(placed_, eligible_)) {
            // Only the rare full-first-choice key pays for the candidate walk.
            owner = bounded_->pick(algo_, key_hash, placed_, eligible_, [&](std::size_t i) {
                return nodes_[i].weight == 0 ? chash::bounded_load::ineligible : counts_[i];
            });
        }
        if (owner == chash::npos) return owner;
        ++counts_[owner];
        ++placed_;
        return owner;
    }

    std::vector<std::uint64_t>& counts() noexcept { return counts_; }

private:
    const chash::algorithm& algo_;
    std::span<const chash::node> nodes_;
    std::vector<std::uint64_t> counts_;
    std::optional<chash::bounded_load> bounded_;
    std::uint64_t placed_ = 0;
    std::size_t eligible_ = 0;
};

spread summarize(std::span<const chash::node> nodes, std::vector<std::uint64_t> counts, std::uint64_t keys,
                 std::uint64_t unplaced) {
    spread s;
    s.keys = std::move(counts);
    s.unplaced = unplaced;
    std::uint64_t total_weight = 0;
    for (const auto& n : nodes) total_weight += n.weight;
    if (total_weight == 0 || keys == 0) return s;
    bool first = true;
    double sum_sq = 0;
    std::size_t weighted = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].weight == 0) continue;
        const double expected = static_cast<double>(keys) * nodes[i].weight / static_cast<double>(total_weight);
        const double ratio = static_cast<double>(s.keys[i]) / expected;
        if (first || ratio < s.min_ratio) {
            s.min_ratio = ratio;
            s.min_node = i;
            s.min_keys = s.keys[i];
        }
        if (first || ratio > s.peak_to_mean) {
            s.peak_to_mean = ratio;
            s.max_node = i;
            s.max_keys = s.keys[i];
        }
        first = false;
        sum_sq += (ratio - 1) * (ratio - 1);
        ++weighted;
    }
    s.stddev = std::sqrt(sum_sq / static_cast<double>(weighted));
    return s;
}

// Written by the timing loop so the compiler cannot drop the lookups it times.
volatile std::size_t lookup_sink = 0;

double measure_lookup_ns(const chash::algorithm& algo, std::uint64_t keys) {
    // Keys prepared up front so the timing covers hash + pick only. A 64 Ki key working set
    // fits in cache, as a proxy's hot keys do; the placement itself may not.
    const std::uint64_t distinct = std::min<std::uint64_t>(keys, 65536);
    const std::uint64_t lookups = std::clamp<std::uint64_t>(keys, distinct, 1'000'000);
    std::vector<std::string> prepared;
    prepared.reserve(distinct);
    std::array<char, 32> buf;
    for (std::uint64_t i = 0; i < distinct; ++i) prepared.emplace_back(simulated_key(i, buf));
    std::size_t sink = 0;
    const auto start = clock_type::now();
    for (std::uint64_t i = 0; i < lookups; ++i) sink += algo.pick_hashed(algo.hash_key(prepared[i % distinct]));
    const double ms = elapsed_ms(start);
    lookup_sink = sink;
    return ms * 1e6 / static_cast<double>(lookups);
}

}  // namespace

std::string_view simulated_key(std::uint64_t i, std::array<char, 32>& buf) noexcept {
    std::memcpy(buf.data(), "key-", 4);
    const auto [end, ec] = std::to_chars(buf.data() + 4, buf.data() + buf.size(), i);
    (void)ec;   // 20 digits always fit
    return {buf.data(), static_cast<std::size_t>(end - buf.data())};
}

double ideal_moved_fraction(std::span<const chash::node> before, std::span<const chash::node> after) {
    double wb = 0;
    double wa = 0;
    for (const auto& n : before) wb += n.weight;
    for (const auto& n : after) wa += n.weight;
    if (wb == 0 || wa == 0) return wb == wa ? 0.0 : 1.0;
    std::unordered_map<std::string_view, double> share_after;
    for (const auto& n : after) share_after[n.id] = n.weight / wa;
    double kept = 0;
    for (const auto& n : before) {
        if (const auto it = share_after.find(n.id); it != share_after.end()) kept += std::min(n.weight / wb, it->second);
    }
    return std::max(0.0, 1.0 - kept);
}

simulation simulate(const scenario& s) {
    simulation r;
    r.algorithm = s.before.algorithm;
    r.options = s.before.options;
    r.nodes_before = s.before.nodes;
    r.keys = s.keys;
    r.balance_factor = s.balance_factor;
    if (s.balance_factor != 0 && !(s.balance_factor > 1 && std::isfinite(s.balance_factor))) {
        throw usage_error("--balance-factor must be 0 (off) or greater than 1, e.g. 1.25");
    }

    const auto start = clock_type::now();
    const auto before = s.before.build();
    r.build_ms = elapsed_ms(start);
    r.memory_bytes = before->memory_bytes();
    if (s.measure_lookup) r.lookup_ns = measure_lookup_ns(*before, s.keys);

    const bool has_change = !s.remove.empty() || !s.add.empty();
    std::unique_ptr<const chash::algorithm> after;
    std::vector<std::size_t> after_of_before;   // before index -> after index or npos
    std::vector<bool> is_new;                   // after index -> joined with the change
    if (has_change) {
        std::unordered_set<std::string_view> leaving;
        for (const auto& id : s.remove) {
            const bool known = std::any_of(r.nodes_before.begin(), r.nodes_before.end(),
                                           [&](const chash::node& n) { return n.id == id; });
            if (!known) throw usage_error("--remove: no node \"" + id + "\"");
            if (!leaving.insert(id).second) throw usage_error("--remove: \"" + id + "\" given twice");
        }
        after_of_before.assign(r.nodes_before.size(), chash::npos);
        for (std::size_t i = 0; i < r.nodes_before.size(); ++i) {
            if (leaving.contains(r.nodes_before[i].id)) continue;
            after_of_before[i] = r.nodes_after.size();
            r.nodes_after.push_back(r.nodes_before[i]);
        }
        is_new.assign(r.nodes_after.size(), false);
        for (const auto& n : s.add) {
            const bool taken = std::any_of(r.nodes_after.begin(), r.nodes_after.end(),
                                           [&](const chash::node& m) { return m.id == n.id; });
            if (taken) throw usage_error("--add: node \"" + n.id + "\" already exists");
            r.nodes_after.push_back(n);
            is_new.push_back(true);
        }
        if (r.nodes_after.empty()) throw usage_error("--remove: removing every node leaves nothing to route to");
        after = pool{s.before.algorithm, r.nodes_after, s.before.options}.build();
    }

    placer place_before{*before, r.nodes_before, s.balance_factor};
    std::optional<placer> place_after;
    movement m;
    if (after) {
        place_after.emplace(*after, r.nodes_after, s.balance_factor);
        m.gained.assign(r.nodes_after.size(), 0);
        m.lost.assign(r.nodes_before.size(), 0);
    }
    std::uint64_t unplaced_before = 0;
    std::uint64_t unplaced_after = 0;
    std::array<char, 32> buf;
    for (std::uint64_t i = 0; i < s.keys; ++i) {
        // Both placements are of the same kind, so one hash serves both (ketama's is MD5).
        const std::uint64_t h = before->hash_key(simulated_key(i, buf));
        const std::size_t b = place_before.place(h);
        if (b == chash::npos) ++unplaced_before;
        if (!place_after) continue;
        const std::size_t a = place_after->place(h);
        if (a == chash::npos) {
            ++unplaced_after;
            continue;
        }
        if (b == chash::npos || after_of_before[b] == a) continue;
        ++m.moved;
        ++m.gained[a];
        ++m.lost[b];
        if (after_of_before[b] != chash::npos && !is_new[a]) ++m.between_survivors;
    }
    r.before = summarize(r.nodes_before, std::move(place_before.counts()), s.keys, unplaced_before);
    if (place_after) {
        r.after = summarize(r.nodes_after, std::move(place_after->counts()), s.keys, unplaced_after);
        m.moved_fraction = s.keys == 0 ? 0.0 : static_cast<double>(m.moved) / static_cast<double>(s.keys);
        m.ideal_fraction = ideal_moved_fraction(r.nodes_before, r.nodes_after);
        r.change = std::move(m);
    }
    return r;
}

}  // namespace ringlb::tools
