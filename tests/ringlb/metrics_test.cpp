// Metrics: counters, the latency histogram's buckets at their bounds, sums of histograms
// and their quantiles (empty, interpolated inside a bucket, the +Inf bucket), and the
// Prometheus text exposition (HELP and TYPE, label escaping, cumulative buckets whose +Inf
// equals _count), checked as exact text on small cases.
#include "ringlb/metrics/counter.hpp"
#include "ringlb/metrics/histogram.hpp"
#include "ringlb/metrics/prometheus.hpp"
#include "ringlb/metrics/shards.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace {

using ringlb::metrics::latency_bounds_us;
using ringlb::metrics::latency_buckets;
using ringlb::metrics::latency_histogram;
using ringlb::metrics::latency_totals;

constexpr std::size_t inf_bucket = latency_buckets - 1;

// The bucket an observation lands in.
std::size_t bucket_of(std::uint64_t us) {
    latency_histogram h;
    h.observe(us);
    std::size_t found = latency_buckets;
    for (std::size_t i = 0; i < latency_buckets; ++i) {
        if (h.bucket(i) == 1) {
            EXPECT_EQ(found, latency_buckets) << "one observation, one bucket";
            found = i;
        } else {
            EXPECT_EQ(h.bucket(i), 0u);
        }
    }
    return found;
}

TEST(Metrics, CounterAddsAndSets) {
    ringlb::metrics::counter c;
    EXPECT_EQ(c.get(), 0u);
    c.add();
    c.add(41);
    EXPECT_EQ(c.get(), 42u);
    c.set(7);
    EXPECT_EQ(c.get(), 7u);
    c.add();
    EXPECT_EQ(c.get(), 8u);
}

TEST(Metrics, HistogramBucketsIncludeTheirUpperBound) {
    EXPECT_EQ(latency_buckets, 15u);
    EXPECT_EQ(bucket_of(0), 0u);
    EXPECT_EQ(bucket_of(500), 0u) << "500 us is at most 0.0005 s";
    EXPECT_EQ(bucket_of(501), 1u);
    EXPECT_EQ(bucket_of(1000), 1u);
    EXPECT_EQ(bucket_of(1001), 2u);
    for (std::size_t i = 0; i < latency_bounds_us.size(); ++i) {
        EXPECT_EQ(bucket_of(latency_bounds_us[i]), i) << latency_bounds_us[i];
        EXPECT_EQ(bucket_of(latency_bounds_us[i] + 1), i + 1) << latency_bounds_us[i] + 1;
    }
    EXPECT_EQ(bucket_of(10'000'000), inf_bucket - 1) << "10 s is the last finite bucket";
    EXPECT_EQ(bucket_of(10'000'001), inf_bucket);
    EXPECT_EQ(bucket_of(std::numeric_limits<std::uint64_t>::max()), inf_bucket);
}

TEST(Metrics, HistogramSumsWhatItObserved) {
    latency_histogram h;
    h.observe(300);
    h.observe(700);
    h.observe(20'000'000);
    EXPECT_EQ(h.sum_us(), 20'001'000u);
    EXPECT_EQ(h.bucket(0), 1u);
    EXPECT_EQ(h.bucket(1), 1u);
    EXPECT_EQ(h.bucket(inf_bucket), 1u);
}

TEST(Metrics, TotalsAddShardsAndCount) {
    latency_histogram a, b;
    a.observe(100);
    a.observe(2000);
    b.observe(100);
    latency_totals t;
    t.add(a);
    t.add(b);
    EXPECT_EQ(t.buckets[0], 2u);
    EXPECT_EQ(t.buckets[2], 1u);
    EXPECT_EQ(t.count(), 3u);
    EXPECT_EQ(t.sum_us, 2200u);
}

TEST(Metrics, SinceIsTheDifferenceAndNeverNegative) {
    latency_histogram h;
    h.observe(100);
    latency_totals earlier;
    earlier.add(h);
    h.observe(100);
    h.observe(3000);
    latency_totals now;
    now.add(h);
    const latency_totals d = now.since(earlier);
    EXPECT_EQ(d.buckets[0], 1u);
    EXPECT_EQ(d.buckets[3], 1u);
    EXPECT_EQ(d.count(), 2u);
    EXPECT_EQ(d.sum_us, 3100u);
    // A reading from a larger set (a backend replaced by one of the same id) is no negative.
    const latency_totals back = earlier.since(now);
    EXPECT_EQ(back.count(), 0u);
    EXPECT_EQ(back.sum_us, 0u);
}

TEST(Metrics, QuantileOfNothingIsMinusOne) {
    EXPECT_EQ(latency_totals{}.quantile(0.5), -1);
    EXPECT_EQ(latency_totals{}.quantile(0.99), -1);
}

TEST(Metrics, QuantileInterpolatesInsideItsBucket) {
    latency_totals t;
    t.buckets[1] = 100;  // (500 us, 1000 us]
    EXPECT_DOUBLE_EQ(t.quantile(0.5), 750e-6);
    EXPECT_DOUBLE_EQ(t.quantile(0.9), 950e-6);
    EXPECT_DOUBLE_EQ(t.quantile(1.0), 1000e-6);
    EXPECT_DOUBLE_EQ(t.quantile(0.0), 500e-6);

    latency_totals two;
    two.buckets[0] = 50;  // [0, 500 us]
    two.buckets[2] = 50;  // (1000 us, 2500 us]
    EXPECT_DOUBLE_EQ(two.quantile(0.25), 250e-6);
    EXPECT_DOUBLE_EQ(two.quantile(0.5), 500e-6) << "the rank falls at the end of the first bucket";
    EXPECT_DOUBLE_EQ(two.quantile(0.75), 1750e-6) << "the empty bucket between adds nothing";
    EXPECT_DOUBLE_EQ(two.quantile(0.99), (1000 + 1500 * 0.98) * 1e-6);
}

