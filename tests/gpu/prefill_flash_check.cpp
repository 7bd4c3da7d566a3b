// Standalone self-check and timing of the flash prefill kernel (attention/prefill_flash.hpp),
// linking Kokkos alone (no Kokkos Kernels, HDF5 or MPI), so a GPU machine runs it in seconds:
//   kvsim_prefill_flash_check            every check shape against float64; exit 1 on a miss
//   kvsim_prefill_flash_check bench C N HEADS KV_HEADS HEAD_DIM [LAYERS]
//                                        fp16 dense input, median of 5 runs of LAYERS launches
// The FLOPs are the full C x N block (4 C N d per head), as kvsim's prefill_TFLOPs counts them.
#include <Kokkos_Core.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kvsim/attention/prefill_flash.hpp"
#include "kvsim/precision/float_formats.hpp"

namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

struct Shape {
  int batch, heads, kv_heads, head_dim, chunk, context, dense_rows;
};

template <class Out>
Out store(float x);
template <>
float store<float>(float x) { return x; }
template <>
std::uint16_t store<std::uint16_t>(float x) { return kvsim::codec::float_to_half(x); }
double load(float x) { return x; }
double load(std::uint16_t h) { return kvsim::codec::half_to_float(h); }

// Worst relative (rms over a row) error of any (seq, head, row) against float64.
template <class Out, int Warps>
double check(const Shape& s, unsigned seed) {
  const std::int64_t n_dense = 2LL * s.batch * s.dense_rows * s.kv_heads * s.head_dim;
  kvsim::View1D<Out, Mem> dense("kvsim::check::dense", n_dense);
  kvsim::View4D<float, Mem> q("kvsim::check::q", s.batch, s.heads, s.chunk, s.head_dim);
  kvsim::View4D<float, Mem> o("kvsim::check::o", s.batch, s.heads, s.chunk, s.head_dim);
  auto hd = Kokkos::create_mirror_view(dense);
  auto hq = Kokkos::create_mirror_view(q);
  std::mt19937 gen{seed};
  std::uniform_real_distribution<float> u(-1.0f, 1.0f), w(-2.0f, 2.0f);
  for (std::int64_t i = 0; i < n_dense; ++i) hd(i) = store<Out>(u(gen));
  for (std::size_t i = 0; i < hq.span(); ++i) hq.data()[i] = w(gen);
  Kokkos::deep_copy(dense, hd);
  Kokkos::deep_copy(q, hq);
  Kokkos::deep_copy(o, std::nanf(""));
  kvsim::launch_flash_prefill<Exec, Out, Warps>(Exec(), dense, s.dense_rows, q, o, s.kv_heads, s.context);
  Kokkos::fence();
  auto ho = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), o);
  const int g = s.heads / s.kv_heads, d = s.head_dim;
  const auto at = [&](int kv, int seq, int row, int kvh, int dim) {
    return load(hd((((std::int64_t(kv) * s.batch + seq) * s.dense_rows + row) * s.kv_heads + kvh) * d + dim));
  };
  double worst = 0;
  std::vector<double> p(static_cast<std::size_t>(s.context)), ref(static_cast<std::size_t>(d));
  for (int seq = 0; seq < s.batch; ++seq)
    for (int h = 0; h < s.heads; ++h)
      for (int i = 0; i < s.chunk; ++i) {
        const int seen = s.context - s.chunk + i + 1;
        double mx = -1e300;
        for (int j = 0; j < seen; ++j) {
          double dot = 0;
          for (int k = 0; k < d; ++k) dot += double(hq(seq, h, i, k)) * at(0, seq, j, h / g, k);
          p[std::size_t(j)] = dot / std::sqrt(double(d));
          mx = std::max(mx, p[std::size_t(j)]);
        }
        double sum = 0;
        for (int j = 0; j < seen; ++j) sum += (p[std::size_t(j)] = std::exp(p[std::size_t(j)] - mx));
        std::fill(ref.begin(), ref.end(), 0.0);
        for (int j = 0; j < seen; ++j)
          for (int k = 0; k < d; ++k) ref[std::size_t(k)] += p[std::size_t(j)] / sum * at(1, seq, j, h / g, k);
        double e = 0, r = 0;
        for (int k = 0; k < d; ++k) {
          const double x = ho(seq, h, i, k) - ref[std::size_t(k)];
          e += x * x;
          r += ref[std::size_t(k)] * ref[std::size_t(k)];
        }
        const double rel = std::sqrt(e / r);
        worst = std::isnan(rel) ? 1e9 : std::max(worst, rel);
      }
  return worst;
}

