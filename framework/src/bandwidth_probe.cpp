#include "kvsim/bandwidth_probe.hpp"

#include <string>
#include <type_traits>
#include <vector>

#include "kvsim/kernels/stream.hpp"
#include "kvsim/kokkos_abstraction.hpp"
#include "kvsim/timing.hpp"

namespace kvsim {
namespace {

using Exec = DefaultExecSpace;

struct StreamCopy {
  View1D<const Float4> src;
  View1D<Float4> dst;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const { dst(i) = src(i); }
};

template <class Fn>
double median_GBps(std::int64_t bytes_moved, int reps, const Exec& exec, Fn&& fn) {
  std::vector<double> seconds;
  for (int r = 0; r <= reps; ++r) {
    const double t = time_fenced(exec, fn);
    if (r > 0) seconds.push_back(t);  // the first copy is the warm-up
  }
  return double(bytes_moved) / median(seconds) / 1e9;
}

}  // namespace

CopyBandwidth measure_copy_bandwidth(std::int64_t bytes, int reps) {
  ProfilingRegion region("kvsim::copy_probe");
  const Exec exec;
  const std::int64_t n4 = std::max<std::int64_t>(1, bytes / std::int64_t(sizeof(Float4)));
  View1D<Float4> a(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::copy_probe_src")), n4);
  View1D<Float4> b(Kokkos::view_alloc(exec, Kokkos::WithoutInitializing, std::string("kvsim::copy_probe_dst")), n4);
  // Touch both buffers first: never time page faults or a copy of untouched memory.
  Kokkos::deep_copy(exec, a, Float4{{1.5f, -2.0f, 0.25f, 3.0f}});
  Kokkos::deep_copy(exec, b, Float4{{0.0f, 0.0f, 0.0f, 0.0f}});
  const std::int64_t moved = 2 * n4 * std::int64_t(sizeof(Float4));
  CopyBandwidth bw;
  bw.deep_copy_GBps = median_GBps(moved, reps, exec, [&] { Kokkos::deep_copy(b, a); });
  bw.stream_copy_GBps = median_GBps(moved, reps, exec, [&] {
    Kokkos::parallel_for("kvsim::stream_copy", RangePolicy<Exec>(exec, 0, n4), StreamCopy{a, b});
  });
  const std::int64_t n8 = n4 / 8;
  bw.write_GBps = median_GBps(8 * n8 * std::int64_t(sizeof(Float4)), reps, exec, [&] {
    Kokkos::parallel_for("kvsim::stream_write", RangePolicy<Exec>(exec, 0, n8), kernels::StreamWrite<DefaultMemSpace>{b, n8});
  });
  double sink = 0;
  bw.read_GBps = median_GBps(8 * n8 * std::int64_t(sizeof(Float4)), reps, exec, [&] {
    Kokkos::parallel_reduce("kvsim::stream_read", RangePolicy<Exec>(exec, 0, n8), kernels::StreamRead<DefaultMemSpace>{a, n8}, sink);
  });
  if (sink != sink) bw.read_GBps = 0;  // never happens; keeps `sink` observable
  return bw;
}

}  // namespace kvsim
