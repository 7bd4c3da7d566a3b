#include <KokkosBlas2_gemv.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "../catch_compat.hpp"
#include "../exec_spaces.hpp"
#include "../attention_reference.hpp"
#include "../small_designs.hpp"
#include "kvsim/attention/host_isa.hpp"
#include "kvsim/attention/host_row_decode.hpp"
#include "kvsim/attention/mma_fragments.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/core/synthetic.hpp"

namespace {

using kvsim::CacheDesign;
using kvsim::LayoutKind;
using kvsim::PolicyKind;
using kvsim::codec::DType;
using kvsim::test::reference;

template <class ExecSpace>
struct AttentionRun {
  std::vector<float> q, out;  // [seq][head][dim] of the last layer run
  std::vector<float> lse;     // [seq][head]
  std::vector<std::vector<std::int64_t>> positions;
};

// Random queries [seq][head][dim] in [-2, 2) from `seed`: appended to `keep` (the reference's
// copy) and returned in ExecSpace's memory.
template <class ExecSpace>
kvsim::View1D<float, typename ExecSpace::memory_space> random_queries(const CacheDesign& d, std::uint64_t seed,
                                                                      std::vector<float>& keep) {
  const std::int64_t n = d.batch * d.query_heads() * d.head_dim;
  std::mt19937 gen{std::uint32_t(seed)};
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  kvsim::View1D<float, kvsim::HostMemSpace> hq("kvsim::test::q", n);
  for (std::int64_t i = 0; i < n; ++i) keep.push_back(hq(i) = dist(gen));
  return Kokkos::create_mirror_view_and_copy(typename ExecSpace::memory_space(), hq);
}

// Fills a cache token by token and runs decode attention over `layer` with random queries.
template <class ExecSpace>
AttentionRun<ExecSpace> run_attention(const CacheDesign& d, const std::vector<std::int64_t>& lengths, std::uint64_t seed,
                                      std::int64_t layer, std::int64_t splits = 0, int launches = 1,
                                      kvsim::AttentionKernel kernel = kvsim::AttentionKernel::automatic,
                                      std::int64_t kv_per_item = 0) {
  const ExecSpace exec;
  kvsim::KVCache<ExecSpace> cache(exec, d, seed, lengths);
  auto stage = cache.make_stage(cache.max_length());
  cache.generate_source(stage, 0, cache.max_length());
  for (std::int64_t p = 0; p < cache.max_length(); ++p) cache.append(stage, 0, p, p + 1);
  AttentionRun<ExecSpace> r;
  const std::int64_t n = d.batch * d.query_heads() * d.head_dim;
  const auto q = random_queries<ExecSpace>(d, seed, r.q);
  kvsim::View1D<float, typename ExecSpace::memory_space> out("kvsim::test::out", n);
  kvsim::View1D<float, typename ExecSpace::memory_space> lse("kvsim::test::lse", d.batch * d.query_heads());
  auto ws = cache.make_attention_workspace(splits, kernel);
  if (kv_per_item > 0) ws.kv_per_item = kv_per_item;  // the host kernel's KV heads per item
  REQUIRE(ws.kernel == cache.resolve_attention_kernel(kernel));
  for (int i = 0; i < launches; ++i) cache.decode_attention(layer, q, out, ws, lse);
  auto ho = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), out);
  auto hl = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), lse);
  for (std::int64_t i = 0; i < d.batch * d.query_heads(); ++i) r.lse.push_back(hl(i));
  for (std::int64_t i = 0; i < n; ++i) r.out.push_back(ho(i));
  for (std::int64_t s = 0; s < d.batch; ++s) r.positions.push_back(cache.retained_positions(s));
  return r;
}

// GQA (4 query heads over 2 KV heads), 40 slots in pages of 8; sinks 4 + window 30; h2o 20 + 12.
CacheDesign attention_design(DType dt, LayoutKind layout, PolicyKind policy) {
  return kvsim::test::small_design(dt, layout, policy, {4, 40, 8, policy == PolicyKind::sinks ? 30 : 40, 4, 20, 12});
}

// Every kernel this backend runs: the GPU kernels and the serial one on a GPU, the serial one on
// the host.
template <class ExecSpace>
std::vector<kvsim::AttentionKernel> kernels_of() {
  if (std::is_same<typename ExecSpace::memory_space, Kokkos::HostSpace>::value) return {kvsim::AttentionKernel::serial};
  return {kvsim::AttentionKernel::mma, kvsim::AttentionKernel::lane_groups, kvsim::AttentionKernel::tiled,
          kvsim::AttentionKernel::serial};
}