TEST(Metrics, QuantileInTheInfBucketIsItsLowerBound) {
    latency_totals t;
    t.buckets[inf_bucket] = 10;
    EXPECT_DOUBLE_EQ(t.quantile(0.5), 10.0);
    EXPECT_DOUBLE_EQ(t.quantile(0.99), 10.0);
    t.buckets[0] = 90;
    EXPECT_DOUBLE_EQ(t.quantile(0.95), 10.0) << "the top 10% are past 10 s";
    EXPECT_LE(t.quantile(0.5), 500e-6);
}

TEST(Metrics, QuantileOfObservationsLandsInTheirBucket) {
    latency_histogram h;
    for (int i = 0; i < 1000; ++i) h.observe(3000 + static_cast<std::uint64_t>(i));  // (2500, 5000]
    latency_totals t;
    t.add(h);
    for (const double q : {0.01, 0.5, 0.99}) {
        EXPECT_GT(t.quantile(q), 2500e-6) << q;
        EXPECT_LE(t.quantile(q), 5000e-6) << q;
    }
}

TEST(Prometheus, FamilyWritesHelpAndTypeAndInfoIsAGauge) {
    ringlb::metrics::exposition out;
    out.family("ringlb_requests_total", "counter", "Requests answered.");
    out.sample("ringlb_requests_total", {}, std::uint64_t{42});
    out.family("ringlb_build_info", "info", "The version.");
    out.sample("ringlb_build_info", {{"version", "0.1.0"}}, std::uint64_t{1});
    out.family("ringlb_share", "gauge", "A share.");
    out.sample("ringlb_share", {{"backend", "a"}, {"kind", "x"}}, 0.25);
    EXPECT_EQ(out.take(),
              "# HELP ringlb_requests_total Requests answered.\n"
              "# TYPE ringlb_requests_total counter\n"
              "ringlb_requests_total 42\n"
              "# HELP ringlb_build_info The version.\n"
              "# TYPE ringlb_build_info gauge\n"
              "ringlb_build_info{version=\"0.1.0\"} 1\n"
              "# HELP ringlb_share A share.\n"
              "# TYPE ringlb_share gauge\n"
              "ringlb_share{backend=\"a\",kind=\"x\"} 0.25\n");
}

TEST(Prometheus, LabelValuesAreEscaped) {
    EXPECT_EQ(ringlb::metrics::escape_label("plain-id_1.2:3"), "plain-id_1.2:3");
    EXPECT_EQ(ringlb::metrics::escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    EXPECT_EQ(ringlb::metrics::escape_label("\\\\"), "\\\\\\\\");
    EXPECT_EQ(ringlb::metrics::escape_label(""), "");
    ringlb::metrics::exposition out;
    out.sample("m", {{"backend", "x\"}\n{y"}}, std::uint64_t{1});
    EXPECT_EQ(out.take(), "m{backend=\"x\\\"}\\n{y\"} 1\n") << "one line, the quote cannot end the value";
}

TEST(Prometheus, HistogramBucketsAreCumulativeAndInfIsTheCount) {
    latency_histogram h;
    h.observe(300);         // le 0.0005
    h.observe(2000);        // le 0.0025
    h.observe(20'000'000);  // +Inf
    latency_totals t;
    t.add(h);
    ringlb::metrics::exposition out;
    out.histogram("rt_seconds", {{"backend", "a"}}, t);
    EXPECT_EQ(out.take(),
              "rt_seconds_bucket{backend=\"a\",le=\"0.0005\"} 1\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.001\"} 1\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.0025\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.005\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.01\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.025\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.05\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.1\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.25\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"0.5\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"1\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"2.5\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"5\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"10\"} 2\n"
              "rt_seconds_bucket{backend=\"a\",le=\"+Inf\"} 3\n"
              "rt_seconds_sum{backend=\"a\"} 20.0023\n"
              "rt_seconds_count{backend=\"a\"} 3\n");
}

TEST(Prometheus, AHistogramWithoutLabelsHasOnlyLe) {
    latency_totals t;
    ringlb::metrics::exposition out;
    out.histogram("h", {}, t);
    const std::string text = out.take();
    EXPECT_EQ(text.rfind("h_bucket{le=\"0.0005\"} 0\n", 0), 0u) << text;
    EXPECT_NE(text.find("h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"), std::string::npos) << text;
}

TEST(Metrics, OwnStatusIndexCoversEveryStatusRinglbAnswers) {
    for (std::size_t i = 0; i < ringlb::metrics::own_statuses.size(); ++i)
        EXPECT_EQ(ringlb::metrics::own_status_index(ringlb::metrics::own_statuses[i]), i);
    EXPECT_EQ(ringlb::metrics::own_statuses[ringlb::metrics::own_status_index(418)], 500)
        << "anything else counts as ringlb's own 500";
}

}  // namespace
