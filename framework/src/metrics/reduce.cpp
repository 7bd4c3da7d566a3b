#include "metrics/reduce.hpp"

#include <type_traits>

#include "metrics/kinds.hpp"

namespace kvsim {
namespace {

template <class>
constexpr bool kUnsupported = false;

// Only the reductions Group offers: a wrong declaration in metrics.def fails to compile here.
template <Reduce R, class T>
void reduce_one(T& x, const Group& g) {
  if constexpr (R == Reduce::same || R == Reduce::derived) {
    (void)x, (void)g;
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    static_assert(R == Reduce::sum, "uint64 metrics reduce by sum (modulo 2^64)");
    x = g.sum_u64(x);
  } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, double>) {
    if constexpr (R == Reduce::sum) x = g.sum(x);
    if constexpr (R == Reduce::max) x = g.max(x);
    if constexpr (R == Reduce::min) x = -g.max(-x);
  } else {
    static_assert(kUnsupported<T>, "only int64, uint64 and double metrics reduce over ranks; others are same or derived");
  }
}

}  // namespace

void reduce_over_group(PointResult& r, const Group& group) {
#define KVSIM_METRIC(name, type, init, units, kind, better, reduce, series, doc) reduce_one<Reduce::reduce>(r.name, group);
#define KVSIM_FIELD(name, type, init, reduce, doc) reduce_one<Reduce::reduce>(r.name, group);
#define KVSIM_SERIES(name, phase, always, spread, doc) group.max_each(r.name);
#include "metrics/metrics.def"
}

}  // namespace kvsim
