#include <cmath>
#include <cstring>
#include <vector>

#include "../catch_compat.hpp"
#include "../exec_spaces.hpp"
#include "kvsim/cache/generate_source.hpp"
#include "kvsim/core/data_source.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace {

using kvsim::synthetic::Tensor;

kvsim::DataSource structured(std::int32_t head_dim = 64) {
  kvsim::DataSource d;
  d.kind = kvsim::DataKind::structured;
  d.head_dim = head_dim;
  return d;
}

// K (even i), V (odd i) and, every third element, a query: coordinates spread over layers,
// heads and positions up to 10^6 (RoPE angles far past 2 pi).
template <class MemSpace>
struct FillStructured {
  kvsim::View1D<float, MemSpace> out;
  kvsim::DataSource data;
  KOKKOS_INLINE_FUNCTION float at(std::int64_t i) const {
    const auto u = static_cast<std::uint64_t>(i);
    const std::uint64_t s = kvsim::synthetic::sequence_seed(7, u % 3);
    const std::uint32_t layer = std::uint32_t(u % 5), head = std::uint32_t(u % 4), dim = std::uint32_t((u / 7) % 64);
    const std::uint64_t position = (u * 7919) % 1000003;
    if (u % 3 == 2) return data.structured_query(s, layer, head, head / 2, u % 11, dim);
    return data.value(s, layer, Tensor(u % 2), position, head, dim);
  }
  KOKKOS_INLINE_FUNCTION void operator()(const std::int64_t i) const { out(i) = at(i); }
};

// Distance in units in the last place (both finite, same sign or zero).
std::int64_t ulps(float a, float b) {
  std::int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (ia < 0) ia = std::int32_t(0x80000000u) - ia;
  if (ib < 0) ib = std::int32_t(0x80000000u) - ib;
  return std::int64_t(ia) > ib ? std::int64_t(ia) - ib : std::int64_t(ib) - ia;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("structured values on the device equal their host twin", "[synthetic]", kvsim::test::ExecSpaces) {
  using Mem = typename TestType::memory_space;
  const std::int64_t n = 1 << 15;
  const FillStructured<Mem> fill{kvsim::View1D<float, Mem>("kvsim::test::structured", n), structured()};
  Kokkos::parallel_for("kvsim::test::structured", kvsim::RangePolicy<TestType>(TestType(), 0, n), fill);
  const auto dev = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), fill.out);
  const FillStructured<kvsim::HostMemSpace> host{{}, structured()};
  std::int64_t exact = 0, worst = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const float h = host.at(i);
    REQUIRE(std::isfinite(dev(i)));
    const std::int64_t d = ulps(h, dev(i));
    exact += d == 0;
    worst = std::max(worst, d);
  }
  // Double arithmetic rounded once: a fused multiply-add may move a value by one ulp.
  CHECK(worst <= 1);
  CHECK(exact >= n - n / 1000);
}

TEST_CASE("uniform data is the counter hash", "[synthetic]") {
  const kvsim::DataSource u;
  for (std::uint32_t i = 0; i < 1000; ++i)
    REQUIRE(u.value(3, i % 7, Tensor(i % 2), i * 31, i % 5, i % 64) == kvsim::synthetic::value(3, i % 7, Tensor(i % 2), i * 31, i % 5, i % 64));
  CHECK(u.abs_bound(0) == 1.0);
}

TEST_CASE("structured keys have their outlier channels, values none", "[synthetic]") {
  auto d = structured();
  d.rope_base = 10000;
  const std::uint64_t s = kvsim::synthetic::sequence_seed(1, 0);
  for (std::uint32_t head = 0; head < 4; ++head) {
    int outliers = 0;
    for (std::int64_t pair = 0; pair < 32; ++pair) outliers += d.outlier_pair(s, 2, head, pair);
    REQUIRE(outliers == d.outlier_channels / 2);
  }
  // Mean square per dim over positions past the sinks, ordinary positions only.
  std::vector<double> k2(64, 0.0), v2(64, 0.0);
  std::int64_t n = 0;
  for (std::uint64_t p = 8; p < 4000; ++p) {
    if (d.heavy(s, p)) continue;
    ++n;
    for (std::uint32_t dim = 0; dim < 64; ++dim) {
      k2[dim] += std::pow(d.value(s, 2, Tensor::K, p, 1, dim), 2);
      v2[dim] += std::pow(d.value(s, 2, Tensor::V, p, 1, dim), 2);
    }
  }
  double out_k = 0, in_k = 0, vmax = 0, vmin = 1e30;
  for (std::uint32_t dim = 0; dim < 64; ++dim) {
    (d.outlier_pair(s, 2, 1, dim / 2) ? out_k : in_k) += k2[dim] / double(n);
    vmax = std::max(vmax, v2[dim] / double(n));
    vmin = std::min(vmin, v2[dim] / double(n));
  }
  out_k /= d.outlier_channels;
  in_k /= 64 - d.outlier_channels;
  // Outlier channels: scale^2 (1 + mean^2) against about 1 for the rest.
  CHECK(std::sqrt(out_k / in_k) > 0.7 * d.outlier_scale * std::sqrt(2.0));
  CHECK(std::sqrt(out_k / in_k) < 1.3 * d.outlier_scale * std::sqrt(2.0));
  CHECK(vmax / vmin < 1.5);
  // Every value within the bound fp8's scale is set from.
  for (std::uint64_t p = 0; p < 2000; ++p)
    for (std::uint32_t dim = 0; dim < 64; ++dim) {
      REQUIRE(std::fabs(d.value(s, 0, Tensor::K, p, 0, dim)) <= d.abs_bound(0));
      REQUIRE(std::fabs(d.value(s, 0, Tensor::V, p, 0, dim)) <= d.abs_bound(1));
    }
}

