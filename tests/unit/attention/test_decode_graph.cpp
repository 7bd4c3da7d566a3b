#include <cstring>
#include <random>
#include <vector>

#include "../catch_compat.hpp"
#include "../exec_spaces.hpp"
#include "../small_designs.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "kvsim/core/exec_instance.hpp"
#include "kvsim/core/launch_graph.hpp"

namespace {

using kvsim::CacheDesign;
using kvsim::LayoutKind;
using kvsim::PolicyKind;
using kvsim::codec::DType;

// x(i) += *step: what a replay reads from device memory must be read at replay, not at record.
template <class Mem>
struct AddStep {
  kvsim::View1D<float, Mem> x;
  Kokkos::View<const float, Mem> step;
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const { x(i) += step(); }
};

template <class ExecSpace>
std::vector<float> to_host(const kvsim::View1D<float, typename ExecSpace::memory_space>& v) {
  const auto h = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), v);
  return std::vector<float>(h.data(), h.data() + h.span());
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("a launch graph replays its launches, reading device memory at each replay", "[attention]",
                        kvsim::test::ExecSpaces) {
  using Mem = typename TestType::memory_space;
  const kvsim::ExecInstance<TestType> instance;
  const TestType& exec = instance.space();
  kvsim::View1D<float, Mem> x("kvsim::test::x", 1000);
  Kokkos::View<float, Mem> step("kvsim::test::step");
  Kokkos::deep_copy(step, 1.0f);
  kvsim::LaunchGraph<TestType> graph;
  CHECK_FALSE(graph.recorded());
  const AddStep<Mem> add{x, step};
  graph.record(exec, [&] {
    Kokkos::parallel_for("kvsim::test::add", kvsim::RangePolicy<TestType>(exec, 0, 1000), add);
    Kokkos::parallel_for("kvsim::test::add", kvsim::RangePolicy<TestType>(exec, 0, 500), add);
  });
  REQUIRE(graph.recorded());
  exec.fence();
  // Recording launches nothing on a GPU; the host records by keeping the launches.
  CHECK(to_host<TestType>(x)[0] == 0.0f);
  graph.replay(exec);
  exec.fence();
  Kokkos::deep_copy(step, 10.0f);
  graph.replay(exec);
  exec.fence();
  const auto h = to_host<TestType>(x);
  CHECK(h[0] == 22.0f);
  CHECK(h[499] == 22.0f);
  CHECK(h[500] == 11.0f);
  CHECK(h[999] == 11.0f);
}

// The decode's graph holds one token's launches over every layer; between replays the cache
// grows by a position (its lengths live in device memory). Each replay must give the bits the
// same launches give one by one, for the direct, paged and general walks.
TEMPLATE_LIST_TEST_CASE("decode attention replayed from a launch graph equals its eager launches bit for bit",
                        "[attention]", kvsim::test::ExecSpaces) {
  using Mem = typename TestType::memory_space;
  const kvsim::ExecInstance<TestType> instance;
  const TestType& exec = instance.space();
  struct Case {
    LayoutKind layout;
    PolicyKind policy;
    std::int64_t window;
  };
  for (const Case k : {Case{LayoutKind::contiguous, PolicyKind::ring, 40}, Case{LayoutKind::paged, PolicyKind::ring, 40},
                       Case{LayoutKind::head_major, PolicyKind::sinks, 12}})
  for (DType dt : {DType::fp16, DType::int8}) {
    INFO(kvsim::layout_name(k.layout) << " " << kvsim::policy_name(k.policy) << " " << kvsim::codec::name(dt));
    const CacheDesign d = kvsim::test::small_design(dt, k.layout, k.policy, {8, 40, 8, k.window, 2, 0, 0});
    const std::vector<std::int64_t> lengths{30, 17, 33};
    kvsim::KVCache<TestType> cache(exec, d, 3, lengths);
    auto stage = cache.make_stage(cache.max_length());
    cache.generate_source(stage, 0, cache.max_length());
    const std::int64_t prefill = 25;
    cache.append(stage, 0, 0, prefill);
    const std::int64_t n = d.batch * d.query_heads() * d.head_dim;
    kvsim::View1D<float, kvsim::HostMemSpace> hq("kvsim::test::q", d.layers * n);
    std::mt19937 gen{9};
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (std::int64_t i = 0; i < d.layers * n; ++i) hq(i) = dist(gen);
    const auto q = Kokkos::create_mirror_view_and_copy(Mem(), hq);
    kvsim::View1D<float, Mem> out("kvsim::test::out", d.layers * n);
    const auto ws = cache.make_attention_workspace();
    const auto all_layers = [&] {
      for (std::int64_t layer = 0; layer < d.layers; ++layer) {
        const auto range = Kokkos::make_pair(layer * n, (layer + 1) * n);
        cache.decode_attention(layer, Kokkos::subview(q, range), Kokkos::subview(out, range), ws);
      }
    };
    for (std::int64_t p = prefill; p < prefill + 3; ++p) {
      cache.append(stage, 0, p, p + 1);
      // A graph per state of the cache, as the decode records one per token.
      kvsim::LaunchGraph<TestType> graph;
      graph.record(exec, all_layers);
      graph.replay(exec);
      exec.fence();
      const auto replayed = to_host<TestType>(out);
      Kokkos::deep_copy(out, 0.0f);
      all_layers();
      exec.fence();
      const auto eager = to_host<TestType>(out);
      CHECK(std::memcmp(replayed.data(), eager.data(), eager.size() * sizeof(float)) == 0);
      // A second replay, after the outputs were cleared, again.
      Kokkos::deep_copy(out, 0.0f);
      graph.replay(exec);
      exec.fence();
      CHECK(to_host<TestType>(out) == eager);
    }
  }
}

