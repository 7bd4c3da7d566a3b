#pragma once
// Chunked prefill attention of the last `prefill_chunk` positions after the fill: each layer is
// retrieved (untimed: retrieve has its own figures), then attention runs on it (timed), held
// against the same run's square fp32 gemm rate (the flash kernel's fp16 tensor cores can pass it).
#include <cmath>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "experiment/experiment.hpp"
#include "experiment/references.hpp"
#include "kvsim/attention/prefill_attention.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/core/synthetic.hpp"
#include "kvsim/core/timing.hpp"
#include "platform/interrupt.hpp"

namespace kvsim {

// Side of the square gemm probe: large enough to reach the device's gemm rate.
template <class Exec>
std::int64_t gemm_probe_size() {
  return std::is_same<MemSpaceOf<Exec>, HostMemSpace>::value ? 256 : 4096;
}

// Square fp32 gemm rate of this device: the ceiling prefill attention is held against.
template <class Exec>
double gemm_probe_TFLOPs(const Exec& exec, std::int64_t n, std::int64_t reps) {
  using M = Kokkos::View<float**, Layout, MemSpaceOf<Exec>>;
  M a(Kokkos::view_alloc(exec, std::string("kvsim::gemm_probe::a")), n, n), b(Kokkos::view_alloc(exec, std::string("kvsim::gemm_probe::b")), n, n),
      c(Kokkos::view_alloc(exec, std::string("kvsim::gemm_probe::c")), n, n);
  Kokkos::deep_copy(exec, a, 0.5f);
  Kokkos::deep_copy(exec, b, 0.25f);
  std::vector<double> t;
  for (std::int64_t i = 0; i <= reps; ++i) {
    const double s = time_fenced(exec, [&] { KokkosBlas::gemm("N", "N", 1.0f, a, b, 0.0f, c); });
    if (i > 0) t.push_back(s);  // the first call pays cuBLAS's set-up
  }
  return 2.0 * double(n) * double(n) * double(n) / median(t) / 1e12;
}

template <class Exec, class Out>
void run_prefill(const Exec& exec, const ExperimentConfig& c, KVCache<Exec>& cache,
                 const View1D<Out, MemSpaceOf<Exec>>& dense, PointResult& r) {
  using Mem = MemSpaceOf<Exec>;
  ProfilingRegion region("kvsim::prefill");
  const std::int64_t context = cache.valid(0);
  PrefillAttention<Exec> pf(exec, cache.design(), c.prefill_chunk, context, c.prefill_kernel);
  r.prefill_kernel = prefill_kernel_name(pf.kernel());
  const auto q = pf.queries();
  const View1D<float, Mem> q1(q.data(), q.span());
  Kokkos::parallel_for("kvsim::prefill::make_q", RangePolicy<Exec>(exec, 0, std::int64_t(q.span()) / 4),
                       kernels::GenerateSource<Mem>{q1, synthetic::mix64(c.seed ^ 0x5052454649ULL), 1,
                                                    c.batch * c.model.heads, c.batch * c.model.heads, 1,
                                                    c.model.head_dim / 4, context - c.prefill_chunk, {}});
  std::vector<double> seconds;
  for (std::int64_t rep = 0; rep < c.run.warmup + c.run.repetitions; ++rep) {
    check_interrupt();
    double t = 0;
    for (std::int64_t layer = 0; layer < c.model.layers; ++layer) {
      check_interrupt();
      cache.retrieve_layer(layer, dense);
      t += time_fenced(exec, [&] { pf.run_layer(dense, cache.dense_rows()); });
    }
    if (rep >= c.run.warmup) seconds.push_back(t);
  }
  r.prefill_ms = 1e3 * median(seconds);
  r.prefill_TFLOPs = pf.flops_per_layer() * double(c.model.layers) / median(seconds) / 1e12;
  r.prefill_seconds = seconds;
  r.gemm_TFLOPs = gemm_probe_TFLOPs(exec, gemm_probe_size<Exec>(), 3);

  // Accuracy: layer 0, sequence 0, the chunk's last row of every head against float64 over the
  // unquantised source (positions 0 .. context-1, nothing evicted).
  cache.retrieve_layer(0, dense);
  pf.run_layer(dense, cache.dense_rows());
  const auto ho = Kokkos::create_mirror_view_and_copy(HostMemSpace(), pf.output());
  const auto hq = Kokkos::create_mirror_view_and_copy(HostMemSpace(), q);
  const std::int64_t hd = c.model.head_dim, g = c.model.heads / c.model.kv_heads, last = c.prefill_chunk - 1;
  const std::uint64_t seed = synthetic::sequence_seed(c.seed, 0);
  std::vector<std::int64_t> positions(static_cast<std::size_t>(context));
  for (std::int64_t i = 0; i < context; ++i) positions[std::size_t(i)] = i;
  double err2 = 0, ref2 = 0;
  for (std::int64_t h = 0; h < c.model.heads; ++h)
    add_attention_error(cache.design().data.on_host(), seed, h / g, positions, hd, &hq(0, h, last, 0), &ho(0, h, last, 0), err2, ref2);
  r.prefill_rel_err = ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
}

}  // namespace kvsim
