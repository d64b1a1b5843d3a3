#pragma once
// A small Prometheus registry (text exposition format 0.0.4): counters,
// gauges and histograms, each a family with fixed label names. No Prometheus
// client library is packaged for Debian 12, and we need only this much.
//
// Threading: confined to the io thread like everything else in net/ (series
// are plain doubles). Label values must come from bounded sets (route
// patterns, status codes, results) — never ids, URLs or secrets.

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace yoi::net {

class Counter {
 public:
  void inc(double v = 1) { value_ += v; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

class Gauge {
 public:
  void set(double v) { value_ = v; }
  void inc(double v = 1) { value_ += v; }
  void dec(double v = 1) { value_ -= v; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds) : bounds_(bounds), counts_(bounds->size(), 0) {}
  void observe(double v);
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // Non-cumulative count of bucket i (le bounds[i]).
  const std::vector<std::uint64_t>& buckets() const { return counts_; }
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  const std::vector<double>* bounds_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// One metric name with its label names; a series per distinct label values.
template <class M>
class Family {
 public:
  // The series for these label values (in label-name order), created on
  // first use. A wrong number of values is a programming error (asserts).
  M& with(std::initializer_list<std::string_view> values) {
    return with(std::vector<std::string>(values.begin(), values.end()));
  }
  M& with(const std::vector<std::string>& values);
  M& get() { return with(std::vector<std::string>{}); }  // no labels

  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // histograms only
  std::map<std::vector<std::string>, std::unique_ptr<M>> series;
};

class MetricsRegistry {
 public:
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  // `bounds`: ascending upper bounds; +Inf is implicit.
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<std::string> labels,
                               std::vector<double> bounds);
  // Runs before every render, e.g. to set gauges computed on demand.
  void on_collect(std::function<void()> fn);

  // Text exposition format, families in registration order.
  std::string render();

  static std::vector<double> latency_buckets();  // seconds, 0.5 ms … 10 s

 private:
  struct Entry {
    char kind;  // 'c', 'g', 'h'
    void* family;
  };
  std::vector<Entry> order_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::function<void()>> collectors_;
};

template <class M>
M& Family<M>::with(const std::vector<std::string>& values) {
  auto it = series.find(values);
  if (it != series.end()) return *it->second;
  std::unique_ptr<M> m;
  if constexpr (std::is_same_v<M, Histogram>)
    m = std::make_unique<M>(&bounds);
  else
    m = std::make_unique<M>();
  M& ref = *m;
  series.emplace(values, std::move(m));
  return ref;
}

// Prometheus label-value escaping (\\, \", \n).
std::string escape_label_value(std::string_view v);

}  // namespace yoi::net
