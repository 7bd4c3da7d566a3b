#include <algorithm>
#include <cmath>

#include "catch_compat.hpp"
#include "config/config.hpp"
#include "kvsim/core/error.hpp"
#include "experiment/experiment.hpp"
#include "kvsim/cache/kv_cache.hpp"
#include "metrics/timed_metrics.hpp"
#include "kvsim/core/timing.hpp"

namespace {

kvsim::ExperimentConfig small_config() {
  kvsim::LoadOptions o;
  o.preset_dirs = {KVSIM_SOURCE_DIR "/configs/models"};
  return kvsim::load_config(KVSIM_TEST_CONFIG_DIR "/good/small_wrap.yaml", o);
}

}  // namespace

// Ceilings no device reaches, so every fraction is a plain ratio below 1 (on a GPU the small
// point's retrieve runs at TB/s).
constexpr double kHigh = 1e7;

TEST_CASE("a point runs, verifies and reports consistent metrics", "[experiment]") {
  const auto c = small_config();
  const auto r = kvsim::run_point(c, 0, kvsim::CopyBandwidth{kHigh, 0.9 * kHigh, 1.2 * kHigh, 0.8 * kHigh});
  CHECK(r.verified);
  CHECK(r.mismatches == 0);
  CHECK(r.valid_positions == 32);
  CHECK(r.kv_cache_bytes == 3 * 2 * 32 * 2 * 12 * 4);
  REQUIRE(r.fill_seconds.size() == 3);
  REQUIRE(r.retrieve_seconds.size() == 3);
  for (double t : r.fill_seconds) CHECK(t > 0);
  CHECK(r.fill_bytes == 40 * 3 * 2 * (2 * 12 * 4 + 2 * 12 * 4));  // staging read + cache write
  CHECK(r.retrieve_bytes == 3 * 2 * 2 * 32 * 2 * 12 * 4);
  CHECK(r.fill_positions_per_s > 0);
  CHECK(r.retrieve_GBps == Approx(r.retrieve_fraction_of_copy * kHigh));
  CHECK(r.ceiling_exceeded.empty());
  // Roofline: reads at 1.2 kHigh GB/s, writes at 0.8 kHigh, the longer of the two.
  const double floor_s = std::max(double(r.retrieve_read_bytes) / (1.2 * kHigh * 1e9),
                                  double(r.retrieve_bytes - r.retrieve_read_bytes) / (0.8 * kHigh * 1e9));
  CHECK(r.retrieve_read_bytes == 3 * 2 * 32 * 2 * 12 * 4);
  CHECK(r.retrieve_fraction_of_roofline == Approx(floor_s * r.retrieve_ops_per_s / 3));
}

TEST_CASE("the checksum is reproducible and depends on the seed", "[experiment]") {
  auto c = small_config();
  const auto a = kvsim::run_point(c, 0, kvsim::CopyBandwidth{1.0, 1.0, 1.0, 1.0});
  const auto b = kvsim::run_point(c, 0, kvsim::CopyBandwidth{1.0, 1.0, 1.0, 1.0});
  CHECK(a.checksum == b.checksum);
  c.seed += 1;
  const auto d = kvsim::run_point(c, 0, kvsim::CopyBandwidth{1.0, 1.0, 1.0, 1.0});
  CHECK(d.checksum != a.checksum);
}

TEST_CASE("max context resolves to the largest cache that fits", "[experiment]") {
  kvsim::LoadOptions o;
  o.preset_dirs = {KVSIM_SOURCE_DIR "/configs/models"};
  auto c = kvsim::load_config(KVSIM_SOURCE_DIR "/experiments/perf009_extended_context.yaml", o);
  c.cache.max_positions = kvsim::kMaxContext;
  c.cache.dtype = kvsim::codec::DType::fp16;
  c.lengths_follow_capacity = true;
  const std::int64_t free_bytes = std::int64_t(80) << 30;
  kvsim::resolve_max_context(c, free_bytes);
  // 7B fp16: 512 KiB per position stored plus a 32 KiB dense fp32 row per position.
  CHECK(c.cache.max_positions > 140000);
  CHECK(c.cache.max_positions < 160000);
  CHECK(c.lengths == std::vector<std::int64_t>{c.cache.max_positions});
  CHECK(kvsim::predicted_device_bytes(c) <= free_bytes);
  auto tiny = c;
  tiny.cache.max_positions = kvsim::kMaxContext;
  CHECK_THROWS_AS(kvsim::resolve_max_context(tiny, 1 << 20), kvsim::InputError);
}

TEST_CASE("the predicted cache size is what the cache allocates", "[experiment]") {
  kvsim::LoadOptions o;
  o.preset_dirs = {KVSIM_SOURCE_DIR "/configs/models"};
  for (const char* set : {"cache.dtype=fp32", "cache.dtype=int4", "cache.dtype=fp8_e4m3", "cache.layout=paged",
                          "cache.layout=head_major", "cache.policy=h2o"}) {
    INFO(set);
    auto c = kvsim::load_config(KVSIM_TEST_CONFIG_DIR "/good/small_wrap.yaml",
                                [&] { auto p = o; p.overrides = {"model.head_dim=32", set}; return p; }());
    const kvsim::KVCache<Kokkos::DefaultExecutionSpace> cache(Kokkos::DefaultExecutionSpace(), kvsim::design_of(c), c.seed,
                                                              c.lengths);
    CHECK(kvsim::predicted_cache_bytes(c) == cache.allocated_bytes());
  }
}

