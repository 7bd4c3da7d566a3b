#include "metrics/result_columns.hpp"

#include <type_traits>

#include "metrics/timed_metrics.hpp"

namespace kvsim {

namespace {
using I = std::int64_t;
using P = PointResult;

std::string sweep_label(const ExperimentConfig& c) {
  std::string s;
  for (const auto& [k, v] : c.sweep) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

// The type a metric of C++ type T is stored as (bool: int64 0/1).
template <class T>
using Stored = std::conditional_t<std::is_same_v<T, bool> || std::is_same_v<T, std::int64_t>, I, T>;

std::string series_name(const char* s) { return std::string(s) == "none" ? "" : s; }

// Appends the column to `out` when its stored type is T (each list keeps metrics.def order).
template <class T, class M, class Get>
void add(std::vector<Column<T>>& out, const char* name, const char* units, Kind kind, Better better,
         const char* series, Get get, const char* doc) {
  if constexpr (std::is_same_v<Stored<M>, T>)
    out.push_back({name, units, kind, better, series_name(series), [get](const P& r) { return T(get(r)); }, doc});
}

template <class T>
std::vector<Column<T>> table_columns() {
  std::vector<Column<T>> v;
#define KVSIM_METRIC(name, type, init, units, kind, better, reduce, series, doc) \
  add<T, type>(v, #name, units, Kind::kind, Better::better, #series, [](const P& r) { return r.name; }, doc);
#define KVSIM_TIMED(name, units, kind, better, series, work, doc) \
  add<T, double>(v, #name, units, Kind::kind, Better::better, #series, [](const P& r) { return r.name; }, doc);
#define KVSIM_COLUMN(name, type, units, kind, better, value, doc) \
  add<T, type>(v, #name, units, Kind::kind, Better::better, "none", [](const P& r) -> type { return value; }, doc);
#include "metrics/metrics.def"
  return v;
}

std::vector<Column<double>> make_real_columns() {
  std::vector<Column<double>> v = table_columns<double>();
  for (const SpreadSeries& s : spread_series()) {
    const auto seconds = s.seconds;
    v.push_back({s.name, "1", Kind::spread, Better::lower, s.series, [seconds](const P& r) { return spread_of(r.*seconds); },
                 std::string("slowest / fastest repetition of ") + s.series + " (0: not run)"});
  }
  for (const TimedMetric& m : timed_metrics()) {
    const Kind kind = m.rate ? Kind::rate : Kind::time;
    // One repetition each, not a figure the series' noise applies to: no `series`.
    v.push_back({std::string(m.name) + "_min", m.units, kind, m.better, "", [m](const P& r) { return timed_range(m, r).min; },
                 std::string("the smallest value of ") + m.name + " over the repetitions of " + m.series});
    v.push_back({std::string(m.name) + "_max", m.units, kind, m.better, "", [m](const P& r) { return timed_range(m, r).max; },
                 std::string("the largest value of ") + m.name + " over the repetitions of " + m.series});
  }
  return v;
}

}  // namespace

const std::vector<Column<I>>& int_columns() {
  static const std::vector<Column<I>> v = table_columns<I>();
  return v;
}

const std::vector<Column<double>>& real_columns() {
  static const std::vector<Column<double>> v = make_real_columns();
  return v;
}

const std::vector<Column<std::string>>& text_columns() {
  static const std::vector<Column<std::string>> v = table_columns<std::string>();
  return v;
}

const Column<std::uint64_t>& checksum_column() {
  static const Column<std::uint64_t> c{"checksum", "1", Kind::checksum, Better::none, "", [](const P& r) { return r.checksum; },
                                       "order-independent checksum of the retrieved bits (equal across backends and shards)"};
  return c;
}

std::vector<std::string> column_names() {
  std::vector<std::string> names;
  for (const auto& c : int_columns()) names.push_back(c.name);
  for (const auto& c : real_columns()) names.push_back(c.name);
  for (const auto& c : text_columns()) names.push_back(c.name);
  names.push_back(checksum_column().name);
  return names;
}

namespace {
template <class T>
void table_rows(std::string& out, const std::vector<Column<T>>& columns, const char* type) {
  for (const auto& c : columns) {
    out += "| `" + c.name + "` | " + type + " | " + (c.units.empty() ? "" : "`" + c.units + "`") + " | " + kind_name(c.kind) +
           " | " + better_name(c.better) + " | " + c.doc + " |\n";
  }
}
}  // namespace

std::string summary_columns_markdown() {
  std::string out = "| column | type | units | kind | better | meaning |\n| --- | --- | --- | --- | --- | --- |\n";
  table_rows(out, int_columns(), "int64");
  table_rows(out, real_columns(), "float64");
  table_rows(out, text_columns(), "string");
  table_rows(out, std::vector<Column<std::uint64_t>>{checksum_column()}, "uint64");
  return out;
}

}  // namespace kvsim