// The kernels of kernels_of<ExecSpace>() that cover design d (the GPU kernels are compiled for
// groups of 1, 2, 4 and 8 query heads).
template <class ExecSpace>
std::vector<kvsim::AttentionKernel> kernels_for(const CacheDesign& d) {
  std::vector<kvsim::AttentionKernel> out;
  const bool gpu = !std::is_same<typename ExecSpace::memory_space, Kokkos::HostSpace>::value;
  for (const auto k : kernels_of<ExecSpace>())
    if (kvsim::attention_kernel_covers(k, kvsim::codec::bits(d.dtype), d.head_dim, d.query_heads() / d.kv_heads, gpu))
      out.push_back(k);
  return out;
}

// The host kernel's instruction sets this CPU runs, the portable one first; a GPU space runs
// its kernels once, whatever the host's.
template <class ExecSpace>
std::vector<kvsim::kernels::HostIsa> isas_of() {
  using kvsim::kernels::HostIsa;
  if (!std::is_same<typename ExecSpace::memory_space, Kokkos::HostSpace>::value) return {kvsim::kernels::host_isa()};
  std::vector<HostIsa> out;
  for (int i = 0; i <= int(kvsim::kernels::host_isa_supported()); ++i) out.push_back(HostIsa(i));
  return out;
}

// Forces the host kernel's instruction set for a scope.
struct ForceIsa {
  explicit ForceIsa(kvsim::kernels::HostIsa i) { kvsim::kernels::force_host_isa(i); }
  ~ForceIsa() { kvsim::kernels::clear_host_isa(); }
  ForceIsa(const ForceIsa&) = delete;
  ForceIsa& operator=(const ForceIsa&) = delete;
};

// The worst relative L2 error over every (seq, head) of a run against the float64 reference,
// and the worst absolute error of lse.
std::pair<double, double> worst_errors(const CacheDesign& d, std::uint64_t seed, std::int64_t layer,
                                       const std::vector<float>& q, const std::vector<float>& out,
                                       const std::vector<float>& lse,
                                       const std::vector<std::vector<std::int64_t>>& positions);

// The message of what f throws ("" if nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

double rel_l2(const std::vector<double>& ref, const float* got, std::int64_t n) {
  double e = 0, r = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    e += (got[j] - ref[std::size_t(j)]) * (got[j] - ref[std::size_t(j)]);
    r += ref[std::size_t(j)] * ref[std::size_t(j)];
  }
  return std::sqrt(e / r);
}

