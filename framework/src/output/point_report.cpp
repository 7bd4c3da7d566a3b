#include "output/point_report.hpp"

#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "metrics/timed_metrics.hpp"
#include "kvsim/attention/prefill_kernel.hpp"
#include "kvsim/core/timing.hpp"

namespace kvsim {
namespace {

// Four significant figures: more than any repeated timing here supports. From 10,000 up with
// a k/M/G/T prefix (134.3k positions/s), never 1.343e+05.
std::string num(double x) {
  const char* prefix = "";
  if (std::isfinite(x)) {
    for (const auto& [scale, p] : {std::pair<double, const char*>{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e4, "k"}}) {
      if (std::fabs(x) >= scale) {
        const double step = scale == 1e4 ? 1e3 : scale;
        x /= step;
        prefix = p;
        break;
      }
    }
  }
  std::ostringstream os;
  os << std::setprecision(4) << x << prefix;
  return os.str();
}

std::string pct(double fraction) {
  if (std::isnan(fraction)) return "n/a (above the measured ceiling)";
  std::ostringstream os;
  os << std::setprecision(3) << 100.0 * fraction << "%";
  return os.str();
}

const TimedMetric& metric(const char* name) {
  for (const auto& m : timed_metrics())
    if (std::string(m.name) == name) return m;
  throw std::logic_error(std::string("no timed metric ") + name);
}

// "median [min-max]" of a timed metric over the repetitions.
std::string timed(const PointResult& r, const char* name) {
  const TimedMetric& m = metric(name);
  const TimedRange range = timed_range(m, r);
  return num(timed_value(m, r, median(r.*m.seconds))) + " [" + num(range.min) + "-" + num(range.max) + "] " + m.units;
}

}  // namespace

std::string human_bytes(std::int64_t b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double x = double(b);
  int u = 0;
  while (x >= 1000 && u < 4) x /= 1000, ++u;
  return num(x) + " " + units[u];
}

std::string point_label(const ExperimentConfig& c) {
  std::string label;
  for (const auto& [k, v] : c.sweep) label += (label.empty() ? "" : " ") + k + "=" + v;
  return label;
}

void print_point(std::ostream& os, std::size_t i, const ExperimentConfig& c, const PointResult& r, const CopyBandwidth& bw) {
  const std::string label = point_label(c);
  os << "point " << i + 1 << ": " << label << (label.empty() ? "" : " ") << codec::name(c.cache.dtype) << " " << layout_name(c.cache.layout) << " "
     << policy_name(c.cache.policy) << ", batch " << c.batch << ", " << r.valid_positions << " positions held, cache "
     << human_bytes(r.kv_cache_bytes);
  if (r.shards > 1) os << " over " << r.shards << " context shards (largest " << human_bytes(r.per_rank_cache_bytes) << ")";
  os << "\n  fill (" << fill_mode_name(c.fill.mode) << ")  " << timed(r, "fill_positions_per_s") << ", " << timed(r, "fill_GBps") << " ("
     << pct(r.fill_fraction_of_copy) << " of copy, " << pct(r.fill_fraction_of_roofline) << " of the read/write roofline)\n";
  if (!r.retrieve_seconds.empty())
    os << "  retrieve  " << timed(r, "retrieve_ops_per_s") << ", " << timed(r, "retrieve_GBps") << " ("
       << pct(r.retrieve_fraction_of_copy) << " of the copy ceiling " << num(bw.ceiling()) << " GB/s, "
       << pct(r.retrieve_fraction_of_roofline) << " of the read/write roofline)\n"
       << "  verified  " << (r.verified ? "yes" : "no (retrieve.verify: false)") << ", rel. L2 error " << num(r.recon_rel_l2)
       << ", max abs error " << num(r.recon_max_abs) << ", checksum " << std::hex << r.checksum << std::dec << "\n";
  if (c.decode_tokens > 0) {
    os << "  decode    " << timed(r, "tokens_per_s") << " over " << c.decode_tokens << " tokens: append " << timed(r, "append_ms")
       << ", attention " << timed(r, "attention_ms") << " (" << num(r.attention_GBps) << " GB/s, "
       << pct(r.attention_fraction_of_read) << " of read-only";
    if (r.shards > 1) os << " summed over the shards; merge " << num(r.attention_comm_ms) << " ms";
    os << "), weights " << num(r.weights_ms) << " ms per token; attention rel. error vs float64 " << num(r.attention_rel_err)
       << "\n";
  }
  if (c.prefill_chunk > 0)
    os << "  prefill   " << timed(r, "prefill_ms") << " per chunk of " << c.prefill_chunk << " over every layer, "
       << r.prefill_kernel << " kernel ("
       << num(r.prefill_TFLOPs) << " TFLOP/s; "
       << (r.prefill_kernel == prefill_kernel_name(PrefillKernel::gemm) ? pct(r.prefill_fraction_of_gemm) + " of" : std::string("beside"))
       << " the fp32 gemm probe's " << num(r.gemm_TFLOPs) << " TFLOP/s); rel. error vs float64 " << num(r.prefill_rel_err)
       << "\n";
  for (const SpreadSeries& s : spread_series()) {
    const double spread = spread_of(r.*s.seconds);
    if (spread > kUnstableSpread)
      os << "  warning: the " << s.phase << " repetitions differ " << num(spread)
         << "x (slowest / fastest): these timings are unstable (a shared or throttled device?)\n";
  }
  if (!r.ceiling_exceeded.empty())
    os << "  warning: " << r.ceiling_exceeded
       << " above 1: not a result (stored as NaN). A copy fraction of a kernel whose reads and writes differ can"
          " pass an equal-mix copy (its roofline fraction is the bound); otherwise the ceiling was measured too low\n";
}

}  // namespace kvsim
