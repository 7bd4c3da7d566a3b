#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "../attention_reference.hpp"
#include "../catch_compat.hpp"
#include "../exec_spaces.hpp"
#include "../small_designs.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/attention/prefill_attention.hpp"

namespace {

using kvsim::CacheDesign;
using kvsim::LayoutKind;
using kvsim::PolicyKind;
using kvsim::codec::DType;

// Fills a cache with `context` positions, runs chunked prefill attention of its last `chunk`
// positions over `layer` with random queries, and returns the worst relative error of any
// (seq, head, query row) against float64 causal attention over the stored values.
template <class ExecSpace, class Out>
double prefill_error(const CacheDesign& d, std::int64_t context, std::int64_t chunk, std::int64_t layer,
                     kvsim::PrefillKernel kernel = kvsim::PrefillKernel::gemm) {
  using Mem = typename ExecSpace::memory_space;
  const ExecSpace exec;
  const std::vector<std::int64_t> lengths(std::size_t(d.batch), context);
  kvsim::KVCache<ExecSpace> cache(exec, d, 7, lengths);
  auto stage = cache.make_stage(context);
  cache.generate_source(stage, 0, context);
  cache.append(stage, 0, 0, context);
  auto dense = cache.template make_dense<Out>("kvsim::test::dense");
  cache.retrieve_layer(layer, dense);

  kvsim::PrefillAttention<ExecSpace> pf(exec, d, chunk, context, kernel);
  if (pf.kernel() != kernel) return 1e9;  // asked for one kernel, got another
  auto hq = Kokkos::create_mirror_view(pf.queries());
  std::mt19937 gen{5};
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (std::size_t i = 0; i < hq.span(); ++i) hq.data()[i] = dist(gen);
  Kokkos::deep_copy(pf.queries(), hq);
  pf.run_layer(dense, cache.dense_rows());
  auto ho = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), pf.output());

  double worst = 0;
  for (std::int64_t s = 0; s < d.batch; ++s)
    for (std::int64_t h = 0; h < d.query_heads(); ++h)
      for (std::int64_t i = 0; i < chunk; ++i) {
        std::vector<std::int64_t> seen(std::size_t(context - chunk + i + 1));
        std::iota(seen.begin(), seen.end(), std::int64_t(0));
        const auto ref = kvsim::test::reference(d, 7, s, layer, h, seen, &hq(s, h, i, 0));
        double e = 0, r = 0;
        for (std::int64_t j = 0; j < d.head_dim; ++j) {
          const double got = ho(s, h, i, j);
          e += (got - ref[std::size_t(j)]) * (got - ref[std::size_t(j)]);
          r += ref[std::size_t(j)] * ref[std::size_t(j)];
        }
        worst = std::max(worst, std::sqrt(e / r));
      }
  return worst;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("chunked prefill attention through KokkosBlas::gemm matches float64 causal attention",
                        "[prefill]", kvsim::test::ExecSpaces) {
  for (DType dt : {DType::fp32, DType::fp16, DType::int8}) {
    for (LayoutKind layout : {LayoutKind::contiguous, LayoutKind::paged}) {
      // GQA: 4 query heads over 2 KV heads; 37 positions (not a page multiple), chunks of 1, 8, all.
      const CacheDesign d = kvsim::test::small_design(dt, layout, PolicyKind::ring, {4, 40, 8, 40, 0, 0, 0});
      for (std::int64_t chunk : {1, 8, 37}) {
        INFO(kvsim::codec::name(dt) << " " << kvsim::layout_name(layout) << " chunk " << chunk);
        CHECK(prefill_error<TestType, float>(d, 37, chunk, 1) < 1e-5);
      }
    }
  }
}

TEMPLATE_LIST_TEST_CASE("chunked prefill attention refuses a chunk longer than the context", "[prefill]",
                        kvsim::test::ExecSpaces) {
  const CacheDesign d = kvsim::test::small_design(DType::fp32, LayoutKind::contiguous, PolicyKind::ring, {4, 40, 8, 40, 0, 0, 0});
  CHECK_THROWS_AS(kvsim::PrefillAttention<TestType>(TestType(), d, 41, 40), kvsim::RuntimeError);
  CHECK_THROWS_AS(kvsim::PrefillAttention<TestType>(TestType(), d, 0, 40), kvsim::RuntimeError);
}

