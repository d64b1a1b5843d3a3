#include "yoi/net/metrics.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include <fmt/format.h>

namespace yoi::net {

void Histogram::observe(double v) {
  ++count_;
  sum_ += v;
  auto it = std::lower_bound(bounds_->begin(), bounds_->end(), v);
  if (it != bounds_->end()) ++counts_[static_cast<std::size_t>(it - bounds_->begin())];
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

template <class F>
F& find_or_add(std::vector<std::unique_ptr<F>>& v, std::vector<std::pair<char, void*>>* order,
               std::string name, std::string help, std::vector<std::string> labels) {
  for (auto& f : v)
    if (f->name == name) return *f;
  auto f = std::make_unique<F>();
  f->name = std::move(name);
  f->help = std::move(help);
  f->label_names = std::move(labels);
  v.push_back(std::move(f));
  return *v.back();
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

std::string labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i) out += ',';
    out += fmt::format("{}=\"{}\"", names[i], escape_label_value(values[i]));
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += fmt::format("{}=\"{}\"", extra_name, extra_value);
  }
  out += '}';
  return out;
}

}  // namespace

Family<Counter>& MetricsRegistry::counter(std::string name, std::string help,
                                          std::vector<std::string> labels) {
  for (auto& f : counters_)
    if (f->name == name) return *f;
  auto& f = find_or_add(counters_, nullptr, std::move(name), std::move(help), std::move(labels));
  order_.push_back({'c', &f});
  return f;
}

Family<Gauge>& MetricsRegistry::gauge(std::string name, std::string help,
                                      std::vector<std::string> labels) {
  for (auto& f : gauges_)
    if (f->name == name) return *f;
  auto& f = find_or_add(gauges_, nullptr, std::move(name), std::move(help), std::move(labels));
  order_.push_back({'g', &f});
  return f;
}

Family<Histogram>& MetricsRegistry::histogram(std::string name, std::string help,
                                              std::vector<std::string> labels,
                                              std::vector<double> bounds) {
  for (auto& f : histograms_)
    if (f->name == name) return *f;
  auto& f = find_or_add(histograms_, nullptr, std::move(name), std::move(help), std::move(labels));
  std::sort(bounds.begin(), bounds.end());
  f.bounds = std::move(bounds);
  order_.push_back({'h', &f});
  return f;
}

void MetricsRegistry::on_collect(std::function<void()> fn) { collectors_.push_back(std::move(fn)); }

std::vector<double> MetricsRegistry::latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string MetricsRegistry::render() {
  for (auto& c : collectors_) c();
  std::string out;
  for (const auto& e : order_) {
    if (e.kind == 'c') {
      auto& f = *static_cast<Family<Counter>*>(e.family);
      out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", f.name, f.help, f.name);
      for (auto& [vals, m] : f.series)
        out += fmt::format("{}{} {}\n", f.name, labels(f.label_names, vals), number(m->value()));
    } else if (e.kind == 'g') {
      auto& f = *static_cast<Family<Gauge>*>(e.family);
      out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", f.name, f.help, f.name);
      for (auto& [vals, m] : f.series)
        out += fmt::format("{}{} {}\n", f.name, labels(f.label_names, vals), number(m->value()));
    } else {
      auto& f = *static_cast<Family<Histogram>*>(e.family);
      out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", f.name, f.help, f.name);
      for (auto& [vals, m] : f.series) {
        std::uint64_t cum = 0;
        for (std::size_t i = 0; i < f.bounds.size(); ++i) {
          cum += m->buckets()[i];
          out += fmt::format("{}_bucket{} {}\n", f.name,
                             labels(f.label_names, vals, "le", number(f.bounds[i])), cum);
        }
        out += fmt::format("{}_bucket{} {}\n", f.name, labels(f.label_names, vals, "le", "+Inf"),
                           m->count());
        out += fmt::format("{}_sum{} {}\n", f.name, labels(f.label_names, vals), number(m->sum()));
        out += fmt::format("{}_count{} {}\n", f.name, labels(f.label_names, vals), m->count());
      }
    }
  }
  return out;
}

}  // namespace yoi::net