TEST_CASE("structured queries score sinks and heavy hitters above the rest", "[synthetic]") {
  const auto d = structured();
  const std::uint64_t s = kvsim::synthetic::sequence_seed(5, 1);
  std::vector<float> q(64);
  for (std::int64_t dim = 0; dim < 64; ++dim) q[std::size_t(dim)] = d.structured_query(s, 3, 5, 2, 0, dim);
  double sink = 0, heavy = 0, other = 0, other2 = 0;
  std::int64_t n_heavy = 0, n_other = 0;
  for (std::uint64_t p = 0; p < 4096; ++p) {
    double dot = 0;
    for (std::uint32_t dim = 0; dim < 64; ++dim) dot += double(q[dim]) * d.value(s, 3, Tensor::K, p, 2, dim);
    const double score = dot / 8.0;
    if (p < std::uint64_t(d.sinks)) sink += score / d.sinks;
    else if (d.heavy(s, p)) heavy += score, ++n_heavy;
    else other += score, other2 += score * score, ++n_other;
  }
  heavy /= double(n_heavy);
  other /= double(n_other);
  const double spread = std::sqrt(other2 / double(n_other) - other * other);
  // One heavy hitter per block of heavy_every.
  CHECK(n_heavy == (4096 - d.sinks) / d.heavy_every + 1);
  // Sinks score sink_logit, heavy hitters 3/4 heavy_logit on average, the rest about N(0, 1.1).
  CHECK(std::fabs(sink - other - d.sink_logit) < 1.5);
  CHECK(std::fabs(heavy - other - 0.75 * d.heavy_logit) < 1.0);
  CHECK(spread > 0.8);
  CHECK(spread < 1.6);
  CHECK(d.salience(5, 1, 0) > d.salience(5, 1, 40));
}

// A ragged batch generates token t of sequence s at position first + t - start(s): a recorded
// table whose query rows hold their own row number shows which position each query read.
TEMPLATE_LIST_TEST_CASE("recorded decode queries sit at each sequence's own position", "[synthetic]", kvsim::test::ExecSpaces) {
  using Mem = typename TestType::memory_space;
  const std::int64_t layers = 2, kv_heads = 1, heads = 2, head_dim = 4, rows = 64, tokens = 3, batch = 3, first = 40;
  const std::vector<std::int64_t> starts = {0, 25, 39};
  std::vector<float> table(std::size_t(layers * rows * (2 * kv_heads + heads) * head_dim), -1.0f);
  kvsim::DataSource data;
  data.kind = kvsim::DataKind::recorded;
  data.head_dim = std::int32_t(head_dim);
  data.recorded_rows = rows;
  data.recorded_kv_heads = std::int32_t(kv_heads);
  data.recorded_heads = std::int32_t(heads);
  for (std::int64_t l = 0; l < layers; ++l)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t h = 0; h < heads; ++h)
        for (std::int64_t d = 0; d < head_dim; ++d)
          table[std::size_t(data.recorded_layer_base(std::uint32_t(l)) + 2 * rows * kv_heads * head_dim +
                            (r * heads + h) * head_dim + d)] = float(r);
  kvsim::View1D<float, Mem> table_dev("kvsim::test::recorded", table.size());
  kvsim::View1D<std::int64_t, Mem> starts_dev("kvsim::test::starts", starts.size());
  kvsim::copy_to_device(TestType(), table, table_dev);
  kvsim::copy_to_device(TestType(), starts, starts_dev);
  TestType().fence();
  data.recorded = table_dev.data();
  const std::int64_t n = tokens * layers * batch * heads * head_dim;
  const kvsim::kernels::GenerateQueries<Mem> gen{kvsim::View1D<float, Mem>("kvsim::test::q", n), data, 7, layers, batch, heads,
                                                 heads / kv_heads, head_dim, first, starts_dev};
  Kokkos::parallel_for("kvsim::test::queries", kvsim::RangePolicy<TestType>(TestType(), 0, n), gen);
  const auto q = Kokkos::create_mirror_view_and_copy(kvsim::HostMemSpace(), gen.q);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t seq = (i / (heads * head_dim)) % batch, t = i / (layers * batch * heads * head_dim);
    REQUIRE(q(i) == float(first + t - starts[std::size_t(seq)]));
  }
}
