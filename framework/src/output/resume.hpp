#pragma once
// --resume: the points an earlier run of the same experiment finished, taken from its result
// file, so only the missing ones run again.
#include <string>
#include <vector>

#include "output/result_file.hpp"

namespace kvsim {

struct ResumedRun {
  std::vector<ResultRow> rows;  // the kept points' rows
  std::vector<char> have;       // per point: kept
  std::string device;           // the device that wrote them ("" if nothing was read)
};

// Reads `path` (if it exists) and keeps each point whose resolved-before-`max` YAML is
// `unresolved[point]`. A file of another experiment (config hash) is refused unless `force`,
// which keeps the unchanged points. Sets prov.created and prov.resumed from the file.
ResumedRun read_resumable(const std::string& path, const std::string& hash, const std::vector<std::string>& unresolved,
                          bool force, RunProvenance& prov);

// `max_positions: max` resolves against the device's memory: a point kept from another device
// would not be the point this run measures, so it runs again. `is_max[n]`: point n asked for max.
void forget_other_device(ResumedRun& run, const std::string& device, const std::vector<char>& is_max);

}  // namespace kvsim
