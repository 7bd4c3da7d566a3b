#pragma once
// One experiment point: fill the cache token by token, retrieve it layer by layer, verify what
// came back, and report medians over repetitions.
#include <cstdint>
#include <string>
#include <vector>

#include "kvsim/config.hpp"

namespace kvsim {

struct PointResult {
  std::int64_t point = 0;
  ExperimentConfig config;
  std::int64_t valid_positions = 0;
  std::int64_t kv_cache_bytes = 0;
  std::int64_t device_memory_used_bytes = 0;
  std::int64_t fill_bytes = 0;      // bytes written by one fill repetition
  std::int64_t retrieve_bytes = 0;  // bytes read + written by one retrieve repetition
  std::vector<double> fill_seconds;
  std::vector<double> retrieve_seconds;
  double fill_positions_per_s = 0;
  double fill_GBps = 0;
  double retrieve_ops_per_s = 0;
  double retrieve_GBps = 0;
  double retrieve_fraction_of_copy = 0;
  bool verified = false;
  std::uint64_t mismatches = 0;
  std::uint64_t checksum = 0;
};

// Throws InputError when the point cannot fit the device, before allocating anything.
void check_fits_device(const ExperimentConfig& config);

// Runs one point on the default execution space. copy_GBps is the run's measured ceiling.
// Throws RuntimeError if the retrieved data differ from the synthetic values.
PointResult run_point(const ExperimentConfig& config, std::int64_t point, double copy_GBps);

// Bytes the point needs on the device: the cache plus the dense retrieve buffer.
std::int64_t predicted_device_bytes(const ExperimentConfig& config);

}  // namespace kvsim