TEST_CASE("a fraction above its ceiling is a measurement error, stored as NaN and named", "[experiment]") {
  auto c = small_config();
  auto r = kvsim::run_point(c, 0, kvsim::CopyBandwidth{kHigh, kHigh, kHigh, kHigh});
  REQUIRE(r.ceiling_exceeded.empty());
  const double retrieve_GBps = r.retrieve_GBps;
  // A ceiling below what the point moved: every copy and roofline fraction exceeds it.
  kvsim::apply_ceilings(r, kvsim::CopyBandwidth{1e-6, 1e-6, 1e-6, 1e-6});
  CHECK(std::isnan(r.fill_fraction_of_copy));
  CHECK(std::isnan(r.retrieve_fraction_of_copy));
  CHECK(std::isnan(r.retrieve_fraction_of_roofline));
  CHECK(r.ceiling_exceeded.find("retrieve_fraction_of_copy=") != std::string::npos);
  CHECK(r.ceiling_exceeded.find("fill_fraction_of_roofline=") != std::string::npos);
  CHECK(r.retrieve_GBps == retrieve_GBps);  // the measurement itself is kept
  // A later, better probe clears the flag: fractions are recomputed from the rates.
  kvsim::apply_ceilings(r, kvsim::CopyBandwidth{kHigh, kHigh, kHigh, kHigh});
  CHECK(r.ceiling_exceeded.empty());
  CHECK(r.retrieve_fraction_of_copy == Approx(retrieve_GBps / kHigh));
}

TEST_CASE("every timed metric's median lies within its fastest and slowest repetitions", "[experiment]") {
  kvsim::LoadOptions o;
  o.preset_dirs = {KVSIM_SOURCE_DIR "/configs/models"};
  o.overrides = {"workload.decode.tokens=2", "cache.max_positions=48", "run.repetitions=4", "workload.prefill.chunk=8"};
  const auto c = kvsim::load_config(KVSIM_TEST_CONFIG_DIR "/good/small_wrap.yaml", o);
  const auto r = kvsim::run_point(c, 0, kvsim::CopyBandwidth{kHigh, kHigh, kHigh, kHigh});
  for (const kvsim::TimedMetric& m : kvsim::timed_metrics()) {
    INFO(m.name);
    const std::vector<double>& s = r.*m.seconds;
    REQUIRE(s.size() == 4);
    const kvsim::TimedRange range = kvsim::timed_range(m, r);
    const double median_value = kvsim::timed_value(m, r, kvsim::median(s));
    CHECK(range.min <= median_value * (1 + 1e-9));
    CHECK(range.max >= median_value * (1 - 1e-9));
  }
  // The medians the point reports are the ones the declarations derive.
  const auto& all = kvsim::timed_metrics();
  const auto value = [&](const char* name) {
    for (const auto& m : all)
      if (std::string(m.name) == name) return kvsim::timed_value(m, r, kvsim::median(r.*m.seconds));
    return -1.0;
  };
  CHECK(value("fill_GBps") == Approx(r.fill_GBps));
  CHECK(value("tokens_per_s") == Approx(r.tokens_per_s));
  CHECK(value("attention_ms") == Approx(r.attention_ms));
  CHECK(value("prefill_TFLOPs") == Approx(r.prefill_TFLOPs));
  CHECK(kvsim::spread_of({1.0, 3.0, 2.0}) == Approx(3.0));
}

TEST_CASE("an attention error above its format's bound fails the point", "[experiment]") {
  auto c = small_config();
  kvsim::PointResult r;
  using kvsim::codec::DType;
  for (const DType dtype : {DType::fp32, DType::fp16, DType::int8, DType::int4}) {
    INFO(kvsim::codec::name(dtype));
    c.cache.dtype = dtype;
    const double bound = kvsim::attention_error_bound(c, false);
    r.attention_rel_err = 0.5 * bound;
    r.prefill_rel_err = -1;  // not run
    CHECK_NOTHROW(kvsim::check_error_bounds(c, r, 0));
    r.attention_rel_err = 2 * bound;
    CHECK_THROWS_AS(kvsim::check_error_bounds(c, r, 0), kvsim::RuntimeError);
    r.attention_rel_err = -1;
    r.prefill_rel_err = 0.063;  // the 6.3% of issue 13's chunk-fill bug on fp32 storage
    if (dtype == DType::fp32) CHECK_THROWS_AS(kvsim::check_error_bounds(c, r, 0), kvsim::RuntimeError);
    r.prefill_kernel = "flash";  // its fp16 operands loosen the bound, not up to a real bug's error
    if (dtype == DType::fp32) CHECK_THROWS_AS(kvsim::check_error_bounds(c, r, 0), kvsim::RuntimeError);
    r.prefill_rel_err = 5e-4;  // what it measured on fp32 storage
    CHECK_NOTHROW(kvsim::check_error_bounds(c, r, 0));
    r.prefill_rel_err = -1;
    r.prefill_kernel.clear();
  }
  // Looser formats have looser bounds, and fp16 dense buffers add their rounding for prefill.
  c.cache.dtype = DType::fp16;
  const double fp16 = kvsim::attention_error_bound(c, false);
  c.cache.dtype = DType::int4;
  CHECK(kvsim::attention_error_bound(c, false) > fp16);
  c.cache.dtype = DType::fp32;
  c.retrieve.output = DType::fp16;
  CHECK(kvsim::attention_error_bound(c, true) > kvsim::attention_error_bound(c, false));
}
