#pragma once
// The lines `kvsim run` prints for a finished point: medians with the range of the
// repetitions, fractions of the measured ceilings, and warnings where a figure cannot be
// trusted (a spread over kUnstableSpread, a fraction above its ceiling).
#include <cstddef>
#include <ostream>
#include <string>

#include "platform/bandwidth_probe.hpp"
#include "config/config.hpp"
#include "experiment/experiment.hpp"

namespace kvsim {

std::string point_label(const ExperimentConfig& c);  // "key=value ..." of the point's sweep
std::string human_bytes(std::int64_t bytes);         // "2.4 MB", 4 significant figures
// index: the file's point number (from 0); printed from 1, as the progress line counts.
void print_point(std::ostream& os, std::size_t index, const ExperimentConfig& c, const PointResult& r,
                 const CopyBandwidth& ceilings);

}  // namespace kvsim