std::pair<double, double> worst_errors(const CacheDesign& d, std::uint64_t seed, std::int64_t layer,
                                       const std::vector<float>& q, const std::vector<float>& out,
                                       const std::vector<float>& lse,
                                       const std::vector<std::vector<std::int64_t>>& positions) {
  double worst = 0, worst_lse = 0;
  for (std::int64_t s = 0; s < d.batch; ++s)
    for (std::int64_t h = 0; h < d.query_heads(); ++h) {
      const std::int64_t off = (s * d.query_heads() + h) * d.head_dim;
      const auto& pos = positions[std::size_t(s)];
      const auto ref = reference(d, seed, s, layer, h, pos, &q[std::size_t(off)]);
      worst = std::max(worst, rel_l2(ref, &out[std::size_t(off)], d.head_dim));
      const double want = kvsim::test::reference_lse(d, seed, s, layer, h, pos, &q[std::size_t(off)]);
      worst_lse = std::max(worst_lse, std::abs(double(lse[std::size_t(s * d.query_heads() + h)]) - want));
    }
  return {worst, worst_lse};
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("decode attention matches a float64 reference for every design", "[attention]",
                        kvsim::test::ExecSpaces) {
  // Partly filled, full, wrapped twice; and none wrapped, which the GPU kernels compile for
  // separately (rows at a fixed stride).
  for (const std::vector<std::int64_t> lengths : {std::vector<std::int64_t>{9, 40, 97}, std::vector<std::int64_t>{9, 40, 23}})
  for (DType dt : kvsim::codec::all_dtypes()) {
    for (PolicyKind policy : kvsim::all_policies()) {
      for (LayoutKind layout : kvsim::all_layouts()) {
        const CacheDesign d = attention_design(dt, layout, policy);
        for (const auto kernel : kernels_for<TestType>(d))
        for (const auto isa : isas_of<TestType>()) {
          const ForceIsa force(isa);
          INFO(kvsim::codec::name(dt) << " " << kvsim::layout_name(layout) << " " << kvsim::policy_name(policy) << " "
                                      << kvsim::attention_kernel_name(kernel) << " " << kvsim::kernels::host_isa_name(isa)
                                      << " longest " << lengths[2]);
          const auto r = run_attention<TestType>(d, lengths, 11, 1, 0, 1, kernel);
          double worst = 0;
          for (std::int64_t s = 0; s < d.batch; ++s)
            for (std::int64_t h = 0; h < d.query_heads(); ++h) {
              const std::int64_t off = (s * d.query_heads() + h) * d.head_dim;
              const auto ref = reference(d, 11, s, 1, h, r.positions[std::size_t(s)], &r.q[std::size_t(off)]);
              worst = std::max(worst, rel_l2(ref, &r.out[std::size_t(off)], d.head_dim));
            }
          CHECK(worst < 1e-5);
        }
      }
    }
  }
}

// Splits decide which work unit sees which positions (more splits than positions leaves some
// empty) and the GPU kernel merges them in whichever team finishes last: none of that may change
// the result beyond rounding, and the same workspace reused must give the same bits again.
// Groups of 1, 2, 4, 8 (2 KV heads), 3 (not a power of two), and MQA (one KV head: the group is
// every query head, 8 and 12).
TEMPLATE_LIST_TEST_CASE("decode attention: any split count, every GQA group size, repeated launches", "[attention]",
                        kvsim::test::ExecSpaces) {
  const std::vector<std::int64_t> lengths{9, 40, 97};
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes{{2, 2}, {4, 2}, {8, 2}, {16, 2}, {6, 2}, {8, 1}, {12, 1}};
  for (const auto& [heads, kv_heads] : shapes) {
    for (DType dt : {DType::fp32, DType::fp16, DType::int8, DType::int4}) {
      CacheDesign d = kvsim::test::small_design(dt, LayoutKind::paged, PolicyKind::sinks, {heads, 40, 8, 30, 4, 0, 0});
      d.kv_heads = kv_heads;
      for (std::int64_t splits : {1, 3, 64})
      for (const auto kernel : kernels_for<TestType>(d))
      for (const auto isa : isas_of<TestType>()) {
        const ForceIsa force(isa);
        INFO(kvsim::codec::name(dt) << " heads " << heads << " kv_heads " << kv_heads << " splits " << splits << " "
                                    << kvsim::attention_kernel_name(kernel) << " " << kvsim::kernels::host_isa_name(isa));
        const auto once = run_attention<TestType>(d, lengths, 5, 1, splits, 1, kernel);
        const auto thrice = run_attention<TestType>(d, lengths, 5, 1, splits, 3, kernel);
        CHECK(once.out == thrice.out);
        CHECK(once.lse == thrice.lse);
        const auto [worst, worst_lse] = worst_errors(d, 5, 1, once.q, once.out, once.lse, once.positions);
        CHECK(worst < 1e-5);
        CHECK(worst_lse < 1e-4);
      }
    }
  }
}

// Every head_dim shape the configs accept runs (a multiple of 4 and of the format's unit, up to
// 256): widths that leave a tail after the 16-wide AVX-512 and 8-wide AVX2 vectors (4, 12, 36),
// several blocks per split and a last block not full (sequences of 150, wrapped, and 67 rows; the host
// kernel's blocks are up to 32 rows), one block of 16 rows at head_dim 256, every layout, MQA,
// and the host kernel walking one KV head or all of them per work item.
TEMPLATE_LIST_TEST_CASE("decode attention: every head_dim, long odd sequences, every instruction set", "[attention]",
                        kvsim::test::ExecSpaces) {
  const std::vector<std::int64_t> lengths{150, 67, 1};  // 120 slots: the first wraps
  for (DType dt : kvsim::codec::all_dtypes())
    for (std::int64_t hd : {4, 12, 36, 40, 48, 64, 96, 128, 160, 256}) {
      if (hd % kvsim::codec::unit_values(dt) != 0) continue;
      for (LayoutKind layout : kvsim::all_layouts())
        for (const std::int64_t kv_heads : {1, 2, 4}) {
          CacheDesign d = kvsim::test::small_design(dt, layout, PolicyKind::ring, {4, 120, 16, 120, 0, 0, 0});
          d.head_dim = hd;
          d.kv_heads = kv_heads;
          d.layers = 1;
          d.heads = 4 * kv_heads / (kv_heads == 4 ? 2 : 1);  // groups of 4, 4, 2
          for (const std::int64_t splits : {0, 2})
          for (const std::int64_t per_item : {std::int64_t(0), kv_heads})  // automatic; every KV head in one item
          for (const auto kernel : kernels_for<TestType>(d))
          for (const auto isa : isas_of<TestType>()) {
            const ForceIsa force(isa);
            INFO(kvsim::codec::name(dt) << " head_dim " << hd << " " << kvsim::layout_name(layout) << " kv_heads "
                                        << kv_heads << " per item " << per_item << " splits " << splits << " "
                                        << kvsim::attention_kernel_name(kernel) << " " << kvsim::kernels::host_isa_name(isa));
            const auto r = run_attention<TestType>(d, lengths, 7, 0, splits, 1, kernel, per_item);
            const auto [worst, worst_lse] = worst_errors(d, 7, 0, r.q, r.out, r.lse, r.positions);
            CHECK(worst < 1e-5);
            CHECK(worst_lse < 1e-4);
          }
        }
    }
}

// The instruction-set override reaches the kernel: forcing a set this CPU has selects it, and a
// set it lacks falls back to the best it has (never an illegal instruction).
TEMPLATE_LIST_TEST_CASE("decode attention: the host instruction set can be forced", "[attention]",
                        kvsim::test::ExecSpaces) {
  using kvsim::kernels::HostIsa;
  const HostIsa best = kvsim::kernels::host_isa_supported();
  for (const HostIsa isa : {HostIsa::portable, HostIsa::avx2, HostIsa::avx512}) {
    const ForceIsa force(isa);
    CHECK(kvsim::kernels::host_isa() == (int(isa) <= int(best) ? isa : best));
  }
  if (!std::getenv("KVSIM_HOST_ISA")) CHECK(kvsim::kernels::host_isa() == best);
}

// int8/int4 scales: K's and V's scale of the same row need not share the parity of their index
// (one KV head of 32 values, one sequence, an odd number of slots: V's scales start an odd
// number of scales after K's), which a kernel staging scales in aligned pairs must track per
// row and per K|V.
TEMPLATE_LIST_TEST_CASE("decode attention: group scales at odd offsets between K and V", "[attention]",
                        kvsim::test::ExecSpaces) {
  for (DType dt : kvsim::codec::all_dtypes())
    for (LayoutKind layout : kvsim::all_layouts())
      for (const std::int64_t hd : {32, 64})  // one scale a row; two, so also the tensor-core kernel
      for (const auto kernel : kernels_of<TestType>())
      for (const auto isa : isas_of<TestType>()) {
        const ForceIsa force(isa);
        if (kvsim::codec::scale_kind(dt) != kvsim::codec::Scale::group) continue;
        CacheDesign d = kvsim::test::small_design(dt, layout, PolicyKind::ring, {1, 41, 1, 41, 0, 0, 0});
        d.kv_heads = 1;
        d.batch = 1;
        d.head_dim = hd;
        const auto covered = kernels_for<TestType>(d);
        if (std::find(covered.begin(), covered.end(), kernel) == covered.end()) continue;
        INFO(kvsim::codec::name(dt) << " " << kvsim::layout_name(layout) << " " << kvsim::attention_kernel_name(kernel));
        const auto r = run_attention<TestType>(d, {37}, 3, 1, 0, 1, kernel);
        const auto ref = reference(d, 3, 0, 1, 0, r.positions[0], r.q.data());
        CHECK(rel_l2(ref, r.out.data(), d.head_dim) < 1e-5);
      }
}

// The tensor-core kernel's own ground (it runs on GPUs of compute capability 8.0+, at head_dim 64
// and 128): every 16-bit and narrower format, layout and policy (so every row walk: direct,
// paged, and the general one of windows, sinks and H2O tables), query-head groups of 1 to 16
// over two KV heads and MQA with 12 and 32 query heads (teams of 6 and 8 heads), sequences
// partly filled, full and wrapped, with the automatic split and with more splits than steps.
TEMPLATE_LIST_TEST_CASE("decode attention on tensor cores: every format, layout, policy and group", "[attention]",
                        kvsim::test::ExecSpaces) {
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes{{2, 2}, {4, 2}, {8, 2}, {16, 2}, {32, 2}, {12, 1}, {32, 1}};
  for (const std::int64_t hd : {64, 128})
  for (DType dt : kvsim::codec::all_dtypes())
    for (PolicyKind policy : kvsim::all_policies())
      for (LayoutKind layout : kvsim::all_layouts())
        for (const auto& [heads, kv_heads] : shapes) {
          if (kvsim::codec::bits(dt) > 16) continue;
          CacheDesign d = attention_design(dt, layout, policy);
          d.head_dim = hd;
          d.heads = heads;
          d.kv_heads = kv_heads;
          const auto covered = kernels_for<TestType>(d);
          if (std::find(covered.begin(), covered.end(), kvsim::AttentionKernel::mma) == covered.end()) continue;
          for (const std::int64_t splits : {0, 5})
          for (const std::vector<std::int64_t> lengths : {std::vector<std::int64_t>{9, 40, 97}, std::vector<std::int64_t>{17, 40, 23}}) {
            INFO(kvsim::codec::name(dt) << " head_dim " << hd << " " << kvsim::layout_name(layout) << " "
                                        << kvsim::policy_name(policy) << " heads " << heads << " kv_heads " << kv_heads
                                        << " splits " << splits << " longest " << lengths[2]);
            const auto r = run_attention<TestType>(d, lengths, 13, 1, splits, 1, kvsim::AttentionKernel::mma);
            const auto [worst, worst_lse] = worst_errors(d, 13, 1, r.q, r.out, r.lse, r.positions);
            CHECK(worst < 1e-5);
            CHECK(worst_lse < 1e-4);
          }
        }
}

// Kokkos Kernels as the second reference: gemv over a dense fp32 retrieve of the same cache.
TEMPLATE_LIST_TEST_CASE("decode attention matches KokkosBlas::gemv over a dense copy", "[attention]",
                        kvsim::test::ExecSpaces) {
  using Mem = typename TestType::memory_space;
  const TestType exec;
  CacheDesign d = attention_design(DType::fp32, LayoutKind::contiguous, PolicyKind::ring);
  d.batch = 1;
  const std::vector<std::int64_t> lengths{57};
  kvsim::KVCache<TestType> cache(exec, d, 3, lengths);
  auto stage = cache.make_stage(57);
  cache.generate_source(stage, 0, 57);
  cache.append(stage, 0, 0, 57);
  auto dense = cache.template make_dense<float>("kvsim::test::dense");
  cache.retrieve_layer(0, dense);
  const std::int64_t valid = cache.valid(0), rows = cache.dense_rows();
  Kokkos::View<float*****, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>> kv(
      dense.data(), 2, 1, rows, d.kv_heads, d.head_dim);
  const std::int64_t n = d.query_heads() * d.head_dim;
  kvsim::View1D<float, kvsim::HostMemSpace> hq("kvsim::test::q", n);
  for (std::int64_t i = 0; i < n; ++i) hq(i) = std::sin(0.37f * float(i));
  auto q = Kokkos::create_mirror_view_and_copy(Mem(), hq);
  kvsim::View1D<float, Mem> out("kvsim::test::out", n);
  cache.decode_attention(0, q, out, cache.make_attention_workspace());
  auto ho = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), out);
  for (std::int64_t h = 0; h < d.query_heads(); ++h) {
    const std::int64_t kvh = h / (d.query_heads() / d.kv_heads);
    auto K = Kokkos::subview(kv, 0, 0, Kokkos::make_pair(std::int64_t(0), valid), kvh, Kokkos::ALL());
    auto V = Kokkos::subview(kv, 1, 0, Kokkos::make_pair(std::int64_t(0), valid), kvh, Kokkos::ALL());
    auto qh = Kokkos::subview(q, Kokkos::make_pair(h * d.head_dim, (h + 1) * d.head_dim));
    kvsim::View1D<float, Mem> scores("kvsim::test::scores", valid), oh("kvsim::test::oh", d.head_dim);
    KokkosBlas::gemv("N", 1.0f / std::sqrt(float(d.head_dim)), K, qh, 0.0f, scores);
    auto hs = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), scores);
    float mx = hs(0), sum = 0;
    for (std::int64_t i = 0; i < valid; ++i) mx = std::max(mx, hs(i));
    for (std::int64_t i = 0; i < valid; ++i) sum += (hs(i) = std::exp(hs(i) - mx));
    for (std::int64_t i = 0; i < valid; ++i) hs(i) /= sum;
    Kokkos::deep_copy(scores, hs);
    KokkosBlas::gemv("T", 1.0f, V, scores, 0.0f, oh);
    auto ref = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), oh);
    double e = 0, r = 0;
    for (std::int64_t j = 0; j < d.head_dim; ++j) {
      e += std::pow(ho(h * d.head_dim + j) - ref(j), 2);
      r += std::pow(ref(j), 2);
    }
    CHECK(std::sqrt(e / r) < 1e-5);
  }
}

