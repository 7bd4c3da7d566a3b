#include "experiment/references.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "experiment/experiment.hpp"
#include "kvsim/attention/prefill_kernel.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/core/synthetic.hpp"
#include "kvsim/precision/codecs.hpp"

namespace kvsim {

void add_attention_error(const DataSource& data, std::uint64_t seed, std::int64_t kv_head, const std::vector<std::int64_t>& positions,
                         std::int64_t hd, const float* q, const float* got, double& err2, double& ref2) {
  const auto source = [&](synthetic::Tensor t, std::int64_t p, std::int64_t d) {
    return data.value(seed, 0, t, std::uint64_t(p), std::uint32_t(kv_head), std::uint32_t(d));
  };
  std::vector<double> scores(positions.size()), o(std::size_t(hd), 0.0);
  double mx = -1e300;
  for (std::size_t i = 0; i < positions.size(); ++i) {
    double dot = 0;
    for (std::int64_t d = 0; d < hd; ++d) dot += double(q[d]) * source(synthetic::Tensor::K, positions[i], d);
    scores[i] = dot / std::sqrt(double(hd));
    mx = std::max(mx, scores[i]);
  }
  double sum = 0;
  for (auto& x : scores) sum += (x = std::exp(x - mx));
  for (std::size_t i = 0; i < positions.size(); ++i)
    for (std::int64_t d = 0; d < hd; ++d) o[std::size_t(d)] += scores[i] / sum * source(synthetic::Tensor::V, positions[i], d);
  for (std::int64_t d = 0; d < hd; ++d) {
    const double e = got[d] - o[std::size_t(d)];
    err2 += e * e;
    ref2 += o[std::size_t(d)] * o[std::size_t(d)];
  }
}

// The attention error a correct kernel stays within on the synthetic data (uniform in [-1, 1),
// rms = amax / sqrt(3)): a few times the storage format's error relative to the rms, plus the
// fp16 rounding of a dense fp16 retrieve buffer (prefill reads it), plus fp32 arithmetic over
// long sums. A wrong kernel is off by O(1); a chunk-fill bug gave 6.3% on fp32 storage.
// The flash prefill kernel rounds Q, K, V (when fp32) and P to fp16 as tensor-core operands: three
// more fp16 roundings (measured: 3e-4 to 5e-4 on fp32 storage).
double attention_error_bound(const ExperimentConfig& c, bool reads_dense, bool fp16_operands) {
  const double fp16_dense = reads_dense && c.retrieve.output == codec::DType::fp16 ? 0x1p-11 : 0.0;
  const double operands = fp16_operands ? 3 * 0x1p-11 : 0.0;
  return 4.0 * std::sqrt(3.0) * (codec::error_bound(c.cache.dtype) + fp16_dense + operands) + 1e-4;
}

// A reported error above its format's bound fails the point, as a verification failure does.
void check_error_bounds(const ExperimentConfig& c, const PointResult& r, std::int64_t point) {
  if (c.data.kind != DataKind::uniform) return;
  const auto check = [&](const char* what, double err, bool reads_dense, bool fp16_operands) {
    const double bound = attention_error_bound(c, reads_dense, fp16_operands);
    if (err > bound || std::isnan(err)) {
      std::ostringstream os;
      os << "verification failed: " << what << " relative error " << err << " against float64 is above the bound " << bound
         << " of " << codec::name(c.cache.dtype) << " storage (point " << point << ")";
      throw RuntimeError(os.str());
    }
  };
  if (r.attention_rel_err >= 0) check("decode attention", r.attention_rel_err, false, false);
  if (r.prefill_rel_err >= 0) check("prefill attention", r.prefill_rel_err, true, r.prefill_kernel == prefill_kernel_name(PrefillKernel::flash));
}

}  // namespace kvsim
