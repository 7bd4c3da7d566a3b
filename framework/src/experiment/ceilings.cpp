#include <cstdio>
#include <limits>

#include "experiment/experiment.hpp"
#include "kvsim/attention/prefill_kernel.hpp"
#include "kvsim/core/timing.hpp"

namespace kvsim {

void apply_ceilings(PointResult& r, const CopyBandwidth& bw) {
  const auto of = [](double x, double ceiling) { return ceiling > 0 ? x / ceiling : 0.0; };
  if (!r.fill_seconds.empty()) {
    const double t = median(r.fill_seconds);
    r.fill_fraction_of_copy = of(r.fill_GBps, bw.ceiling());
    r.fill_fraction_of_roofline = roofline_seconds(bw, double(r.fill_read_bytes), double(r.fill_bytes - r.fill_read_bytes)) / t;
  }
  if (!r.retrieve_seconds.empty()) {
    const double t = median(r.retrieve_seconds);
    r.retrieve_fraction_of_copy = of(r.retrieve_GBps, bw.ceiling());
    r.retrieve_fraction_of_roofline =
        roofline_seconds(bw, double(r.retrieve_read_bytes), double(r.retrieve_bytes - r.retrieve_read_bytes)) / t;
  }
  if (!r.attention_seconds.empty()) r.attention_fraction_of_read = of(r.attention_GBps, bw.read_GBps);
  // The probe is an fp32 gemm: a ceiling of the gemm kernel only. The flash kernel runs fp16
  // tensor-core products, which that probe does not bound; it gets no fraction until a
  // tensor-core probe measures one.
  if (!r.prefill_seconds.empty() && r.prefill_kernel == prefill_kernel_name(PrefillKernel::gemm)) r.prefill_fraction_of_gemm = of(r.prefill_TFLOPs, r.gemm_TFLOPs);
  static const std::pair<const char*, double PointResult::*> fractions[] = {
      {"fill_fraction_of_copy", &PointResult::fill_fraction_of_copy},
      {"fill_fraction_of_roofline", &PointResult::fill_fraction_of_roofline},
      {"retrieve_fraction_of_copy", &PointResult::retrieve_fraction_of_copy},
      {"retrieve_fraction_of_roofline", &PointResult::retrieve_fraction_of_roofline},
      {"attention_fraction_of_read", &PointResult::attention_fraction_of_read},
      {"prefill_fraction_of_gemm", &PointResult::prefill_fraction_of_gemm}};
  r.ceiling_exceeded.clear();
  for (const auto& [name, member] : fractions) {
    double& f = r.*member;
    if (!(f > 1.0)) continue;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s=%.3f", r.ceiling_exceeded.empty() ? "" : ";", name, f);
    r.ceiling_exceeded += buf;
    f = std::numeric_limits<double>::quiet_NaN();
  }
}

}  // namespace kvsim