// automatic takes, on a GPU, tensor cores or lane groups by group size (decode_plan.hpp), lane
// groups where a row's 16-byte pieces fill a power-of-two part of a warp, the tiled kernel where
// they do not, and the serial kernel on the host; a kernel that cannot run the shape or the
// backend is refused, never swapped for another.
TEMPLATE_LIST_TEST_CASE("decode attention kernel choice per backend and shape", "[attention]", kvsim::test::ExecSpaces) {
  using kvsim::AttentionKernel;
  const TestType exec;
  const bool host = std::is_same<typename TestType::memory_space, Kokkos::HostSpace>::value;
  CacheDesign d = attention_design(DType::fp16, LayoutKind::contiguous, PolicyKind::ring);
  kvsim::KVCache<TestType> fits(exec, d, 1, {8, 8, 8});
  CHECK(fits.resolve_attention_kernel(AttentionKernel::automatic) ==
        (host ? AttentionKernel::serial : AttentionKernel::lane_groups));
  CHECK(fits.resolve_attention_kernel(AttentionKernel::serial) == AttentionKernel::serial);
  if (host) {
    CHECK(error_of([&] { fits.make_attention_workspace(0, AttentionKernel::lane_groups); }).find("needs a GPU build") !=
          std::string::npos);
    CHECK(error_of([&] { fits.resolve_attention_kernel(AttentionKernel::tiled); }).find("needs a GPU build") !=
          std::string::npos);
  }
  // head_dim 128: tensor cores on a GPU for 16-bit and narrower formats from groups of
  // kMmaMinGroup query heads (here 4 over 1 KV head), lane groups below (2 over 2) and for fp32;
  // tensor cores also where lane groups do not compile the group (12 over 1).
  const bool mma = !host && kvsim::mma::device_has_mma<TestType>();
  CacheDesign wide = d;
  wide.head_dim = 128;
  kvsim::KVCache<TestType> pairs(exec, wide, 1, {8, 8, 8});
  CHECK(pairs.resolve_attention_kernel(AttentionKernel::automatic) == (host ? AttentionKernel::serial : AttentionKernel::lane_groups));
  wide.kv_heads = 1;
  kvsim::KVCache<TestType> tc(exec, wide, 1, {8, 8, 8});
  CHECK(tc.resolve_attention_kernel(AttentionKernel::automatic) ==
        (host ? AttentionKernel::serial : mma ? AttentionKernel::mma : AttentionKernel::lane_groups));
  CacheDesign mqa = wide;
  mqa.heads = 12;
  kvsim::KVCache<TestType> twelve(exec, mqa, 1, {8, 8, 8});
  CHECK(twelve.resolve_attention_kernel(AttentionKernel::automatic) ==
        (host || !mma ? AttentionKernel::serial : AttentionKernel::mma));
  if (host)
    CHECK(error_of([&] { tc.resolve_attention_kernel(AttentionKernel::mma); }).find("needs a GPU build") != std::string::npos);
  wide.dtype = DType::fp32;
  kvsim::KVCache<TestType> wide32(exec, wide, 1, {8, 8, 8});
  CHECK(wide32.resolve_attention_kernel(AttentionKernel::automatic) ==
        (host ? AttentionKernel::serial : AttentionKernel::lane_groups));
  if (!host)
    CHECK(error_of([&] { wide32.resolve_attention_kernel(AttentionKernel::mma); }).find("does not cover head_dim 128 of fp32") !=
          std::string::npos);
  d.head_dim = 96;  // fp16: 12 lanes of 8 values, not a power of two
  kvsim::KVCache<TestType> odd(exec, d, 1, {8, 8, 8});
  CHECK(odd.resolve_attention_kernel(AttentionKernel::automatic) ==
        (host ? AttentionKernel::serial : AttentionKernel::tiled));
  CHECK(error_of([&] { odd.resolve_attention_kernel(AttentionKernel::lane_groups); })
            .find(host ? "needs a GPU build" : "does not cover head_dim 96 of fp16") != std::string::npos);
}

