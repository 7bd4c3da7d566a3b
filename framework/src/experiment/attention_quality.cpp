#include "experiment/attention_quality.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kvsim/core/error.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace kvsim {

std::int64_t top_k_positions(std::int64_t context) { return std::max<std::int64_t>(1, (context + 19) / 20); }

double AttentionQuality::rel_err() const {
  if (queries == 0) return -1.0;
  return ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
}

void AttentionQuality::add(const AttentionQuality& o) {
  err2 += o.err2;
  ref2 += o.ref2;
  mass += o.mass;
  top_mass += o.top_mass;
  recall += o.recall;
  queries += o.queries;
}

void add_attention_quality(const DataSource& data, std::uint64_t seed, std::int64_t layer, std::int64_t kv_head,
                           std::int64_t context, const std::vector<std::int64_t>& held, std::int64_t hd, const float* q,
                           const float* got, AttentionQuality& acc, double* exact) {
  KVSIM_REQUIRE(context > 0 && !held.empty(), "attention quality: empty context");
  const auto source = [&](synthetic::Tensor t, std::int64_t p, std::int64_t d) {
    return double(data.value(seed, std::uint32_t(layer), t, std::uint64_t(p), std::uint32_t(kv_head), std::uint32_t(d)));
  };
  std::vector<double> w(static_cast<std::size_t>(context));
  double mx = -1e300;
  for (std::int64_t p = 0; p < context; ++p) {
    double dot = 0;
    for (std::int64_t d = 0; d < hd; ++d) dot += double(q[d]) * source(synthetic::Tensor::K, p, d);
    w[std::size_t(p)] = dot / std::sqrt(double(hd));
    mx = std::max(mx, w[std::size_t(p)]);
  }
  double sum = 0;
  for (auto& x : w) sum += (x = std::exp(x - mx));
  for (auto& x : w) x /= sum;

  double kept = 0;
  for (std::int64_t p : held) {
    KVSIM_REQUIRE(p >= 0 && p < context, "attention quality: held position ", p, " outside [0, ", context, ")");
    kept += w[std::size_t(p)];
  }
  std::vector<double> o(static_cast<std::size_t>(hd), 0.0);
  for (std::int64_t p : held)
    for (std::int64_t d = 0; d < hd; ++d) o[std::size_t(d)] += w[std::size_t(p)] / kept * source(synthetic::Tensor::V, p, d);
  for (std::int64_t d = 0; d < hd; ++d) {
    const double e = double(got[d]) - o[std::size_t(d)];
    acc.err2 += e * e;
    acc.ref2 += o[std::size_t(d)] * o[std::size_t(d)];
  }
  if (exact) {
    std::fill(exact, exact + hd, 0.0);
    for (std::int64_t p = 0; p < context; ++p)
      for (std::int64_t d = 0; d < hd; ++d) exact[d] += w[std::size_t(p)] * source(synthetic::Tensor::V, p, d);
  }

  // The k largest weights (ties: the earlier position), and how many of them are held.
  const std::int64_t k = top_k_positions(context);
  std::vector<std::int64_t> order(static_cast<std::size_t>(context));
  std::iota(order.begin(), order.end(), std::int64_t(0));
  std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), [&](std::int64_t a, std::int64_t b) {
    return w[std::size_t(a)] != w[std::size_t(b)] ? w[std::size_t(a)] > w[std::size_t(b)] : a < b;
  });
  double top = 0;
  std::int64_t hits = 0;
  for (std::int64_t i = 0; i < k; ++i) {
    const std::int64_t p = order[std::size_t(i)];
    top += w[std::size_t(p)];
    hits += std::binary_search(held.begin(), held.end(), p) ? 1 : 0;
  }
  acc.mass += kept;
  acc.top_mass += top;
  acc.recall += double(hits) / double(k);
  acc.queries += 1;
}

void add_attention_queries(const DataSource& data, std::int64_t layer, std::int64_t group, std::int64_t heads,
                           std::int64_t hd, const ReferenceQueries& rq, const float* q, const float* got, AttentionQuality& acc,
                           double* exact) {
  for (std::size_t s = 0; s < rq.held.size(); ++s) {
    const auto& held = rq.held[s];
    KVSIM_REQUIRE(!held.empty() && held.front() >= 0 && held.back() < rq.contexts[s],
                  "attention quality: sequence ", s, " holds no positions or positions outside [0, ", rq.contexts[s], ")");
  }
  const std::int64_t n = std::int64_t(rq.seqs.size());
  std::vector<AttentionQuality> each(static_cast<std::size_t>(n));
  Kokkos::parallel_for("kvsim::quality::reference", Kokkos::RangePolicy<HostExecSpace>(HostExecSpace(), 0, n),
                       [&](const std::int64_t i) {
                         const std::int64_t s = rq.seqs[std::size_t(i)], h = rq.heads[std::size_t(i)];
                         const std::int64_t off = (s * heads + h) * hd;
                         add_attention_quality(data, rq.seeds[std::size_t(s)], layer, h / group, rq.contexts[std::size_t(s)],
                                               rq.held[std::size_t(s)], hd, q + off, got + off, each[std::size_t(i)],
                                               exact ? exact + i * hd : nullptr);
                       });
  HostExecSpace().fence();
  for (const auto& e : each) acc.add(e);
}

double NextInputQuality::rel_err() const {
  if (sequences == 0) return -1.0;
  return ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
}

void NextInputQuality::add(const NextInputQuality& o) {
  err2 += o.err2;
  ref2 += o.ref2;
  sequences += o.sequences;
}

void add_next_input_quality(const float* o_proj, const float* residual, std::int64_t hidden, std::int64_t width,
                            const float* got, const double* exact, NextInputQuality& acc) {
  for (std::int64_t i = 0; i < hidden; ++i) {
    const float* row = o_proj + i * width;
    double delta = 0, ref = double(residual[i]);
    for (std::int64_t j = 0; j < width; ++j) {
      delta += double(row[j]) * (double(got[j]) - exact[j]);
      ref += double(row[j]) * exact[j];
    }
    acc.err2 += delta * delta;
    acc.ref2 += ref * ref;
  }
  acc.sequences += 1;
}

}  // namespace kvsim
