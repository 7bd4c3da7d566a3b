#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>

#include "catch_compat.hpp"
#include "config/config.hpp"
#include "kvsim/core/error.hpp"
#include "kvsim/core/kokkos_abstraction.hpp"

namespace {

const std::string kBad = KVSIM_TEST_CONFIG_DIR "/bad/";
const std::string kGood = KVSIM_TEST_CONFIG_DIR "/good/";
const std::string kExperiments = KVSIM_SOURCE_DIR "/experiments/";

kvsim::LoadOptions with_presets(std::vector<std::string> sets = {}) {
  kvsim::LoadOptions o;
  o.overrides = std::move(sets);
  o.preset_dirs = {KVSIM_SOURCE_DIR "/configs/models"};
  return o;
}

// The one-line message a refused config produces.
std::string refusal(const std::string& path, std::vector<std::string> sets = {}) {
  try {
    kvsim::load_config(path, with_presets(std::move(sets)));
  } catch (const kvsim::InputError& e) {
    return e.what();
  }
  return "(accepted)";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the perf009 experiment resolves its preset", "[config]") {
  const auto c = kvsim::load_config(kExperiments + "perf009_extended_context.yaml", with_presets());
  CHECK(c.name == "perf009_extended_context");
  CHECK(c.model.preset == "llama2-7b");
  CHECK(c.model.layers == 32);
  CHECK(c.model.heads == 32);
  CHECK(c.model.kv_heads == 32);
  CHECK(c.model.head_dim == 128);
  CHECK(c.cache.max_positions == 4096);
  CHECK(c.cache.dtype == kvsim::codec::DType::fp32);
  CHECK(c.fill.positions == 4096);
  CHECK(c.run.repetitions == 5);
}

TEST_CASE("--set overrides keys before validation", "[config]") {
  const auto c = kvsim::load_config(kExperiments + "perf009_extended_context.yaml",
                                    with_presets({"cache.max_positions=128", "model.layers=2", "run.warmup=0"}));
  CHECK(c.cache.max_positions == 128);
  CHECK(c.model.layers == 2);
  CHECK(c.model.heads == 32);  // the rest of the preset stays
  CHECK(c.run.warmup == 0);
}

TEST_CASE("the resolved YAML loads back to the same config", "[config]") {
  const auto c = kvsim::load_config(kGood + "small_wrap.yaml", with_presets());
  const std::string path = "kvsim_test_roundtrip.yaml";
  {
    std::ofstream(path) << kvsim::to_yaml(c);
  }
  const auto d = kvsim::load_config(path, with_presets());
  CHECK(kvsim::to_yaml(d) == kvsim::to_yaml(c));
  CHECK(d.fill.positions == 40);
  CHECK(d.seed == 12345);
  std::remove(path.c_str());
}

TEST_CASE("bad configs are refused with file, line and key", "[config][bad-input]") {
  struct Case {
    const char* file;
    const char* where;  // file:line
    const char* key;
    const char* what;
  };
  const Case cases[] = {
      {"typo_key.yaml", "typo_key.yaml:5", "cache.max_positon", "did you mean 'max_positions'"},
      {"wrong_type.yaml", "wrong_type.yaml:5", "cache.max_positions", "expected an integer"},
      {"negative_size.yaml", "negative_size.yaml:5", "cache.max_positions", "must be between 1"},
      {"unknown_preset.yaml", "unknown_preset.yaml:3", "model.preset", "unknown preset 'llama9-1t'"},
      {"yaml_syntax.yaml", "yaml_syntax.yaml:6", "", "YAML syntax error"},
      // yaml-cpp 0.7's LoadAll never returns on this one (found by tests/fuzz).
      {"stray_comma.yaml", "stray_comma.yaml:3", "", "YAML syntax error: unexpected ','"},
      {"quoted_number.yaml", "quoted_number.yaml:8", "run.repetitions", "expected an integer, got the string"},
      {"kv_heads_not_dividing.yaml", "kv_heads_not_dividing.yaml:3", "model.kv_heads", "must divide model.heads"},
      {"duplicate_key.yaml", "duplicate_key.yaml:7", "cache.max_positions", "duplicate key"},
      {"unsupported_dtype.yaml", "unsupported_dtype.yaml:6", "cache.dtype", "unsupported value 'fp64'"},
      {"overflow.yaml", "overflow.yaml:2", "seed", "number too large"},
      {"missing_cache.yaml", "missing_cache.yaml:1", "cache", "missing required key"},
      {"zip_lengths.yaml", "zip_lengths.yaml:6", "zip.workload.fill.positions", "has 2 values but zip.cache.dtype has 3"},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    const std::string msg = refusal(kBad + c.file);
    CHECK(contains(msg, std::string(c.where) + ":"));
    CHECK(contains(msg, c.key));
    CHECK(contains(msg, c.what));
    CHECK(msg.find('\n') == std::string::npos);
  }
}

TEST_CASE("files that are not configs are refused", "[config][bad-input]") {
  CHECK(contains(refusal(kBad + "does_not_exist.yaml"), "no such file"));
  CHECK(contains(refusal(kBad), "is a directory"));
}

TEST_CASE("bad --set values are refused and named", "[config][bad-input]") {
  const std::string cfg = kExperiments + "perf009_extended_context.yaml";
  CHECK(contains(refusal(cfg, {"cache.max_positions=-1"}), "--set cache.max_positions=-1: cache.max_positions: must be between"));
  CHECK(contains(refusal(cfg, {"cache.nope=1"}), "cache.nope: unknown key"));
  CHECK(contains(refusal(cfg, {"no_equals_sign"}), "expected KEY=VALUE"));
  CHECK(contains(refusal(cfg, {"cache..dtype=fp32"}), "malformed key"));
  CHECK(contains(refusal(cfg, {"model.head_dim=130"}), "multiple of 4"));
}

TEST_CASE("sweep axes multiply, zip lists pair up", "[config]") {
  const auto points = kvsim::load_experiment(kGood + "sweep_zip.yaml", with_presets());
  REQUIRE(points.size() == 6);
  const std::vector<std::pair<std::string, std::int64_t>> pairs{{"fp16", 10}, {"int8", 20}, {"int4", 32}};
  for (std::size_t i = 0; i < points.size(); ++i) {
    INFO(i);
    CHECK(points[i].cache.layout == (i < 3 ? kvsim::LayoutKind::contiguous : kvsim::LayoutKind::paged));
    CHECK(std::string(kvsim::codec::name(points[i].cache.dtype)) == pairs[i % 3].first);
    CHECK(points[i].lengths.front() == std::min<std::int64_t>(std::int64_t(10 * (1 << (i % 3))), 40));
    CHECK(points[i].sweep.size() == 3);
  }
  // An error in a swept value names the sweep entry's line and index.
  const std::string msg = refusal(kBad + "sweep_bad_value.yaml");
  CHECK(contains(msg, "sweep_bad_value.yaml:7: sweep.cache.dtype[1]: cache.dtype: unsupported value 'fp64'"));
  // `--set zip=null` runs the file without its zip.
  CHECK(kvsim::load_experiment(kGood + "sweep_zip.yaml", with_presets({"zip=null"})).size() == 2);
}

TEST_CASE("a sweep expands to at most 1000 points", "[config][bad-input]") {
  // Found by tests/fuzz: a few lines of lists (aliases make them shorter still) multiplied to
  // millions of points, each re-read and validated before anything ran.
  CHECK(contains(refusal(kBad + "sweep_too_many_points.yaml"),
                 "sweep_too_many_points.yaml:6: sweep: expands to more than 1000 points"));
  const std::string path = "kvsim_test_sweep_limit.yaml";
  const auto write = [&](const std::string& zip_list) {
    std::ofstream(path) << "name: s\nmodel: {layers: 1, heads: 1, kv_heads: 1, head_dim: 4}\n"
                           "cache: {max_positions: 8, dtype: fp32}\n"
                           "sweep: {seed: &ten [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], run.warmup: *ten}\n"
                           "zip: {run.repetitions: &z "
                        << zip_list << ", run.stage_mb: *z}\n";
  };
  write("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]");
  CHECK(kvsim::load_experiment(path, with_presets()).size() == 1000);
  write("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]");
  CHECK(contains(refusal(path), path + ":5: zip: expands to more than 1000 points"));
  std::remove(path.c_str());
}

TEST_CASE("a preset's value overridden by 0 survives to_yaml", "[config]") {
  // Found by tests/fuzz: sliding_window 0 beside mistral-7b (4096) was not written, so loading
  // the resolved YAML back (what --resume compares) gave the preset's window again.
  const std::string path = "kvsim_test_preset_zero.yaml";
  {
    std::ofstream(path) << "name: z\nmodel: {preset: mistral-7b, sliding_window: 0}\n"
                           "cache: {max_positions: 64, dtype: fp32, policy: window}\n";
  }
  const auto c = kvsim::load_config(path, with_presets());
  CHECK(c.model.sliding_window == 0);
  CHECK(c.cache.window == 64);
  {
    std::ofstream(path) << kvsim::to_yaml(c);
  }
  const auto d = kvsim::load_config(path, with_presets());
  CHECK(d.model.sliding_window == 0);
  CHECK(kvsim::to_yaml(d) == kvsim::to_yaml(c));
  std::remove(path.c_str());
}

TEST_CASE("a refusal quoting multi-line text stays one line", "[config][bad-input]") {
  // Found by tests/fuzz: YAML folds blank lines of a plain scalar into newlines, and the
  // message quoted the scalar as it was.
  const std::string path = "kvsim_test_one_line.yaml";
  {
    std::ofstream(path) << "name: \"two\\nlines\\ttab\"\nmodel: {preset: llama2-7b}\ncache: {max_positions: 8, dtype: fp32}\n";
  }
  const std::string msg = refusal(path);
  CHECK(contains(msg, path + ":1: name: use letters, digits, '-', '_' and '.' only, got 'two\\nlines\\x09tab'"));
  CHECK(msg.find('\n') == std::string::npos);
  {
    std::ofstream(path) << "top\n\n\nlevel\n";
  }
  CHECK(contains(refusal(path), "got 'top\\n\\nlevel'"));
  std::remove(path.c_str());
}

TEST_CASE("an output path with control characters is refused", "[config][bad-input]") {
  // Found by tests/fuzz: a carriage return ending the file stayed in the path, and to_yaml
  // wrote it where loading the YAML back dropped it.
  const std::string path = "kvsim_test_output_cr.yaml";
  {
    std::ofstream(path) << "name: o\nmodel: {preset: llama2-7b}\ncache: {max_positions: 8, dtype: fp32}\noutput: a.h5\r";
  }
  // yaml-cpp 0.7 (Debian 12) keeps the carriage return, and kvsim refuses it; 0.8 drops it. Either
  // way no control character reaches the path.
  std::string output;
  bool refused = false;
  try {
    output = kvsim::load_config(path, with_presets()).output;
  } catch (const kvsim::InputError&) {
    refused = true;
  }
  if (refused) {
    CHECK(contains(refusal(path), path + ":4: output: must not contain control characters, got 'a.h5\\x0d'"));
  } else {
    CHECK(output == "a.h5");
  }
  {
    std::ofstream(path) << "name: o\r\nmodel: {preset: llama2-7b}\r\ncache: {max_positions: 8, dtype: fp32}\r\noutput: a.h5\r\n";
  }
  CHECK(kvsim::load_config(path, with_presets()).output == "a.h5");  // CRLF files are fine
  std::remove(path.c_str());
}

// A decode-attention kernel the build or the shape cannot run is refused when the config
// loads, naming the key, never replaced by another kernel.
TEST_CASE("workload.decode.kernel is checked against the build and the shape", "[config][bad-input]") {
  const std::string cfg = kExperiments + "decode_7b.yaml";
  const bool gpu = !std::is_same<kvsim::DefaultMemSpace, kvsim::HostMemSpace>::value;
  for (const char* k : {"lane_groups", "tiled"}) {
    const std::string set = std::string("workload.decode.kernel=") + k;
    if (gpu) {
      CHECK(refusal(cfg, {"sweep=null", set}) == "(accepted)");
    } else {
      CHECK(contains(refusal(cfg, {"sweep=null", set}), "workload.decode.kernel: '" + std::string(k) + "' needs a GPU build"));
    }
  }
  CHECK(refusal(cfg, {"sweep=null", "workload.decode.kernel=serial"}) == "(accepted)");
  if (gpu)
    CHECK(contains(refusal(cfg, {"sweep=null", "model.head_dim=96", "workload.decode.kernel=lane_groups"}),
                   "'lane_groups' does not cover head_dim 96 of fp16"));
  CHECK(contains(refusal(cfg, {"sweep=null", "workload.decode.kernel=fastest"}), "workload.decode.kernel: unsupported value"));
}

// Likewise the prefill-attention kernel: flash needs a GPU build and head_dim 64 or 128; gemm and
// auto run everywhere (auto takes gemm where flash cannot run).
TEST_CASE("workload.prefill.kernel is checked against the build and the shape", "[config][bad-input]") {
  const std::string cfg = kExperiments + "prefill_7b.yaml";
  const bool gpu = !std::is_same<kvsim::DefaultMemSpace, kvsim::HostMemSpace>::value;
  if (gpu) {
    CHECK(refusal(cfg, {"workload.prefill.kernel=flash"}) == "(accepted)");
    CHECK(contains(refusal(cfg, {"model.head_dim=96", "workload.prefill.kernel=flash"}), "'flash' covers head_dim 64 and 128"));
  } else {
    CHECK(contains(refusal(cfg, {"workload.prefill.kernel=flash"}), "workload.prefill.kernel: 'flash' needs a GPU build"));
  }
  for (const char* k : {"auto", "gemm"}) CHECK(refusal(cfg, {std::string("workload.prefill.kernel=") + k}) == "(accepted)");
  CHECK(refusal(cfg, {"model.head_dim=96"}) == "(accepted)");
  CHECK(contains(refusal(cfg, {"workload.prefill.kernel=fastest"}), "workload.prefill.kernel: unsupported value"));
}

// `kvsim validate` (LoadOptions::any_build) checks a GPU kernel as a GPU build would, on any
// build: a host build notes that the kernel needs a GPU build instead of refusing the config,
// and still refuses a shape the kernel cannot cover.
TEST_CASE("validate checks GPU kernels as a GPU build does, noting them on a host build", "[config][bad-input]") {
  const bool host = std::is_same<kvsim::DefaultMemSpace, kvsim::HostMemSpace>::value;
  const auto load = [](const std::string& cfg, std::vector<std::string> sets, std::vector<std::string>& notes) {
    kvsim::LoadOptions o = with_presets(std::move(sets));
    o.any_build = true;
    o.gpu_notes = &notes;
    try {
      kvsim::load_experiment(cfg, o);
    } catch (const kvsim::InputError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  std::vector<std::string> notes;
  CHECK(load(kExperiments + "decode_7b.yaml", {"sweep=null", "workload.decode.kernel=lane_groups"}, notes) == "(accepted)");
  CHECK(load(kExperiments + "prefill_7b.yaml", {"workload.prefill.kernel=flash"}, notes) == "(accepted)");
  if (host) {
    REQUIRE(notes.size() == 2);
    CHECK(contains(notes[0], "workload.decode.kernel: 'lane_groups'"));
    CHECK(contains(notes[0], "needs a GPU build"));
    CHECK(contains(notes[1], "workload.prefill.kernel: 'flash'"));
  } else {
    CHECK(notes.empty());
  }
  notes.clear();
  CHECK(load(kExperiments + "decode_7b.yaml", {"sweep=null", "workload.decode.kernel=serial"}, notes) == "(accepted)");
  CHECK(notes.empty());
  CHECK(contains(load(kExperiments + "decode_7b.yaml", {"sweep=null", "model.head_dim=96", "workload.decode.kernel=lane_groups"}, notes),
                 "'lane_groups' does not cover head_dim 96 of fp16"));
  CHECK(contains(load(kExperiments + "prefill_7b.yaml", {"model.head_dim=96", "workload.prefill.kernel=flash"}, notes),
                 "'flash' covers head_dim 64 and 128"));
  // `run` (any_build off) still refuses on a host build.
  if (host) CHECK(contains(refusal(kExperiments + "prefill_7b.yaml", {"workload.prefill.kernel=flash"}), "needs a GPU build"));
}

// --set KEY=null removes the key: an optional key's default applies, a required one is missing.
TEST_CASE("--set KEY=null removes a key", "[config]") {
  const std::string cfg = kExperiments + "decode_7b.yaml";
  CHECK(kvsim::load_experiment(cfg, with_presets({"sweep=null"})).front().decode_tokens > 0);
  CHECK(kvsim::load_experiment(cfg, with_presets({"sweep=null", "workload.decode=null"})).front().decode_tokens == 0);
  CHECK(kvsim::load_experiment(cfg, with_presets({"sweep=~", "workload.decode=~"})).front().decode_tokens == 0);
  CHECK(contains(refusal(kGood + "small_wrap.yaml", {"cache.dtype=null"}), "cache.dtype: missing required key"));
}

TEST_CASE("the committed config schema is the key table's", "[config]") {
  std::ifstream in(KVSIM_SOURCE_DIR "/docs/config-schema.md");
  REQUIRE(in);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string marker = "<!-- generated -->\n";
  const auto at = doc.find(marker);
  REQUIRE(at != std::string::npos);
  // On failure: regenerate it as the comment above the marker says.
  CHECK(doc.substr(at + marker.size()) == kvsim::config_schema_markdown());
}
