#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../catch_compat.hpp"
#include "experiment/attention_quality.hpp"

namespace {

using kvsim::synthetic::Tensor;

}  // namespace

TEST_CASE("attention quality: mass, top-k and error against the exact attention", "[experiment]") {
  kvsim::DataSource data;
  data.kind = kvsim::DataKind::structured;
  data.head_dim = 16;
  const std::int64_t hd = 16, context = 64, layer = 1, head = 0;
  const std::uint64_t seed = kvsim::synthetic::sequence_seed(3, 0);
  std::vector<float> q(hd);
  for (std::int64_t d = 0; d < hd; ++d) q[std::size_t(d)] = data.structured_query(seed, layer, 0, head, 0, d);
  // The exact weights, computed here in long double.
  std::vector<long double> w(context);
  for (std::int64_t p = 0; p < context; ++p) {
    long double dot = 0;
    for (std::int64_t d = 0; d < hd; ++d) dot += (long double)q[std::size_t(d)] * data.value(seed, layer, Tensor::K, p, head, d);
    w[std::size_t(p)] = std::exp(dot / 4.0L);
  }
  const long double total = std::accumulate(w.begin(), w.end(), 0.0L);
  for (auto& x : w) x /= total;
  // A design that holds every other position past the sinks, and its exact output over them.
  std::vector<std::int64_t> held;
  for (std::int64_t p = 0; p < context; ++p)
    if (p < 2 || p % 2 == 1) held.push_back(p);
  long double kept = 0;
  for (auto p : held) kept += w[std::size_t(p)];
  std::vector<float> got(hd, 0.0f);
  for (std::int64_t d = 0; d < hd; ++d) {
    long double o = 0;
    for (auto p : held) o += w[std::size_t(p)] / kept * data.value(seed, layer, Tensor::V, p, head, d);
    got[std::size_t(d)] = float(o);
  }
  std::vector<std::int64_t> order(context);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return w[std::size_t(a)] > w[std::size_t(b)]; });
  const std::int64_t k = kvsim::top_k_positions(context);
  REQUIRE(k == 4);
  long double top = 0;
  int hits = 0;
  for (std::int64_t i = 0; i < k; ++i) {
    top += w[std::size_t(order[std::size_t(i)])];
    hits += std::binary_search(held.begin(), held.end(), order[std::size_t(i)]);
  }

  kvsim::AttentionQuality acc;
  kvsim::add_attention_quality(data, seed, layer, head, context, held, hd, q.data(), got.data(), acc);
  CHECK(acc.mass_kept() == Approx(double(kept)).epsilon(1e-9));
  CHECK(acc.top_mass_mean() == Approx(double(top)).epsilon(1e-9));
  CHECK(acc.topk_recall() == Approx(hits / double(k)));
  CHECK(acc.rel_err() < 1e-6);  // only `got`'s float rounding
  CHECK(kept < 0.99);           // the design lost something: the test can tell
  CHECK(hits < k);

  // 1% off in every output value: 1% relative error.
  for (auto& g : got) g *= 1.01f;
  kvsim::AttentionQuality off;
  kvsim::add_attention_quality(data, seed, layer, head, context, held, hd, q.data(), got.data(), off);
  CHECK(off.rel_err() == Approx(0.01).epsilon(1e-3));
  off.add(acc);
  CHECK(off.queries == 2);
}
