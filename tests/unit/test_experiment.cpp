#include <algorithm>

#include "catch_compat.hpp"
#include "kvsim/config.hpp"
#include "kvsim/experiment.hpp"

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