// The flash kernel (tensor cores, fp16 operands, fp32 accumulation) against the same float64
// reference: odd chunk and context lengths (not multiples of its 64-row tiles), GQA groups of
// 1, 2, 4 and 8 (teams of 1, 2, 4 and 4 heads), head_dim 64 and 128, the storage precisions
// through the dense retrieve in fp32 (rounded to fp16 in the kernel) and fp16 (cp.async).
// fp16 Q, K, V and P bound the error at about 1e-3 on these values; 1e-2 leaves room and still
// catches a wrong fragment, mask or rescale (those are off by O(1e-1) or more).
TEMPLATE_LIST_TEST_CASE("chunked prefill attention on tensor cores (flash) matches float64 causal attention", "[prefill]",
                        kvsim::test::ExecSpaces) {
  CacheDesign base = kvsim::test::small_design(DType::fp16, LayoutKind::contiguous, PolicyKind::ring, {8, 320, 16, 320, 0, 0, 0});
  base.head_dim = 128;
  if (kvsim::PrefillAttention<TestType>::resolve(base, kvsim::PrefillKernel::automatic) != kvsim::PrefillKernel::flash) {
    // Host backends (or a GPU before sm_80): auto falls back to the reference, flash is refused.
    CHECK_THROWS_AS(kvsim::PrefillAttention<TestType>(TestType(), base, 8, 40, kvsim::PrefillKernel::flash), kvsim::RuntimeError);
    return;
  }
  const auto flash = kvsim::PrefillKernel::flash;
  for (DType dt : {DType::fp32, DType::fp16, DType::bf16, DType::int8})
    for (LayoutKind layout : {LayoutKind::contiguous, LayoutKind::paged})
      for (std::int64_t group : {1, 2, 4, 8})
        for (std::int64_t head_dim : {64, 128}) {
          CacheDesign d = kvsim::test::small_design(dt, layout, PolicyKind::ring, {2 * group, 320, 16, 320, 0, 0, 0});
          d.head_dim = head_dim;
          INFO(kvsim::codec::name(dt) << " " << kvsim::layout_name(layout) << " group " << group << " head_dim " << head_dim);
          CHECK(prefill_error<TestType, float>(d, 101, 37, 1, flash) < 1e-2);
          CHECK(prefill_error<TestType, std::uint16_t>(d, 101, 37, 1, flash) < 1e-2);
        }
  // Chunks of one row, of exactly one tile and one more, the whole context; several key tiles.
  for (std::int64_t group : {1, 4}) {
    CacheDesign d = base;
    d.heads = 2 * group;
    for (std::int64_t chunk : {1, 16, 64, 65, 101}) {
      INFO("group " << group << " chunk " << chunk << " over 101");
      CHECK(prefill_error<TestType, std::uint16_t>(d, 101, chunk, 0, flash) < 1e-2);
    }
    INFO("group " << group << " chunk 130 over 300");
    CHECK(prefill_error<TestType, std::uint16_t>(d, 300, 130, 0, flash) < 1e-2);
    CHECK(prefill_error<TestType, float>(d, 300, 130, 0, kvsim::PrefillKernel::gemm) < 1e-5);
  }
}

TEMPLATE_LIST_TEST_CASE("the flash prefill kernel refuses a head_dim it is not built for", "[prefill]", kvsim::test::ExecSpaces) {
  CacheDesign d = kvsim::test::small_design(DType::fp16, LayoutKind::contiguous, PolicyKind::ring, {4, 40, 8, 40, 0, 0, 0});
  d.head_dim = 96;
  CHECK_THROWS_AS(kvsim::PrefillAttention<TestType>(TestType(), d, 8, 40, kvsim::PrefillKernel::flash), kvsim::RuntimeError);
  CHECK(kvsim::PrefillAttention<TestType>::resolve(d, kvsim::PrefillKernel::automatic) == kvsim::PrefillKernel::gemm);
}
