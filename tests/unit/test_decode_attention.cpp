#include <KokkosBlas2_gemv.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "catch_compat.hpp"
#include "exec_spaces.hpp"
#include "small_designs.hpp"
#include "kvsim/kv_cache.hpp"
#include "kvsim/synthetic.hpp"

namespace {

using kvsim::CacheDesign;
using kvsim::LayoutKind;
using kvsim::PolicyKind;
using kvsim::codec::DType;

// The values the cache holds for (seq, layer, K|V, position, kv_head): the host twin of the
// codec applied to the synthetic source, as float64.
std::vector<double> stored_row(const CacheDesign& d, std::uint64_t seed, std::int64_t seq, std::int64_t layer, int kv,
                               std::int64_t position, std::int64_t kv_head) {
  const std::uint64_t s = kvsim::synthetic::sequence_seed(seed, std::uint64_t(seq));
  std::vector<double> out(std::size_t(d.head_dim));
  const int n = kvsim::codec::unit_values(d.dtype);
  for (std::int64_t u = 0; u < d.head_dim; u += n) {
    float src[32], dec[32];
    for (int k = 0; k < n; ++k)
      src[k] = kvsim::synthetic::value(s, std::uint32_t(layer), kvsim::synthetic::Tensor(kv), std::uint64_t(position),
                                       std::uint32_t(kv_head), std::uint32_t(u + k));
    alignas(16) unsigned char enc[128];
    std::uint16_t gs[1] = {0};
    const float scale = kvsim::kFp8SyntheticScale;
    kvsim::codec::dispatch(d.dtype, [&](auto tag) {
      using C = kvsim::codec::Codec<decltype(tag)::value>;
      C::encode(src, enc, 0, gs, 1.0f / scale);
      C::decode(enc, 0, gs, scale, dec);
    });
    for (int k = 0; k < n; ++k) out[std::size_t(u + k)] = dec[k];
  }
  return out;
}

// float64 softmax(q K^T / sqrt(d)) V over the given positions.
std::vector<double> reference(const CacheDesign& d, std::uint64_t seed, std::int64_t seq, std::int64_t layer,
                              std::int64_t head, const std::vector<std::int64_t>& positions, const float* q) {
  const std::int64_t kv_head = head / (d.query_heads() / d.kv_heads);
  std::vector<double> scores, out(std::size_t(d.head_dim), 0.0);
  double mx = -1e300;
  for (auto p : positions) {
    const auto k = stored_row(d, seed, seq, layer, 0, p, kv_head);
    double s = 0;
    for (std::int64_t j = 0; j < d.head_dim; ++j) s += double(q[j]) * k[std::size_t(j)];
    scores.push_back(s / std::sqrt(double(d.head_dim)));
    mx = std::max(mx, scores.back());
  }
  double sum = 0;
  for (auto& s : scores) sum += (s = std::exp(s - mx));
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const auto v = stored_row(d, seed, seq, layer, 1, positions[i], kv_head);
    for (std::int64_t j = 0; j < d.head_dim; ++j) out[std::size_t(j)] += scores[i] / sum * v[std::size_t(j)];
  }
  return out;
}

template <class ExecSpace>
struct AttentionRun {
  std::vector<float> q, out;  // [seq][head][dim] of the last layer run
  std::vector<std::vector<std::int64_t>> positions;
};

// Fills a cache token by token and runs decode attention over `layer` with random queries.
template <class ExecSpace>
AttentionRun<ExecSpace> run_attention(const CacheDesign& d, const std::vector<std::int64_t>& lengths, std::uint64_t seed,
                                      std::int64_t layer) {
  const ExecSpace exec;
  kvsim::KVCache<ExecSpace> cache(exec, d, seed, lengths);
  auto stage = cache.make_stage(cache.max_length());
  cache.generate_source(stage, 0, cache.max_length());
  for (std::int64_t p = 0; p < cache.max_length(); ++p) cache.append(stage, 0, cache.max_length(), p, p + 1);
  AttentionRun<ExecSpace> r;
  const std::int64_t n = d.batch * d.query_heads() * d.head_dim;
  std::mt19937 gen{std::uint32_t(seed)};
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  kvsim::View1D<float, kvsim::HostMemSpace> hq("kvsim::test::q", n);
  for (std::int64_t i = 0; i < n; ++i) r.q.push_back(hq(i) = dist(gen));
  auto q = Kokkos::create_mirror_view_and_copy(typename ExecSpace::memory_space(), hq);
  kvsim::View1D<float, typename ExecSpace::memory_space> out("kvsim::test::out", n);
  const auto ws = cache.make_attention_workspace();
  cache.decode_attention(layer, q, out, ws);
  auto ho = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), out);
  for (std::int64_t i = 0; i < n; ++i) r.out.push_back(ho(i));
  for (std::int64_t s = 0; s < d.batch; ++s) r.positions.push_back(cache.retained_positions(s));
  return r;
}

// GQA (4 query heads over 2 KV heads), 40 slots in pages of 8; sinks 4 + window 30; h2o 20 + 12.
CacheDesign attention_design(DType dt, LayoutKind layout, PolicyKind policy) {
  return kvsim::test::small_design(dt, layout, policy, {4, 40, 8, policy == PolicyKind::sinks ? 30 : 40, 4, 20, 12});
}

double rel_l2(const std::vector<double>& ref, const float* got, std::int64_t n) {
  double e = 0, r = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    e += (got[j] - ref[std::size_t(j)]) * (got[j] - ref[std::size_t(j)]);
    r += ref[std::size_t(j)] * ref[std::size_t(j)];
  }
  return std::sqrt(e / r);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("decode attention matches a float64 reference for every design", "[attention]",
                        kvsim::test::ExecSpaces) {
  const std::vector<std::int64_t> lengths{9, 40, 97};  // partly filled, full, wrapped twice
  for (DType dt : {DType::fp32, DType::fp16, DType::bf16, DType::int8, DType::fp8_e4m3, DType::int4}) {
    for (PolicyKind policy : {PolicyKind::ring, PolicyKind::window, PolicyKind::sinks, PolicyKind::h2o}) {
      for (LayoutKind layout : {LayoutKind::contiguous, LayoutKind::head_major, LayoutKind::paged}) {
        const CacheDesign d = attention_design(dt, layout, policy);
        INFO(kvsim::codec::name(dt) << " " << kvsim::layout_name(layout) << " " << kvsim::policy_name(policy));
        const auto r = run_attention<TestType>(d, lengths, 11, 1);
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
  cache.append(stage, 0, 57, 0, 57);
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