// Every fp8 code, on every instruction set this CPU has: the host row decoders give the twin's
// value times the scale, NaN codes included.
TEST_CASE("host row decoders: every fp8 code as the bit-exact twin decodes it", "[codecs]") {
  std::vector<unsigned char> codes(256);
  for (int i = 0; i < 256; ++i) codes[std::size_t(i)] = static_cast<unsigned char>(i);
  const float scale = 0.375f;
  using Decode = void (*)(const unsigned char*, std::int64_t, const std::uint16_t*, float, std::int64_t, float*);
  std::vector<std::pair<const char*, Decode>> paths{{"portable", &kvsim::kernels::host_portable::decode_row<DType::fp8_e4m3>}};
#if defined(KVSIM_HOST_X86_SIMD)
  if (kvsim::kernels::host_isa_supported() >= kvsim::kernels::HostIsa::avx2)
    paths.push_back({"avx2", &kvsim::kernels::host_avx2::decode_row<DType::fp8_e4m3>});
  if (kvsim::kernels::host_isa_supported() >= kvsim::kernels::HostIsa::avx512)
    paths.push_back({"avx512", &kvsim::kernels::host_avx512::decode_row<DType::fp8_e4m3>});
#endif
  for (const auto& [name, decode] : paths) {
    INFO(name);
    std::vector<float> out(256);
    decode(codes.data(), 0, nullptr, scale, 256, out.data());
    int wrong = 0;
    for (int i = 0; i < 256; ++i) {
      const float want = kvsim::codec::e4m3_to_float(std::uint8_t(i)) * scale;
      const bool same = std::isnan(want) ? std::isnan(out[std::size_t(i)]) : out[std::size_t(i)] == want;
      wrong += same ? 0 : 1;
    }
    CHECK(wrong == 0);
  }
}

