#include <algorithm>

#include "catch_compat.hpp"
#include "kvsim/config.hpp"
#include "kvsim/error.hpp"
#include "kvsim/experiment.hpp"
#include "kvsim/kv_cache.hpp"

namespace {

kvsim::ExperimentConfig small_config() {
  kvsim::LoadOptions o;
  o.preset_dirs = {KVSIM_SOURCE_DIR "/configs/models"};
  return kvsim::load_config(KVSIM_TEST_CONFIG_DIR "/good/small_wrap.yaml", o);
}

}  // namespace

TEST_CASE("a point runs, verifies and reports consistent metrics", "[experiment]") {
  const auto c = small_config();
  const auto r = kvsim::run_point(c, 0, kvsim::CopyBandwidth{10.0, 9.0, 12.0, 8.0});
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
  CHECK(r.retrieve_GBps == Approx(r.retrieve_fraction_of_copy * 10.0));
  // Roofline: reads at 12 GB/s, writes at 8 GB/s, the longer of the two.
  const double floor_s =
      std::max(double(r.retrieve_read_bytes) / 12e9, double(r.retrieve_bytes - r.retrieve_read_bytes) / 8e9);
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
  c.cache.dtype = "fp16";
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
