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

TEST_CASE("attention quality: the exact output over every position and the next-input error", "[experiment]") {
  kvsim::DataSource data;
  data.kind = kvsim::DataKind::structured;
  data.head_dim = 16;
  const std::int64_t hd = 16, context = 48, layer = 0, heads = 2;
  const std::uint64_t seed = kvsim::synthetic::sequence_seed(5, 0);
  // Two query heads of one KV head; the design holds the last 16 positions only.
  std::vector<float> q(std::size_t(heads * hd)), got(std::size_t(heads * hd));
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t d = 0; d < hd; ++d) q[std::size_t(h * hd + d)] = data.structured_query(seed, layer, h, 0, 0, d);
  std::vector<std::int64_t> held;
  for (std::int64_t p = context - 16; p < context; ++p) held.push_back(p);
  std::vector<long double> exact(std::size_t(heads * hd), 0.0L);
  for (std::int64_t h = 0; h < heads; ++h) {
    std::vector<long double> w(context);
    long double total = 0;
    for (std::int64_t p = 0; p < context; ++p) {
      long double dot = 0;
      for (std::int64_t d = 0; d < hd; ++d) dot += (long double)q[std::size_t(h * hd + d)] * data.value(seed, layer, Tensor::K, p, 0, d);
      total += w[std::size_t(p)] = std::exp(dot / 4.0L);
    }
    for (std::int64_t p = 0; p < context; ++p)
      for (std::int64_t d = 0; d < hd; ++d)
        exact[std::size_t(h * hd + d)] += w[std::size_t(p)] / total * data.value(seed, layer, Tensor::V, p, 0, d);
  }
  for (std::size_t i = 0; i < got.size(); ++i) got[i] = float(exact[i]) * 1.25f;  // a design 25% off

  // One query at a time, each query's figures summed in order, and the same queries on the
  // host threads: the same bits.
  kvsim::AttentionQuality one_by_one, threaded;
  std::vector<double> exact_one(got.size()), exact_threaded(got.size());
  for (std::int64_t h = 0; h < heads; ++h) {
    kvsim::AttentionQuality each;
    kvsim::add_attention_quality(data, seed, layer, 0, context, held, hd, &q[std::size_t(h * hd)], &got[std::size_t(h * hd)],
                                 each, &exact_one[std::size_t(h * hd)]);
    one_by_one.add(each);
  }
  kvsim::ReferenceQueries rq;
  rq.seqs = {0, 0};
  rq.heads = {0, 1};
  rq.seeds = {seed};
  rq.contexts = {context};
  rq.held = {held};
  kvsim::add_attention_queries(data, layer, heads, heads, hd, rq, q.data(), got.data(), threaded, exact_threaded.data());
  CHECK(threaded.queries == 2);
  CHECK(threaded.mass == one_by_one.mass);
  CHECK(threaded.err2 == one_by_one.err2);
  CHECK(exact_threaded == exact_one);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(exact_one[i] == Approx(double(exact[i])).epsilon(1e-9).margin(1e-12));

  // o_proj = 2 I on the first 32 hidden values, a zero last row; residual r: the error is
  // 2 ||got - exact|| / ||r + 2 exact||, and the zero row adds r's last value to the reference.
  const std::int64_t width = heads * hd, hidden = width + 1;
  std::vector<float> o_proj(std::size_t(hidden * width), 0.0f);
  std::vector<float> residual(static_cast<std::size_t>(hidden));
  for (std::int64_t i = 0; i < width; ++i) o_proj[std::size_t(i * width + i)] = 2.0f;
  for (std::int64_t i = 0; i < hidden; ++i) residual[std::size_t(i)] = 0.1f * float(i % 7) - 0.3f;
  long double err2 = 0, ref2 = 0;
  for (std::int64_t i = 0; i < hidden; ++i) {
    const long double e = i < width ? 2.0L * ((long double)got[std::size_t(i)] - exact_one[std::size_t(i)]) : 0.0L;
    const long double x = residual[std::size_t(i)] + (i < width ? 2.0L * exact_one[std::size_t(i)] : 0.0L);
    err2 += e * e;
    ref2 += x * x;
  }
  kvsim::NextInputQuality next;
  CHECK(next.rel_err() == -1.0);  // nothing added: not run
  kvsim::add_next_input_quality(o_proj.data(), residual.data(), hidden, width, got.data(), exact_one.data(), next);
  CHECK(next.sequences == 1);
  CHECK(next.rel_err() == Approx(double(std::sqrt(err2 / ref2))).epsilon(1e-9));
  CHECK(next.rel_err() > 0.05);  // the 25% error, not hidden by the residual
}