namespace {

// A ragged batch as token generation runs it: every sequence filled to its own length (shorter
// ones starting at later steps, KVCache's starts), then `tokens` steps that append every
// sequence's next position, then decode attention over `layer`. Also returns every split's
// partial sum l, [seq][head][split], and the positions a split holds (the plan's, from the
// longest sequence).
template <class ExecSpace>
struct RaggedRun {
  AttentionRun<ExecSpace> run;
  std::vector<float> l;
  std::int64_t splits = 0, per = 0, longest = 0;
  std::vector<std::int64_t> totals;
};

template <class ExecSpace>
RaggedRun<ExecSpace> run_ragged(const CacheDesign& d, const std::vector<std::int64_t>& fill, std::int64_t tokens,
                                std::uint64_t seed, std::int64_t splits, kvsim::AttentionKernel kernel) {
  const ExecSpace exec;
  const std::int64_t longest = *std::max_element(fill.begin(), fill.end());
  std::vector<std::int64_t> lengths, starts;
  for (const std::int64_t n : fill) lengths.push_back(n + tokens), starts.push_back(longest - n);
  kvsim::KVCache<ExecSpace> cache(exec, d, seed, lengths, starts);
  REQUIRE(cache.steps() == longest + tokens);
  auto stage = cache.make_stage(cache.steps());
  cache.generate_source(stage, 0, cache.steps());
  cache.append(stage, 0, 0, longest);  // the fill, in one launch
  for (std::int64_t t = 0; t < tokens; ++t) cache.append(stage, 0, longest + t, longest + t + 1);
  RaggedRun<ExecSpace> out;
  AttentionRun<ExecSpace>& r = out.run;
  const std::int64_t n = d.batch * d.query_heads() * d.head_dim;
  const auto q = random_queries<ExecSpace>(d, seed, r.q);
  kvsim::View1D<float, typename ExecSpace::memory_space> o("kvsim::test::out", n);
  kvsim::View1D<float, typename ExecSpace::memory_space> lse("kvsim::test::lse", d.batch * d.query_heads());
  const auto ws = cache.make_attention_workspace(splits, kernel);
  cache.decode_attention(1, q, o, ws, lse);
  const auto ho = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), o);
  const auto hl = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), lse);
  const auto pl = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), ws.partials.l);
  const auto dev_longest = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), cache.stored().longest);
  for (std::int64_t i = 0; i < d.batch * d.query_heads(); ++i) r.lse.push_back(hl(i));
  for (std::int64_t i = 0; i < n; ++i) r.out.push_back(ho(i));
  for (std::int64_t i = 0; i < std::int64_t(pl.extent(0)); ++i) out.l.push_back(pl(i));
  for (std::int64_t s = 0; s < d.batch; ++s) r.positions.push_back(cache.retained_positions(s));
  for (std::int64_t s = 0; s < d.batch; ++s) out.totals.push_back(cache.total(s));
  out.splits = ws.splits;
  out.longest = dev_longest(0);
  std::int64_t longest_valid = 0;
  for (std::int64_t s = 0; s < d.batch; ++s) longest_valid = std::max(longest_valid, cache.valid(s));
  const std::int64_t even = (longest_valid + ws.splits - 1) / ws.splits;
  out.per = (even + ws.align - 1) / ws.align * ws.align;
  return out;
}

}  // namespace

