#pragma once
// Experiment configuration: YAML is parsed and validated on the host into these structs before
// anything runs. Every refusal is a kvsim::InputError whose message is one line:
//   FILE:LINE: key.path: what is wrong
// A `sweep:` mapping expands one file into several points (Cartesian product of its lists).
// The structs' key fields are declared by the key table (config/keys.hpp); what is declared by
// hand below is derived while reading, not read.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/key_types.hpp"
#include "config/keys.hpp"

namespace kvsim {

#define KVSIM_CONFIG_FIELD(field, type, key, read, lo, hi, init, ...) KVSIM_CONFIG_FIELD_##read(field, type, init)
#define KVSIM_CONFIG_FIELD_req(f, t, i) config_type::t::value_type f = i;
#define KVSIM_CONFIG_FIELD_opt(f, t, i) config_type::t::value_type f = i;
#define KVSIM_CONFIG_FIELD_custom(f, t, i) config_type::t::value_type f = i;
#define KVSIM_CONFIG_FIELD_section(f, t, i) t f;
#define KVSIM_CONFIG_FIELD_inline(f, t, i)
#define KVSIM_CONFIG_FIELD_raw(f, t, i)

struct DataSpec {
  KVSIM_KEYS_data(KVSIM_CONFIG_FIELD)
};

struct ModelShape {
  KVSIM_KEYS_model(KVSIM_CONFIG_FIELD)
};

struct CacheSpec {
  KVSIM_KEYS_cache(KVSIM_CONFIG_FIELD)
};

struct FillSpec {
  KVSIM_KEYS_fill(KVSIM_CONFIG_FIELD)
};

struct RetrieveSpec {
  KVSIM_KEYS_retrieve(KVSIM_CONFIG_FIELD)
};

struct RunSpec {
  KVSIM_KEYS_run(KVSIM_CONFIG_FIELD)
};

// One resolved point: typed, every default applied, every rule checked.
struct ExperimentConfig {
  KVSIM_KEYS_top(KVSIM_CONFIG_FIELD)
  KVSIM_KEYS_workload(KVSIM_CONFIG_FIELD)
  KVSIM_KEYS_decode(KVSIM_CONFIG_FIELD)
  KVSIM_KEYS_prefill(KVSIM_CONFIG_FIELD)
  KVSIM_KEYS_parallel(KVSIM_CONFIG_FIELD)
  std::string lengths_spec;                                 // how lengths were given: "fill.positions", "list", "uniform MIN..MAX"
  std::string context_shards_origin;                        // "FILE:LINE" of that key, for errors found once the ranks are known
  std::string source_file;                                  // not part of the schema
  std::vector<std::pair<std::string, std::string>> sweep;   // this point's swept keys and values
  bool lengths_follow_capacity = false;                     // lengths come from max_positions: max
};

struct LoadOptions {
  std::vector<std::string> overrides;    // "dotted.key=value", applied before validation
  std::vector<std::string> preset_dirs;  // searched after $KVSIM_PRESET_DIR and CONFIG_DIR/../configs/models
  // `kvsim validate`: a kernel only a GPU build has (workload.decode.kernel, prefill.kernel) is
  // checked as a GPU build checks it and named in *gpu_notes instead of refused; `run` refuses it.
  bool any_build = false;
  std::vector<std::string>* gpu_notes = nullptr;
};

// Every point of the experiment (one unless the file has a sweep).
std::vector<ExperimentConfig> load_experiment(const std::string& path, const LoadOptions& options = {});
// A config with exactly one point.
ExperimentConfig load_config(const std::string& path, const LoadOptions& options = {});

// The cache the point describes: its model shape, batch and every cache key (a cache key is a
// CacheDesign field of the same name).
CacheDesign cache_design(const ExperimentConfig& config);
// The values the point runs on (`data:`), as the library's generators take them.
DataSource data_source(const ExperimentConfig& config);

// Resolves `max_positions: max` against the device's free bytes (InputError if nothing fits).
void resolve_max_context(ExperimentConfig& config, std::int64_t free_bytes);

// The resolved config (preset expanded, overrides applied) as YAML; loading it back gives the
// same point.
std::string to_yaml(const ExperimentConfig& config);

// docs/config-schema.md's key reference, from the key table (`kvsim validate --schema`).
std::string config_schema_markdown();

std::vector<std::string> preset_search_path(const std::string& config_path, const LoadOptions& options);

}  // namespace kvsim
