#pragma once
// How the fill stages its source: the driver's sizing rules, shared by the memory prediction
// and the run so both see the same buffer.
#include <cstdint>

#include "config/config.hpp"

namespace kvsim {

// Bytes of one staged position of every layer, K and V, and sequence (fp32 source).
std::int64_t stage_bytes_per_position(const ExperimentConfig& c);
// Positions of every sequence one staging buffer holds: the whole fill in bulk mode, else what
// run.stage_mb allows (a whole number of chunks in chunk mode).
std::int64_t stage_positions(const ExperimentConfig& c, std::int64_t bytes_per_position);

}  // namespace kvsim