// Sequences of 1, 131, 13 and 45 positions (none a multiple of a page, a tile, a host block or a
// vector; one ten times the others) generate 3 tokens together. Every sequence's next position
// goes in at its own length, attention matches the float64 reference over exactly the positions
// each holds, and the work is split by positions: every split of every sequence holds the
// longest sequence's share, so a short sequence fills only its first splits and the rest write
// empty partials (l = 0) that the merge drops.
TEMPLATE_LIST_TEST_CASE("decode attention over ragged batches: split by positions, every design", "[attention]",
                        kvsim::test::ExecSpaces) {
  const std::vector<std::int64_t> fill{1, 131, 13, 45};
  const std::int64_t tokens = 3;
  // Groups of 1, 2, 4, 8 over 2 KV heads, and MQA (8 query heads on one KV head).
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes{{2, 2}, {4, 2}, {8, 2}, {16, 2}, {8, 1}};
  for (const auto& [heads, kv_heads] : shapes)
    for (DType dt : kvsim::codec::all_dtypes())
      // ring: nothing evicted; window and sinks + window: the long sequence keeps its last 60.
      for (PolicyKind policy : {PolicyKind::ring, PolicyKind::window, PolicyKind::sinks}) {
        // The reference depends on the precision, the shape and the positions held, not on the
        // layout, kernel or split: computed once per policy for all of them.
        std::vector<std::vector<double>> ref, ref_lse;
        std::vector<std::vector<std::int64_t>> ref_positions;
        for (LayoutKind layout : kvsim::all_layouts()) {
          const bool windowed = policy != PolicyKind::ring;
          CacheDesign d = kvsim::test::small_design(dt, layout, policy, {heads, 256, 8, windowed ? 60 : 256, 4, 0, 0});
          d.kv_heads = kv_heads;
          d.batch = std::int64_t(fill.size());
          // 2 splits: the long sequence's share (67 positions, 96 on the host's 32-row blocks)
          // holds all 48 of the fourth, which splits sized by its own length would halve.
          for (const std::int64_t splits : {0, 2, 5})
          for (const auto kernel : kernels_for<TestType>(d))
          for (const auto isa : isas_of<TestType>()) {
            const ForceIsa force(isa);
            INFO(kvsim::codec::name(dt) << " heads " << heads << " kv_heads " << kv_heads << " "
                                        << kvsim::layout_name(layout) << " " << kvsim::policy_name(policy) << " splits "
                                        << splits << " " << kvsim::attention_kernel_name(kernel) << " "
                                        << kvsim::kernels::host_isa_name(isa));
            const auto rr = run_ragged<TestType>(d, fill, tokens, 9, splits, kernel);
            const auto& r = rr.run;
            if (ref.empty()) {
              ref_positions = r.positions;
              for (std::int64_t s = 0; s < d.batch; ++s)
                for (std::int64_t h = 0; h < d.query_heads(); ++h) {
                  const float* q = &r.q[std::size_t((s * d.query_heads() + h) * d.head_dim)];
                  ref.push_back(reference(d, 9, s, 1, h, r.positions[std::size_t(s)], q));
                  ref_lse.push_back({kvsim::test::reference_lse(d, 9, s, 1, h, r.positions[std::size_t(s)], q)});
                }
            }
            REQUIRE(r.positions == ref_positions);  // and the queries are the seed's
            double worst = 0, worst_lse = 0;
            for (std::int64_t sh = 0; sh < d.batch * d.query_heads(); ++sh) {
              worst = std::max(worst, rel_l2(ref[std::size_t(sh)], &r.out[std::size_t(sh * d.head_dim)], d.head_dim));
              worst_lse = std::max(worst_lse, std::abs(double(r.lse[std::size_t(sh)]) - ref_lse[std::size_t(sh)][0]));
            }
            CHECK(worst < 1e-5);
            CHECK(worst_lse < 1e-4);
            for (std::int64_t s = 0; s < d.batch; ++s) {
              const std::int64_t total = fill[std::size_t(s)] + tokens;
              const auto& pos = r.positions[std::size_t(s)];
              CHECK(rr.totals[std::size_t(s)] == total);
              CHECK(std::int64_t(pos.size()) == std::min(total, d.capacity()));
              CHECK(pos.back() == total - 1);
              const std::int64_t used = (std::int64_t(pos.size()) + rr.per - 1) / rr.per;
              for (std::int64_t h = 0; h < d.query_heads(); ++h)
                for (std::int64_t split = 0; split < rr.splits; ++split) {
                  const float l = rr.l[std::size_t((s * d.query_heads() + h) * rr.splits + split)];
                  if (split < used) CHECK(l > 0.0f);
                  else CHECK(l == 0.0f);
                }
            }
            CHECK(rr.longest == fill[1] + tokens);
          }
        }
      }
}