// A ragged batch's splits are sized by its longest sequence, read on the device when the
// launch runs: one graph recorded while the longest sequence holds 20 positions, replayed as
// it grows to 150 (a single split, so a size baked in at record would drop every later
// position), gives the bits of the eager launches at each length.
TEMPLATE_LIST_TEST_CASE("decode attention over a ragged batch reads the longest length at replay", "[attention]",
                        kvsim::test::ExecSpaces) {
  using Mem = typename TestType::memory_space;
  const kvsim::ExecInstance<TestType> instance;
  const TestType& exec = instance.space();
  for (const LayoutKind layout : {LayoutKind::contiguous, LayoutKind::paged}) {
    INFO(kvsim::layout_name(layout));
    const CacheDesign d = kvsim::test::small_design(DType::fp16, layout, PolicyKind::ring, {4, 160, 8, 160, 0, 0, 0});
    kvsim::KVCache<TestType> cache(exec, d, 3, {150, 140, 145}, {0, 10, 5});
    auto stage = cache.make_stage(cache.steps());
    cache.generate_source(stage, 0, cache.steps());
    std::int64_t step = 20;
    cache.append(stage, 0, 0, step);
    const std::int64_t n = d.batch * d.query_heads() * d.head_dim;
    kvsim::View1D<float, kvsim::HostMemSpace> hq("kvsim::test::q", n);
    std::mt19937 gen{4};
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (std::int64_t i = 0; i < n; ++i) hq(i) = dist(gen);
    const auto q = Kokkos::create_mirror_view_and_copy(Mem(), hq);
    kvsim::View1D<float, Mem> out("kvsim::test::out", n);
    const auto ws = cache.make_attention_workspace(1);
    kvsim::LaunchGraph<TestType> graph;
    graph.record(exec, [&] { cache.decode_attention(1, q, out, ws); });
    std::int64_t differing = 0;
    for (; step < cache.steps(); step += 13) {
      cache.append(stage, 0, step, std::min(step + 13, cache.steps()));
      Kokkos::deep_copy(out, 0.0f);
      graph.replay(exec);
      exec.fence();
      const auto replayed = to_host<TestType>(out);
      Kokkos::deep_copy(out, 0.0f);
      cache.decode_attention(1, q, out, ws);
      exec.fence();
      const auto eager = to_host<TestType>(out);
      differing += std::memcmp(replayed.data(), eager.data(), eager.size() * sizeof(float)) != 0 ? 1 : 0;
    }
    CHECK(differing == 0);
  }
}
