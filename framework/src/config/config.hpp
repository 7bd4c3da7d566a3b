#pragma once
// Experiment configuration: YAML is parsed and validated on the host into these structs before
// anything runs. Every refusal is a kvsim::InputError whose message is one line:
//   FILE:LINE: key.path: what is wrong
// A `sweep:` mapping expands one file into several points (Cartesian product of its lists).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kvsim {

struct ModelShape {
  std::string preset;  // empty when given inline
  std::int64_t layers = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t sliding_window = 0;  // the model's attention window, 0: none
  std::int64_t weight_bytes = 0;    // weights streamed once per generated token, 0: none
};

struct CacheSpec {
  std::int64_t max_positions = 0;  // slots per sequence; kMaxContext: the largest that fits the device
  std::string dtype;               // fp32 fp16 bf16 int8 fp8_e4m3 int4
  std::string layout;              // contiguous head_major paged
  std::int64_t page_size = 16;     // paged
  std::int64_t pool_pages = 0;     // paged; 0: what the batch needs
  std::string policy;              // ring window sinks h2o
  std::int64_t window = 0;         // window, sinks
  std::int64_t sinks = 0;          // sinks
  std::int64_t heavy = 0;          // h2o
  std::int64_t recent = 0;         // h2o
};
inline constexpr std::int64_t kMaxContext = -1;

struct FillSpec {
  std::string mode;  // token: one position of every layer and sequence per launch; chunk; bulk
  std::int64_t positions = 0;  // length of every sequence unless workload.lengths says otherwise
  std::int64_t chunk = 0;      // positions per launch in chunk mode
};

struct RetrieveSpec {
  std::string mode;    // per_layer: one op = one layer's K and V for every sequence, oldest first; none
  std::string output;  // fp32 or fp16 dense buffer
  bool verify = true;
};

struct RunSpec {
  std::int64_t warmup = 0;
  std::int64_t repetitions = 0;
  std::int64_t copy_probe_mb = 0;  // size of the copy bandwidth probe
  std::int64_t stage_mb = 0;       // staging buffer budget for token and chunk fills
};

struct ExperimentConfig {
  std::string name;
  std::uint64_t seed = 0;
  ModelShape model;
  CacheSpec cache;
  std::int64_t batch = 1;
  std::vector<std::int64_t> lengths;  // one per sequence, resolved
  std::string lengths_spec;           // how they were given: "fill.positions", "list", "uniform MIN..MAX"
  FillSpec fill;
  RetrieveSpec retrieve;
  std::int64_t decode_tokens = 0;  // tokens generated after the fill (workload.decode.tokens)
  std::int64_t decode_splits = 0;  // position splits per sequence in decode attention, 0: chosen by kvsim
  std::string decode_kernel = "auto";  // workload.decode.kernel (attention_kernel.hpp)
  std::int64_t prefill_chunk = 0;      // chunked prefill attention of the last N positions after the fill, 0: off
  std::int64_t context_shards = 1;     // parallel.context_shards: ranks that split every sequence's positions
  std::string context_shards_origin;   // "FILE:LINE" of that key, for errors found once the ranks are known
  RunSpec run;
  std::string output;
  std::string source_file;                                  // not part of the schema
  std::vector<std::pair<std::string, std::string>> sweep;   // this point's swept keys and values
  bool lengths_follow_capacity = false;                     // lengths come from max_positions: max
};

struct LoadOptions {
  std::vector<std::string> overrides;    // "dotted.key=value", applied before validation
  std::vector<std::string> preset_dirs;  // searched after $KVSIM_PRESET_DIR and CONFIG_DIR/../configs/models
};

// Every point of the experiment (one unless the file has a sweep).
std::vector<ExperimentConfig> load_experiment(const std::string& path, const LoadOptions& options = {});
// A config with exactly one point.
ExperimentConfig load_config(const std::string& path, const LoadOptions& options = {});

// Resolves `max_positions: max` against the device's free bytes (InputError if nothing fits).
void resolve_max_context(ExperimentConfig& config, std::int64_t free_bytes);

// The resolved config (preset expanded, overrides applied) as YAML; loading it back gives the
// same point.
std::string to_yaml(const ExperimentConfig& config);

std::vector<std::string> preset_search_path(const std::string& config_path, const LoadOptions& options);

const std::vector<std::string>& supported_dtypes();
const std::vector<std::string>& supported_layouts();
const std::vector<std::string>& supported_policies();

}  // namespace kvsim
