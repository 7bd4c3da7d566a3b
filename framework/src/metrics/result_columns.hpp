#pragma once
// The summary columns of a result file, declared once: name, units, which way is better, and
// how a point's value is read. The writer, --resume and the column attributes that
// post-processing reads (`units`, `better`) all come from these tables.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "experiment/experiment.hpp"

namespace kvsim {

template <class T>
struct Column {
  std::string name;
  std::string units;
  const char* better;  // "higher", "lower" or "none" (a configuration or a count of work)
  std::function<T(const PointResult&)> get;
};

const std::vector<Column<std::int64_t>>& int_columns();
// Measured figures: each timed metric's median with its _min and _max over the repetitions
// (timed_metrics.hpp), each phase's spread, fractions of the ceilings, errors.
const std::vector<Column<double>>& real_columns();
const std::vector<Column<std::string>>& text_columns();

// "" / "none" for a name no table declares.
std::string units_of(const std::string& name);
std::string better_of(const std::string& name);

}  // namespace kvsim
