#pragma once
// Chunked prefill attention: the last C positions of a context of N attend causally to every
// position before them, per sequence, layer and query head. Two kernels (prefill_kernel.hpp):
// - flash (prefill_flash.hpp): one fused tensor-core kernel, fp16 operands, fp32 accumulation,
//   online softmax; CUDA devices of compute capability 8.0+, head_dim 64 or 128.
// - gemm, the reference: two matrix products through Kokkos Kernels (cuBLAS on the GPU):
//   S = Q K^T / sqrt(d)   [C x N]      (KokkosBlas::gemm "N","T")
//   P = causal softmax(S) in place    (query i sees positions 0 .. N - C + i)
//   O = P V               [C x d]      (KokkosBlas::gemm "N","N")
//   K and V come from the cache's dense fp32/fp16 retrieve of the layer, re-laid head-major so
//   that every head's [N x d] block is a contiguous LayoutRight matrix (what the cuBLAS path of
//   KokkosBlas::gemm takes).
// Both read the dense retrieve and need the whole context in the cache: nothing evicted.
#include <KokkosBlas3_gemm.hpp>
#include <cmath>
#include <type_traits>

#include "kvsim/attention/prefill_flash.hpp"
#include "kvsim/attention/prefill_kernel.hpp"
#include "kvsim/cache/cache_design.hpp"
#include "kvsim/precision/float_formats.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"
#include "kvsim/core/flat_index.hpp"

namespace kvsim {

namespace kernels {

KOKKOS_INLINE_FUNCTION float widen(float x) { return x; }
KOKKOS_INLINE_FUNCTION float widen(std::uint16_t h) { return codec::half_to_float(h); }

// dense [K|V][seq][dense row][kv_head][dim] -> kh, vh [seq][kv_head][row][dim], rows < `rows`
template <class MemSpace, class Out>
struct ToHeadMajor {
  View1D<const Out, MemSpace> dense;
  Kokkos::View<float****, Layout, MemSpace> kh, vh;
  std::int64_t batch, rows, dense_rows, kv_heads, head_dim;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const {
    std::int64_t t = i;
    const std::int64_t d = peel(t, head_dim);
    const std::int64_t h = peel(t, kv_heads);
    const std::int64_t row = peel(t, rows);
    const std::int64_t seq = peel(t, batch);
    const std::int64_t kv = t;
    const std::int64_t src = (((kv * batch + seq) * dense_rows + row) * kv_heads + h) * head_dim + d;
    (kv == 0 ? kh : vh)(seq, h, row, d) = widen(dense(src));
  }
};

// Row-wise causal softmax of S [rows][C][N] in place, team per row.
template <class ExecSpace>
struct CausalSoftmax {
  Kokkos::View<float***, Layout, MemSpaceOf<ExecSpace>> s;
  std::int64_t chunk, context;
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  KOKKOS_INLINE_FUNCTION void operator()(const member_type& team) const {
    const std::int64_t h = team.league_rank() / chunk, i = team.league_rank() % chunk;
    const std::int64_t seen = context - chunk + i + 1;  // keys 0 .. seen-1
    float mx = -INFINITY;
    Kokkos::parallel_reduce(
        Kokkos::TeamThreadRange(team, seen), [&](const std::int64_t j, float& m) { m = s(h, i, j) > m ? s(h, i, j) : m; },
        Kokkos::Max<float>(mx));
    float sum = 0;
    Kokkos::parallel_reduce(
        Kokkos::TeamThreadRange(team, seen),
        [&](const std::int64_t j, float& acc) {
          const float p = expf(s(h, i, j) - mx);
          s(h, i, j) = p;
          acc += p;
        },
        sum);
    const float inv = 1.0f / sum;
    Kokkos::parallel_for(Kokkos::TeamThreadRange(team, context),
                         [&](const std::int64_t j) { s(h, i, j) = j < seen ? s(h, i, j) * inv : 0.0f; });
  }
};

}  // namespace kernels

template <class ExecSpace>
class PrefillAttention {
 public:
  using memory_space = MemSpaceOf<ExecSpace>;
  using Matrix = Kokkos::View<float**, Layout, memory_space>;