int run_checks() {
  int failed = 0;
  const std::vector<Shape> shapes = {
      {2, 2, 2, 128, 37, 101, 104}, {2, 4, 2, 128, 37, 101, 101}, {1, 8, 2, 128, 37, 101, 103}, {1, 16, 2, 128, 37, 101, 101},
      {2, 2, 2, 64, 37, 101, 104},  {1, 8, 2, 64, 37, 101, 101},  {1, 16, 2, 64, 37, 101, 101}, {1, 4, 1, 128, 1, 101, 101},
      {1, 4, 4, 128, 64, 64, 64},   {1, 4, 4, 128, 65, 300, 301}, {1, 8, 2, 128, 130, 300, 300}, {1, 6, 2, 128, 37, 101, 101},
      {1, 4, 4, 128, 101, 101, 101}, {1, 8, 8, 128, 200, 1000, 1000}};
  for (const Shape& s : shapes) {
    const double e32 = check<float, 4>(s, 3), e16 = check<std::uint16_t, 4>(s, 4);
    const double w32 = check<float, 8>(s, 3), w16 = check<std::uint16_t, 8>(s, 4);  // teams of 8 warps
    const bool ok = std::max(std::max(e32, e16), std::max(w32, w16)) < 1e-2;
    failed += !ok;
    std::printf("%s batch %d heads %d kv_heads %d head_dim %d chunk %d context %d: rel err fp32 in %.2e, fp16 in %.2e"
                " (8 warps: %.2e, %.2e)\n", ok ? "ok  " : "FAIL", s.batch, s.heads, s.kv_heads, s.head_dim, s.chunk, s.context,
                e32, e16, w32, w16);
  }
  std::printf("%s\n", failed ? "FAILED" : "all passed");
  return failed ? 1 : 0;
}

template <int Warps>
int bench(int chunk, int context, int heads, int kv_heads, int head_dim, int layers) {
  const std::int64_t n_dense = 2LL * context * kv_heads * head_dim;
  kvsim::View1D<std::uint16_t, Mem> dense("kvsim::bench::dense", n_dense);
  kvsim::View4D<float, Mem> q("kvsim::bench::q", 1, heads, chunk, head_dim), o("kvsim::bench::o", 1, heads, chunk, head_dim);
  Kokkos::deep_copy(dense, kvsim::codec::float_to_half(0.25f));
  Kokkos::deep_copy(q, 0.5f);
  const Exec exec;
  std::vector<double> t;
  for (int rep = 0; rep < 6; ++rep) {
    Kokkos::fence();
    const auto t0 = std::chrono::steady_clock::now();
    for (int l = 0; l < layers; ++l) kvsim::launch_flash_prefill<Exec, std::uint16_t, Warps>(exec, dense, context, q, o, kv_heads, context);
    Kokkos::fence();
    if (rep > 0) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  const double s = t[t.size() / 2], flops = 4.0 * heads * double(chunk) * context * head_dim * layers;
  std::printf("warps %d chunk %d context %d heads %d kv_heads %d head_dim %d layers %d: prefill_ms %.3f prefill_TFLOPs %.1f\n",
              Warps, chunk, context, heads, kv_heads, head_dim, layers, 1e3 * s, flops / s / 1e12);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Kokkos::initialize(argc, argv);
  int rc = 0;
  {
    if (argc >= 7 && std::string(argv[1]) == "bench") {
      const int layers = argc >= 8 ? std::atoi(argv[7]) : 32;
      const auto b = argc >= 9 && std::atoi(argv[8]) == 8 ? bench<8> : bench<4>;
      rc = b(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]), layers);
    }
    else
      rc = run_checks();
  }
  Kokkos::finalize();
  return rc;
}
