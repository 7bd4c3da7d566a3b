#pragma once
// The summary columns of a result file, derived from metrics.def: name, units, kind, which way
// is better, the repetition series behind it, and how a point's value is read. The writer,
// --resume, the MPI row message and the column attributes post-processing reads (`units`,
// `kind`, `better`, `series`) all come from these lists.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "metrics/kinds.hpp"
#include "metrics/point_result.hpp"

namespace kvsim {

template <class T>
struct Column {
  using value_type = T;
  std::string name;
  std::string units;
  Kind kind;
  Better better;       // none: a configuration, a label or a count of work
  // The /points/<n>/ series whose repetitions the figure summarises: its median (a rate, time
  // or fraction: compare tests significance on it) or, for kind spread, slowest / fastest.
  // "" for everything else, the _min/_max columns included (one repetition each).
  std::string series;
  std::function<T(const PointResult&)> get;
  std::string doc;  // one line for docs/hdf5-schema.md
};

// Stored as int64: every int64 and bool metric, in metrics.def order.
const std::vector<Column<std::int64_t>>& int_columns();
// Measured figures in metrics.def order, then each spread series' <phase>_spread, then each
// timed metric's _min and _max over the repetitions (timed_metrics.hpp).
const std::vector<Column<double>>& real_columns();
const std::vector<Column<std::string>>& text_columns();
// The uint64 `checksum` column, written after the others.
const Column<std::uint64_t>& checksum_column();

// Every summary column's name, in file order (int, real, text, checksum).
std::vector<std::string> column_names();

// The /summary table of docs/hdf5-schema.md (`kvsim info --columns`): every column in file
// order with its type, units, kind, better and doc line.
std::string summary_columns_markdown();

}  // namespace kvsim
