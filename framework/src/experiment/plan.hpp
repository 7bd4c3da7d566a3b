#pragma once
// `kvsim plan`: for every point of a config, the cache's bytes per position, per sequence and in
// total, and the largest batch and context that fit in a given memory (kvsim/cache/capacity_plan.hpp).
#include <cstdint>
#include <ostream>
#include <string>

#include "config/config.hpp"

namespace kvsim {

// "80GiB", "141GB", "512MiB", "8e10" (bytes): decimal units are powers of 1000, binary ones of
// 1024. Throws InputError naming `what` for anything else.
std::int64_t parse_memory_size(const std::string& text, const std::string& what);

struct PlanRequest {
  std::string config_path;
  LoadOptions load;
  std::int64_t memory = 0;  // bytes available to the cache
  std::string memory_text;  // as the user wrote it
  bool json = false;        // one JSON array of the points' plans instead of text
};

// Prints the plan of every point to `out`; 0, or throws InputError for a bad config.
int print_plan(const PlanRequest& request, std::ostream& out);

}  // namespace kvsim