  // The kernel that `asked` gives for this design on ExecSpace: auto takes flash where it
  // covers the shape and the device; flash where it does not is refused, naming why.
  static PrefillKernel resolve(const CacheDesign& d, PrefillKernel asked) {
    if (asked == PrefillKernel::gemm) return asked;
#if defined(KOKKOS_ENABLE_CUDA)
    constexpr bool cuda = std::is_same<ExecSpace, Kokkos::Cuda>::value;
#else
    constexpr bool cuda = false;
#endif
    const bool covers = prefill_flash_covers(d.head_dim, d.query_heads(), d.kv_heads, cuda);
    const bool ok = covers && mma::device_has_mma<ExecSpace>();
    if (asked == PrefillKernel::flash)
      KVSIM_REQUIRE(ok, "prefill kernel flash ",
                    !cuda     ? "needs the CUDA backend; this execution space runs on the host (use gemm or auto)"
                    : !covers ? "covers head_dim 64 and 128 only (use gemm or auto)"
                              : "needs a GPU of compute capability 8.0 or newer (use gemm or auto)");
    return ok ? PrefillKernel::flash : PrefillKernel::gemm;
  }

  PrefillAttention(const ExecSpace& exec, const CacheDesign& d, std::int64_t chunk, std::int64_t context,
                   PrefillKernel kernel = PrefillKernel::automatic)
      : exec_(exec), d_(d), chunk_(chunk), context_(context) {
    KVSIM_REQUIRE(chunk >= 1 && chunk <= context, "prefill chunk ", chunk, " must lie in 1..", context);
    kernel_ = resolve(d, kernel);
    // The flash kernel indexes positions in 32-bit ints.
    KVSIM_REQUIRE(kernel_ != PrefillKernel::flash || context < (std::int64_t(1) << 30), "prefill context ", context,
                  " is beyond the flash kernel's 2^30 positions");
    const auto wo = [&](const char* label) {
      return Kokkos::view_alloc(exec_, Kokkos::WithoutInitializing, std::string(label));
    };
    const std::int64_t heads = d.query_heads();
    q_ = Kokkos::View<float****, Layout, memory_space>(wo("kvsim::prefill::q"), d.batch, heads, chunk, d.head_dim);
    o_ = Kokkos::View<float****, Layout, memory_space>(wo("kvsim::prefill::o"), d.batch, heads, chunk, d.head_dim);
    if (kernel_ == PrefillKernel::flash) return;  // it reads the dense buffer as it is
    kh_ = Kokkos::View<float****, Layout, memory_space>(wo("kvsim::prefill::k"), d.batch, d.kv_heads, context, d.head_dim);
    vh_ = Kokkos::View<float****, Layout, memory_space>(wo("kvsim::prefill::v"), d.batch, d.kv_heads, context, d.head_dim);
    s_ = Kokkos::View<float***, Layout, memory_space>(wo("kvsim::prefill::scores"), heads, chunk, context);
  }

  // Device bytes the buffers of `kernel` (a resolved one) take (for the memory check before a
  // run): Q and O, plus for gemm the head-major K, V and one sequence's scores.
  static std::int64_t bytes(const CacheDesign& d, std::int64_t chunk, std::int64_t context,
                            PrefillKernel kernel = PrefillKernel::gemm) {
    const std::int64_t heads = d.query_heads(), qo = 2 * d.batch * heads * chunk * d.head_dim;
    if (kernel == PrefillKernel::flash) return 4 * qo;
    return 4 * (2 * d.batch * d.kv_heads * context * d.head_dim + qo + heads * chunk * context);
  }

  PrefillKernel kernel() const { return kernel_; }
  Kokkos::View<float****, Layout, memory_space> queries() const { return q_; }  // [seq][head][chunk][dim]
  Kokkos::View<float****, Layout, memory_space> output() const { return o_; }   // [seq][head][chunk][dim]

