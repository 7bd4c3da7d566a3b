#pragma once
// The attribute vocabularies of metrics.def: what a column measures (`kind`), which way is
// better, and how ranks of a context-shard group combine it. The names are what the result
// file's column attributes hold (docs/hdf5-schema.md), so post-processing needs no copy.
#include <string_view>

namespace kvsim {

#define KVSIM_METRIC_KINDS(X) \
  X(id) X(config) X(count) X(size) X(time) X(rate) X(fraction) X(spread) X(error) X(flag) X(label) X(checksum)

enum class Kind {
#define KVSIM_KIND_ENUM(k) k,
  KVSIM_METRIC_KINDS(KVSIM_KIND_ENUM)
#undef KVSIM_KIND_ENUM
};

enum class Better { higher, lower, none };
enum class Reduce { sum, max, min, same, derived };

constexpr const char* kind_name(Kind k) {
  switch (k) {
#define KVSIM_KIND_NAME(k) \
  case Kind::k:            \
    return #k;
    KVSIM_METRIC_KINDS(KVSIM_KIND_NAME)
#undef KVSIM_KIND_NAME
  }
  return "";
}

constexpr const char* better_name(Better b) {
  return b == Better::higher ? "higher" : b == Better::lower ? "lower" : "none";
}

constexpr const char* reduce_name(Reduce r) {
  switch (r) {
    case Reduce::sum: return "sum";
    case Reduce::max: return "max";
    case Reduce::min: return "min";
    case Reduce::same: return "same";
    case Reduce::derived: return "derived";
  }
  return "";
}

}  // namespace kvsim
