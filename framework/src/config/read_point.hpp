#pragma once
// The section readers: each reads its mapping's keys (the plain ones through the key table) and
// checks the rules between them. Every message is the user's contract: tests/configs/bad and
// tests/integration/test_bad_input_catalogue.py hold them.
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/key_table.hpp"

namespace kvsim::config_detail {

ModelShape read_model(const MapReader& top, const std::vector<std::string>& preset_dirs);
void read_cache(const MapReader& top, ExperimentConfig& c);
// Slots each sequence keeps under the point's policy (CacheDesign::capacity).
std::int64_t resolved_capacity(const ExperimentConfig& c);
void read_workload(const MapReader& top, ExperimentConfig& c, const LoadOptions& options);
void read_parallel(const MapReader& top, ExperimentConfig& c);
void read_data(const MapReader& top, ExperimentConfig& c);
// The data rules that need the model (read after it).
void check_data(const MapReader& top, const ExperimentConfig& c);
// One point from a tree with no sweep left in it.
ExperimentConfig read_point(const std::string& path, const YAML::Node& root, const Source& src, const LoadOptions& options);

}  // namespace kvsim::config_detail