  // Floating-point operations of one layer: both products over the full C x N block, for either
  // kernel (the flash kernel skips the key tiles past the diagonal, the gemms do not), so that
  // figures compare with the past and between kernels.
  double flops_per_layer() const {
    return 4.0 * double(d_.batch) * double(d_.query_heads()) * double(chunk_) * double(context_) * double(d_.head_dim);
  }

  // One layer, from its dense retrieve ([K|V][seq][dense row][kv_head][dim], oldest first;
  // the first `context` rows are the context).
  template <class Out>
  void run_layer(const View1D<Out, memory_space>& dense, std::int64_t dense_rows) const {
    KVSIM_REQUIRE(dense_rows >= context_ && std::int64_t(dense.extent(0)) == 2 * d_.batch * dense_rows * d_.kv_heads * d_.head_dim,
                  "prefill: the dense buffer does not hold ", context_, " rows");
    if (kernel_ == PrefillKernel::flash) {
      run_flash(dense, dense_rows);
    } else {
      run_gemm(dense, dense_rows);
    }
  }

 private:
  template <class Out>
  void run_flash(const View1D<Out, memory_space>& dense, std::int64_t dense_rows) const {
#if defined(KOKKOS_ENABLE_CUDA)
    if constexpr (std::is_same<ExecSpace, Kokkos::Cuda>::value) {
      launch_flash_prefill(exec_, dense, dense_rows, q_, o_, d_.kv_heads, context_);
      return;
    }
#endif
    (void)dense;
    (void)dense_rows;
    KVSIM_REQUIRE(false, "prefill kernel flash is not built for this execution space");
  }

  template <class Out>
  void run_gemm(const View1D<Out, memory_space>& dense, std::int64_t dense_rows) const {
    const std::int64_t n = 2 * d_.batch * context_ * d_.kv_heads * d_.head_dim;
    Kokkos::parallel_for("kvsim::prefill::to_head_major", RangePolicy<ExecSpace>(exec_, 0, n),
                         kernels::ToHeadMajor<memory_space, Out>{dense, kh_, vh_, d_.batch, context_, dense_rows, d_.kv_heads,
                                                                 d_.head_dim});
    const std::int64_t heads = d_.query_heads(), g = heads / d_.kv_heads;
    const float scale = 1.0f / std::sqrt(float(d_.head_dim));
    const auto all = Kokkos::ALL();
    for (std::int64_t seq = 0; seq < d_.batch; ++seq) {
      for (std::int64_t h = 0; h < heads; ++h) {
        const Matrix s = Kokkos::subview(s_, h, all, all);
        KokkosBlas::gemm("N", "T", scale, Kokkos::subview(q_, seq, h, all, all), Kokkos::subview(kh_, seq, h / g, all, all),
                         0.0f, s);
      }
      const Kokkos::TeamPolicy<ExecSpace> rows(exec_, heads * chunk_, Kokkos::AUTO);
      Kokkos::parallel_for("kvsim::prefill::causal_softmax", rows,
                           kernels::CausalSoftmax<ExecSpace>{s_, chunk_, context_});
      for (std::int64_t h = 0; h < heads; ++h) {
        const Matrix s = Kokkos::subview(s_, h, all, all);
        const Matrix o = Kokkos::subview(o_, seq, h, all, all);
        KokkosBlas::gemm("N", "N", 1.0f, s, Kokkos::subview(vh_, seq, h / g, all, all), 0.0f, o);
      }
    }
  }

  ExecSpace exec_;
  CacheDesign d_;
  std::int64_t chunk_, context_;
  PrefillKernel kernel_ = PrefillKernel::gemm;
  Kokkos::View<float****, Layout, memory_space> kh_, vh_, q_, o_;
  Kokkos::View<float***, Layout, memory_space> s_;
};

}  // namespace kvsim
