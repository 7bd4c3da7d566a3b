#pragma once
// Timing device work: fence before starting and before stopping, so the clock measures the
// kernels and not their launch; statistics over repetitions.
#include <algorithm>
#include <string>
#include <vector>

#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {

// Seconds taken by fn(), with the execution space fenced on both sides.
template <class ExecSpace, class Fn>
double time_fenced(const ExecSpace& exec, Fn&& fn) {
  exec.fence();
  Kokkos::Timer timer;
  fn();
  exec.fence();
  return timer.seconds();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// RAII profiling region, visible to Kokkos tools (nsys/kp tools) as kvsim::...
class ProfilingRegion {
 public:
  explicit ProfilingRegion(const std::string& name) { Kokkos::Profiling::pushRegion(name); }
  ~ProfilingRegion() { Kokkos::Profiling::popRegion(); }
  ProfilingRegion(const ProfilingRegion&) = delete;
  ProfilingRegion& operator=(const ProfilingRegion&) = delete;
};

}  // namespace kvsim
