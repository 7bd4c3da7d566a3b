#pragma once
// The HDF5 result file of one run (schema: docs/hdf5-schema.md). It is written under
// OUT.partial and renamed to OUT only when complete, so a file under the final name is never
// half-written; the partial file is removed if the run fails.
#include <string>
#include <vector>

#include "kvsim/bandwidth_probe.hpp"
#include "kvsim/experiment.hpp"

namespace kvsim {

struct RunProvenance {
  std::string backend;
  std::string device;
  std::string kokkos_version;
  std::string config_yaml;
  std::string config_file;
  std::string command_line;
  std::string created;
  CopyBandwidth copy;
};

class ResultFile {
 public:
  // Creates the partial file now, so a bad output path is refused before anything runs
  // (InputError naming the path).
  explicit ResultFile(std::string final_path);
  ~ResultFile();
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  const std::string& path() const { return final_path_; }
  const std::string& partial_path() const { return partial_path_; }

  // Writes everything, closes, and renames the partial file to the final path.
  void commit(const RunProvenance& provenance, const std::vector<PointResult>& points, const std::string& finished);

 private:
  std::string final_path_;
  std::string partial_path_;
  bool committed_ = false;
  long long file_id_ = -1;  // hid_t, kept opaque here
};

// Current UTC time as ISO 8601.
std::string utc_now_iso8601();

}  // namespace kvsim
