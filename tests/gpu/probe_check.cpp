// Holds kvsim's bandwidth probe to a plain block-sum written without Kokkos (a CUDA kernel on
// GPU builds, an OpenMP loop otherwise) over the same buffer in the same process: the probe's
// read ceiling must reach at least 98% of it, else it is a ceiling kernels can beat.
// Usage: kvsim_probe_check [MiB] (default 1024). Prints both figures; exit 1 below 98%.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "platform/bandwidth_probe.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/core/timing.hpp"

#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime.h>

namespace {
// The Triton block-sum's shape: a block of 256 threads sums 256 x 8 contiguous float4 and
// writes one float.
__global__ void block_sum(const float4* __restrict__ x, float* __restrict__ out, long long n4) {
  const long long base = (long long)blockIdx.x * 2048 + threadIdx.x;
  float4 v[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) v[k] = base + k * 256 < n4 ? x[base + k * 256] : make_float4(0, 0, 0, 0);
  float s = 0;
#pragma unroll
  for (int k = 0; k < 8; ++k) s += (v[k].x + v[k].y) + (v[k].z + v[k].w);
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  __shared__ float part[8];
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0;
    for (int w = 0; w < 8; ++w) t += part[w];
    out[blockIdx.x] = t;
  }
}

double plain_block_sum_GBps(const kvsim::View1D<kvsim::Float4>& a, int reps) {
  const long long n4 = a.extent(0);
  const long long blocks = (n4 + 2047) / 2048;
  float* out = nullptr;
  cudaMalloc(&out, blocks * sizeof(float));
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  double best = 0;
  for (int r = 0; r <= reps; ++r) {
    cudaEventRecord(t0);
    block_sum<<<unsigned(blocks), 256>>>(reinterpret_cast<const float4*>(a.data()), out, n4);
    cudaEventRecord(t1);
    cudaEventSynchronize(t1);
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    if (r > 0) best = std::max(best, double(n4) * 16 / (ms * 1e-3) / 1e9);
  }
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  cudaFree(out);
  return best;
}
}  // namespace
#else
namespace {
double plain_block_sum_GBps(const kvsim::View1D<kvsim::Float4>& a, int reps) {
  const long long n4 = a.extent(0);
  const kvsim::Float4* x = a.data();
  double best = 0, keep = 0;
  for (int r = 0; r <= reps; ++r) {
    Kokkos::Timer timer;
    float s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (long long i = 0; i < n4; ++i) s += (x[i].v[0] + x[i].v[1]) + (x[i].v[2] + x[i].v[3]);
    const double t = timer.seconds();
    keep += s;
    if (r > 0) best = std::max(best, double(n4) * 16 / t / 1e9);
  }
  if (keep == -1) std::printf("%g\n", keep);
  return best;
}
}  // namespace
#endif

int main(int argc, char** argv) {
  const long long mib = argc > 1 ? std::atoll(argv[1]) : 1024;
  Kokkos::ScopeGuard guard(argc, argv);
  int rc = 0;
  {
    const kvsim::CopyBandwidth bw = kvsim::measure_copy_bandwidth(mib << 20, 10);
    kvsim::View1D<kvsim::Float4> a(Kokkos::view_alloc(std::string("kvsim::probe_check::a")), (mib << 20) / 16);
    Kokkos::deep_copy(a, kvsim::Float4{{1.5f, -2.0f, 0.25f, 3.0f}});
    Kokkos::fence();
    const double plain = plain_block_sum_GBps(a, 10);
    const double ratio = plain > 0 ? bw.read_GBps / plain : 0;
    std::printf("probe: read %.1f GB/s, write %.1f GB/s, copy kernel %.1f GB/s, deep_copy %.1f GB/s (%lld MiB)\n",
                bw.read_GBps, bw.write_GBps, bw.stream_copy_GBps, bw.deep_copy_GBps, mib);
    std::printf("plain block-sum: %.1f GB/s; probe read / block-sum = %.3f (%s)\n", plain, ratio,
                ratio >= 0.98 ? "ok: >= 0.98" : "BELOW 0.98");
    rc = ratio >= 0.98 ? 0 : 1;
  }
  return rc;
}
