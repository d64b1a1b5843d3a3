#include "yoi/net/metrics.hpp"

#include <gtest/gtest.h>

namespace yoi::net {
namespace {

TEST(Metrics, RendersCountersGaugesAndCumulativeHistograms) {
  MetricsRegistry reg;
  auto& req = reg.counter("t_requests_total", "Requests", {"route", "status"});
  req.with({"/a", "200"}).inc();
  req.with({"/a", "200"}).inc(2);
  req.with({"/b", "404"}).inc();
  auto& g = reg.gauge("t_open", "Open things").get();
  g.set(5);
  g.dec();
  auto& h = reg.histogram("t_latency_seconds", "Latency", {}, {0.1, 1}).get();
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  int collected = 0;
  reg.on_collect([&] { ++collected; });
  auto text = reg.render();
  EXPECT_EQ(collected, 1);
  EXPECT_NE(text.find("# TYPE t_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("t_requests_total{route=\"/a\",status=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_requests_total{route=\"/b\",status=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE t_open gauge\nt_open 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_sum 5.55\n"), std::string::npos) << text;
}

TEST(Metrics, SameNameReturnsSameFamilyAndLabelsAreEscaped) {
  MetricsRegistry reg;
  auto& a = reg.counter("x_total", "X", {"v"});
  auto& b = reg.counter("x_total", "X", {"v"});
  EXPECT_EQ(&a, &b);
  a.with({"q\"u\\o\nte"}).inc();
  auto text = reg.render();
  EXPECT_NE(text.find("x_total{v=\"q\\\"u\\\\o\\nte\"} 1"), std::string::npos) << text;
  EXPECT_EQ(escape_label_value("plain"), "plain");
}

}  // namespace
}  // namespace yoi::net