// The split arithmetic on its own: whatever the batch's lengths, every split holds at most
// ceil(longest valid / splits) positions rounded up to the kernel's step, a sequence's splits
// cover its positions in order without a gap, and it fills ceil(valid / per) of them.
TEST_CASE("decode attention splits hold at most the longest sequence's share of positions", "[attention]") {
  using Host = Kokkos::HostSpace;
  for (const std::vector<std::int64_t> totals :
       {std::vector<std::int64_t>{1, 1000, 7, 333}, std::vector<std::int64_t>{64, 64, 64}, std::vector<std::int64_t>{5, 2},
        std::vector<std::int64_t>{4099, 1, 17, 4096, 31}})
    for (const PolicyKind policy : {PolicyKind::ring, PolicyKind::sinks}) {
      const CacheDesign d = kvsim::test::small_design(DType::fp16, LayoutKind::contiguous, policy,
                                                      {4, 5000, 8, policy == PolicyKind::sinks ? 900 : 5000, 4, 0, 0});
      kvsim::kernels::AttentionInputs<Host> in{};
      in.cache.map = kvsim::PolicyMap::of(d);
      kvsim::View1D<std::int64_t, Host> t("kvsim::test::totals", totals.size()), longest("kvsim::test::longest", 1);
      std::int64_t most = 0, most_valid = 0;
      for (std::size_t s = 0; s < totals.size(); ++s) {
        t(s) = totals[s];
        most = std::max(most, totals[s]);
        most_valid = std::max(most_valid, in.cache.map.valid(totals[s]));
      }
      longest(0) = most;
      in.cache.totals = t;
      in.cache.longest = longest;
      for (const std::int64_t splits : {1, 3, 8, 33, 2000})
        for (const std::int64_t align : {1, 16, 32, 64}) {
          in.splits = splits;
          in.align = align;
          const std::int64_t even = (most_valid + splits - 1) / splits;
          const std::int64_t bound = (even + align - 1) / align * align;
          INFO("policy " << kvsim::policy_name(policy) << " longest " << most << " splits " << splits << " align " << align);
          CHECK(in.split_positions() == bound);
          for (const std::int64_t total : totals) {
            const std::int64_t valid = in.cache.map.valid(total);
            std::int64_t next = 0, filled = 0;
            for (std::int64_t split = 0; split < splits; ++split) {
              std::int64_t begin = -1, end = -1;
              in.split_range(valid, split, begin, end);
              CHECK(end - begin <= bound);
              CHECK(begin == std::min(next, valid));
              next = end;
              filled += end > begin ? 1 : 0;
            }
            CHECK(next == valid);
            CHECK(filled == (valid + bound - 1) / bound);
          }
        }
    }
}
