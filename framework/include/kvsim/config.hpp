#pragma once
// Experiment configuration: YAML is parsed and validated on the host into these structs before
// anything runs. Every refusal is a kvsim::InputError whose message is one line:
//   FILE:LINE: key.path: what is wrong
#include <cstdint>
#include <string>
#include <vector>

namespace kvsim {

struct ModelShape {
  std::string preset;  // empty when given inline
  std::int64_t layers = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
};

struct CacheSpec {
  std::int64_t max_positions = 0;
  std::string dtype;   // fp32
  std::string layout;  // contiguous: per layer K and V, [position][kv_head][dim]
  std::string policy;  // ring: wrap to slot 0 when full
};

struct FillSpec {
  std::string mode;  // token: one position for all layers per launch
  std::int64_t positions = 0;
};

struct RetrieveSpec {
  std::string mode;  // per_layer: one op = one layer's K and V, dense fp32, oldest first
  bool verify = true;
};

struct RunSpec {
  std::int64_t warmup = 0;
  std::int64_t repetitions = 0;
  std::int64_t copy_probe_mb = 0;  // size of the deep_copy bandwidth probe
};

struct ExperimentConfig {
  std::string name;
  std::uint64_t seed = 0;
  ModelShape model;
  CacheSpec cache;
  FillSpec fill;
  RetrieveSpec retrieve;
  RunSpec run;
  std::string output;
  std::string source_file;  // the file it was read from (not part of the schema)
};

struct LoadOptions {
  std::vector<std::string> overrides;    // "dotted.key=value", applied before validation
  std::vector<std::string> preset_dirs;  // searched after $KVSIM_PRESET_DIR and CONFIG_DIR/../configs/models
};

ExperimentConfig load_config(const std::string& path, const LoadOptions& options = {});

// The resolved config (preset expanded, overrides applied) as YAML; loading it back gives the
// same struct.
std::string to_yaml(const ExperimentConfig& config);

// Directories searched for model presets, in order.
std::vector<std::string> preset_search_path(const std::string& config_path, const LoadOptions& options);

// Names of the values each key accepts today (later issues widen these).
const std::vector<std::string>& supported_dtypes();
const std::vector<std::string>& supported_layouts();
const std::vector<std::string>& supported_policies();

}  // namespace kvsim
