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
double prefill_error(const CacheDesign& d, std::int64_t context, std::int64_t chunk, std::int64_t layer) {
  using Mem = typename ExecSpace::memory_space;
  const ExecSpace exec;
  const std::vector<std::int64_t> lengths(std::size_t(d.batch), context);
  kvsim::KVCache<ExecSpace> cache(exec, d, 7, lengths);
  auto stage = cache.make_stage(context);
  cache.generate_source(stage, 0, context);
  cache.append(stage, 0, 0, context);
  auto dense = cache.template make_dense<Out>("kvsim::test::dense");
  cache.retrieve_layer(layer, dense);

  kvsim::PrefillAttention<ExecSpace> pf(exec, d, chunk, context);
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
