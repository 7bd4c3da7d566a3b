// Determinism: a config and its seed give the same cache checksum run after run and on every
// execution space. The goldens were recorded on the OpenMP backend; small_wrap's also on Cuda
// (H100/H200) by the CLI. The others must match on Cuda too: this binary, built with Cuda,
// holds the Cuda backend to the same numbers. (Full-size PERF-009 gives 3ff5d626a05d44e1 on
// OpenMP and Cuda: too large for this suite; scripts/gpu_leak_check.sh prints it.)
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "catch_compat.hpp"
#include "exec_spaces.hpp"
#include "config/config.hpp"
#include "experiment/experiment.hpp"
#include "kvsim/cache/kv_cache.hpp"

namespace {

struct Golden {
  const char* what;
  std::vector<std::string> sets;
  std::uint64_t checksum;
};

const std::vector<Golden>& goldens() {
  static const std::vector<Golden> g{
      {"small_wrap: fp32 contiguous ring, 40 positions into 32", {}, 0xc4d4186cd105f99cULL},
      {"fp16 paged, batch 2, 37 positions into 32",
       {"model.head_dim=16", "cache.dtype=fp16", "cache.layout=paged", "cache.page_size=8", "workload.batch=2", "workload.fill.positions=37"},
       0xf27d27045041f98dULL},
      {"int4 head_major, attention sinks",
       {"model.head_dim=32", "cache.dtype=int4", "cache.layout=head_major", "cache.policy=sinks", "cache.sinks=4",
        "cache.window=28"},
       0x6523873fb2526a5aULL},
  };
  return g;
}

kvsim::ExperimentConfig config_of(const Golden& g) {
  kvsim::LoadOptions o;
  o.preset_dirs = {KVSIM_SOURCE_DIR "/configs/models"};
  o.overrides = g.sets;
  return kvsim::load_config(KVSIM_TEST_CONFIG_DIR "/good/small_wrap.yaml", o);
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// What run_point checksums, on a chosen execution space: a token fill of every position, then
// each layer retrieved into a poisoned fp32 buffer and verified. run_point itself runs on the
// default space only.
template <class ExecSpace>
std::uint64_t checksum_on(const kvsim::ExperimentConfig& c) {
  REQUIRE(c.fill.mode == kvsim::FillMode::token);
  REQUIRE(c.retrieve.output == kvsim::codec::DType::fp32);
  REQUIRE(c.decode_tokens == 0);
  const ExecSpace exec;
  kvsim::KVCache<ExecSpace> cache(exec, kvsim::design_of(c), c.seed, c.lengths);
  const std::int64_t n = cache.max_length();
  auto stage = cache.make_stage(n);
  cache.reset();
  cache.generate_source(stage, 0, n);
  for (std::int64_t p = 0; p < n; ++p) cache.append(stage, 0, p, p + 1);
  auto dense = cache.template make_dense<float>("kvsim::test::dense");
  std::uint64_t sum = 0;
  for (std::int64_t layer = 0; layer < c.model.layers; ++layer) {
    Kokkos::deep_copy(exec, dense, kvsim::kernels::poison_value<float>());
    cache.retrieve_layer(layer, dense);
    const kvsim::kernels::VerifyTally t = cache.verify_layer(layer, dense);
    REQUIRE(t.mismatches == 0);
    sum += t.checksum;
  }
  return sum;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("fixed configs give their golden checksum on every execution space", "[determinism]",
                        kvsim::test::ExecSpaces) {
  for (const Golden& g : goldens()) {
    const auto c = config_of(g);
    const std::uint64_t a = checksum_on<TestType>(c), b = checksum_on<TestType>(c);
    INFO(g.what << ": " << TestType::name() << " gave " << hex(a) << " then " << hex(b) << ", golden " << hex(g.checksum));
    CHECK(a == b);
    CHECK(a == g.checksum);
  }
}

TEST_CASE("run_point, the CLI's path, gives the golden checksums on the default execution space", "[determinism]") {
  for (const Golden& g : goldens()) {
    const auto c = config_of(g);
    const auto a = kvsim::run_point(c, 0, kvsim::CopyBandwidth{1.0, 1.0, 1.0, 1.0});
    const auto b = kvsim::run_point(c, 0, kvsim::CopyBandwidth{1.0, 1.0, 1.0, 1.0});
    INFO(g.what << ": " << Kokkos::DefaultExecutionSpace::name() << " gave " << hex(a.checksum) << " then "
                << hex(b.checksum) << ", golden " << hex(g.checksum));
    CHECK(a.checksum == b.checksum);
    CHECK(a.checksum == g.checksum);
  }
}
